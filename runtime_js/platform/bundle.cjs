'use strict';
// Whether this runtime runs as its ES-module build (wbg-pool/runtime.mjs, which
// wbg-patch writes beside glue a browser can load, and which Node loads too):
// that build hands every module `__wbgBundle`, what only an ES module can know
// (its own URL, the thread entry a bundler must see written literally, the
// glue's import). Null for the CommonJS copy of the runtime, which is Node's alone.
/* global __wbgBundle */
module.exports = typeof __wbgBundle === 'undefined' ? null : __wbgBundle;
