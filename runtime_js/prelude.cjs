'use strict';
// The glue's side of the runtime: what a patched glue runs. wbg-patch adds one
// statement at the top of the glue,
//
//   const __wbg_pool = require('./wbg-pool/prelude.cjs').attach(options, bindings);
//
// (ES-module glue: an import of this file and `export const __wbg_pool = …`),
// exports it as `__wbg_pool`, and routes the glue's own code through it: every
// `wasm.x` read, the memory it imports, the module pool threads instantiate,
// every use of an object's address, its finalization registries and its table
// of JS values. The main thread's runtime drives the handle (binding.cjs,
// pool.cjs); each pool thread loads its own copy of the glue, which attaches to
// the pool's memory and module through the same handle.
//
// What differs per glue arrives as data (`options`) and as `bindings`: one-line
// functions that read or set the glue's own variables, which only code inside
// the glue file can reach. wbg-patch decides which bindings and values a glue
// gets (wbg_patch/prelude.py); everything they are used for is here.
const platform = require('./platform/index.cjs');
const { HOOKS_GLOBAL, START_WORKERS_HOOK, HOST_THREAD, MAIN_THREAD, NO_WAIT_EXPORT } = require('./protocol.cjs');
const { WbgPoolError, StaleObjectError, ForeignJsValueError, deserialize, checkSharedMemory, memoryRefused } = require('./errors.cjs');
const { guardedExports } = require('./local.cjs');
const { unwindMembers } = require('./unwind.cjs');
const { currentPool, finalizeIn } = require('./session.cjs');
const { routeMembers } = require('./route.cjs');

