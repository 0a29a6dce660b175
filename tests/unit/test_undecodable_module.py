"""A module whose code this version cannot decode (wbg_patch/wasm/__init__.py):
the exports that install a panic hook cannot be found there, and the runtime runs
them again on each fresh memory, so a module that has std's set_hook is refused
with what could not be read; without set_hook nothing is lost, and the analyses
answer "unknown" as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli, snapshot, uleb
from test_patch_fixtures import section, wasm_string
from wbg_patch.errors import UndecodableModuleError, UnsupportedGlueError
from wbg_patch.wasm import read_interface, read_module

SET_HOOK = "std[fcfb5db6d3ae018]::panicking::set_hook"


def one_function_module(body: bytes, elements: bytes | None = None, set_hook: bool = True) -> bytes:
    """One function, () -> (), exported as `install`; named std's set_hook in the name section when asked."""
    sections = [section(1, [b"\x60\x00\x00"]), section(3, [b"\x00"])]
    if elements is not None:
        sections.append(section(9, [elements]))
    sections += [section(7, [wasm_string("install") + b"\x00\x00"]), section(10, [uleb(len(body)) + body])]
    if set_hook:
        names = uleb(1) + uleb(0) + wasm_string(SET_HOOK)
        payload = wasm_string("name") + b"\x01" + uleb(len(names)) + names
        sections.append(b"\x00" + uleb(len(payload)) + payload)
    return b"\0asm\x01\0\0\0" + b"".join(sections)


# Code this version cannot read, and how the refusal names it.
UNDECODABLE = {
    "unknown-opcode": (b"\x00\xfb\x00\x0b", None, f"unknown opcode 0xFB, in {SET_HOOK}"),  # a GC instruction
    "cut-instruction": (b"\x00\x41", None, f"the function body ends inside an instruction, in {SET_HOOK}"),
    # An active segment whose element is `global.get 0`: not a form the reader knows.
    "element-expression": (b"\x00\x0b", b"\x04\x41\x00\x0b\x01\x23\x00\x0b", "an element expression other than ref.func or ref.null"),
}


@pytest.mark.parametrize("body,elements,why", UNDECODABLE.values(), ids=UNDECODABLE)
def test_a_module_with_set_hook_and_code_that_cannot_be_decoded_is_refused(body: bytes, elements: bytes | None, why: str, tmp_path: Path):
    wasm = tmp_path / "m_bg.wasm"
    wasm.write_bytes(one_function_module(body, elements))
    with pytest.raises(UndecodableModuleError) as refused:
        read_interface(wasm)
    assert why in str(refused.value) and "panic hook" in str(refused.value)
    assert isinstance(refused.value, UnsupportedGlueError) and refused.value.code == "undecodable-module"


@pytest.mark.parametrize("body,elements,why", UNDECODABLE.values(), ids=UNDECODABLE)
def test_without_set_hook_code_that_cannot_be_decoded_leaves_the_analyses_unknown(body: bytes, elements: bytes | None, why: str, tmp_path: Path):
    wasm = tmp_path / "m_bg.wasm"
    wasm.write_bytes(one_function_module(body, elements, set_hook=False))
    interface = read_interface(wasm)
    assert (interface.panic_hook_exports, interface.throws, interface.waits) == ((), None, None)


def test_the_demo_with_one_instruction_this_version_cannot_decode_is_refused_and_left_as_it_was(unpatched: Path):
    wasm = next(unpatched.glob("*_bg.wasm"))
    module = read_module(wasm)
    index = module.exports["initThreadPool"]
    body = module.bodies[index - len(module.imports)]
    data = wasm.read_bytes()
    assert data.count(body) == 1 and body.endswith(b"\x0b")
    at = data.index(body) + len(body) - 1
    wasm.write_bytes(data[:at] + b"\xfb" + data[at + 1 :])  # its final `end` becomes a GC prefix
    before = snapshot(unpatched)
    patched = run_cli("patch", unpatched)
    assert patched.returncode == UnsupportedGlueError.exit_code
    assert "error[undecodable-module]" in patched.stderr and f"unknown opcode 0xFB, in {module.function_name(index)}" in patched.stderr
    assert snapshot(unpatched) == before
