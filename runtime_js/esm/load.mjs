// The loader of the runtime's ES-module build. wbg-patch writes that build,
// wbg-pool/runtime.mjs, beside glue a browser loads (`--target web`): every
// CommonJS file of runtime_js/ as a function in one module, which a browser and
// a bundler take as any ES module, and which Node loads as well. So browsers
// and Node run the same files; what differs between them is in platform/.
//
// A module runs when it is first required, as in Node: platform/node.cjs is
// never evaluated in a browser, nor platform/browser.cjs in Node. The build has
// no `import` of Node's modules (a bundler would try to resolve them): in Node,
// a require of one is answered by process.getBuiltinModule.

// `sources`: module id (its path under runtime_js/, e.g. 'platform/node.cjs') ->
// function (module, exports, require, __filename, __dirname, __wbgBundle) holding
// its code. `url`: the build's own URL; `spawn()` starts a module Worker of its
// thread entry, thread.mjs (browsers).
export function load(sources, url, spawn) {
  // What only the build knows as an ES module (platform/bundle.cjs).
  const bundle = { url, threadUrl: new URL('./thread.mjs', url), spawn, loadGlue: null };
  const modules = new Map();

  function requireFrom(from) {
    return (specifier) => {
      if (!specifier.startsWith('.')) return builtin(specifier);
      const id = resolve(from, specifier);
      let module = modules.get(id);
      if (module === undefined) {
        const factory = sources[id];
        if (factory === undefined) throw new Error(`wbg-pool: the runtime has no module ${id} (required from ${from || 'outside'})`);
        module = { exports: {} };
        modules.set(id, module);
        // __filename is the build's own URL: stack frames of its code name that file (boundary.cjs).
        factory.call(module.exports, module, module.exports, requireFrom(id), bundle.url, new URL('.', bundle.url).href, bundle);
      }
      return module.exports;
    };
  }

  const runtime = {
    // A module of the runtime by its path from the runtime's root, e.g. './manager.cjs'.
    require: requireFrom(''),
    // The entry of a pool thread (wbg-pool/thread.mjs): `loadGlue()` imports the glue, which a
    // bundler must see written there; the thread's data says which role it has.
    async startThread(loadGlue) {
      bundle.loadGlue = loadGlue;
      const data = await runtime.require('./platform/index.cjs').awaitThreadData();
      runtime.require(data.role === 'host' ? './host.cjs' : './worker.cjs');
    },
  };
  return runtime;
}

// `specifier` ('./x.cjs', '../y.cjs') from the module `from` ('contracts/index.cjs').
function resolve(from, specifier) {
  const parts = from.split('/').slice(0, -1);
  for (const part of specifier.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.') parts.push(part);
  }
  return parts.join('/');
}

// A module of Node's own (the build's platform/node.cjs asks for them).
function builtin(name) {
  const get = globalThis.process?.getBuiltinModule;
  if (typeof get !== 'function') {
    throw new Error(`wbg-pool: this runtime needs Node 20.16 or newer (process.getBuiltinModule) to load ${name}`);
  }
  return get(name);
}