/**
 * @typedef {'INIT_SYNC' | 'EXPLICIT_INIT' | 'ON_LOAD' | 'LOAD_TIME' | 'LEGACY_ENV'} Generation
 *   how the glue instantiates its module (wbg_patch/model.py, Generation)
 *
 * @typedef {object} PreludeOptions what wbg-patch read off the glue and its module
 * @property {string} version the wbg-patch version that patched the glue
 * @property {Generation} generation
 * @property {WebAssembly.MemoryDescriptor} memory the module's memory import: a fresh memory is made with it
 * @property {string | null} externrefTable the export name of the module's table of JS values, if it has one
 * @property {string[]} [panicHookExports] the exports that install a panic hook and take and return nothing
 *   (wbg_patch/wasm_code.py): see panicHooks()
 * @property {'unwind' | 'abort'} [panics] how the module's panics end (see unwind.cjs); abort when absent
 * @property {string[]} [localExports] the exports that cannot wait for another thread and use nothing each
 *   instance has its own of (wbg_patch/wasm/waits.py): see callMembers()
 * @property {string[]} [boundExports] the exports that cannot wait for another thread but use what their
 *   instance has its own of
 *
 * @typedef {object} GlueBindings the glue's own variables, as the glue file alone can reach them
 * @property {() => WebAssembly.Exports | undefined} raw the glue's `wasm`: the local instance's exports
 * @property {() => WebAssembly.Module} module the compiled module
 * @property {(value: WebAssembly.Exports | undefined) => unknown} [setRaw] sets `wasm` (and what the glue exposes it as)
 * @property {(options: {module: WebAssembly.Module, memory?: WebAssembly.Memory}) => WebAssembly.Exports} [initSync]
 *   the glue's initSync (INIT_SYNC, EXPLICIT_INIT)
 * @property {() => unknown} [clearInitFlag] lets initSync instantiate again (INIT_SYNC)
 * @property {() => WebAssembly.Instance} [instantiate] the glue's own top-level instantiation (ON_LOAD, LOAD_TIME)
 * @property {(instance: WebAssembly.Instance) => unknown} [setInstance] sets the glue's instance variable (ON_LOAD)
 * @property {() => unknown} [makeMemory] the glue's own top-level statement that makes the memory (LOAD_TIME)
 * @property {() => WebAssembly.Tag} [wrappedTag] the tag of the wasm exceptions the glue unwraps (panics: unwind)
 * @property {() => Function} [panicError] the glue's PanicError class (panics: unwind)
 *
 * @typedef {object} ExternrefRanges where this instance's JS values live in its table (see below)
 * @property {string} table the table's export name
 * @property {number} start the first slot of this instance's range
 * @property {number} end the slot after its range
 * @property {object} foreign the value in every slot below the range: any use throws
 *
 * @typedef {object} GlueHandle the glue's `__wbg_pool`, shared by the glue and the runtime
 * @property {string} version
 * @property {number} staleFinalizations finalizers skipped: their object was made before a reset
 * @property {ExternrefRanges | null} externrefs
 * @property {() => object | undefined} outsideExports what calls outside execute() get: the route of the running
 *   wrapper (route.cjs), else the local instance's exports
 * @property {() => object} wasm what the glue reads as `wasm`: the pool's proxy inside execute(), else
 *   outsideExports() (the local exports on the main thread are guarded: see local.cjs); the local
 *   exports while execute() runs a call on the main thread's instance (see callMembers())
 * @property {(router: ((name: string) => object | null) | null) => void} setOutsideRouter
 *   the engine's choice of route for a call outside execute() of an export that can wait (route.cjs)
 * @property {(name: string) => object | null} enter first in a wrapper of export `name`, which can wait:
 *   chooses its route, returns the one it replaced
 * @property {(previous: object | null) => void} leave last in that wrapper: gives the route back
 * @property {() => WebAssembly.Memory} memory the memory the glue imports: the pool's on a pool thread, else a fresh one
 * @property {(compile: () => WebAssembly.Module) => WebAssembly.Module} poolModule the pool's module on a pool thread, else `compile()`
 * @property {(url: URL) => WebAssembly.Module} moduleAt the same, compiling the file at `url`
 * @property {(free: (held: unknown) => void) => object} finalizationRegistry stands in for `new FinalizationRegistry(free)`
 * @property {(object: object) => number} livePtr an object's address, after checking it is from the current memory
 * @property {(object: object, ptr: number) => number} setPtr gives an object its address in the current memory
 * @property {(table: WebAssembly.Table) => void} reserveExternrefs fills the table below this instance's range
 * @property {() => object | null} externrefsOverflow the trap (as errors.serialize gives it) of JS values past the range, or null
 * @property {(listener: ((error: Error) => void) | null) => void} onLocalTrap
 *   who hears of a trap of the main thread's instance (the manager), after the memory was reset
 * @property {(listener: ((message: object) => void) | null) => void} onLocalLog
 *   who hears the log records of the main thread's instance (the manager: its onLog)
 * @property {() => void} checkUsable throws ERR_RESET_FAILED while a failed reset leaves nothing to run on (tries once more first)
 * @property {(module: unknown, memory: unknown, builder: object) => Promise<void>} startWorkers
 *   wasm-bindgen-rayon's import, bound to the host's hook instead of the crate's browser snippet
 * @property {(role: 'init' | 'exit', name: string) => void} guardPoolExport
 *   what the glue's wrappers of the pool's init and exit exports call first: throws ERR_POOL_OWNED_BY_RUNTIME
 *   unless the runtime is the caller
 * @property {<T>(call: () => T) => T} runtimeCall runs `call`, the runtime's own call of those exports
 * @property {(name: string) => boolean} runsLocally whether inside execute() a call of export `name` may run on
 *   the main thread's instance (see callMembers())
 * @property {(name: string) => boolean} forbidsWaits whether the main thread's instance runs export `name` with its
 *   waits forbidden (see callMembers())
 * @property {(name: string, args: unknown[]) => unknown} callLocally calls export `name` of the main thread's
 *   instance, guarded (local.cjs), inside execute(): the glue's imports that it calls see that instance as `wasm`
 * @property {(name: string) => boolean} installsPanicHook whether export `name` installs the crate's panic hook
 * @property {(name: string) => void} ranExport export `name` returned, locally or in the pool (see panicHooks())
 * @property {boolean} unwinds whether a panic unwinds to the export's caller, failing only its call (unwind.cjs)
 * @property {(value: unknown) => boolean} isPanic whether `value` is the glue's PanicError
 * @property {(error: unknown) => {panic: boolean, payload: unknown} | null} unwound
 *   what a raw export threw, unwrapped from the glue's wasm exception (unwind.cjs)
 * @property {(error: unknown) => void} handleCatch first in the glue's `__wbg_handle_catch` (unwind.cjs)
 * @property {() => object | null} takeTrap on a pool thread: the trap handleCatch saw since the last call, or null
 * @property {(proxy: object | undefined) => void} setProxy
 * @property {() => object | undefined} proxy
 * @property {() => WebAssembly.Exports | undefined} raw
 * @property {() => WebAssembly.Module} module
 * @property {(module: WebAssembly.Module, memory: WebAssembly.Memory) => WebAssembly.Exports} init
 *   on a pool thread: the glue's instance on the pool's module and memory
 * @property {(reason: string) => WebAssembly.Exports} reset
 *   on the main thread: instantiates the glue again on fresh memory; objects made before are stale;
 *   throws ERR_RESET_FAILED (and so does every use of the glue after) when it cannot
 */

