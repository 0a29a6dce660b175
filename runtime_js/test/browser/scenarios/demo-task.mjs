// A task module for manager.run() (scenarios/demo.mjs): runs on the pool's host
// thread and calls the same glue the host loaded (?pkg=pkg-web), synchronously.
const PKG = `/build/${new URL(import.meta.url).searchParams.get('pkg')}`;
const demo = await import(`${PKG}/wbg_demo.js`);

export const sumSquares = (n) => String(demo.sum_squares(BigInt(n)));
export const poolThreads = () => demo.pool_threads();
export const busy = (ms) => demo.busy(ms);
export const panicInJoin = () => demo.panic_in_join(false);
