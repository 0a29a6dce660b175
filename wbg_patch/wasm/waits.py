"""Which exports can run on the caller's own instance, read off the module's code.

Inside execute() the glue's calls go to the pool's host, which has the pool:
a thread that waits for another (a contended lock, a condition variable, a
channel, Rayon's latch) sleeps in ``memory.atomic.wait32/64`` until the other
wakes it, and if the other one died, the host sleeps, not the main thread, which
notices and fails the call. An export that can never wait cannot hang on a
dead thread, so it may run on the main thread's own instance instead, without
the round trip (runtime_js/proxy.cjs), as long as its result is the one the
host would give: the memory is shared, but each instance has its own globals
and tables. Outside execute(), the same answer says which calls could join a
running pool's threads (runtime_js/route.cjs). Wrong "local" would be a hang or
a wrong result; wrong "pool" only costs a round trip: every doubt is "pool".

An export **can wait** when its code can reach a wait:

- **over the call graph**: direct calls; an indirect call (``call_indirect``,
  ``call_ref``) may reach every function of its type that a table or a
  reference can hold (element segments, ``ref.func``), since which one it calls
  is data; when the tables' contents cannot be read, it may reach anything;
- **through JS imports**: an import may run any JS, which may block or call
  back into the module, unless it is one of wasm-bindgen's own intrinsics
  known to run no user code (a type test, a cast, a string read, a throw);
  those that copy a string into wasm call the allocator exports, followed here.

An export **depends on its instance** when its code can reach a use of what
each instance has its own of: a mutable global other than the stack pointer
(``__tls_base``, the thread-local storage behind a ``thread_local!``, Rayon's
``current_thread_index`` and std's ``thread::current``; wasm-bindgen's own
thread state), a table (the JS values wasm holds live in the instance's
externref table, where the host's are not the main thread's), or a JS value in
its own signature. Each instance runs on a stack of its own: the stack pointer
is fine. Without global names (a stripped module) every mutable global counts.

**The code that runs only once a failure has begun** is the panic machinery
from ``std::panicking::panic_with_hook`` on (``rust_panic_with_hook`` before
Rust 1.9x: the panic hook behind its lock, the default hook's output locks, the
thread's panic count), the allocation-failure handler ``std::alloc::rust_oom``,
and in a panic=unwind build wasm-bindgen's ``panic_to_panic_error``, which
turns a panic caught at the export into the error its glue throws.
Every panic and every allocation could take those paths, so counting them would
keep nearly every export on the pool. They are left out only where nothing can
hang there: in a module that instrument.py rewrote, the main thread's instance
runs each call of an export that cannot wait with its waits forbidden, and a
wait reached there anyway (only such a path can reach one) traps at once, with
a typed error, instead of sleeping (runtime_js/local.cjs). That call was failing
already; what changes is a rare one that met a lock held by another thread
while panicking, which fails as a trap instead of as its panic. In a module
that was not rewritten (instrument.CannotCount), nothing is left out, and so
nearly every export stays on the pool. Without the name section (a stripped
module) those functions cannot be found and nothing is left out either.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from .code import BodyFacts
from .instrument import EXPORT as COUNT_WAITS_EXPORT
from .sections import Module

# The functions whose code runs only once a failure has begun (see above), as the
# name section spells them: v0 symbols (`std[<hash>]::…`) and legacy ones (`…::h<hash>`).
# wasm-bindgen's panic_to_panic_error turns a panic caught at the export (panic=unwind)
# into the PanicError its glue throws, dropping the payload through its vtable.
_FAILURE_PATHS = re.compile(
    r"^(std(\[[0-9a-f]+\])?::(panicking::(?:rust_)?panic_with_hook|panicking::catch_unwind::cleanup|alloc::rust_oom)"
    r"|wasm_bindgen(\[[0-9a-f]+\])?::__rt::panic_to_panic_error)(::h[0-9a-f]{16})?$"
)

# wasm-bindgen's intrinsic imports that run no user code: type tests, casts, value
# constructors, string and number reads, throws, the module's own memory and table.
# They are named `__wbindgen_<what>` (before 0.2.105) or `__wbg___wbindgen_<what>_<hash>`,
# casts `__wbindgen_cast_<hash>` or `__wbindgen_generic_<n>`.
_INTRINSIC = re.compile(r"^(?:__wbg_)?__wbindgen_(?P<what>[a-z0-9_]+?)(?:_[0-9a-f]{16})?$")
_QUIET_INTRINSICS = {
    "throw", "rethrow", "error_new", "memory", "module", "function_table", "init_externref_table", "externref_heap_live_count",
    "typeof", "is_undefined", "is_null", "is_function", "is_object", "is_string", "is_symbol", "is_bigint", "is_array",
    "is_falsy", "jsval_eq", "string_get", "string_new", "number_get", "number_new", "boolean_get", "bigint_from_i64",
    "bigint_from_u64", "bigint_from_i128", "bigint_from_u128", "bigint_from_str", "object_clone_ref", "object_drop_ref",
    "uint8_array_new", "copy_to_typed_array", "cast", "generic",
    "panic_error",  # a panic=unwind build's PanicError, made from the panic's message
}  # fmt: skip
_CAST = re.compile(r"^(cast|generic)_[0-9a-f]+$")
# What a string read (string_get) calls back: the allocator exports.
_ALLOCATOR_EXPORTS = ("__wbindgen_malloc", "__wbindgen_realloc")
# The globals wasm-ld names: each thread's stack pointer and the base of its thread-local storage.
_STACK_POINTER, _TLS_BASE = "__stack_pointer", "__tls_base"
# Value types that are numbers (i32, i64, f32, f64, v128): any other is a reference.
_NUMBERS = {0x7F, 0x7E, 0x7D, 0x7C, 0x7B}


# Why an export runs on the pool: it can wait for another thread (the first three
# kinds), or its result depends on the instance it runs on (the others).
WAITING = ("wait", "import", "unbounded")


@dataclass(frozen=True)
class Reason:
    """Why an export runs on the pool: what it reaches, and the calls that lead there."""

    # "wait", "import", "unbounded" (it can wait); "thread-local", "global", "js-values", "table"
    # (it uses what each thread's instance has its own of)
    kind: str
    what: str  # the function that waits, the import, the global or table it uses, or where
    path: tuple[str, ...]  # the functions from the export to the one that does it, both ends included

    @property
    def waits(self) -> bool:
        return self.kind in WAITING

    def __str__(self) -> str:
        via = f" (via {' -> '.join(self.path[1:-1])})" if len(self.path) > 2 else ""
        where = f" in {self.path[-1]}" if len(self.path) > 1 else ""
        texts = {
            "wait": f"waits in {self.what} (memory.atomic.wait){via}",
            "import": f"calls the JS import {self.what}, which may run any JS{via}",
            "unbounded": f"makes an indirect call whose targets could not be bounded, in {self.what}{via}",
            "thread-local": f"uses thread-local storage ({self.what}: a thread_local!, the thread's identity){where}{via}",
            "global": f"uses the global {self.what}, of which each thread's instance has its own{where}{via}",
            "js-values": f"uses the table of JS values ({self.what}), of which each thread's instance has its own{where}{via}",
            "table": f"uses a function table that the module changes ({self.what}), of which each thread's instance has its own{where}{via}",
        }
        return texts[self.kind]


@dataclass(frozen=True)
class Waits:
    """The answers for every exported function (None: nothing found)."""

    exports: dict[str, Reason | None]  # whether it can wait for another thread
    bound: dict[str, Reason | None]  # whether what it does depends on the instance it runs on
    cut: tuple[str, ...]  # the failure paths found and left out (see the module's doc)

    def reason(self, name: str) -> Reason | None:
        """Why export `name` runs on the pool's host inside execute(); None when it runs on the caller's instance."""
        return self.exports[name] or self.bound[name]

    @property
    def local(self) -> list[str]:
        """The exports that inside execute() run on the caller's instance."""
        return sorted(name for name in self.exports if self.reason(name) is None)

    @property
    def bound_only(self) -> list[str]:
        """The exports that cannot wait for another thread but depend on their instance."""
        return sorted(name for name, reason in self.exports.items() if reason is None and self.bound[name] is not None)

    def pop(self, name: str) -> None:
        self.exports.pop(name, None)
        self.bound.pop(name, None)