// JS values held in wasm state live in the externref table of the instance that
// made them, at indices its own allocator (thread-local in Rust) hands out. Each
// instance takes its indices from a range of its own and fills the slots below
// it with a value whose every use throws: the pool host first, then the main
// thread, then pool thread i. So a JS value used on
// another instance than the one that made it reads that value (main thread:
// ForeignJsValueError at its first use) or is out of the table's bounds (pool:
// a trap), never null by accident, never another object. An instance whose
// values outgrow its range (the allocator takes 128 slots at a time, from the
// range's start on) fails like a trap (kind js_values_overflow) before they
// can meet another instance's: the host at the call that did it, the main
// thread within 64 calls (local.cjs). Pool threads cannot be watched while in wasm, but Rust's JsValue
// cannot leave its thread, so theirs meet no other instance's code. Small
// ranges below the main thread's keep refilling its table (on every memory
// reset) well under 1 ms.
const RANGES = (() => {
  const host = { start: 1024, size: 16384 };
  const main = { start: host.start + host.size, size: 65536 };
  const pool = { start: main.start + main.size, size: 1024 };
  return { host, main, pool };
})();

// What the runtime gives a pool thread as its data (platform.threadData; pool.cjs, host.cjs): the
// pool's memory and module, and the thread's place in the pool.
function givenByPool(key) {
  return platform.threadData()?.[key];
}

// This instance's range of JS values, [start, end): the host's, pool thread i's, or the main thread's.
function externrefRange() {
  const thread = givenByPool('__wbgPoolThread');
  const { host, main, pool } = RANGES;
  if (thread === undefined) return { start: main.start, end: main.start + main.size };
  if (thread === HOST_THREAD) return { start: host.start, end: host.start + host.size };
  const start = pool.start + thread * pool.size;
  return { start, end: start + pool.size };
}

// How each generation of glue instantiates its module: `init` attaches a pool
// thread's copy of the glue to the pool's module and memory, `fresh` starts the
// main thread's copy again on fresh memory after a crash.
const GENERATIONS = {
  // wasm-bindgen >= 0.2.109 (nodejs, experimental-nodejs-module): initSync, which the glue calls on load.
  INIT_SYNC: {
    init: (glue, module, memory) => glue.initSync({ module, memory }),
    fresh(glue) {
      glue.clearInitFlag();
      return glue.initSync({ module: glue.module() });
    },
  },
  // wasm-bindgen >= 0.2.109, --target web: initSync returns early while `wasm` is set.
  EXPLICIT_INIT: {
    init: (glue, module, memory) => glue.initSync({ module, memory }),
    fresh(glue) {
      glue.setRaw(undefined);
      return glue.initSync({ module: glue.module() });
    },
  },
  // Instantiated by the glue's top-level code on load (on a pool thread, on the
  // memory and module workerData gives); a reset runs that code again.
  ON_LOAD: { init: (glue) => glue.raw(), fresh: instantiateAgain },
  LOAD_TIME: { init: (glue) => glue.raw(), fresh: instantiateAgain },
  // wasm-bindgen <= 0.2.97: instantiated at require time on the memory the patch chose, and
  // the memory is required (`require('env')`) in a way that cannot run again.
  LEGACY_ENV: {
    init: (glue) => glue.raw(),
    fresh() {
      throw new Error('wbg-patch: recovery after a crash needs glue from wasm-bindgen 0.2.100 or newer');
    },
  },
};

function instantiateAgain(glue) {
  // LOAD_TIME glue makes its memory in a statement of its own (ON_LOAD: inside the instance's imports).
  if (glue.makeMemory !== undefined) glue.makeMemory();
  const instance = glue.instantiate();
  if (glue.setInstance !== undefined) glue.setInstance(instance);
  glue.setRaw(instance.exports);
  instance.exports.__wbindgen_start();
  return instance.exports;
}

