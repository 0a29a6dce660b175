'use strict';
// The binding: which glue this copy of the runtime serves. wbg-patch writes the
// runtime into one directory per package, beside one glue, and a generated
// entry file (wbg-pool-manager.cjs or .mjs) registers that glue here before the
// user's code can reach ThreadPoolManager. Everything that differs per package
// arrives through register(); the runtime files themselves are the same for all.
const { WbgPoolError } = require('./errors.cjs');
const { RUNTIME_VERSION } = require('./protocol.cjs');

let current = null;

/**
 * @param {object} binding
 * @param {object} binding.glue the glue's exports (CommonJS) or namespace (ES module)
 * @param {string} binding.gluePath where the glue is, for the pool's threads to load: an absolute path (Node), or a URL (the ES-module build)
 * @param {'commonjs'|'esm'} binding.format how the threads load it: require() or import()
 * @param {{kind: string, init: string, exit: string, startWorker: string}} binding.contract
 *   the Rust side's pool contract and the glue exports that carry it
 * @param {{numThreads: number, heartbeatTimeoutMs: number, idleShutdownMs: number}} binding.defaults
 *   the manager options chosen at patch time
 */
function register(binding) {
  /** @type {import('./prelude.cjs').GlueHandle | undefined} */
  const handle = binding.glue.__wbg_pool;
  if (handle === undefined) {
    throw new WbgPoolError(
      `${binding.gluePath} is not patched by wbg-patch (was it rebuilt by wasm-bindgen or wasm-pack since?): ` +
        'run `wbg-patch patch` on its directory again',
      'ERR_GLUE_NOT_PATCHED',
    );
  }
  if (handle.version !== RUNTIME_VERSION) {
    throw new WbgPoolError(
      `${binding.gluePath} was patched by wbg-patch ${handle.version}, but this runtime is ${RUNTIME_VERSION}: ` +
        'run `wbg-patch patch` on its directory again',
      'ERR_GLUE_NOT_PATCHED',
    );
  }
  current = Object.freeze({ ...binding, handle });
}

function binding() {
  if (current === null) {
    throw new WbgPoolError(
      'the wbg-pool runtime was loaded without its glue: import ThreadPoolManager from the package\'s ' +
        'wbg-pool-manager.cjs (or .mjs), not from its wbg-pool/ directory',
      'ERR_NOT_BOUND',
    );
  }
  return current;
}

module.exports = { register, binding };
