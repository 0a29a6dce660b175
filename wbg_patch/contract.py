"""Which pool contract the crate carries: how the runtime starts its Rayon pool.

A crate that already runs Rayon in wasm brings its own way of starting the
pool, and wbg-patch adopts it as it is. Three contracts are known, each
recognised by names *and* shapes (arity, where an import comes from) in the
glue, and checked against the names the module really exports and imports:

- ``wbg-pool`` (rust_example/pool): ``initThreadPool(n)``, ``exitThreadPool()``,
  ``wbg_rayon_start_worker(receiver)``; the workers are spawned through hooks
  the runtime installs.
- ``wasm-bindgen-rayon`` (crates.io, the field's standard): a
  ``wbg_rayon_PoolBuilder`` class, ``initThreadPool(n)`` and the import
  ``startWorkers(module, memory, builder)`` from its ``workerHelpers`` snippet,
  which is written for browsers: the patch binds it to the runtime instead.
  Its pool is Rayon's global one: no exit.
- ``poolbuilder-global`` (a JS SDK's contract): a ``PoolBuilder`` class,
  ``initThreadPool(n, workerSource)``, ``exitThreadPool()``, and the *global*
  functions ``startWorkers(workerSource, memory, builder)`` and
  ``terminateWorkers()``, which the runtime defines on its threads.

Anything else, or a mix, is refused here, at patch time: a glue patched into
something that fails at run time would be worse than no patch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from tree_sitter import Node

from .errors import ContractError
from .locate import exported_values
from .model import Glue


class Kind(Enum):
    WBG_POOL = "wbg-pool"
    WASM_BINDGEN_RAYON = "wasm-bindgen-rayon"
    POOLBUILDER_GLOBAL = "poolbuilder-global"


# What each contract says it is, for messages and `inspect`.
DESCRIPTION = {
    Kind.WBG_POOL: "wbg-pool (initThreadPool(n), exitThreadPool(), workers spawned through the runtime's hooks)",
    Kind.WASM_BINDGEN_RAYON: "wasm-bindgen-rayon (wbg_rayon_PoolBuilder, Rayon's global pool, startWorkers from its snippet)",
    Kind.POOLBUILDER_GLOBAL: "PoolBuilder-global (PoolBuilder, initThreadPool(n, workerSource), global startWorkers/terminateWorkers)",
}
BUILDER_METHODS = ("numThreads", "receiver", "build")
# The contracts whose pool the main thread's own calls join once it is up: Rayon's global pool
# (wasm-bindgen-rayon) and a pool kept in a static (PoolBuilder-global) live in the memory every
# instance shares, so a parallel export called outside execute() runs its jobs on the pool's
# threads and waits for them. (wbg-pool's run_in_pool enters its pool only on the host.)
MAIN_THREAD_JOINS = {Kind.WASM_BINDGEN_RAYON, Kind.POOLBUILDER_GLOBAL}
SNIPPET_MARK = "wasm-bindgen-rayon"


@dataclass(frozen=True)
class Names:
    """The glue exports that carry a contract (wbg-patch --init-export and friends)."""

    init: str
    exit: str
    start_worker: str


class Role(Enum):
    """What an export the runtime keeps to itself does to the pool."""

    INIT = "init"
    EXIT = "exit"


@dataclass
class Contract:
    kind: Kind
    # wasm-bindgen-rayon: the top-level statement that binds `startWorkers`
    # from the browser snippet; the patch replaces it with the runtime's.
    snippet_binding: Node | None = None
    # The bodies of the glue's wrappers of the init and exit exports, by export
    # name: the runtime owns the pool, so the patch guards these against the
    # crate's own JS (an SDK that still starts its pool as before wbg-patch).
    owned: dict[str, tuple[Role, Node]] = field(default_factory=dict)


@dataclass
class _Binding:
    statement: Node
    specifier: str
    alone: bool  # the statement binds nothing else


@dataclass
class _Facts:
    functions: dict[str, int]  # exported function -> number of parameters
    bodies: dict[str, Node]  # exported function -> its body
    classes: dict[str, set[str]]  # top-level class -> its method names
    calls: dict[str, set[int]]  # startWorkers / terminateWorkers -> argument counts at the call sites
    start_workers_binding: _Binding | None  # where `startWorkers` comes from, when not a global
    module_exports: set[str]
    module_imports: list[str]


def detect(glue: Glue, names: Names) -> Contract:
    """The contract of a located, unpatched glue; raises ContractError when it
    is none of the known ones, or a mix of them."""
    facts = _facts(glue)
    marks = {
        Kind.WASM_BINDGEN_RAYON: [
            found
            for found in (
                "class wbg_rayon_PoolBuilder" if "wbg_rayon_PoolBuilder" in facts.classes else None,
                f"startWorkers imported from {facts.start_workers_binding.specifier}"
                if facts.start_workers_binding is not None and SNIPPET_MARK in facts.start_workers_binding.specifier
                else None,
            )
            if found
        ],
        Kind.POOLBUILDER_GLOBAL: [
            found
            for found in (
                "class PoolBuilder" if "PoolBuilder" in facts.classes else None,
                "global startWorkers" if "startWorkers" in facts.calls and facts.start_workers_binding is None else None,
                "global terminateWorkers" if "terminateWorkers" in facts.calls else None,
            )
            if found
        ],
    }
    marked = [kind for kind, found in marks.items() if found]
    if len(marked) > 1:
        mix = "; ".join(f"{DESCRIPTION[k].split(' (')[0]}: {', '.join(marks[k])}" for k in marked)
        raise ContractError(f"mixes the parts of two pool contracts ({mix}); wbg-patch drives one contract per module", glue.path)
    kind = marked[0] if marked else Kind.WBG_POOL
    missing = _missing(kind, facts, names)
    if missing:
        if not marked and not any(n in facts.functions for n in (names.init, names.exit, names.start_worker)):
            raise ContractError(
                "has no thread pool contract wbg-patch knows: it exports none of "
                f"{names.init}, {names.exit}, {names.start_worker}. The cdylib must run Rayon through the "
                "wbg-pool crate, wasm-bindgen-rayon, or a PoolBuilder-global contract "
                "(or name its exports with --init-export/--exit-export/--start-worker-export)",
                glue.path,
            )
        found = ", ".join(marks.get(kind, [])) or "the names of its exports"
        raise ContractError(
            f"looks like the {DESCRIPTION[kind]} pool contract ({found}), but {'; '.join(missing)}; "
            "wbg-patch refuses to patch a contract it could not drive",
            glue.path,
        )
    binding = facts.start_workers_binding if kind is Kind.WASM_BINDGEN_RAYON else None
    owned = {name: (role, facts.bodies[name]) for name, role in ((names.init, Role.INIT), (names.exit, Role.EXIT)) if name in facts.bodies}
    return Contract(kind, binding.statement if binding is not None else None, owned)


def check_patched(glue: Glue, names: Names) -> Kind:
    """The contract a glue was patched for (kept in its marker), with the
    export names asked for now: patching it again with other names must not
    bind the runtime to exports that are not there."""
    kind = Kind(glue.contract)
    wanted = [names.init, names.start_worker] + ([names.exit] if kind is not Kind.WASM_BINDGEN_RAYON else [])
    missing = [n for n in wanted if n not in glue.exports]
    if missing:
        raise ContractError(
            f"does not export {', '.join(missing)}, which its {kind.value} pool contract needs "
            "(check --init-export/--exit-export/--start-worker-export)",
            glue.path,
        )
    return kind


def _missing(kind: Kind, facts: _Facts, names: Names) -> list[str]:
    """What the glue or the module lacks, or has in another shape, for `kind`."""
    wanted = {names.init: 2 if kind is Kind.POOLBUILDER_GLOBAL else 1, names.start_worker: 1}
    if kind is not Kind.WASM_BINDGEN_RAYON:
        wanted[names.exit] = 0
    problems = []
    for name, arity in wanted.items():
        if name not in facts.functions:
            problems.append(f"the glue does not export {name}()")
        elif facts.functions[name] != arity:
            problems.append(f"{name} takes {facts.functions[name]} argument(s), the contract passes {arity}")
        elif name not in facts.module_exports:
            problems.append(f"the module does not export {name} (the glue and the module do not belong together)")
    builder = {Kind.WASM_BINDGEN_RAYON: "wbg_rayon_PoolBuilder", Kind.POOLBUILDER_GLOBAL: "PoolBuilder"}.get(kind)
    if builder is not None:
        methods = facts.classes.get(builder)
        if methods is None:
            problems.append(f"there is no class {builder}")
        elif not set(BUILDER_METHODS) <= methods:
            problems.append(f"class {builder} lacks {', '.join(m for m in BUILDER_METHODS if m not in methods)}()")
        problems += _check_call(facts, "startWorkers", 3)
    if kind is Kind.POOLBUILDER_GLOBAL:
        problems += _check_call(facts, "terminateWorkers", 0)
    if kind is Kind.WASM_BINDGEN_RAYON:
        binding = facts.start_workers_binding
        if binding is None or SNIPPET_MARK not in binding.specifier:
            problems.append("startWorkers is not imported from wasm-bindgen-rayon's workerHelpers snippet")
        elif not binding.alone:
            problems.append(f"the statement importing startWorkers from {binding.specifier} binds other names too")
    return problems


def _check_call(facts: _Facts, name: str, arity: int) -> list[str]:
    counts = facts.calls.get(name)
    if counts is None:
        return [f"nothing imports {name}"]
    if counts != {arity}:
        return [f"{name} is called with {'/'.join(map(str, sorted(counts)))} argument(s), the contract has {arity}"]
    if not any(n.startswith(f"__wbg_{name}_") for n in facts.module_imports):
        return [f"the module does not import {name}"]
    return []


def _facts(glue: Glue) -> _Facts:
    root = glue.tree.root_node
    declared_functions: dict[str, Node] = {}
    classes: dict[str, set[str]] = {}
    for statement in root.children:
        node = statement.child_by_field_name("declaration") if statement.type == "export_statement" else statement
        if node is None:
            continue
        name = node.child_by_field_name("name")
        if node.type == "function_declaration" and name is not None:
            declared_functions[name.text.decode()] = node
        elif node.type == "class_declaration" and name is not None:
            body = node.child_by_field_name("body")
            classes[name.text.decode()] = {
                m.child_by_field_name("name").text.decode()
                for m in body.named_children
                if m.type == "method_definition" and m.child_by_field_name("name") is not None
            }
    functions, bodies = {}, {}
    for name, value in exported_values(glue):
        if value is not None and value.type == "identifier":
            value = declared_functions.get(value.text.decode())
        if value is not None and value.type in ("function_declaration", "function_expression", "function", "arrow_function"):
            params = value.child_by_field_name("parameters")
            functions[name] = len(params.named_children) if params is not None else 1
            body = value.child_by_field_name("body")
            if body is not None and body.type == "statement_block" and body.named_children:
                bodies[name] = body
    calls: dict[str, set[int]] = {}
    for call in glue.nodes("call_expression"):
        callee = call.child_by_field_name("function")
        if callee is not None and callee.type == "identifier" and callee.text in (b"startWorkers", b"terminateWorkers"):
            calls.setdefault(callee.text.decode(), set()).add(len(call.child_by_field_name("arguments").named_children))
    interface = glue.module_interface
    assert interface is not None, "detect() needs a located, unpatched glue (its module is read then)"
    return _Facts(
        functions=functions,
        bodies=bodies,
        classes=classes,
        calls=calls,
        start_workers_binding=_start_workers_binding(glue),
        module_exports=set(interface.exports),
        module_imports=list(interface.function_imports),
    )


def _start_workers_binding(glue: Glue) -> _Binding | None:
    """The top-level statement that binds `startWorkers` from a module:
    `const { startWorkers } = require("…")` or `import { startWorkers } from "…"`."""
    for statement in glue.tree.root_node.children:
        if statement.type == "import_statement":
            clause = next((c for c in statement.named_children if c.type == "import_clause"), None)
            specs = [n for n in (clause.named_children if clause is not None else []) for n in ([n] if n.type != "named_imports" else n.named_children)]
            names = [s.child_by_field_name("alias") or s.child_by_field_name("name") or s for s in specs]
            if any(n.text == b"startWorkers" for n in names):
                return _Binding(statement, statement.child_by_field_name("source").text[1:-1].decode(), len(names) == 1)
        if statement.type in ("lexical_declaration", "variable_declaration"):
            for declarator in statement.named_children:
                pattern, value = declarator.child_by_field_name("name"), declarator.child_by_field_name("value")
                if pattern is None or pattern.type != "object_pattern" or value is None or value.type != "call_expression":
                    continue
                bound = [p for p in pattern.named_children]
                if not any(p.text == b"startWorkers" for p in bound):
                    continue
                args = value.child_by_field_name("arguments").named_children
                specifier = args[0].text.decode() if args else ""
                # String.raw`./snippets/…` or "./snippets/…": the path without its quotes.
                specifier = specifier.split("`", 1)[-1].rstrip("`").strip("'\"")
                return _Binding(statement, specifier, len(bound) == 1 and len(statement.named_children) == 1)
    return None
