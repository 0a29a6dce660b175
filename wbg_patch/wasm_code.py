"""The instructions of a wasm function body, decoded only as far as the patcher
needs (which functions it calls, the i32 constants it uses, where
``memory.init`` puts data, whether it throws), and what that answers (``analyse``):
which exports install a panic hook, and whether the module raises wasm
exceptions, which is how a crate built with ``-C panic=unwind`` raises a panic.

An instruction's length is known only from its opcode's immediates, so every
immediate of every opcode Rust and LLVM emit is read (block types, memory
arguments, ``br_table``, the 0xFC bulk-memory, 0xFD SIMD and 0xFE atomics
prefixes, exception handling, typed function references). An opcode outside
that set raises ``UnknownOpcode``: the caller gives up on the analysis rather
than read the rest of the body at the wrong offset.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field


class UnknownOpcode(ValueError):
    """An opcode (or prefixed sub-opcode) this decoder does not know."""


@dataclass
class BodyFacts:
    calls: set[int] = field(default_factory=set)  # function indices of call / return_call
    constants: list[int] = field(default_factory=list)  # i32.const values, in order
    # Passive data segment -> the address a `memory.init` with constant operands
    # copies it to: where a shared memory's data lives (LLVM's __wasm_init_memory).
    placed: dict[int, int] = field(default_factory=dict)
    # A `throw` instruction (0x08, in legacy and new exception handling alike): panic_unwind raises
    # every panic with one, and nothing in a panic=abort crate does (see `analyse`).
    throws: bool = False


# Value types a block type may be written as (one byte each); anything else is a
# type index (s33) or, with GC, a reference type with a heap type after it.
_VALTYPES = {0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F}
REFTYPE_WITH_HEAP = {0x63, 0x64}

# Opcodes with no immediate: control without labels, parametric, and every
# numeric instruction from i32.eqz (0x45) to i64.extend32_s (0xC4).
_NO_IMMEDIATE = {0x00, 0x01, 0x05, 0x0A, 0x0B, 0x0F, 0x19, 0x1A, 0x1B, 0xD1, 0xD3, 0xD4} | set(range(0x45, 0xC5))
# Opcodes with one unsigned LEB index: labels, locals, globals, tables, tags, functions.
_ONE_INDEX = {0x07, 0x08, 0x09, 0x0C, 0x0D, 0x14, 0x15, 0x18, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0xD2, 0xD5, 0xD6, 0x3F, 0x40}
_CALLS = {0x10, 0x12}  # call, return_call
_THROW = 0x08
_MEMARG = set(range(0x28, 0x3F))  # loads and stores

# 0xFC (saturating truncation, bulk memory, tables): how many LEB indices follow each sub-opcode.
_MEMORY_INIT = 8
_FC_INDICES = {**{op: 0 for op in range(8)}, 8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}
# 0xFD (SIMD): sub-opcodes with a memory argument, with a lane byte, or with 16 bytes.
_FD_MEMARG = set(range(0, 12)) | {92, 93}
_FD_MEMARG_LANE = set(range(84, 92))
_FD_LANE = set(range(21, 35))
_FD_BYTES16 = {12, 13}
# 0xFE (threads): atomic.fence has a reserved zero byte, every other op a memory argument.
_FE_FENCE = 0x03


class Reader:
    """Reads LEB128 numbers and names from wasm bytes; ``truncated()`` is the
    error raised when they end inside a value."""

    def __init__(self, data: bytes, truncated: Callable[[], Exception]) -> None:
        self.data, self.pos, self.truncated = data, 0, truncated

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.truncated()
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def sleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result - (1 << shift) if b & 0x40 else result

    def skip(self, count: int) -> None:
        self.pos += count

    def name(self) -> str:
        length = self.uleb()
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")


class _Body(Reader):
    def __init__(self, data: bytes) -> None:
        super().__init__(data, lambda: UnknownOpcode("the function body ends inside an instruction"))

    def memarg(self) -> None:
        align = self.uleb()
        if align & 0x40:  # multi-memory: the memory index comes before the offset
            self.uleb()
        self.uleb()

    def block_type(self) -> None:
        first = self.data[self.pos] if self.pos < len(self.data) else None
        if first == 0x40 or first in _VALTYPES:
            self.pos += 1
        elif first in REFTYPE_WITH_HEAP:
            self.pos += 1
            self.sleb()
        else:
            self.sleb()  # a type index, as a signed 33-bit LEB


def _prefixed(body: _Body, prefix: int, facts: BodyFacts, constants_before: int) -> None:
    sub = body.uleb()
    if prefix == 0xFC and sub == _MEMORY_INIT:
        segment = body.uleb()
        body.uleb()
        if constants_before >= 3:  # destination, source offset, size
            facts.placed[segment] = facts.constants[-3]
    elif prefix == 0xFC and sub in _FC_INDICES:
        for _ in range(_FC_INDICES[sub]):
            body.uleb()
    elif prefix == 0xFD and sub in _FD_MEMARG:
        body.memarg()
    elif prefix == 0xFD and sub in _FD_MEMARG_LANE:
        body.memarg()
        body.skip(1)
    elif prefix == 0xFD and sub in _FD_LANE:
        body.skip(1)
    elif prefix == 0xFD and sub in _FD_BYTES16:
        body.skip(16)
    elif prefix == 0xFD and sub <= 0x113:  # every other SIMD op (relaxed SIMD included) has none
        pass
    elif prefix == 0xFE and sub == _FE_FENCE:
        body.skip(1)
    elif prefix == 0xFE and 0x00 <= sub <= 0x4E:
        body.memarg()
    else:
        raise UnknownOpcode(f"unknown instruction 0x{prefix:02X} {sub}")


def _instruction(body: _Body, op: int, facts: BodyFacts, constants_before: int) -> None:
    if op in _NO_IMMEDIATE:
        return
    if op in _CALLS:
        facts.calls.add(body.uleb())
    elif op in _ONE_INDEX:
        if op == _THROW:
            facts.throws = True
        body.uleb()
    elif op in _MEMARG:
        body.memarg()
    elif op == 0x41:
        facts.constants.append(body.sleb() & 0xFFFFFFFF)
    elif op == 0x42:
        body.sleb()
    elif op == 0x43:
        body.skip(4)
    elif op == 0x44:
        body.skip(8)
    elif op in (0x02, 0x03, 0x04, 0x06):  # block, loop, if, try
        body.block_type()
    elif op in (0x11, 0x13):  # call_indirect, return_call_indirect: type, table
        body.uleb()
        body.uleb()
    elif op == 0x0E:  # br_table: the labels, then the default
        for _ in range(body.uleb() + 1):
            body.uleb()
    elif op == 0x1C:  # select with types
        for _ in range(body.uleb()):
            body.block_type()
    elif op == 0xD0:  # ref.null: a heap type
        body.block_type()
    elif op == 0x1F:  # try_table: a block type, then catch clauses
        body.block_type()
        for _ in range(body.uleb()):
            if body.byte() in (0, 1):  # catch, catch_ref: a tag before the label
                body.uleb()
            body.uleb()
    elif op in (0xFC, 0xFD, 0xFE):
        _prefixed(body, op, facts, constants_before)
    else:
        raise UnknownOpcode(f"unknown opcode 0x{op:02X}")


def decode_body(data: bytes) -> BodyFacts:
    """The calls and i32 constants of one function body (its locals included)."""
    body = _Body(data)
    for _ in range(body.uleb()):  # local declarations: a count and a value type each
        body.uleb()
        body.block_type()
    facts = BodyFacts()
    run = 0  # i32.const instructions right before this one
    while body.pos < len(data):
        op = body.byte()
        _instruction(body, op, facts, run)
        run = run + 1 if op == 0x41 else 0
    return facts


@dataclass
class Module:
    """What the analysis reads off a module's sections (wasm_module.py reads them)."""

    types: list[tuple[int, int]] = field(default_factory=list)  # (parameters, results) of each type
    function_types: list[int] = field(default_factory=list)  # type of each function, imports first
    exports: dict[str, int] = field(default_factory=dict)  # exported function -> its index
    names: dict[int, str] = field(default_factory=dict)  # the name section's function names
    bodies: list[bytes] = field(default_factory=list)  # the code of each defined function
    table: dict[int, int] = field(default_factory=dict)  # table slot -> function, as instantiation fills it
    segments: list[tuple[int | None, bytes]] = field(default_factory=list)  # data: (active offset, bytes)
    tags: int = 0  # exception tags, imported and defined: without one, nothing can throw


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


