"""Change exactly the located places of the glue; leave every other byte as it was.

The edits: a prelude after the `wasm` declaration (the accessor, memory and
module selection, and the `__wbg_pool` handle the runtime uses), every
`wasm.<x>` read routed through the accessor, the memory import made
selectable, the glue's finalization registries made to skip objects from a
discarded memory, every use of an object's address checked to be from the
current memory, and for ES modules the imports the prelude needs (plus, for
`--target module`, the source-phase import of the .wasm, which Node 20 cannot
load, replaced by a compile of the same file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import __version__
from .contract import Contract
from .emit import RuntimeConfig
from .errors import InternalError
from .glue import CONFIG_PREFIX, DIGEST_BLANK, DIGEST_PREFIX, GLUE_LINE, Generation, Glue, digest_comment_text, first_error, parse


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


ACCESSOR = "__wbg_wasm()"


def config_comment(config: RuntimeConfig) -> str:
    return f"{CONFIG_PREFIX}{json.dumps(config.to_json(), sort_keys=True)} */"


def _init_and_reset(glue: Glue) -> str:
    """The handle's `init(module, memory)`, run on pool threads, and `reset()`,
    run on the main thread after a crash: instantiate again on fresh memory."""
    generation = glue.generation
    if generation is Generation.LEGACY_ENV:
        # Instantiated at require time, on the memory __wbg_pool_memory() chose.
        return """init() { return wasm; },
    reset() { throw new Error('wbg-patch: recovery after a crash needs glue from wasm-bindgen >= 0.2.109'); },"""
    if generation in (Generation.LOAD_TIME, Generation.ON_LOAD):
        # Instantiated by the glue's top-level code on load (pool threads: on the
        # memory and module workerData gives); a reset runs that code again.
        assert glue.instance is not None
        lines = []
        if generation is Generation.LOAD_TIME:
            # The memory is made by a statement of its own (in ON_LOAD, inside the instance's imports).
            st, site = glue.memory_statement, glue.memory_site
            assert st is not None and site is not None
            lines.append(
                (glue.source[st.start_byte : site.start_byte] + b"__wbg_pool_memory()" + glue.source[site.end_byte : st.end_byte]).decode()
            )
        lines.append(f"const instance = {glue.text(glue.instance)};")
        if glue.instance_variable is not None:
            lines.append(f"{glue.instance_variable} = instance;")
        lines.append("wasm = instance.exports;")
        if glue.exposes_instance:
            lines.append("module.exports.__wasm = wasm;")
        lines += ["instance.exports.__wbindgen_start();", "return wasm;"]
        fresh = "\n            ".join(lines)
        init = "init() { return wasm; },"
    elif generation is Generation.INIT_SYNC:
        fresh = f"""{glue.init_flag} = false;
            return {glue.init_sync}({{ module: {glue.module_variable} }});"""
        init = f"init(module, memory) {{ return {glue.init_sync}({{ module, memory }}); }},"
    else:  # EXPLICIT_INIT: initSync returns early while `wasm` is set
        fresh = f"""wasm = undefined;
            return {glue.init_sync}({{ module: {glue.module_variable} }});"""
        init = f"init(module, memory) {{ return {glue.init_sync}({{ module, memory }}); }},"
    return f"""{init}
    reset() {{
        // Instantiation runs on the local instance whatever the manager has installed.
        const proxy = __wbg_pool_proxy;
        __wbg_pool_proxy = undefined;
        try {{
            __wbg_memory_epoch++;
            {fresh}
        }} finally {{
            __wbg_pool_proxy = proxy;
        }}
    }},"""


def header(glue: Glue) -> str:
    """ES modules: the imports the prelude needs, before the first statement."""
    lines = ["import * as __wbg_worker_threads from 'node:worker_threads';"]
    if glue.source_imports:
        lines.append("import { readFileSync as __wbg_read_file } from 'node:fs';")
    return "/* wbg-patch: imports for the prelude below. */\n" + "\n".join(lines) + "\n"


def prelude(glue: Glue, config: RuntimeConfig) -> str:
    assert glue.memory is not None and glue.generation is not None
    memory = f"new WebAssembly.Memory({glue.memory.js_descriptor()})"
    esm = glue.module_format == "esm"
    threads = "__wbg_worker_threads" if esm else "require('worker_threads')"
    handle = "export const __wbg_pool =" if esm else "exports.__wbg_pool ="
    pool_handle = "__wbg_pool" if esm else "exports.__wbg_pool"
    externrefs = _externref_ranges(glue, pool_handle)
    module_selection = ""
    if glue.source_imports or glue.module_compile is not None:
        module_selection = """