def _intrinsic_is_quiet(name: str) -> bool:
    found = _INTRINSIC.match(name)
    if found is None:
        return False
    what = found["what"]
    return what in _QUIET_INTRINSICS or _CAST.match(what) is not None


def _call_graph(module: Module, facts: list[BodyFacts]) -> dict[int, list[int]]:
    """Each function's callers (a node past the functions stands for an indirect call of one
    type: it calls every function of that type a table or a reference may hold, one edge per
    caller, not one per target)."""
    imported = len(module.imports)
    functions = len(module.function_types)
    referenced = set(module.elements).union(*(f.references for f in facts))
    type_nodes: dict[object, int] = {}
    callers: dict[int, list[int]] = {}
    for function in sorted(f for f in referenced if f < functions):
        node = type_nodes.setdefault(module.types[module.function_types[function]], functions + len(type_nodes))
        callers.setdefault(function, []).append(node)
    # A string read (a quiet intrinsic) copies the string into wasm: it calls the allocator exports.
    allocator = [module.exports[name] for name in _ALLOCATOR_EXPORTS if name in module.exports]
    for index, (_, name) in enumerate(module.imports):
        if _intrinsic_is_quiet(name):
            for callee in allocator:
                callers.setdefault(callee, []).append(index)
    for index, body in enumerate(facts, imported):
        for callee in body.calls:
            callers.setdefault(callee, []).append(index)
        for type_index in body.indirect:
            node = type_nodes.get(module.types[type_index])
            if node is not None:
                callers.setdefault(node, []).append(index)
    return callers


