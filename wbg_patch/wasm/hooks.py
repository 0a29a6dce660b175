"""Which exports install a panic hook, and with which wasm exception tag the
module raises its panics (how a crate built with ``-C panic=unwind`` raises
one): read off the decoded code (``code``) and the sections (``sections``).
"""

from __future__ import annotations

import bisect
import itertools
import re

from .code import BodyFacts
from .sections import Module

# std's set_hook, as the name section spells it: `std[<hash>]::panicking::set_hook`
# (v0 symbols), `std::panicking::set_hook::h<hash>` (legacy ones).
_SET_HOOK = re.compile(r"^std(\[[0-9a-f]+\])*::panicking::set_hook(::h[0-9a-f]{16})*$")
# A vtable: drop_in_place (0 when there is none), size, align, then the methods.
_VTABLE_HEADER = 3
_MAX_METHODS = 32

def _placed_segments(module: Module, facts: list[BodyFacts]) -> list[tuple[int, bytes]]:
    """Each data segment with the address it lives at, sorted: active ones at
    their offset, passive ones where a `memory.init` puts them."""
    placed = {segment: at for f in facts for segment, at in f.placed.items()}
    found = [(offset if offset is not None else placed.get(i), data) for i, (offset, data) in enumerate(module.segments)]
    return sorted((at, data) for at, data in found if at is not None)


def _vtable_methods(segments: list[tuple[int, bytes]], table: dict[int, int], address: int, end: int) -> list[int]:
    """The functions of the vtable at `address`, if the data there has a vtable's
    shape. Vtables lie back to back and their sizes and alignments are small
    numbers that may be table slots too, so a vtable is read only up to `end`,
    the next address some code refers to (the next vtable's start, if it is one)."""
    i = bisect.bisect_right(segments, address, key=lambda s: s[0]) - 1
    if i < 0:
        return []
    start, data = segments[i]
    at = address - start
    count = min(_VTABLE_HEADER + _MAX_METHODS, (len(data) - at) // 4, (end - address) // 4)
    words = [int.from_bytes(data[at + 4 * k : at + 4 * k + 4], "little") for k in range(max(count, 0))]
    if len(words) <= _VTABLE_HEADER or not (words[0] == 0 or words[0] in table):
        return []
    size, align = words[1], words[2]
    if align == 0 or align & (align - 1) or size % align:
        return []
    return [table[w] for w in itertools.takewhile(lambda w: w in table, words[_VTABLE_HEADER:])]


def set_hook_functions(module: Module) -> list[int]:
    """std's set_hook, found by its name: without the name section, none."""
    return [i for i, name in module.names.items() if _SET_HOOK.match(name)]


# The tags wasm-bindgen imports from the glue: a JS exception crossing wasm frames (its catch
# wrappers throw one on under the wrapped tag), never a panic.
_JS_TAGS = {"__wbindgen_jstag", "__wbindgen_wrapped_jstag"}


def panic_tags(module: Module, facts: list[BodyFacts]) -> set[int]:
    """The tags Rust's panics are thrown with: empty for a crate whose panics abort.

    A tag alone cannot tell them: Rust's panic=unwind on wasm "pretends to be C++"
    and throws the C++ ABI's `__cpp_exception`, the
    tag C/C++ code built with -fwasm-exceptions throws too, and the module names
    no tag it defines (`__c_longjmp`, setjmp/longjmp's, is one of the same type).
    What tells a Rust panic is where it is thrown: panic_unwind's start of a panic
    writes Rust's exception class (code.RUST_EXCEPTION_CLASS) into the exception,
    then calls `_Unwind_RaiseException`, whose `throw` raises it. So the tags
    counted are those thrown by a function holding that class or one it calls
    directly (found by the code, not by a name: a stripped module has none).

    Note: Rust's tag, https://github.com/rust-lang/rust/blob/master/library/unwind/src/wasm.rs;
    its exception class, library/panic_unwind/src/gcc.rs there; a panic=abort crate with C++
    exception handling (embind, libc++), which wasm-bindgen meets too:
    https://github.com/wasm-bindgen/wasm-bindgen/blob/main/crates/cli-support/src/transforms/catch_handler.rs"""
    first = len(module.function_types) - len(module.bodies)
    raisers = [f for f in facts if f.rust_exception_class]
    sites = raisers + [facts[c - first] for f in raisers for c in f.calls if first <= c < first + len(facts)]
    return set().union(*(f.throws for f in sites))


def other_throws(module: Module, facts: list[BodyFacts], panics: set[int]) -> bool:
    """Whether the module throws a tag that is neither the panics' (`panics`) nor
    one of wasm-bindgen's: C/C++ exceptions or setjmp/longjmp, which a crate built
    with panic=abort may have."""
    js = {index for index, name in enumerate(module.tags) if name in _JS_TAGS}
    return any(f.throws - panics - js for f in facts)


def panic_hook_exports(module: Module, facts: list[BodyFacts]) -> tuple[str, ...]:
    """The exports taking and returning nothing that (transitively) call std's
    set_hook: console_error_panic_hook::set_once() in an SDK's init
    export, say. Calls are followed directly and through vtables: set_once runs
    its closure through a `dyn FnMut` (std's Once), so the closure that calls
    set_hook is reached only through the vtable whose address the caller passes
    as an i32 constant."""
    hooks = set_hook_functions(module)
    if not hooks:
        return ()
    segments = _placed_segments(module, facts)
    callers: dict[int, set[int]] = {}
    first = len(module.function_types) - len(module.bodies)
    referred = sorted({c for f in facts for c in f.constants})
    ends = dict(zip(referred, referred[1:] + [1 << 32]))
    for index, f in enumerate(facts, first):
        through_vtables = (m for c in set(f.constants) for m in _vtable_methods(segments, module.table, c, ends[c]))
        for callee in itertools.chain(f.calls, through_vtables):
            callers.setdefault(callee, set()).add(index)
    reached, todo = set(hooks), list(hooks)
    while todo:
        for caller in callers.get(todo.pop(), ()):
            if caller not in reached:
                reached.add(caller)
                todo.append(caller)
    return tuple(
        sorted(name for name, index in module.exports.items() if index in reached and module.types[module.function_types[index]] == ((), ()))
    )
