"""Which exports can wait for another thread, read off the module's code.

A thread that waits for another (a contended lock, a condition variable, a
channel, Rayon's latch) sleeps in ``memory.atomic.wait32/64`` until the other
wakes it; if the other one died, it sleeps forever. So the runtime keeps the
main thread out of such waits whenever a pool thread could be the one it waits
for (runtime_js/route.cjs). An export "can wait" when its code can reach a wait:

- **over the call graph**: direct calls; an indirect call (``call_indirect``,
  ``call_ref``) may reach every function of its type that a table or a
  reference can hold (element segments, ``ref.func``), since which one it calls
  is data; when the tables' contents cannot be read, it may reach anything;
- **through JS imports**: an import may run any JS, which may block or call
  back into the module, unless it is one of wasm-bindgen's own intrinsics
  known to run no user code (a type test, a cast, a string read, a throw);
  those that copy a string into wasm call the allocator exports, followed here;
- **except the code that only runs once a failure has begun**: the panic
  machinery from ``std::panicking::panic_with_hook`` on (``rust_panic_with_hook`` before Rust 1.9x) (the panic hook
  behind its lock, the default hook's output locks) and the allocation-failure
  handler ``std::alloc::rust_oom``. Every panic and every allocation could take
  those paths, so counting them would make nearly every export "can wait". A
  call that takes them has failed already: with panic=abort it ends in a trap,
  which the runtime reports; with panic=unwind the unwinding's destructors run
  in the functions analysed here. They could sleep forever only on a lock that
  another thread died holding inside its own panic hook or failed allocation
  (a hook that takes a lock its crate also holds while it panics, on two
  threads panicking at once): the documented edge of this analysis. Without the
  name section (a stripped module) those functions cannot be found and nothing
  is cut: every export that can panic then counts as "can wait".

Wrong "cannot wait" would be a hang; wrong "can wait" only costs a round trip,
so every doubt counts as "can wait".
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from .code import BodyFacts
from .sections import Module

# The functions whose code runs only once a failure has begun (see above), as the
# name section spells them: v0 symbols (`std[<hash>]::…`) and legacy ones (`…::h<hash>`).
_FAILURE_PATHS = re.compile(r"^std(\[[0-9a-f]+\])?::(panicking::(?:rust_)?panic_with_hook|alloc::rust_oom)(::h[0-9a-f]{16})?$")

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
}  # fmt: skip
_CAST = re.compile(r"^(cast|generic)_[0-9a-f]+$")
# What a string read (string_get) calls back: the allocator exports.
_ALLOCATOR_EXPORTS = ("__wbindgen_malloc", "__wbindgen_realloc")


@dataclass(frozen=True)
class Reason:
    """Why an export can wait: what it reaches, and the calls that lead there."""

    kind: str  # "wait", "import" or "unbounded"
    what: str  # the function that waits, the import, or the function with the indirect call
    path: tuple[str, ...]  # the functions from the export to `what`, both ends included

    def __str__(self) -> str:
        via = f" (via {' -> '.join(self.path[1:-1])})" if len(self.path) > 2 else ""
        if self.kind == "wait":
            return f"waits in {self.what} (memory.atomic.wait){via}"
        if self.kind == "import":
            return f"calls the JS import {self.what}, which may run any JS{via}"
        return f"makes an indirect call whose targets could not be bounded, in {self.what}{via}"


@dataclass(frozen=True)
class Waits:
    """The answer for every exported function: None when it cannot wait, else why it can."""

    exports: dict[str, Reason | None]
    cut: tuple[str, ...]  # the failure paths found and left out (see the module's doc)

    @property
    def local(self) -> list[str]:
        return sorted(name for name, reason in self.exports.items() if reason is None)


def _intrinsic_is_quiet(name: str) -> bool:
    found = _INTRINSIC.match(name)
    if found is None:
        return False
    what = found["what"]
    return what in _QUIET_INTRINSICS or _CAST.match(what) is not None


def classify(module: Module, facts: list[BodyFacts]) -> Waits:
    """Whether each exported function can wait, with the nearest reason: one
    breadth-first search backwards from every function that waits on its own
    (as Binaryen's call-graph property analysis does for Asyncify), so the cost
    grows with the size of the call graph, not with the number of exports."""
    imported = len(module.imports)
    names = module.function_name
    cut = {i for i, name in module.names.items() if _FAILURE_PATHS.match(name)}
    functions = len(module.function_types)
    # An indirect call of a type goes to a node of its own, which calls every function of
    # that type a table or a reference may hold: one edge per caller, not one per target.
    referenced = set(module.elements).union(*(f.references for f in facts))
    type_nodes: dict[object, int] = {}
    callers: dict[int, list[int]] = {}
    for function in sorted(f for f in referenced if f < functions):
        node = type_nodes.setdefault(module.types[module.function_types[function]], functions + len(type_nodes))
        callers.setdefault(function, []).append(node)

    # What each function does on its own that can wait.
    own: dict[int, tuple[str, str]] = {}
    allocator = [module.exports[name] for name in _ALLOCATOR_EXPORTS if name in module.exports]
    for index, (mod, name) in enumerate(module.imports):
        if _intrinsic_is_quiet(name):
            for callee in allocator:  # a string read copies the string into wasm
                callers.setdefault(callee, []).append(index)
        else:
            own[index] = ("import", f"{mod}.{name}")
    for index, body in enumerate(facts, imported):
        if index in cut:
            continue
        if body.waits:
            own[index] = ("wait", names(index))
        elif body.indirect and not module.elements_known:
            own[index] = ("unbounded", names(index))
        for callee in body.calls:
            callers.setdefault(callee, []).append(index)
        for type_index in body.indirect:
            node = type_nodes.get(module.types[type_index])
            if node is not None:
                callers.setdefault(node, []).append(index)

    # Backwards from every function that waits on its own: `toward[f]` is f's next step to one.
    toward: dict[int, int | None] = dict.fromkeys(own)
    queue = deque(own)
    while queue:
        node = queue.popleft()
        for caller in callers.get(node, ()):
            if caller not in toward and caller not in cut:
                toward[caller] = node
                queue.append(caller)

    def reason(index: int) -> Reason | None:
        if index not in toward:
            return None
        path = []
        while index is not None:
            if index < functions:
                path.append(names(index))
            last, index = index, toward[index]
        kind, what = own[last]
        return Reason(kind, what, tuple(path))

    exports = {name: reason(index) for name, index in sorted(module.exports.items())}
    return Waits(exports, tuple(sorted(names(i) for i in cut)))