// A value whose every use (get, has, ownKeys, getPrototypeOf, …) throws ForeignJsValueError.
function foreignValue() {
  const fail = () => {
    throw new ForeignJsValueError();
  };
  return new Proxy(Object.freeze({ [Symbol.toStringTag]: 'ForeignJsValue' }), new Proxy({}, { get: () => fail }));
}

// wasm-bindgen-rayon's `startWorkers`: its snippet is written for browsers (it
// reads `self` on load, so Node cannot even load the glue). The host installs
// the runtime's own as a hook; anywhere else there is no pool to start.
function startWorkers(module, memory, builder) {
  const hooks = globalThis[HOOKS_GLOBAL];
  if (hooks === undefined || typeof hooks[START_WORKERS_HOOK] !== 'function') {
    throw new Error('wbg-patch: initThreadPool runs only in the pool of a ThreadPoolManager; call your exports inside manager.execute()');
  }
  return hooks[START_WORKERS_HOOK](module, memory, builder);
}

// The pool's init and exit exports are the runtime's to call (contracts/): an
// SDK's own JS that still starts or stops its pool, as it did before wbg-patch,
// would spawn a second set of workers or exit the pool under the runtime. So
// the patch makes the glue's wrappers of those exports check first, before any
// argument reaches wasm; `role` is 'init' or 'exit'.
function poolOwnedByRuntime(role, name) {
  const instead =
    role === 'init'
      ? 'it starts the pool on the first manager.execute() or manager.run(): remove this call and call the exports inside manager.execute()'
      : 'it stops it by itself (after idleShutdownMs without calls, or on manager.close()): remove this call';
  return new WbgPoolError(`${name}() is the runtime's to call: the ThreadPoolManager owns the wasm thread pool; ${instead}`, 'ERR_POOL_OWNED_BY_RUNTIME');
}

// guardPoolExport, which those wrappers call first, and runtimeCall, the
// runtime's own call of them (contracts/index.cjs), which passes it.
function poolExportGuard() {
  let byRuntime = false;
  return {
    guardPoolExport(role, name) {
      if (!byRuntime) throw poolOwnedByRuntime(role, name);
    },
    runtimeCall(call) {
      byRuntime = true;
      try {
        return call();
      } finally {
        byRuntime = false;
      }
    },
  };
}

// The handle's members for this instance's range of JS values (see RANGES);
// `externrefs` is null for a module without a table of JS values.
function externrefMembers(options, local) {
  const externrefs = options.externrefTable === null ? null : { table: options.externrefTable, ...externrefRange(), foreign: foreignValue() };
  return {
    externrefs,
    // Last in the glue's `__wbindgen_init_externref_table`, which every instance runs first.
    reserveExternrefs(table) {
      if (table.length < externrefs.start) table.grow(externrefs.start - table.length, externrefs.foreign);
      local.table = table;
    },
    // The trap (kind js_values_overflow) of an instance whose JS values went past its range, or null.
    externrefsOverflow() {
      if (local.table === null || local.table.length <= externrefs.end) return null;
      const { start, end } = externrefs;
      const threadIndex = givenByPool('__wbgPoolThread') ?? MAIN_THREAD;
      return { name: 'WasmTrapError', kind: 'js_values_overflow', message: `slots ${start} to ${end - 1} are full`, threadIndex };
    },
  };
}

// The handle's members for the glue's objects: each remembers the memory epoch
// it was made in (`state.epoch`; a reset starts a new one). `theHandle()` is
// the handle these members become part of.
function objectMembers(state, theHandle) {
  return {
    // An object made in a pool is freed there while that pool runs: what it holds
    // may live only in the pool's instance (a JS value), which the main thread's
    // instance cannot free. Objects made before a reset point into memory that
    // was thrown away: their finalizers must not free those addresses in the fresh memory.
    finalizationRegistry(free) {
      const registry = new FinalizationRegistry(({ held, epoch: madeIn, pool }) => {
        if (madeIn === state.epoch) finalizeIn(pool, free, held);
        else theHandle().staleFinalizations++;
      });
      return {
        register(target, held, token) {
          registry.register(target, { held, epoch: state.epoch, pool: state.proxy === undefined ? null : currentPool() }, token);
        },
        unregister: (token) => registry.unregister(token),
      };
    },
    // Every use of an object's address goes through these, so an object made
    // before a reset (its address points into the discarded memory, where the
    // fresh memory now holds someone else's data) throws instead of touching it.
    livePtr(object) {
      if (object.__wbg_epoch !== state.epoch) throw new StaleObjectError(object?.constructor?.name, state.resetReason);
      return object.__wbg_ptr;
    },
    setPtr(object, ptr) {
      object.__wbg_epoch = state.epoch;
      return (object.__wbg_ptr = ptr);
    },
  };
}