function __wbg_pool_module(compile) {
    const given = __wbg_pool_given('__wbgPoolModule');
    return given instanceof WebAssembly.Module ? given : compile();
}"""
    return f"""
/* wbg-patch {__version__}: reads of `wasm` go through {ACCESSOR}, so a ThreadPoolManager can send
 * them to its pool; pool threads take their memory from workerData. Do not edit: re-run wbg-patch.
 * {GLUE_LINE}{glue.target}; {glue.generation.name}; contract {glue.contract} */
{config_comment(config)}
{DIGEST_PREFIX}{DIGEST_BLANK} */
let __wbg_pool_proxy;
function __wbg_wasm() {{
    return __wbg_pool_proxy === undefined ? wasm : __wbg_pool_proxy;
}}
function __wbg_pool_given(key) {{
    const threads = {threads};
    return threads.isMainThread ? undefined : (threads.workerData || {{}})[key];
}}
function __wbg_pool_memory() {{
    const given = __wbg_pool_given('__wbgPoolMemory');
    return given instanceof WebAssembly.Memory ? given : {memory};
}}{module_selection}{externrefs}
// Objects made before a reset point into memory that was thrown away: their
// finalizers must not free those addresses in the fresh memory.
let __wbg_memory_epoch = 0;
// An object made in a pool is freed there while that pool runs: what it holds
// may live only in the pool's instance (a JS value), which the main thread's
// instance cannot free.
function __wbg_finalization_registry(free) {{
    const registry = new FinalizationRegistry(({{ held, epoch, pool }}) => {{
        if (epoch === __wbg_memory_epoch) {pool_handle}.finalize(free, held, pool);
        else {pool_handle}.staleFinalizations++;
    }});
    return {{
        register(target, held, token) {{
            const pool = __wbg_pool_proxy === undefined ? null : {pool_handle}.madeIn();
            registry.register(target, {{ held, epoch: __wbg_memory_epoch, pool }}, token);
        }},
        unregister(token) {{ return registry.unregister(token); }},
    }};
}}
// Every use of an object's address goes through these, so an object made
// before a reset (its address points into the discarded memory, where the
// fresh memory now holds someone else's data) throws instead of touching it.
function __wbg_live_ptr(object) {{
    if (object.__wbg_epoch !== __wbg_memory_epoch) {pool_handle}.staleObject(object);
    return object.__wbg_ptr;
}}
function __wbg_set_ptr(object, ptr) {{
    object.__wbg_epoch = __wbg_memory_epoch;
    return (object.__wbg_ptr = ptr);
}}
{handle} {{
    version: '{__version__}',
    staleFinalizations: 0,
    // Throws the runtime's StaleObjectError (set when the runtime binds this glue;
    // only the runtime resets the memory, so only it can make an object stale).
    staleObject(object) {{ throw new Error(`wbg-patch: a ${{object.constructor.name}} made before the wasm memory was reset cannot be used`); }},
    // Throws the runtime's ForeignJsValueError on the main thread (set when the runtime binds
    // this glue); on the pool's threads, an error the runtime reports as a trap of that kind.
    foreignJsValue() {{ throw Object.assign(new Error('wbg-patch: a JS value kept by another instance was used'), {{ code: 'ERR_FOREIGN_JS_VALUE' }}); }},
    externrefs: {_externrefs_handle(glue)},
    // Set by the runtime: which pool the running code belongs to, and a free run in that pool.
    madeIn() {{ return null; }},
    finalize(free, held) {{ free(held); }},
    setProxy(proxy) {{ __wbg_pool_proxy = proxy; }},
    proxy() {{ return __wbg_pool_proxy; }},
    raw() {{ return wasm; }},
    module() {{ return {glue.module_variable}; }},
    {_init_and_reset(glue)}
}};"""


# JS values held in wasm state live in the externref table of the instance that
# made them, at indices its own allocator (thread-local in Rust) hands out. Each
# instance takes its indices from a range of its own: the pool host from
# HOST_EXTERNREFS, pool thread i from POOL_EXTERNREFS + i * POOL_THREAD_EXTERNREFS
# (Rust's JsValue cannot move between threads, so pool threads hold few), the
# main thread above all of them (up to 256 pool threads); it fills the slots
# below its range with a value whose every use throws. So a JS value used on
# another instance than the one that made it reads that value (main thread:
# ForeignJsValueError at its first use) or is out of the table's bounds (pool: a
# trap), never null by accident, never another object. The main thread's table
# is refilled on every memory reset: small ranges keep that well under 1 ms.
HOST_EXTERNREFS = 1024
POOL_EXTERNREFS = 2 * HOST_EXTERNREFS
POOL_THREAD_EXTERNREFS = 128
MAIN_EXTERNREF_START = POOL_EXTERNREFS + 256 * POOL_THREAD_EXTERNREFS


def _externref_ranges(glue: Glue, pool_handle: str) -> str:
    if glue.externref_init is None:
        return ""
    return f"""
