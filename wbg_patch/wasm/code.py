"""The instructions of a wasm function body, decoded only as far as the
analyses need: which functions it calls (directly, and by type through a table
or a reference), which functions it takes references of, the i32 constants it
uses, where ``memory.init`` puts data, which exception tags it throws, whether
it holds Rust's exception class (Rust raises its panics there), whether it
waits (``memory.atomic.wait32/64``), and which globals and tables it uses (each
instance has its own: what makes a call's result depend on the thread it runs on).

An instruction's length is known only from its opcode's immediates, so every
immediate of every opcode Rust and LLVM emit is read (block types, memory
arguments, ``br_table``, the 0xFC bulk-memory, 0xFD SIMD and 0xFE atomics
prefixes, exception handling, typed function references). An opcode outside
that set raises ``UnknownOpcode``: the caller gives up on the analysis rather
than read the rest of the body at the wrong offset.

Large modules have tens of millions of instructions, so the decoder is one
loop over a table of immediate shapes, with the LEB128 reads written out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class UnknownOpcode(ValueError):
    """An opcode (or prefixed sub-opcode) this decoder does not know."""


@dataclass
class BodyFacts:
    calls: set[int] = field(default_factory=set)  # function indices of call / return_call
    # Type indices of call_indirect / return_call_indirect (a function of the table with that
    # type) and of call_ref / return_call_ref (a function reference of that type).
    indirect: set[int] = field(default_factory=set)
    references: set[int] = field(default_factory=set)  # functions of ref.func: they may be called by reference
    constants: list[int] = field(default_factory=list)  # i32.const values, in order
    # Passive data segment -> the address a `memory.init` with constant operands
    # copies it to: where a shared memory's data lives (LLVM's __wasm_init_memory).
    placed: dict[int, int] = field(default_factory=dict)
    # The tags of its `throw` instructions (0x08, in legacy and new exception handling alike):
    # Rust's panics, C++ exceptions, longjmp and wasm-bindgen's JS exceptions each have a throw
    # (hooks.panic_tags tells Rust's apart).
    throws: set[int] = field(default_factory=set)
    # An `i64.const` of Rust's exception class: panic_unwind writes it into every panic it raises.
    rust_exception_class: bool = False
    # Its memory.atomic.wait32 / wait64 instructions, where the thread may sleep until another
    # wakes it: (offset in the body, offset of the memory argument, end, 1 for wait32 or 2 for wait64).
    wait_sites: list[tuple[int, int, int, int]] = field(default_factory=list)
    globals: set[int] = field(default_factory=set)  # of global.get / global.set
    # Of table.get / set / size / grow / fill / copy / init; and the tables of its
    # call_indirect, which read what instantiation put there unless some function changes it.
    tables: set[int] = field(default_factory=set)
    indirect_tables: set[int] = field(default_factory=set)

    @property
    def waits(self) -> bool:
        return bool(self.wait_sites)


# panic_unwind's exception class, `u64::from_ne_bytes(*b"MOZ\0RUST")` (library/panic_unwind/src/gcc.rs),
# which it writes into each panic's exception before `_Unwind_RaiseException` throws it: little-endian
# on wasm. C++ writes its own ("CLNGC++\0"), longjmp none.
RUST_EXCEPTION_CLASS = int.from_bytes(b"MOZ\0RUST", "little")

# Value types a block type may be written as (one byte each); anything else is a
# type index (s33) or, with GC, a reference type with a heap type after it.
_VALTYPES = {0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F}
REFTYPE_WITH_HEAP = {0x63, 0x64}

# The shape of each opcode's immediates (the index into _SHAPES is the opcode).
(NONE, INDEX, MEMARG, I32, I64, F32, F64, BLOCK, CALL, INDIRECT, BR_TABLE, SELECT, HEAP, TRY_TABLE, PREFIX, THROW, REF_FUNC,
 CALL_REF, MEMORY, GLOBAL, TABLE) = range(21)
_SHAPES = [None] * 256
for _op in [0x00, 0x01, 0x05, 0x0A, 0x0B, 0x0F, 0x19, 0x1A, 0x1B, 0xD1, 0xD3, 0xD4, *range(0x45, 0xC5)]:
    _SHAPES[_op] = NONE
# Labels, locals, tags; br_on_null / br_on_non_null.
for _op in [0x07, 0x09, 0x0C, 0x0D, 0x18, 0x20, 0x21, 0x22, 0xD5, 0xD6]:
    _SHAPES[_op] = INDEX
_SHAPES[0x23] = _SHAPES[0x24] = GLOBAL  # global.get, global.set
_SHAPES[0x25] = _SHAPES[0x26] = TABLE  # table.get, table.set
for _op in range(0x28, 0x3F):  # loads and stores
    _SHAPES[_op] = MEMARG
_SHAPES[0x3F] = _SHAPES[0x40] = MEMORY  # memory.size, memory.grow: a memory index
_SHAPES[0x41], _SHAPES[0x42], _SHAPES[0x43], _SHAPES[0x44] = I32, I64, F32, F64
for _op in (0x02, 0x03, 0x04, 0x06):  # block, loop, if, try
    _SHAPES[_op] = BLOCK
_SHAPES[0x10] = _SHAPES[0x12] = CALL  # call, return_call
_SHAPES[0x11] = _SHAPES[0x13] = INDIRECT  # call_indirect, return_call_indirect: type, table
_SHAPES[0x14] = _SHAPES[0x15] = CALL_REF  # call_ref, return_call_ref: type
_SHAPES[0x0E] = BR_TABLE
_SHAPES[0x1C] = SELECT  # select with types
_SHAPES[0xD0] = HEAP  # ref.null: a heap type
_SHAPES[0x1F] = TRY_TABLE
_SHAPES[0x08] = THROW
_SHAPES[0xD2] = REF_FUNC
_SHAPES[0xFC] = _SHAPES[0xFD] = _SHAPES[0xFE] = PREFIX

# 0xFC (saturating truncation, bulk memory, tables): how many LEB indices follow each sub-opcode.
_MEMORY_INIT = 8
_FC_INDICES = {**{op: 0 for op in range(8)}, 8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}
# Their table operations, and which of their indices name tables: table.init (segment, table),
# table.copy (destination, source), table.grow, table.size, table.fill.
_FC_TABLES = {12: (1,), 14: (0, 1), 15: (0,), 16: (0,), 17: (0,)}
# 0xFD (SIMD): sub-opcodes with a memory argument, with a lane byte, or with 16 bytes.
_FD_MEMARG = set(range(0, 12)) | {92, 93}
_FD_MEMARG_LANE = set(range(84, 92))
_FD_LANE = set(range(21, 35))
_FD_BYTES16 = {12, 13}
# 0xFE (threads): atomic.fence has a reserved zero byte, every other op a memory argument.
_FE_FENCE = 0x03
_FE_WAITS = {0x01, 0x02}  # memory.atomic.wait32, memory.atomic.wait64


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


def _cut() -> UnknownOpcode:
    return UnknownOpcode("the function body ends inside an instruction")


def decode_body(data: bytes) -> BodyFacts:
    """The facts of one function body (its locals skipped)."""
    try:
        facts, end = _decode(data)
    except IndexError:
        raise _cut() from None
    if end > len(data):  # an immediate's bytes skipped past the end
        raise _cut()
    return facts


# The readers: each takes the position of what it reads and returns the position after it.


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return (result - (1 << shift) if b & 0x40 else result), pos


def _skip_uleb(data: bytes, pos: int) -> int:
    while data[pos] >= 0x80:
        pos += 1
    return pos + 1


def _block_type(data: bytes, pos: int) -> int:
    first = data[pos]
    if first == 0x40 or first in _VALTYPES:
        return pos + 1
    if first in REFTYPE_WITH_HEAP:
        pos += 1
    return _skip_uleb(data, pos)  # a heap type, or a type index as a signed 33-bit LEB


def _memarg(data: bytes, pos: int) -> int:
    align, pos = _uleb(data, pos)
    if align & 0x40:  # multi-memory: the memory index comes before the offset
        pos = _skip_uleb(data, pos)
    return _skip_uleb(data, pos)


def _decode(data: bytes) -> tuple[BodyFacts, int]:
    facts = BodyFacts()
    calls, constants, globals_ = facts.calls, facts.constants, facts.globals
    shapes, end = _SHAPES, len(data)
    locals_, pos = _uleb(data, 0)
    for _ in range(locals_):  # local declarations: a count and a value type each
        pos = _block_type(data, _skip_uleb(data, pos))
    run = 0  # i32.const instructions right before this one
    while pos < end:
        op = data[pos]
        pos += 1
        shape = shapes[op]
        # The common shapes first, their one-byte immediates read inline.
        if shape is NONE:
            run = 0
        elif shape is INDEX:
            pos = pos + 1 if data[pos] < 0x80 else _skip_uleb(data, pos)
            run = 0
        elif shape is I32:
            value, pos = _sleb(data, pos)
            constants.append(value & 0xFFFFFFFF)
            run += 1
        elif shape is MEMARG:
            pos = pos + 2 if data[pos] < 0x40 and data[pos + 1] < 0x80 else _memarg(data, pos)
            run = 0
        elif shape is CALL:
            function, pos = _uleb(data, pos)
            calls.add(function)
            run = 0
        elif shape is GLOBAL:
            if data[pos] < 0x80:
                globals_.add(data[pos])
                pos += 1
            else:
                index, pos = _uleb(data, pos)
                globals_.add(index)
            run = 0
        else:
            pos = _rare(data, pos, op, shape, facts, run)
            run = 0
    return facts, pos


def _rare(data: bytes, pos: int, op: int, shape: int | None, facts: BodyFacts, run: int) -> int:
    """The instructions that are rare in Rust's code: the position after `op`'s immediates."""
    if shape is None:
        raise UnknownOpcode(f"unknown opcode 0x{op:02X}")
    if shape is BLOCK or shape is HEAP:
        return _block_type(data, pos)
    if shape is I64:
        value, pos = _sleb(data, pos)
        facts.rust_exception_class |= (value & 0xFFFF_FFFF_FFFF_FFFF) == RUST_EXCEPTION_CLASS
        return pos
    if shape is F32 or shape is F64:
        return pos + (4 if shape is F32 else 8)
    if shape is INDIRECT or shape is CALL_REF:
        type_index, pos = _uleb(data, pos)
        facts.indirect.add(type_index)
        if shape is CALL_REF:
            return pos
        table, pos = _uleb(data, pos)  # call_indirect: then a table
        facts.indirect_tables.add(table)
        return pos
    if shape is MEMORY:
        return _skip_uleb(data, pos)
    if shape is TABLE:
        table, pos = _uleb(data, pos)
        facts.tables.add(table)
        return pos
    if shape is THROW:
        tag, pos = _uleb(data, pos)
        facts.throws.add(tag)
        return pos
    if shape is REF_FUNC:
        function, pos = _uleb(data, pos)
        facts.references.add(function)
        return pos
    if shape is BR_TABLE:
        labels, pos = _uleb(data, pos)
        for _ in range(labels + 1):  # the labels, then the default
            pos = _skip_uleb(data, pos)
        return pos
    if shape is SELECT:
        types, pos = _uleb(data, pos)
        for _ in range(types):
            pos = _block_type(data, pos)
        return pos
    if shape is TRY_TABLE:
        pos = _block_type(data, pos)
        clauses, pos = _uleb(data, pos)
        for _ in range(clauses):
            kind, pos = data[pos], pos + 1
            if kind in (0, 1):  # catch, catch_ref: a tag before the label
                pos = _skip_uleb(data, pos)
            pos = _skip_uleb(data, pos)
        return pos
    return _prefixed(data, pos, op, facts, run)


def _prefixed(data: bytes, pos: int, prefix: int, facts: BodyFacts, run: int) -> int:
    start = pos - 1
    sub, pos = _uleb(data, pos)
    if prefix == 0xFC and sub == _MEMORY_INIT:
        segment, pos = _uleb(data, pos)
        pos = _skip_uleb(data, pos)
        if run >= 3:  # destination, source offset, size
            facts.placed[segment] = facts.constants[-3]
    elif prefix == 0xFC and sub in _FC_INDICES:
        tables = _FC_TABLES.get(sub, ())
        for i in range(_FC_INDICES[sub]):
            index, pos = _uleb(data, pos)
            if i in tables:
                facts.tables.add(index)
    elif prefix == 0xFD and sub in _FD_MEMARG:
        pos = _memarg(data, pos)
    elif prefix == 0xFD and sub in _FD_MEMARG_LANE:
        pos = _memarg(data, pos) + 1
    elif prefix == 0xFD and sub in _FD_LANE:
        pos += 1
    elif prefix == 0xFD and sub in _FD_BYTES16:
        pos += 16
    elif prefix == 0xFD and sub <= 0x113:  # every other SIMD op (relaxed SIMD included) has none
        pass
    elif prefix == 0xFE and sub == _FE_FENCE:
        pos += 1
    elif prefix == 0xFE and sub <= 0x4E:
        memarg, pos = pos, _memarg(data, pos)
        if sub in _FE_WAITS:
            facts.wait_sites.append((start, memarg, pos, sub))
    else:
        raise UnknownOpcode(f"unknown instruction 0x{prefix:02X} {sub}")
    return pos
