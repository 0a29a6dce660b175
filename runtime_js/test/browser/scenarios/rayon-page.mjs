// Runs on a page's main thread: a crate on wasm-bindgen-rayon whose pool is up
// (brought up by run()), and its exports called outside execute(). One that
// cannot wait (byte_sum) runs on the page's instance; one that waits for the
// pool's threads (sum_of_squares) is refused typed, or, with spinOnPage, goes
// to the pool's host as in a Worker, panics included.
import { describe } from './outcome.mjs';

const params = new URL(import.meta.url).searchParams;
const PKG = `/build/${params.get('pkg')}`;

export default async function run() {
  const lib = await import(`${PKG}/example_wasm_bindgen_rayon.js`);
  const { ThreadPoolManager } = await import(`${PKG}/wbg-pool-manager.mjs`);
  await lib.default();
  lib.install_panic_hook();
  const task = new URL(`./rayon-task.mjs?pkg=${params.get('pkg')}`, import.meta.url);
  const out = {};
  for (const spinOnPage of [false, true]) {
    // A spinning page needs a call timeout (a browser cannot tell a deadlock from a busy pool).
    const manager = new ThreadPoolManager({ numThreads: 2, spinOnPage, callTimeoutMs: 30_000 });
    try {
      const pooled = await manager.run(task, 'sumOfSquares', [100]);
      const local = lib.byte_sum(new Uint8Array([1, 2, 3]));
      let outside;
      try {
        outside = { value: lib.sum_of_squares(100) };
      } catch (error) {
        outside = { error: describe(error) };
      }
      let panic = null;
      if (spinOnPage) {
        try {
          lib.panic_in_pool(3);
        } catch (error) {
          panic = describe(error);
        }
      }
      out[spinOnPage ? 'spin' : 'refuse'] = { pooled, local, outside, panic, next: spinOnPage ? lib.sum_of_squares(100) : null };
    } finally {
      await manager.close();
    }
  }
  return out;
}
