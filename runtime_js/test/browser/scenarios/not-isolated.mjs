// Runs in the browser, on a page served without COOP/COEP: what the patched
// package says when the glue instantiates, and when a manager is made.
import { describe } from './outcome.mjs';

const PKG = `/build/${new URL(import.meta.url).searchParams.get('pkg')}`;

export default async function run() {
  const demo = await import(`${PKG}/wbg_demo.js`);
  const { ThreadPoolManager } = await import(`${PKG}/wbg-pool-manager.mjs`);
  const out = { sharedArrayBuffer: typeof SharedArrayBuffer };
  try {
    await demo.default();
  } catch (error) {
    out.init = describe(error);
  }
  try {
    new ThreadPoolManager();
  } catch (error) {
    out.manager = describe(error);
  }
  return out;
}
