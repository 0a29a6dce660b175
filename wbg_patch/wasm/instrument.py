"""Counts the module's waits, so that a pool whose threads all sleep can be told
from a busy one where no CPU time can be read (browsers).

A deadlocked pool is one whose threads all sleep in ``memory.atomic.wait32/64``
with no timeout, each for another to wake it. In Node the runtime sees that as
CPU time no longer used (/proc); a browser tells no CPU time, and a busy pool
and a deadlocked one look the same from outside. So the patch rewrites each
wait instruction into a call of a helper that waits the same way and keeps
count in the pool's shared memory: how many threads sleep without a timeout,
and how many such sleeps began or ended. All of them asleep with neither count
moving for the heartbeat timeout is a deadlock (runtime_js/liveness.cjs).

The code moves nothing: each wait becomes a ``call`` of the same length (its
function index written as a padded LEB128, ``nop``s after it), and the code
section's entry count keeps its width, so offsets within the code section (what
DWARF holds) stay right; offsets from the module's start (a stack's
``wasm-function[i]:0x…``, a source map's) move by what the sections before the
code gained. The helpers, their types, two globals and two exports are appended
after what is there, so no index changes. Each helper holds the original
instruction, memory argument included: traps stay exactly as they were.

A module is left as it is, with the reason (``CannotCount``), when counting would
break something: a count that needs a wider LEB128 in a module with DWARF (every
DWARF offset would move by a byte), more functions than the width of a wait
instruction can name, a 64-bit memory (the helpers take i32 addresses), or no
allocator export to keep the counters in.

Each thread's instance has its own copy of the global, which says where the
counters are: a thread counts once the runtime calls the exported setter with
their address (runtime_js/thread.cjs); until then, and in an instance that
never calls it, the helpers only wait.

The helpers also keep the main thread from waiting where it must not: a second
global, exported (``NO_WAIT``), forbids every wait of its instance while it is
FORBIDDEN. The runtime sets it around the main thread's calls of exports that
cannot wait for another thread but through their failure paths (waits.py): a
wait reached there sets it to TRIPPED and traps, so the call fails, typed
(runtime_js/local.cjs), where it could otherwise sleep forever on a lock that a
dead thread held.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedGlueError
from .code import BodyFacts, Reader
from .sections import (
    CODE_SECTION,
    CUSTOM_SECTION,
    EXPORT_SECTION,
    FUNCTION_KIND,
    FUNCTION_SECTION,
    GLOBAL_KIND,
    GLOBAL_SECTION,
    MAGIC,
    TYPE_SECTION,
    Module,
)

# The setter the runtime calls on each thread (runtime_js/protocol.cjs COUNT_WAITS_EXPORT, kept equal
# by a test); its presence also marks a module as counted.
EXPORT = "__wbg_pool_count_waits"
# The global that forbids its instance's waits (runtime_js/protocol.cjs NoWait, kept equal by a
# test): FORBIDDEN while the runtime says so, TRIPPED by a wait that met it. A module counted
# without it (an earlier version) has no guard: waits.py then leaves no failure path out.
NO_WAIT = "__wbg_pool_no_wait"
FORBIDDEN, TRIPPED = 1, 2
# What the runtime allocates the counters with, on the pool's host (runtime_js/thread.cjs).
ALLOCATOR = "__wbindgen_malloc"

# Known sections in the order a module must have them (the tag section, 13, sits before globals).
_ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11]
_I32, _I64 = 0x7F, 0x7E
# The counters, at the address the setter gives: i32 words [sleeping, sleeps begun or ended, ...]
# (runtime_js/protocol.cjs WaitCount, kept equal by a test).
_SLEEPING, _CHANGES = 0, 4


class CannotCount(ValueError):
    """Why a module with waits is not made to count them (see the module's doc)."""


@dataclass(frozen=True)
class Counted:
    """A module rewritten to count its waits."""

    data: bytes
    waits: int  # wait instructions rewritten
    functions: int  # functions that had them


def _encode_uleb(value: int, width: int = 0) -> bytes:
    """LEB128 of `value`, padded to `width` bytes when that is more than it needs."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte)
        if not value:
            break
        out[-1] |= 0x80
    while len(out) < width:
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


def _vector(items: list[bytes]) -> bytes:
    return _encode_uleb(len(items)) + b"".join(items)


def _function_type(parameters: list[int], results: list[int]) -> bytes:
    return b"\x60" + _vector([bytes([p]) for p in parameters]) + _vector([bytes([r]) for r in results])


def _setter_body(counters: bytes) -> bytes:
    # local.get 0; global.set $counters
    return b"\x00" + b"\x20\x00\x24" + counters + b"\x0b"


def _wait_body(counters: bytes, no_wait: bytes, sub: int, memarg: bytes) -> bytes:
    """A helper taking a wait's operands (address, expected value, timeout in ns) and
    returning its result: it traps where its instance's waits are forbidden; it counts
    the sleep around the wait when the thread counts and the timeout is infinite
    (negative); a wait with a timeout ends by itself."""
    wait = b"\x20\x00\x20\x01\x20\x02\xfe" + bytes([sub]) + memarg
    add = lambda delta, at: b"\x23" + counters + b"\x41" + delta + b"\xfe\x1e\x02" + bytes([at]) + b"\x1a"  # noqa: E731
    code = (
        b"\x23" + no_wait + b"\x04\x40"  # global.get $no_wait; if: forbidden
        + b"\x41" + bytes([TRIPPED]) + b"\x24" + no_wait + b"\x00"  # no_wait = TRIPPED; unreachable
        + b"\x0b"  # end
        + b"\x23" + counters + b"\x45"  # global.get $counters; i32.eqz
        + b"\x20\x02\x42\x00\x59\x72"  # local.get 2; i64.const 0; i64.ge_s; i32.or
        + b"\x04\x7f" + wait  # if (result i32): not counted, only wait
        + b"\x05"  # else: sleeping += 1, changes += 1, wait, sleeping -= 1, changes += 1
        + add(b"\x01", _SLEEPING) + add(b"\x01", _CHANGES)
        + wait + b"\x21\x03"  # local.set 3
        + add(b"\x7f", _SLEEPING) + add(b"\x01", _CHANGES)
        + b"\x20\x03\x0b"  # local.get 3; end
        + b"\x0b"
    )  # fmt: skip
    return b"\x01\x01\x7f" + code  # one i32 local: the wait's result


def _reader(data: bytes) -> Reader:
    # The module was read whole before (sections.read_module): it cannot end early here.
    return Reader(data, lambda: UnsupportedGlueError("the wasm module ends early"))


def _count(payload: bytes) -> tuple[int, int]:
    """A vector section's entry count, and where its entries start."""
    r = _reader(payload)
    return r.uleb(), r.pos


def _extend(payload: bytes, entries: list[bytes], keep_width: bool = False) -> bytes:
    """A vector section's payload with `entries` appended. `keep_width`: its count keeps
    its width, so that what follows it keeps its offset (code offsets)."""
    count, after = _count(payload)
    width = after if keep_width else 0
    return _encode_uleb(count + len(entries), width) + payload[after:] + b"".join(entries)


def _has_dwarf(sections: list[tuple[int, bytes]]) -> bool:
    """Whether a custom section holds DWARF (`.debug_info`, `.debug_line`, …)."""
    return any(section == CUSTOM_SECTION and _reader(payload).name().startswith(".debug_") for section, payload in sections)


def count_waits(module: Module, facts: list[BodyFacts]) -> Counted | None:
    """The module with its waits counted (one that counts them already is not asked for);
    None when it has no wait. Raises CannotCount for a module with waits that it leaves as it is."""
    data = module.data
    if not any(body.wait_sites for body in facts):
        return None
    if module.memory is not None and module.memory.memory64:
        raise CannotCount("a 64-bit memory (memory64): the counting helpers take 32-bit addresses")
    if ALLOCATOR not in module.export_names:
        raise CannotCount(f"the module exports no allocator ({ALLOCATOR}) for the runtime to keep the counters with")
    globals_defined = next((_count(data[start:end])[0] for s, start, end in module.sections if s == GLOBAL_SECTION), 0)
    counters = _encode_uleb(module.imported_globals + globals_defined)
    no_wait = _encode_uleb(module.imported_globals + globals_defined + 1)
    first_type, setter = len(module.types), len(module.function_types)

    # One helper per wait form (wait32 or wait64, and its memory argument), after the setter.
    helpers: dict[tuple[int, bytes], int] = {}
    patches: list[tuple[int, bytes]] = []
    functions = 0
    for offset, body in zip(module.body_offsets, facts):
        functions += bool(body.wait_sites)
        for start, memarg, end, sub in body.wait_sites:
            form = (sub, data[offset + memarg : offset + end])
            index = helpers.setdefault(form, setter + 1 + len(helpers))
            patches.append((offset + start, _call(index, end - start)))

    types = [_function_type([_I32], []), _function_type([_I32, _I32, _I64], [_I32]), _function_type([_I32, _I64, _I64], [_I32])]
    new_functions = [_encode_uleb(first_type)] + [_encode_uleb(first_type + sub) for sub, _ in helpers]
    bodies = [_setter_body(counters)] + [_wait_body(counters, no_wait, sub, memarg) for sub, memarg in helpers]
    added = {
        TYPE_SECTION: (types, False),
        FUNCTION_SECTION: (new_functions, False),
        GLOBAL_SECTION: ([bytes([_I32, 0x01]) + b"\x41\x00\x0b"] * 2, False),  # mutable i32s, 0 until set
        EXPORT_SECTION: ([_export(EXPORT, FUNCTION_KIND, setter), _export(NO_WAIT, GLOBAL_KIND, module.imported_globals + globals_defined + 1)], False),
        CODE_SECTION: ([_encode_uleb(len(b)) + b for b in bodies], True),
    }

    # The waits become calls in place (nothing moves: the sections keep their bounds), then the sections grow.
    patched = bytearray(data)
    for at, call in patches:
        patched[at : at + len(call)] = call
    sections = [(section, bytes(patched[start:end])) for section, start, end in module.sections]
    count, width = _count(next(payload for section, payload in sections if section == CODE_SECTION))
    if len(_encode_uleb(count + len(bodies))) > width and _has_dwarf(sections):
        raise CannotCount("its function count would need a wider LEB128, which would move every DWARF offset by a byte")
    sections = _with_empty(sections, added)
    out = bytearray(MAGIC)
    for section, payload in sections:
        if section in added:
            payload = _extend(payload, *added[section])
        out += bytes([section]) + _encode_uleb(len(payload)) + payload
    return Counted(bytes(out), len(patches), functions)


def _export(name: str, kind: int, index: int) -> bytes:
    return _encode_uleb(len(name)) + name.encode() + bytes([kind]) + _encode_uleb(index)


def _call(function: int, length: int) -> bytes:
    """`call function` in exactly `length` bytes: the index padded, then `nop`s."""
    width = min(length - 1, 5)  # a u32 takes at most 5 LEB128 bytes
    index = _encode_uleb(function, width)
    if len(index) > width:
        raise CannotCount(f"too many functions ({function}) for a call to fit where a wait instruction was")
    return b"\x10" + index + b"\x01" * (length - 1 - width)


def _with_empty(sections: list[tuple[int, bytes]], needed: dict[int, object]) -> list[tuple[int, bytes]]:
    """`sections` with an empty one of each `needed` id it lacks, in its place in the order."""
    for section in needed:
        if any(s == section for s, _ in sections):
            continue
        rank = _ORDER.index(section)
        known = [i for i, (s, _) in enumerate(sections) if s in _ORDER]
        after = [i for i in known if _ORDER.index(sections[i][0]) > rank]
        at = after[0] if after else (known[-1] + 1 if known else len(sections))
        sections.insert(at, (section, b"\x00"))
    return sections
