"""The function-body decoder and the search for exports that install a panic
hook (wbg_patch/wasm/code.py, hooks.py): every immediate read at its real length, calls
followed through vtables, and nothing found by reading past a vtable's end."""

from __future__ import annotations

import pytest

from conftest import uleb, wasm_bindgen_output
from wbg_patch.wasm import hooks, read_interface
from wbg_patch.wasm.code import UnknownOpcode, decode_body
from wbg_patch.wasm.sections import Module


def sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        done = (n == 0 and not b & 0x40) or (n == -1 and b & 0x40)
        out.append(b if done else b | 0x80)
        if done:
            return bytes(out)


def body(*instructions: bytes) -> bytes:
    """A function body without locals, ending in `end`."""
    return uleb(0) + b"".join(instructions) + b"\x0b"


def call(index: int) -> bytes:
    return b"\x10" + uleb(index)


def i32(value: int) -> bytes:
    return b"\x41" + sleb(value)


MEMARG = uleb(2) + uleb(300)  # align, offset (two LEB bytes)
# One instruction of each immediate shape; immediates chosen so that a decoder
# reading one at the wrong length would go on at a wrong offset and misread
# the calls that follow.
EVERY_SHAPE = [
    b"\x02\x40",  # block, empty type
    b"\x03\x7f",  # loop, a value type
    b"\x04" + sleb(300),  # if, a type index as a signed LEB
    b"\x0b\x0b\x0b",
    b"\x0c" + uleb(200) + b"\x0d" + uleb(3),  # br, br_if
    b"\x0e" + uleb(3) + uleb(1) + uleb(200) + uleb(2) + uleb(0x10),  # br_table: 3 labels and the default
    b"\x11" + uleb(300) + uleb(0),  # call_indirect: type, table
    b"\x13" + uleb(5) + uleb(1),  # return_call_indirect
    b"\x14" + uleb(300),  # call_ref
    b"\x1c" + uleb(1) + b"\x7f",  # select with a type
    b"\x20" + uleb(1000) + b"\x24" + uleb(3) + b"\x25" + uleb(1),  # local.get, global.set, table.get
    b"\x28" + MEMARG + b"\x36" + uleb(0x42) + uleb(0) + uleb(8),  # i32.load; i32.store, multi-memory memarg
    b"\x3f\x00\x40\x00",  # memory.size, memory.grow
    b"\x42" + sleb(-(1 << 40)) + b"\x43" + b"\x10" * 4 + b"\x44" + b"\x10" * 8,  # i64, f32, f64 consts
    b"\xd0\x70\xd2" + uleb(300) + b"\xd1",  # ref.null funcref, ref.func, ref.is_null
    b"\x1f\x40" + uleb(2) + b"\x00" + uleb(1) + uleb(0) + b"\x02" + uleb(0) + b"\x0b",  # try_table, 2 catches
    b"\xfc" + uleb(0) + b"\xfc" + uleb(11) + uleb(0) + b"\xfc" + uleb(14) + uleb(0) + uleb(1),  # trunc_sat, fill, table.copy
    b"\xfd" + uleb(12) + b"\x10" * 16 + b"\xfd" + uleb(13) + b"\x10" * 16,  # v128.const, i8x16.shuffle
    b"\xfd" + uleb(21) + b"\x10" + b"\xfd" + uleb(84) + MEMARG + b"\x10" + b"\xfd" + uleb(0) + MEMARG,  # lanes, loads
    b"\xfd" + uleb(0x100),  # a relaxed SIMD op: a two-byte sub-opcode, no immediate
    b"\xfe\x03\x00" + b"\xfe" + uleb(0x1E) + MEMARG + b"\xfe" + uleb(0x01) + MEMARG,  # fence, rmw add, wait32
]


def test_every_immediate_is_read_at_its_length():
    facts = decode_body(body(*(shape + call(7 + i) for i, shape in enumerate(EVERY_SHAPE))))
    assert facts.calls == {7 + i for i in range(len(EVERY_SHAPE))}


