// A task module for manager.run() (rayon-page.mjs): runs on the pool's host and
// calls the same glue the host loaded (?pkg=…), synchronously.
const PKG = `/build/${new URL(import.meta.url).searchParams.get('pkg')}`;
const lib = await import(`${PKG}/example_wasm_bindgen_rayon.js`);

export const sumOfSquares = (n) => lib.sum_of_squares(n);
