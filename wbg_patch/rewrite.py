"""Change exactly the located places of the glue; leave every other byte as it was.

The edits: the marker and the prelude (see `prelude`) before the glue's first
statement, every `wasm.<x>` read routed through the handle, the memory import
made selectable, the module a pool thread is given used instead of a compile,
the glue's finalization registries made to skip objects from a discarded
memory, the wrappers of the pool's init and exit exports guarded (the runtime
owns the pool), the wrappers of exports that can wait given the route their
call takes (contracts whose pool the main thread's calls join), every use of an object's address checked to be from the current
memory, each instance's JS values kept in a range of its own, the glue's catch
of a panic at an export handed to the runtime first (panic=unwind glue), and for
`--target module` the source-phase import of the .wasm, which Node 20 cannot
load, replaced by a compile of the same file. Each edit writes names and
values; what they do is runtime_js/prelude.cjs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tree_sitter import Node

from . import prelude
from .config import RuntimeConfig
from .contract import MAIN_THREAD_JOINS, Contract
from .errors import InternalError
from .marker import comments, config_comment, seal
from .model import Generation, Glue
from .syntax import first_error, parse


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def _object_edits(glue: Glue) -> list[Edit]:
    """Every use of an object's address: `x.__wbg_ptr` -> `livePtr(x)`,
    `x.__wbg_ptr = v` -> `setPtr(x, v)`."""
    result = []
    for n in glue.pointer_reads:
        obj = n.child_by_field_name("object")
        result += [Edit(obj.start_byte, obj.start_byte, f"{prelude.LIVE_PTR}("), Edit(obj.end_byte, n.end_byte, ")")]
    for n in glue.pointer_writes:
        obj = n.child_by_field_name("left").child_by_field_name("object")
        value = n.child_by_field_name("right")
        result += [
            Edit(n.start_byte, n.start_byte, f"{prelude.SET_PTR}("),
            Edit(obj.end_byte, value.start_byte, ", "),
            Edit(value.end_byte, value.end_byte, ")"),
        ]
    # `new FinalizationRegistry(cb)` -> `finalizationRegistry(cb)`, arguments untouched.
    result += [
        Edit(n.start_byte, n.child_by_field_name("arguments").start_byte, prelude.FINALIZATION_REGISTRY)
        for n in glue.finalization_registries
    ]
    return result


def _instantiation_edits(glue: Glue) -> list[Edit]:
    """The memory, the module and the instance: chosen by the runtime on a pool
    thread, made again on a reset."""
    site = glue.memory_site
    assert glue.wasm_declaration is not None and site is not None
    memory = f"{{ memory: {prelude.MEMORY} }}" if glue.generation is Generation.LEGACY_ENV else prelude.MEMORY
    result = [Edit(site.start_byte, site.end_byte, memory)]
    # `import source m from "./x_bg.wasm"` -> the same module, compiled here (or given to a pool thread).
    result += [
        Edit(
            s.statement.start_byte,
            s.statement.end_byte,
            f"const {s.name} = {prelude.MODULE_AT}(new URL({json.dumps(s.specifier)}, import.meta.url));",
        )
        for s in glue.source_imports
    ]
    if glue.module_compile is not None:
        # A pool thread instantiates the module it is given instead of compiling its own.
        c = glue.module_compile
        result += [Edit(c.start_byte, c.start_byte, f"{prelude.POOL_MODULE}(() => "), Edit(c.end_byte, c.end_byte, ")")]
    keyword = glue.wasm_declaration.child(0)
    if keyword.type == "const":
        # `const wasm = … new WebAssembly.Instance(…)`: a reset must assign it again.
        result.append(Edit(keyword.start_byte, keyword.end_byte, "let"))
    if glue.externref_init is not None:
        # Last in `__wbindgen_init_externref_table`, which every instance runs before anything else.
        statements = glue.externref_init.named_children
        last, indent = statements[-1].end_byte, " " * statements[0].start_point[1]
        result.append(Edit(last, last, f"\n{indent}{prelude.RESERVE_EXTERNREFS}({glue.externref_table_variable});"))
    return result


def _first_statement(body: Node, statement: str) -> Edit:
    """`statement` put first in a block, on a line of its own, indented as the block is."""
    first = body.named_children[0]
    return Edit(first.start_byte, first.start_byte, f"{statement}\n{' ' * first.start_point[1]}")


def _guard_edits(contract: Contract) -> list[Edit]:
    """First in the wrappers of the pool's init and exit exports: a check that
    the runtime, which owns the pool, is the caller."""
    return [
        _first_statement(body, f"{prelude.GUARD_POOL_EXPORT}({json.dumps(role.value)}, {json.dumps(name)});")
        for name, (role, body) in contract.owned.items()
    ]


def _wrapper_edits(glue: Glue, contract: Contract) -> list[Edit]:
    """Around the body of each wrapper of exports that can wait (model.Wrapper),
    for a contract whose pool the main thread's calls join: the route its call
    takes, chosen on entry and given back however it leaves (prelude.ROUTE_BRACKET;
    an arrow function's expression body runs through prelude.ROUTED)."""
    if contract.kind not in MAIN_THREAD_JOINS:
        return []
    result = []
    # The pool's init and exit exports run only on the host (their wrappers refuse other callers).
    owned = {body.start_byte for _, body in contract.owned.values()}
    for wrapper in (w for w in glue.wrappers if w.body.start_byte not in owned):
        name = json.dumps(wrapper.exports[0])
        body = wrapper.body
        if body.type == "statement_block":
            opening, closing = (part.format(name=name) for part in prelude.ROUTE_BRACKET)
            result += [Edit(body.start_byte + 1, body.start_byte + 1, f" {opening}"), Edit(body.end_byte - 1, body.end_byte - 1, f"{closing} ")]
        else:
            result += [Edit(body.start_byte, body.start_byte, f"{prelude.ROUTED}({name}, () => "), Edit(body.end_byte, body.end_byte, ")")]
    return result


def _catch_edits(glue: Glue) -> list[Edit]:
    """First in the glue's `__wbg_handle_catch` (unwind glue, or glue whose module
    aborts after all): the runtime's look at what an export threw. The glue's own
    tag's exceptions it leaves to the glue to unwrap; anything else it throws as
    it is, so that the glue never marks the memory every instance shares as dead:
    the runtime types those failures and resets the memory itself."""
    if glue.catch is None:
        return []
    result = [_first_statement(glue.catch.handler, f"{prelude.HANDLE_CATCH}({glue.catch.parameter});")]
    if glue.catch.call_guard is not None:
        # `__wbg_call_guard`, first in every export's wrapper, reads that mark through `wasm`
        # (through the pool's proxy, inside execute()): a third of a proxied noop's time
        # (make bench), for a mark that is never set now. Its body goes.
        guard = glue.catch.call_guard
        result.append(Edit(guard.start_byte, guard.end_byte, "{}"))
    return result


def edits(glue: Glue, config: RuntimeConfig, contract: Contract) -> list[Edit]:
    site = glue.prelude_site
    result = [Edit(site, site, comments(glue, config, contract.kind.value) + prelude.statement(glue))]
    if contract.snippet_binding is not None:
        # wasm-bindgen-rayon's browser snippet: its `startWorkers` is the runtime's instead.
        s = contract.snippet_binding
        result.append(Edit(s.start_byte, s.end_byte, f"const startWorkers = {prelude.START_WORKERS};"))
    guard = glue.catch.call_guard if glue.catch is not None else None
    # (The reads of `wasm` inside a call guard whose body goes, go with it.)
    reads = [n for n in glue.wasm_member_reads if guard is None or not guard.start_byte <= n.start_byte < guard.end_byte]
    result += [Edit(n.start_byte, n.end_byte, prelude.ACCESSOR) for n in reads]
    result += _guard_edits(contract)
    result += _wrapper_edits(glue, contract)
    result += _catch_edits(glue)
    result += _object_edits(glue)
    result += _instantiation_edits(glue)
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
    return seal(patched, tree, glue.path)
