// Runs in a module Worker: a crate with its own pool contract (a PoolBuilder
// whose pool lives in a static, init_thread_pool(n, workerSource) returning a
// promise: rust_example/contracts/poolbuilder-global), built with panic=unwind
// as `--target web` glue and patched. Its exports run unchanged: in execute(),
// and outside it while the pool runs.
import { rejection } from './outcome.mjs';

const PKG = `/build/${new URL(import.meta.url).searchParams.get('pkg')}`;

export default async function run() {
  const lib = await import(`${PKG}/example_poolbuilder_global.js`);
  const { ThreadPoolManager } = await import(`${PKG}/wbg-pool-manager.mjs`);
  await lib.default();
  lib.install_panic_hook();
  const manager = new ThreadPoolManager({ numThreads: 2 });
  try {
    const sum = await manager.execute(() => lib.sum_of_squares(100));
    const threads = await manager.execute(() => lib.pool_threads());
    const error = await rejection(manager.execute(() => lib.panic_in_pool(3)));
    const next = await manager.execute(() => lib.sum_of_squares(100));
    const outside = lib.sum_of_squares(100);
    return { sum, threads, error, next, outside, unwinds: lib.__wbg_pool.unwinds };
  } finally {
    await manager.close();
  }
}