const __wbg_foreign_value = new Proxy(
    Object.freeze({{ [Symbol.toStringTag]: 'ForeignJsValue' }}),
    // Every trap (get, has, ownKeys, getPrototypeOf, …) throws.
    new Proxy({{}}, {{ get: () => () => {pool_handle}.foreignJsValue() }}),
);
function __wbg_reserve_externrefs(table) {{
    const start = __wbg_pool_given('__wbgPoolExternrefStart') ?? {MAIN_EXTERNREF_START};
    if (table.length < start) table.grow(start - table.length, __wbg_foreign_value);
}}"""


def _externrefs_handle(glue: Glue) -> str:
    """What the runtime needs to know of the ranges: null for glue without an externref table."""
    if glue.externref_init is None:
        return "null"
    return (
        f"{{ table: '{glue.externref_table}', host: {HOST_EXTERNREFS}, pool: {POOL_EXTERNREFS}, "
        f"poolThread: {POOL_THREAD_EXTERNREFS}, foreign: __wbg_foreign_value }}"
    )


# wasm-bindgen-rayon's `startWorkers` comes from a browser snippet (it reads
# `self` on load, so Node cannot even load the glue): the patch binds it to the
# runtime's, which the pool's host thread installs. A function declaration, so
# it is bound before any statement runs, as the import was.
SNIPPET_START_WORKERS = """function startWorkers(module, memory, builder) {
    /* wbg-patch: wasm-bindgen-rayon's browser snippet replaced by the runtime's startWorkers */
    const hooks = globalThis.__wbgPoolHooks;
    if (hooks === undefined || typeof hooks.startWorkers !== 'function') {
        throw new Error('wbg-patch: initThreadPool runs only in the pool of a ThreadPoolManager; call your exports inside manager.execute()');
    }
    return hooks.startWorkers(module, memory, builder);
}"""


def edits(glue: Glue, config: RuntimeConfig, contract: Contract) -> list[Edit]:
    assert glue.wasm_declaration is not None and glue.memory_site is not None
    result = [Edit(glue.wasm_declaration.end_byte, glue.wasm_declaration.end_byte, prelude(glue, config))]
    if contract.snippet_binding is not None:
        s = contract.snippet_binding
        result.append(Edit(s.start_byte, s.end_byte, SNIPPET_START_WORKERS))
    if glue.module_format == "esm":
        result.append(Edit(glue.header_site, glue.header_site, header(glue)))
    result += [Edit(n.start_byte, n.end_byte, ACCESSOR) for n in glue.wasm_member_reads]
    # `x.__wbg_ptr` -> `__wbg_live_ptr(x)`, `x.__wbg_ptr = v` -> `__wbg_set_ptr(x, v)`: inserted around
    # `x` and `v`, so edits inside them stay where they are.
    for n in glue.pointer_reads:
        obj = n.child_by_field_name("object")
        result += [Edit(obj.start_byte, obj.start_byte, "__wbg_live_ptr("), Edit(obj.end_byte, n.end_byte, ")")]
    if glue.externref_init is not None:
        # Last in `__wbindgen_init_externref_table`, which every instance runs before anything else.
        statements = glue.externref_init.named_children
        last, indent = statements[-1].end_byte, " " * statements[0].start_point[1]
        result.append(Edit(last, last, f"\n{indent}__wbg_reserve_externrefs({glue.externref_table_variable});"))
    for n in glue.pointer_writes:
        obj = n.child_by_field_name("left").child_by_field_name("object")
        value = n.child_by_field_name("right")
        result += [
            Edit(n.start_byte, n.start_byte, "__wbg_set_ptr("),
            Edit(obj.end_byte, value.start_byte, ", "),
            Edit(value.end_byte, value.end_byte, ")"),
        ]
    # `new FinalizationRegistry(cb)` -> `__wbg_finalization_registry(cb)`, arguments untouched.
    result += [
        Edit(n.start_byte, n.child_by_field_name("arguments").start_byte, "__wbg_finalization_registry")
        for n in glue.finalization_registries
    ]
    # `import source m from "./x_bg.wasm"` -> the same module, compiled here (or given to a pool thread).
    result += [
        Edit(
            s.statement.start_byte,
            s.statement.end_byte,
            f"const {s.name} = __wbg_pool_module(() => new WebAssembly.Module(__wbg_read_file(new URL({json.dumps(s.specifier)}, import.meta.url))));",
        )
        for s in glue.source_imports
    ]
    if glue.module_compile is not None:
        # A pool thread instantiates the module it is given instead of compiling its own.
        c = glue.module_compile
        result += [Edit(c.start_byte, c.start_byte, "__wbg_pool_module(() => "), Edit(c.end_byte, c.end_byte, ")")]
    keyword = glue.wasm_declaration.child(0)
    if keyword.type == "const":
        # `const wasm = … new WebAssembly.Instance(…)`: a reset must assign it again.
        result.append(Edit(keyword.start_byte, keyword.end_byte, "let"))
    site = glue.memory_site
    if glue.generation is Generation.LEGACY_ENV:
        result.append(Edit(site.start_byte, site.end_byte, "{ memory: __wbg_pool_memory() }"))
    else:
        result.append(Edit(site.start_byte, site.end_byte, "__wbg_pool_memory()"))
    return sorted(result, key=lambda e: (e.start, e.end))


def apply(source: bytes, changes: list[Edit]) -> bytes:
    out, pos = [], 0
    for e in changes:
        if e.start < pos:
            raise InternalError(f"overlapping edits at byte {e.start}")
        out += [source[pos : e.start], e.text.encode("utf-8")]
        pos = e.end
    out.append(source[pos:])
    return b"".join(out)


def patch(glue: Glue, config: RuntimeConfig, contract: Contract) -> bytes:
    """The patched glue; checked to parse cleanly before it is returned."""
    return _sealed(glue, apply(glue.source, edits(glue, config, contract)))


def reconfigure(glue: Glue, config: RuntimeConfig) -> bytes:
    """Glue patched by this version, with other options stored in it."""
    node = glue.config_comment
    if node is None:
        raise InternalError("the patched glue has no wbg-patch-config comment; regenerate it and patch again", glue.path)
    return _sealed(glue, apply(glue.source, [Edit(node.start_byte, node.end_byte, config_comment(config))]))


def _sealed(glue: Glue, patched: bytes) -> bytes:
    """`patched`, checked to parse, with its digest filled in."""
    tree = parse(patched)
    bad = first_error(tree.root_node)
    if bad is not None:
        raise InternalError(f"the patched glue does not parse (line {bad.start_point[0] + 1}); nothing written", glue.path)
    digest = next(
        (c for c in tree.root_node.children if c.type == "comment" and c.text.startswith(DIGEST_PREFIX.encode())), None
    )
    if digest is None:
        raise InternalError("the patched glue has no digest comment; regenerate it and patch again", glue.path)
    text = digest_comment_text(patched, digest.start_byte, digest.end_byte).encode()
    return patched[: digest.start_byte] + text + patched[digest.end_byte :]