// A crate's panic hook lives in its memory (std's hook static), so a reset
// drops it; a crate that installs it only inside some exports (an SDK's init
// calling console_error_panic_hook::set_once()) would then report every later
// panic without its message. The patch lists the exports that install one and
// take and return nothing (`names`); those that ran on a memory run again on
// each fresh one, on the main thread's instance: the memory is shared, so the
// pool's threads have the hook too.
function panicHooks(names = []) {
  const installers = new Set(names);
  const ran = new Set();
  return {
    installsPanicHook: (name) => installers.has(name),
    ranExport(name) {
      if (installers.has(name)) ran.add(name);
    },
    // One that throws is not run again: a reset that it fails would fail every retry the same way.
    reinstall(raw) {
      for (const name of [...ran]) {
        ran.delete(name);
        raw[name]();
        ran.add(name);
      }
    },
  };
}

// Where the calls of each export may run, as the patch read it off the module
// (wbg_patch/wasm/waits.py). Those that cannot wait for another thread run on
// the main thread's instance with its waits forbidden (local.cjs): they could
// reach a wait only once they failed, and there they trap instead of sleeping
// on a lock that a dead thread held. Of those, the ones that use nothing each
// instance has its own of (thread-local storage, the table of JS values) may
// run there inside execute() too, without the round trip to the host
// (proxy.cjs): only in the module the patch rewrote, which has the guard.
// Glue patched without the lists (an earlier wbg-patch) proxies every call.
// `state.onCaller` is true while execute() runs such a call: the glue's imports
// it calls (a panic's report, a string copied into wasm) must see that instance as `wasm`.
function callMembers(options, bindings, state, local) {
  const here = new Set(options.localExports);
  const forbidding = new Set([...here, ...(options.boundExports ?? [])]);
  return {
    runsLocally: (name) => here.has(name) && bindings.raw()?.[NO_WAIT_EXPORT] !== undefined,
    forbidsWaits: (name) => forbidding.has(name),
    callLocally(name, args) {
      const outer = state.onCaller;
      state.onCaller = true;
      try {
        return local.exports()[name](...args);
      } finally {
        state.onCaller = outer;
      }
    },
  };
}

// Why the glue cannot be used after a reset failed (after `reason`).
function resetFailed(reason, error, generation) {
  const fix =
    generation === 'LEGACY_ENV'
      ? 'glue of wasm-bindgen before 0.2.100 cannot start again on fresh memory: restart the process, or build with wasm-bindgen 0.2.100 or newer'
      : 'the next execute() or run() (of this manager or a new one) tries the reset again; or restart the process';
  return new WbgPoolError(
    `the wasm memory could not be reset after: ${reason} (${error.message}); nothing runs on the old memory, which a ` +
      `crashed thread may have left locked or half-written: ${fix}`,
    'ERR_RESET_FAILED',
    { cause: error },
  );
}

// The main thread's side of the glue's instance: its exports as the glue calls
// them outside execute() (local.cjs), the table its JS values live in, and
// whether a reset failed (`broken`). A trap there resets the memory at once and
// tells the manager (`listener`), whose pool shares that memory. Pool threads
// call their raw exports: the runtime there turns their failures into the pool's.
function localExports(bindings, onPoolThread) {
  const local = { table: null, broken: null, listener: null, logListener: null, guardedFor: undefined, guarded: undefined };
  const instance = {
    failed(error) {
      try {
        local.handle.reset(error.message);
      } catch {
        // local.broken says why to every later call; this one throws its own failure.
      }
      if (local.listener !== null) local.listener(error);
      return error;
    },
    overflowed() {
      const overflow = local.handle.externrefsOverflow();
      return overflow === null ? null : deserialize(overflow);
    },
    installsPanicHook: (name) => local.handle.installsPanicHook(name),
    forbidsWaits: (name) => local.handle.forbidsWaits(name),
    ran: (name) => local.handle.ranExport(name),
    unwound: (error) => local.handle.unwound(error),
    // Whether a manager hears this instance's logs (see onLocalLog).
    managed: () => local.logListener !== null,
    // Hands a LOG message of this instance to the manager's onLog; false without a manager.
    log(message) {
      if (local.logListener === null) return false;
      local.logListener(message);
      return true;
    },
  };
  local.exports = () => {
    const raw = bindings.raw();
    if (onPoolThread || raw === undefined) return raw;
    if (raw !== local.guardedFor) [local.guardedFor, local.guarded] = [raw, guardedExports(raw, instance)];
    return local.guarded;
  };
  return local;
}

