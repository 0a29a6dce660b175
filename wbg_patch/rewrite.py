"""Change exactly the located places of the glue; leave every other byte as it was.

Four edits: a prelude after the `wasm` declaration (the accessor, memory
selection and the `__wbg_pool` handle the runtime uses), every `wasm.<x>` read
routed through the accessor, the memory import made selectable, and the glue's
finalization registries made to skip objects from a discarded memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import __version__
from .errors import InternalError
from .emit import RuntimeConfig
from .glue import CONFIG_PREFIX, Generation, Glue, first_error, parse


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


ACCESSOR = "__wbg_wasm()"


def config_comment(config: RuntimeConfig) -> str:
    return f"{CONFIG_PREFIX}{json.dumps(config.to_json(), sort_keys=True)} */"


def prelude(glue: Glue, config: RuntimeConfig) -> str:
    assert glue.memory is not None and glue.generation is not None
    memory = f"new WebAssembly.Memory({glue.memory.js_descriptor()})"
    if glue.generation is Generation.INIT_SYNC:
        init = f"""init(module, memory) {{ return exports.initSync({{ module, memory }}); }},
    reset() {{
        // Instantiation runs on the local instance whatever the manager has installed.
        const proxy = __wbg_pool_proxy;
        __wbg_pool_proxy = undefined;
        try {{
            {glue.init_flag} = false;
            __wbg_memory_epoch++;
            return exports.initSync({{ module: {glue.module_variable} }});
        }} finally {{
            __wbg_pool_proxy = proxy;
        }}
    }},"""
    else:
        # Instantiated at require time, on the memory __wbg_pool_memory() chose.
        init = """init() { return wasm; },
    reset() { throw new Error('wbg-patch: recovery after a crash needs glue from wasm-bindgen >= 0.2.109'); },"""
    return f"""
/* wbg-patch {__version__}: reads of `wasm` go through {ACCESSOR}, so a ThreadPoolManager can send
 * them to its pool; pool threads take their memory from workerData. Do not edit: re-run wbg-patch. */
{config_comment(config)}
let __wbg_pool_proxy;
function __wbg_wasm() {{
    return __wbg_pool_proxy === undefined ? wasm : __wbg_pool_proxy;
}}
function __wbg_pool_memory() {{
    const threads = require('worker_threads');
    const given = threads.isMainThread ? undefined : (threads.workerData || {{}}).__wbgPoolMemory;
    return given instanceof WebAssembly.Memory ? given : {memory};
}}
// Objects made before a reset point into memory that was thrown away: their
// finalizers must not free those addresses in the fresh memory.
let __wbg_memory_epoch = 0;
function __wbg_finalization_registry(free) {{
    const registry = new FinalizationRegistry(({{ held, epoch }}) => {{
        if (epoch === __wbg_memory_epoch) free(held);
        else exports.__wbg_pool.staleFinalizations++;
    }});
    return {{
        register(target, held, token) {{ registry.register(target, {{ held, epoch: __wbg_memory_epoch }}, token); }},
        unregister(token) {{ return registry.unregister(token); }},
    }};
}}
exports.__wbg_pool = {{
    version: '{__version__}',
    staleFinalizations: 0,
    setProxy(proxy) {{ __wbg_pool_proxy = proxy; }},
    raw() {{ return wasm; }},
    module() {{ return {glue.module_variable}; }},
    {init}
}};"""


def edits(glue: Glue, config: RuntimeConfig) -> list[Edit]:
    assert glue.wasm_declaration is not None and glue.memory_site is not None
    result = [Edit(glue.wasm_declaration.end_byte, glue.wasm_declaration.end_byte, prelude(glue, config))]
    result += [Edit(n.start_byte, n.end_byte, ACCESSOR) for n in glue.wasm_member_reads]
    # `new FinalizationRegistry(cb)` -> `__wbg_finalization_registry(cb)`, arguments untouched.
    result += [
        Edit(n.start_byte, n.child_by_field_name("arguments").start_byte, "__wbg_finalization_registry")
        for n in glue.finalization_registries
    ]
    site = glue.memory_site
    if glue.generation is Generation.INIT_SYNC:
        result.append(Edit(site.start_byte, site.end_byte, "__wbg_pool_memory()"))
    else:
        result.append(Edit(site.start_byte, site.end_byte, "{ memory: __wbg_pool_memory() }"))
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


def patch(glue: Glue, config: RuntimeConfig) -> bytes:
    """The patched glue; checked to parse cleanly before it is returned."""
    return _checked(glue, apply(glue.source, edits(glue, config)))


def reconfigure(glue: Glue, config: RuntimeConfig) -> bytes:
    """Glue patched by this version, with other options stored in it."""
    node = glue.config_comment
    if node is None:
        raise InternalError("the patched glue has no wbg-patch-config comment; regenerate it and patch again", glue.path)
    return _checked(glue, apply(glue.source, [Edit(node.start_byte, node.end_byte, config_comment(config))]))


def _checked(glue: Glue, patched: bytes) -> bytes:
    bad = first_error(parse(patched).root_node)
    if bad is not None:
        raise InternalError(f"the patched glue does not parse (line {bad.start_point[0] + 1}); nothing written", glue.path)
    return patched
