// The module Worker of the Vite-built page (main.js): the package's glue and its
// pool from the bundle, as the app's own code would use them. Posts plain data.
import init, * as demo from 'wbg-demo';
import { ThreadPoolManager } from 'wbg-demo/wbg-pool-manager.mjs';
import { rejection } from './outcome.mjs';

async function answer() {
  await init();
  const manager = new ThreadPoolManager({ numThreads: 2 });
  try {
    const before = await manager.execute(() => new demo.Histogram(4));
    return {
      local: String(demo.sum_squares(1000n)),
      pooled: String(await manager.execute(() => demo.sum_squares(1000n))),
      threads: await manager.execute(() => demo.pool_threads()),
      busyThreads: await manager.execute(() => demo.busy(200)),
      panic: await rejection(manager.execute(() => demo.panic_in_join(false))),
      afterPanic: String(await manager.execute(() => demo.sum_range(1n, 11n))),
      stale: await rejection(manager.execute(() => before.total)),
      trap: await rejection(manager.execute(() => demo.trap_out_of_bounds())),
      afterTrap: String(await manager.execute(() => demo.sum_range(1n, 11n))),
    };
  } finally {
    await manager.close();
  }
}

answer().then(postMessage, (error) => postMessage({ failed: String(error?.stack ?? error) }));