// A fresh memory for the glue: a page that cannot have one is told why (COOP/COEP), and one
// the process has no room for (a shared memory reserves its maximum at once) is typed.
function newMemory(descriptor) {
  checkSharedMemory();
  try {
    return new WebAssembly.Memory(descriptor);
  } catch (error) {
    throw error instanceof RangeError ? memoryRefused(error, descriptor) : error;
  }
}

/**
 * The handle of one copy of a patched glue (one per thread that loads it).
 * @param {PreludeOptions} options
 * @param {GlueBindings} bindings
 * @returns {GlueHandle}
 */
function attach(options, bindings) {
  const generation = GENERATIONS[options.generation];
  if (generation === undefined) throw new Error(`wbg-patch: unknown glue generation ${options.generation}; re-run wbg-patch`);
  // The pool's proxy while execute() calls run; the memory epoch, and why it last began; the
  // route of the wrapper running outside execute(), if any (route.cjs); onCaller: callMembers().
  const state = { proxy: undefined, epoch: 0, resetReason: null, route: null, onCaller: false };
  const onPoolThread = givenByPool('__wbgPoolThread') !== undefined;
  const local = localExports(bindings, onPoolThread);
  const hooks = panicHooks(options.panicHookExports);
  const handle = {
    version: options.version,
    staleFinalizations: 0,
    wasm() {
      if (local.broken !== null) throw local.broken;
      if (state.onCaller) return local.exports();
      return state.proxy ?? state.route ?? local.exports();
    },
    // What calls outside execute() get, also while a proxy is installed.
    outsideExports: () => state.route ?? local.exports(),
    ...routeMembers(state),
    memory() {
      const given = givenByPool('__wbgPoolMemory');
      if (given instanceof WebAssembly.Memory) return given;
      return newMemory(options.memory);
    },
    poolModule(compile) {
      const given = givenByPool('__wbgPoolModule');
      return given instanceof WebAssembly.Module ? given : compile();
    },
    moduleAt: (url) => handle.poolModule(() => platform.readModule(url)),
    ...objectMembers(state, () => handle),
    ...externrefMembers(options, local),
    // `listener(error)` hears of every trap of the main thread's instance, after the memory was reset.
    onLocalTrap(listener) {
      local.listener = listener;
    },
    onLocalLog(listener) {
      local.logListener = listener;
    },
    // Throws why the memory could not be reset, after trying once more.
    checkUsable() {
      if (local.broken !== null) handle.reset(state.resetReason);
    },
    startWorkers,
    ...poolExportGuard(),
    ...callMembers(options, bindings, state, local),
    installsPanicHook: hooks.installsPanicHook,
    ranExport: hooks.ranExport,
    ...unwindMembers(options, bindings, onPoolThread),
    setProxy(value) {
      state.proxy = value;
    },
    proxy: () => state.proxy,
    raw: bindings.raw,
    module: bindings.module,
    init: (module, memory) => generation.init(bindings, module, memory),
    // Throws (and every later use of the glue throws) when the instance cannot
    // start again: nothing may run on memory a crashed thread left behind.
    reset(reason) {
      state.resetReason = reason;
      // Instantiation runs on the local instance whatever the manager has installed,
      // or a routed call that failed the pool (and so the memory) has taken.
      const [installed, route] = [state.proxy, state.route];
      [state.proxy, state.route] = [undefined, null];
      try {
        state.epoch++;
        [local.table, local.broken] = [null, null];
        const fresh = generation.fresh(bindings);
        hooks.reinstall(fresh);
        return fresh;
      } catch (error) {
        throw (local.broken = resetFailed(reason, error, options.generation));
      } finally {
        [state.proxy, state.route] = [installed, route];
      }
    },
  };
  local.handle = handle;
  return handle;
}

module.exports = { attach, RANGES };
