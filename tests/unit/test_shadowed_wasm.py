"""Glue in which some scope binds a `wasm` of its own (wbg_patch/locate.py):
there `wasm.x` is not the module's exports, and routing it through the pool's
handle would change what it reads. wasm-bindgen never writes such glue, so it is
refused, whatever form the binding takes, and nothing is rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli, snapshot
from test_patch_fixtures import nodejs_fixture
from wbg_patch import locate, parse
from wbg_patch.errors import UnsupportedGlueError

# Each a function that reads `.memory` of a `wasm` bound inside it, in one form.
SHADOWS = {
    "let": "function readsOwn() { let wasm = {}; return wasm.memory; }",
    "parameter": "function readsOwn(wasm) { return wasm.memory; }",
    "arrow-parameter": "const readsOwn = wasm => wasm.memory;",
    "catch-parameter": "function readsOwn() { try { return 1; } catch (wasm) { return wasm.memory; } }",
    "function": "function readsOwn() { function wasm() {} return wasm.memory; }",
    "named-function-expression": "const readsOwn = function wasm() { return wasm.memory; };",
    "class": "function readsOwn() { class wasm {} return wasm.memory; }",
    "destructured": "function readsOwn(x) { const { wasm } = x; return wasm.memory; }",
    "destructured-parameter": "function readsOwn([first, ...wasm]) { return wasm.memory; }",
    "parameter-with-default": "function readsOwn(wasm = {}) { return wasm.memory; }",
    "for-of": "function readsOwn(xs) { for (const wasm of xs) return wasm.memory; }",
}


def glue_with(code: str, tmp_path: Path) -> Path:
    glue = nodejs_fixture("0.2.129", tmp_path)
    glue.write_text(f"{glue.read_text()}\n{code}\n")
    return glue


@pytest.mark.parametrize("code", SHADOWS.values(), ids=SHADOWS)
def test_glue_that_binds_its_own_wasm_is_refused_and_left_as_it_was(code: str, tmp_path: Path):
    glue = glue_with(code, tmp_path)
    line = glue.read_text().count("\n")  # the appended line
    with pytest.raises(UnsupportedGlueError) as refused:
        locate.locate(parse.read(glue))
    assert f"declares another `wasm` at line {line}" in str(refused.value)
    before = snapshot(glue.parent)
    patched = run_cli("patch", glue)
    assert patched.returncode == UnsupportedGlueError.exit_code, patched.stderr
    assert snapshot(glue.parent) == before  # `wasm.memory` in that scope, as everything else, untouched


def test_wasm_as_a_property_key_or_label_binds_nothing(tmp_path: Path):
    # Reads of the module's `wasm` beside names that only look like it: all of them are rewritten.
    glue = glue_with("const keys = { wasm: 1 }; keys.wasm; wasm: for (;;) break wasm;", tmp_path)
    model = locate.locate(parse.read(glue))
    assert model.wasm_member_reads
