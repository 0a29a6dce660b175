"""The prelude the patch puts at the top of the glue: one statement that
attaches the glue to the runtime (``runtime_js/prelude.cjs``, which holds all
the logic), with the values read off this glue and bindings to its own
variables, which only code inside the glue file can reach.

Python decides which bindings and what values a glue gets; a binding is a
one-line arrow function that reads or sets a name of the glue, or runs an
expression copied from it (its own instantiation, its own memory statement).
"""

from __future__ import annotations

import json

from . import __version__, esm_build
from .emit import RUNTIME_DIR
from .model import Generation, Glue
from .target import loads_in_browsers

# The handle the glue exports; the runtime finds it under this name.
HANDLE = "__wbg_pool"
# What every `wasm.<x>` of the glue reads instead.
ACCESSOR = f"{HANDLE}.wasm()"
# What the glue's own memory, compile and table code calls.
MEMORY = f"{HANDLE}.memory()"
POOL_MODULE = f"{HANDLE}.poolModule"
MODULE_AT = f"{HANDLE}.moduleAt"
LIVE_PTR = f"{HANDLE}.livePtr"
SET_PTR = f"{HANDLE}.setPtr"
FINALIZATION_REGISTRY = f"{HANDLE}.finalizationRegistry"
RESERVE_EXTERNREFS = f"{HANDLE}.reserveExternrefs"
START_WORKERS = f"{HANDLE}.startWorkers"
# What the glue's wrappers of the pool's init and exit exports call first.
GUARD_POOL_EXPORT = f"{HANDLE}.guardPoolExport"
# Around the body of a wrapper of exports that can wait (model.Wrapper): syntax only, so that
# leave() runs however the body ends; the route itself is enter()'s and leave()'s to decide
# (runtime_js/route.cjs). `{name}`: the export, as a JSON string.
ROUTE_BRACKET = (f"const __wbg_route = {HANDLE}.enter({{name}}); try {{{{", f"}}}} finally {{{{ {HANDLE}.leave(__wbg_route); }}}}")
# The same for an arrow function's expression body: `() => <expression>`, run by routed().
ROUTED = f"{HANDLE}.routed"
# What the glue's `__wbg_handle_catch` (unwind glue) calls first with what an export threw.
HANDLE_CATCH = f"{HANDLE}.handleCatch"
RUNTIME_MODULE = f"./{RUNTIME_DIR}/prelude.cjs"
# ES modules import the runtime module under this name.
IMPORTED = "__wbg_prelude"
# Glue a browser loads imports the runtime's ES-module build (esm_build.py) and takes this file from it.
ESM_BUILD_MODULE = f"./{RUNTIME_DIR}/{esm_build.BUILD}"


def options(glue: Glue) -> dict[str, object]:
    """The values: runtime_js/prelude.cjs, PreludeOptions."""
    assert glue.memory is not None and glue.generation is not None and glue.module_interface is not None
    memory = {"initial": glue.memory.initial, "maximum": glue.memory.maximum, "shared": True}
    found = {
        "version": __version__,
        "generation": glue.generation.name,
        "memory": memory,
        "externrefTable": glue.externref_table,
        "panics": glue.panics,
    }
    # Only when there are some: a crate without such exports gets the glue it got before.
    if glue.module_interface.panic_hook_exports:
        found["panicHookExports"] = list(glue.module_interface.panic_hook_exports)
    # Where each call may run (wasm/waits.py): inside execute() on the caller's instance
    # (`localExports`); on the main thread's instance with its waits forbidden (those and
    # `boundExports`, which cannot wait but depend on their instance). Glue without them
    # (patched by an earlier version, or whose module could not be read) proxies every call.
    waits = glue.module_interface.waits
    if waits is not None:
        found["localExports"] = waits.local
        found["boundExports"] = waits.bound_only
    return found


def _memory_statement(glue: Glue) -> str:
    """LOAD_TIME: the glue's statement that makes the memory, as an expression
    that makes it on the memory the runtime chooses."""
    statement, site = glue.memory_statement, glue.memory_site
    assert statement is not None and site is not None
    expression = statement.named_children[0]
    return (glue.source[expression.start_byte : site.start_byte] + MEMORY.encode() + glue.source[site.end_byte : expression.end_byte]).decode()


def bindings(glue: Glue) -> dict[str, str]:
    """The bindings: runtime_js/prelude.cjs, GlueBindings; name -> arrow function."""
    generation = glue.generation
    found = {"raw": "() => wasm", "module": f"() => {glue.module_variable}"}
    if generation in (Generation.INIT_SYNC, Generation.EXPLICIT_INIT):
        found["initSync"] = f"(options) => {glue.init_sync}(options)"
    if generation is Generation.INIT_SYNC:
        found["clearInitFlag"] = f"() => ({glue.init_flag} = false)"
    if generation in (Generation.EXPLICIT_INIT, Generation.ON_LOAD, Generation.LOAD_TIME):
        exposed = "module.exports.__wasm = " if glue.exposes_instance else ""
        found["setRaw"] = f"(value) => (wasm = {exposed}value)"
    if generation in (Generation.ON_LOAD, Generation.LOAD_TIME):
        assert glue.instance is not None
        found["instantiate"] = f"() => {glue.text(glue.instance)}"
    if glue.instance_variable is not None:
        found["setInstance"] = f"(value) => ({glue.instance_variable} = value)"
    if generation is Generation.LOAD_TIME:
        found["makeMemory"] = f"() => ({_memory_statement(glue)})"
    if glue.catch is not None:
        # Both are declared further down the glue (a `const`, a `class`): read when called, not here.
        found["wrappedTag"] = f"() => {glue.catch.wrapped_tag}"
        found["panicError"] = f"() => {glue.catch.panic_error}"
    return found


def statement(glue: Glue) -> str:
    """The statement that makes the handle and exports it, for the glue's module format."""
    values = json.dumps(options(glue), sort_keys=True)
    named = "".join(f"\n    {name}: {value}," for name, value in bindings(glue).items())
    if loads_in_browsers(glue):
        return (
            f"import {{ runtime as {IMPORTED} }} from {json.dumps(ESM_BUILD_MODULE)};\n"
            f"export const {HANDLE} = {IMPORTED}.require(\"./prelude.cjs\").attach({values}, {{{named}\n}});\n"
        )
    if glue.module_format == "esm":
        return (
            f"import {IMPORTED} from {json.dumps(RUNTIME_MODULE)};\n"
            f"export const {HANDLE} = {IMPORTED}.attach({values}, {{{named}\n}});\n"
        )
    return f"const {HANDLE} = require({json.dumps(RUNTIME_MODULE)}).attach({values}, {{{named}\n}});\nexports.{HANDLE} = {HANDLE};\n"
