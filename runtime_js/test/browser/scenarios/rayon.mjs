// Runs in the browser: a crate on wasm-bindgen-rayon (build/pkg-wasm-bindgen-rayon-web),
// patched (the pool through a ThreadPoolManager) or not (initThreadPool, as its README
// says), then a panic on a pool thread; patched, also calls outside execute().
const params = new URL(import.meta.url).searchParams;
const PKG = `/build/${params.get('pkg')}`;

export default async function run() {
  const lib = await import(`${PKG}/example_wasm_bindgen_rayon.js`);
  await lib.default();
  lib.install_panic_hook();
  if (params.get('patched') !== 'yes') {
    await lib.initThreadPool(2);
    const sum = lib.sum_of_squares(100);
    return { sum, panicked: lib.panic_in_pool(3) };
  }
  const { ThreadPoolManager } = await import(`${PKG}/wbg-pool-manager.mjs`);
  const manager = new ThreadPoolManager({ numThreads: 2 });
  try {
    const sum = await manager.execute(() => lib.sum_of_squares(100));
    const threads = await manager.execute(() => lib.pool_threads());
    let error = null;
    try {
      await manager.execute(() => lib.panic_in_pool(3));
    } catch ({ name, code, message, threadIndex }) {
      error = { name, code, message, threadIndex };
    }
    const next = await manager.execute(() => lib.sum_of_squares(100));
    // Outside execute(), with the pool up: an export that waits for the pool goes to its host.
    const outside = lib.sum_of_squares(100);
    let outsidePanic = null;
    try {
      lib.panic_in_pool(3);
    } catch ({ name, code }) {
      outsidePanic = { name, code };
    }
    return { sum, threads, error, next, outside, outsidePanic, afterOutsidePanic: await manager.execute(() => lib.sum_of_squares(100)) };
  } finally {
    await manager.close();
  }
}