def _waits_on_their_own(module: Module, facts: list[BodyFacts]) -> dict[int, tuple[str, str]]:
    """What each function does itself that can wait."""
    own = {index: ("import", f"{mod}.{name}") for index, (mod, name) in enumerate(module.imports) if not _intrinsic_is_quiet(name)}
    for index, body in enumerate(facts, len(module.imports)):
        if body.waits:
            own[index] = ("wait", module.function_name(index))
        elif body.indirect and not module.elements_known:
            own[index] = ("unbounded", module.function_name(index))
    return own


def _bound_on_their_own(module: Module, facts: list[BodyFacts]) -> dict[int, tuple[str, str]]:
    """What each function uses itself that each instance has its own of: a mutable global
    other than the stack pointer (each instance runs on a stack of its own: that one is
    fine; without the names every mutable global counts), a table it reads or changes."""
    names = module.global_names
    stack = {i for i, name in names.items() if name == _STACK_POINTER}
    instance = module.mutable_globals - stack
    own: dict[int, tuple[str, str]] = {}
    # A function table some function changes holds other functions on each instance: an
    # indirect call through it may call another one on the caller's instance than on the host's.
    changed = set().union(*(body.tables for body in facts)) - module.externref_tables
    for index, body in enumerate(facts, len(module.imports)):
        used = sorted(body.globals & instance)
        if used:
            name = names.get(used[0], f"global {used[0]}")
            own[index] = ("thread-local" if name == _TLS_BASE else "global", name)
        for table in sorted(body.tables | (body.indirect_tables & changed)):
            own.setdefault(index, ("js-values" if table in module.externref_tables else "table", f"table {table}"))
    # An export that takes or returns a JS value itself has it in its own instance's table.
    for index in module.exports.values():
        parameters, results = module.types[module.function_types[index]]
        if index not in own and any(t not in _NUMBERS for t in (*parameters, *results)):
            own[index] = ("js-values", "one it takes or returns")
    return own


def _backwards(own: dict[int, tuple[str, str]], callers: dict[int, list[int]], cut: set[int]) -> dict[int, int | None]:
    """Breadth-first backwards from every function in `own` (as Binaryen's call-graph property
    analysis does for Asyncify): `toward[f]` is f's next step toward one, None for those. The
    cost grows with the size of the call graph, not with the number of exports."""
    toward: dict[int, int | None] = {f: None for f in own if f not in cut}
    queue = deque(toward)
    while queue:
        node = queue.popleft()
        for caller in callers.get(node, ()):
            if caller not in toward and caller not in cut:
                toward[caller] = node
                queue.append(caller)
    return toward


def classify(module: Module, facts: list[BodyFacts], *, cut_failure_paths: bool = False) -> Waits:
    """For each exported function, whether it can wait, and whether it depends on its
    instance, each with the nearest reason. `cut_failure_paths`: leave out the code that
    runs only once a failure began (see the module's doc: only where the main thread's
    instance cannot wait there, instrument.py's guard)."""
    functions = len(module.function_types)
    names = module.function_name
    cut = {i for i, name in module.names.items() if _FAILURE_PATHS.match(name)} if cut_failure_paths else set()
    # In a module counted before, each wait is in a helper appended after the setter (instrument.py),
    # which has no name: a wait is told by the function it was in.
    setter = module.exports.get(COUNT_WAITS_EXPORT)
    helpers = range(setter + 1, functions) if setter is not None else range(0)
    callers = _call_graph(module, facts)

    def answers(own: dict[int, tuple[str, str]]) -> dict[str, Reason | None]:
        toward = _backwards(own, callers, cut)

        def reason(index: int) -> Reason | None:
            if index not in toward:
                return None
            path = []
            while index is not None:
                if index < functions and index not in helpers:
                    path.append(names(index))
                last, index = index, toward[index]
            kind, what = own[last]
            return Reason(kind, path[-1] if last in helpers else what, tuple(path))

        return {name: reason(index) for name, index in sorted(module.exports.items())}

    waiting = answers(_waits_on_their_own(module, facts))
    return Waits(waiting, answers(_bound_on_their_own(module, facts)), tuple(sorted(names(i) for i in cut)))