@dataclass(frozen=True)
class CodeFacts:
    """What the patcher asks of a module's code."""

    panic_hook_exports: tuple[str, ...] = ()  # see `_panic_hook_exports`
    # Whether some function throws a wasm exception: a crate built with -C panic=unwind raises its
    # panics so; None when a body could not be decoded.
    throws: bool | None = False


def analyse(module: Module) -> CodeFacts:
    """The code's facts, each body decoded once, and only when a question needs
    it (decoding costs ~0.3 ms per KB of code): without a tag nothing can throw
    (`throw` names one), without std's set_hook in the name section no export
    installs a hook."""
    hooks = [i for i, name in module.names.items() if _SET_HOOK.match(name)]
    if not hooks and not module.tags:
        return CodeFacts()
    try:
        facts = [decode_body(body) for body in module.bodies]
    except UnknownOpcode:
        return CodeFacts(throws=None)
    return CodeFacts(_panic_hook_exports(module, hooks, facts) if hooks else (), any(f.throws for f in facts))


def _panic_hook_exports(module: Module, hooks: list[int], facts: list[BodyFacts]) -> tuple[str, ...]:
    """The exports taking and returning nothing that (transitively) call std's
    set_hook (`hooks`): console_error_panic_hook::set_once() in an SDK's init
    export, say. Calls are followed directly and through vtables: set_once runs
    its closure through a `dyn FnMut` (std's Once), so the closure that calls
    set_hook is reached only through the vtable whose address the caller passes
    as an i32 constant."""
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
        sorted(name for name, index in module.exports.items() if index in reached and module.types[module.function_types[index]] == (0, 0))
    )