def test_locals_are_skipped_and_constants_kept():
    code = uleb(2) + uleb(3) + b"\x7f" + uleb(1) + b"\x7b" + i32(-1) + i32(1_052_528) + b"\x12" + uleb(9) + b"\x0b"
    facts = decode_body(code)
    assert facts.constants == [0xFFFFFFFF, 1_052_528]
    assert facts.calls == {9}  # return_call


def test_a_data_segment_is_placed_where_memory_init_copies_it():
    init = i32(1_048_768) + i32(0) + i32(11_295) + b"\xfc" + uleb(8) + uleb(1) + uleb(0)
    computed = i32(0) + b"\x20\x00" + i32(20) + b"\xfc" + uleb(8) + uleb(2) + uleb(0)  # destination not a constant
    assert decode_body(body(init, computed)).placed == {1: 1_048_768}


@pytest.mark.parametrize("code", [b"\x00\xff", b"\x00\xfb\x00", b"\x00\xfc" + uleb(99), b"\x00\x41"])
def test_an_unknown_or_cut_instruction_stops_the_decoding(code: bytes):
    with pytest.raises(UnknownOpcode):
        decode_body(code)


I32 = 0x7F
SET_HOOK = "std[fcfb5db6d3ae018]::panicking::set_hook"


def hook_module() -> Module:
    """set_hook (0) is called by a closure (1) reached only through a vtable at
    1992; another vtable at 1976 lies right before it, and the words after
    its one method (the next vtable's drop, size, align) are table slots too.
    Exports: `init` passes the closure's vtable, `other` the one before,
    `init_with` takes an argument, `install` calls set_hook directly but
    returns a value."""
    vtables = b"".join(w.to_bytes(4, "little") for w in [3, 4, 4, 3] + [2, 4, 4, 1, 1])
    bodies = {
        1: body(call(0)),
        2: body(i32(1992), call(5)),  # init
        3: body(i32(1976), call(5)),  # other
        4: body(i32(1992), call(5)),  # init_with
        5: body(b"\x11" + uleb(0) + uleb(0)),  # std's Once::call: an indirect call
        6: body(call(0)),  # install
    }
    return Module(
        types=[((), ()), ((I32,), ()), ((), (I32,))],
        function_types=[1, 1, 0, 0, 1, 1, 2],
        exports={"init": 2, "other": 3, "init_with": 4, "install": 6},
        names={0: SET_HOOK, 1: "<Once>::call_once::<console_error_panic_hook[b7]::set_once::{closure#0}>::{closure#0}"},
        bodies=[bodies[i] for i in range(1, 7)],
        table={1: 1, 2: 5, 3: 3, 4: 1},
        segments=[(1976, vtables)],
    )


def hook_exports(module: Module) -> tuple[str, ...]:
    return hooks.panic_hook_exports(module, [decode_body(b) for b in module.bodies])


def test_an_export_that_installs_a_hook_through_a_vtable_is_found():
    assert hook_exports(hook_module()) == ("init",)


def test_nothing_is_found_without_set_hook_in_the_name_section():
    module = hook_module()
    module.names = {}
    assert hook_exports(module) == ()


def test_the_crates_of_the_contract_tests_are_read_as_they_are_built():
    # wasm-bindgen-rayon: console_error_panic_hook::set_once() in install_panic_hook;
    # its parallel exports (a panic in a job reaches the panic machinery) are not hook installers.
    rayon = read_interface(next(wasm_bindgen_output("pkg-wasm-bindgen-rayon").glob("*_bg.wasm")))
    assert rayon.panic_hook_exports == ("install_panic_hook",)
    sdk = read_interface(next(wasm_bindgen_output("pkg-poolbuilder-global").glob("*_bg.wasm")))
    assert sdk.panic_hook_exports == ("install_panic_hook",)
