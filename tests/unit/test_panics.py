"""panic=unwind builds (wbg_patch/panics.py): the mode read off the module and
the glue (only a `throw` by Rust's panic runtime counts, not one of C/C++ code or
wasm-bindgen's), what the patch emits for it, the marker that keeps it, what
`inspect` says, and the glue refused when its catch or its call guard has a
shape not known here.

The glue is wasm-bindgen 0.2.129's for the demo built with -C panic=unwind
(tests/fixtures/unwind/), beside a stand-in module with the exception handling
each case asks for (test_patch_fixtures.Throws)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import BUILD, FIXTURES, run_cli, snapshot
from test_patch_fixtures import NOTHING_THROWN, RUST_PANICS, Throws, target_fixture
from wbg_patch import locate, panics, parse, pipeline, prelude, rewrite
from wbg_patch.config import RuntimeConfig
from wbg_patch.errors import UnsupportedGlueError
from wbg_patch.marker import GLUE_LINE_RE, read_marker
from wbg_patch.wasm import hooks, read_interface, read_module
from wbg_patch.wasm.code import decode_body

UNWIND_FIXTURES = FIXTURES / "unwind"
TARGETS = ["nodejs", "experimental-nodejs-module", "module", "web"]
UNWIND_LINE = "panics: unwind — the pool survives a panic"
ABORT_LINE = "panics: abort — a panic resets the memory"


def unwind_glue(tmp_path: Path, target: str = "nodejs", throws: Throws | None = RUST_PANICS) -> Path:
    return target_fixture("0.2.129", target, tmp_path, root=UNWIND_FIXTURES, throws=throws)


def abort_glue(tmp_path: Path, throws: Throws | None = None) -> Path:
    """wasm-bindgen 0.2.129's glue of the demo built with panic=abort."""
    return target_fixture("0.2.129", "nodejs", tmp_path, throws=throws)


def located(glue: Path):
    return locate.locate(parse.read(glue))


def test_a_throw_is_found_as_an_instruction_with_its_tag_not_as_a_byte():
    assert decode_body(b"\x00\x41\x00\x08\xac\x02\x0b").throws == {300}  # i32.const 0; throw 300
    assert not decode_body(b"\x00\x20\x08\x1a\x0b").throws  # local.get 8; drop: 0x08 as an immediate


@pytest.mark.parametrize("throws,found", [(None, (0, False)), (NOTHING_THROWN, (1, False)), (RUST_PANICS, (1, True))], ids=["no-tags", "nothing-thrown", "rust-panics"])
def test_the_module_says_whether_it_throws_and_has_tags(throws: Throws | None, found: tuple[int, bool], tmp_path: Path):
    interface = read_interface(unwind_glue(tmp_path, throws=throws).with_name("wbg_demo_bg.wasm"))
    assert (interface.tags, interface.throws) == found


# Throws a crate built with panic=abort may have, none of them Rust's raise of a panic, and the reason
# `inspect` gives for "abort".
NOT_PANICS = {
    # C++ built with -fwasm-exceptions: `__cxa_throw` throws `__cpp_exception`, the very tag Rust's panics use.
    "c++-exception": (Throws(rust=False), panics.NOT_RUST_THROWS),
    # setjmp/longjmp (LLVM's wasm SjLj): `__wasm_longjmp` throws `__c_longjmp`, a tag of its own beside C++'s.
    "longjmp": (Throws(tags=(None, None), thrown=(1,), rust=False), panics.NOT_RUST_THROWS),
    # wasm-bindgen's catch wrappers throw a JS exception on under the tag it imports from the glue.
    "js-exception": (Throws(tags=("__wbindgen_jstag", "__wbindgen_wrapped_jstag", None), thrown=(1,), rust=False), panics.PROFILE_SAYS_ABORT),
}


@pytest.mark.parametrize("throws,reason", NOT_PANICS.values(), ids=NOT_PANICS)
def test_a_throw_that_is_not_rusts_raise_of_a_panic_is_abort(throws: Throws, reason: str, tmp_path: Path):
    model = located(unwind_glue(tmp_path, throws=throws))
    assert model.module_interface.throws is False
    assert (model.panics, model.panics_reason) == (panics.ABORT, reason)
    inspected = run_cli("inspect", model.path)
    assert ABORT_LINE in inspected.stdout and reason in inspected.stdout


def test_the_demo_as_built_for_abort_neither_throws_nor_has_tags(unpatched: Path):
    interface = read_interface(next(unpatched.glob("*_bg.wasm")))
    assert (interface.tags, interface.throws) == (0, False)


def test_the_demo_as_built_for_unwind_throws():
    raw = BUILD / "pkg-unwind-unpatched"
    if not any(raw.glob("*_bg.wasm")):
        pytest.skip(f"{raw} is not built yet (make build)")
    interface = read_interface(next(raw.glob("*_bg.wasm")))
    assert interface.tags and interface.throws
    # Its panics are thrown with the tag the module defines (`__cpp_exception`), after the two that
    # wasm-bindgen imports from the glue, which its catch wrappers throw a JS exception on with.
    module = read_module(next(raw.glob("*_bg.wasm")))
    assert module.tags == ["__wbindgen_jstag", "__wbindgen_wrapped_jstag", None]
    assert hooks.panic_tags(module, [decode_body(b) for b in module.bodies]) == {2}


@pytest.mark.parametrize("target", TARGETS)
def test_unwind_glue_beside_a_module_that_throws_is_unwind(target: str, tmp_path: Path):
    model = located(unwind_glue(tmp_path, target))
    assert (model.panics, model.panics_reason) == (panics.UNWIND, None)
    assert (model.catch.parameter, model.catch.wrapped_tag, model.catch.panic_error) == ("e", "__wbindgen_wrapped_jstag", "PanicError")
    # The externref table's init is found inside the `wrapError(function () { … })` every import of this glue is.
    assert model.externref_table == "__wbindgen_externrefs"
    assert model.text(model.externref_init.named_children[0]).startswith("const table = wasm.")


@pytest.mark.parametrize(
    "glue,throws,reason",
    [
        (abort_glue, RUST_PANICS, panics.CANNOT_CATCH),  # the module unwinds, the glue cannot catch it
        (unwind_glue, NOTHING_THROWN, panics.PROFILE_SAYS_ABORT),  # exception handling compiled in, nothing throws
        (abort_glue, NOTHING_THROWN, panics.PROFILE_SAYS_ABORT),
        (abort_glue, None, None),  # an ordinary abort build
    ],
    ids=["module-unwinds-glue-cannot-catch", "unwind-glue-nothing-throws", "abort-glue-nothing-throws", "abort"],
)
def test_everything_else_is_abort_with_the_reason_when_half_of_it_unwinds(glue, throws, reason, tmp_path: Path):
    model = located(glue(tmp_path, throws=throws))
    assert (model.panics, model.panics_reason) == (panics.ABORT, reason)
    inspected = run_cli("inspect", model.path)
    assert inspected.returncode == 0, inspected.stderr
    assert ABORT_LINE in inspected.stdout
    assert (reason in inspected.stdout) if reason else "panics, why" not in inspected.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_unwind_glue_is_patched_to_hand_its_catch_to_the_runtime(target: str, tmp_path: Path):
    glue = unwind_glue(tmp_path, target)
    model = located(glue)
    assert prelude.options(model)["panics"] == "unwind"
    bindings = prelude.bindings(model)
    assert (bindings["wrappedTag"], bindings["panicError"]) == ("() => __wbindgen_wrapped_jstag", "() => PanicError")
    patched = run_cli("patch", glue)  # parsed, and checked by V8 as Node loads it
    assert patched.returncode == 0, patched.stderr
    assert "contract wbg-pool, panics unwind)" in patched.stdout
    again = located(glue)
    handler = next(n for n in again.nodes("function_declaration") if n.child_by_field_name("name").text == b"__wbg_handle_catch")
    first = handler.child_by_field_name("body").named_children[0]
    assert again.text(first) == f"{prelude.HANDLE_CATCH}(e);"
    # The check of that mark before every call has nothing left to find: its body is gone.
    guard = next(n for n in again.nodes("function_declaration") if n.child_by_field_name("name").text == b"__wbg_call_guard")
    assert again.text(guard.child_by_field_name("body")) == "{}"
    assert again.panics == panics.UNWIND  # from the marker


def test_unwind_glue_beside_a_module_that_aborts_still_hands_its_catch_to_the_runtime(tmp_path: Path):
    # Left to itself, its catch would mark the memory every instance shares as dead at the
    # first trap, and every later call on any thread would throw a bare "Module terminated".
    model = located(unwind_glue(tmp_path, throws=NOTHING_THROWN))
    assert prelude.options(model)["panics"] == "abort"
    assert prelude.bindings(model)["wrappedTag"] == "() => __wbindgen_wrapped_jstag"
    source = rewrite.patch(model, RuntimeConfig(), pipeline.contract_of(model, RuntimeConfig()))
    assert f"function __wbg_handle_catch(e) {{\n    {prelude.HANDLE_CATCH}(e);".encode() in source


def test_abort_glue_gets_the_mode_and_nothing_else(tmp_path: Path):
    model = located(abort_glue(tmp_path))
    assert prelude.options(model)["panics"] == "abort"
    assert not {"wrappedTag", "panicError"} & set(prelude.bindings(model))
    source = rewrite.patch(model, RuntimeConfig(), pipeline.contract_of(model, RuntimeConfig()))
    assert prelude.HANDLE_CATCH.encode() not in source
    assert b"; contract wbg-pool; panics abort */" in source


def test_the_marker_keeps_the_mode_and_patching_again_changes_nothing(tmp_path: Path):
    glue = unwind_glue(tmp_path)
    assert run_cli("patch", glue).returncode == 0
    once = snapshot(glue.parent)
    second = run_cli("patch", glue)
    assert second.returncode == 0 and "already patched" in second.stdout
    assert snapshot(glue.parent) == once
    inspected = run_cli("inspect", glue)
    assert "patched: by wbg-patch" in inspected.stdout and UNWIND_LINE in inspected.stdout


def test_a_marker_without_the_mode_reads_as_abort(tmp_path: Path):
    glue = unwind_glue(tmp_path)
    assert run_cli("patch", glue).returncode == 0
    text = glue.read_text()
    assert GLUE_LINE_RE.search(text).group(5) == "unwind"
    glue.write_text(text.replace("; panics unwind */", " */", 1))  # as versions before this one wrote it
    model = parse.read(glue)
    read_marker(model)
    assert (model.contract, model.panics) == ("wbg-pool", panics.ABORT)


def test_inspect_says_unwind_before_and_after_patching(tmp_path: Path):
    glue = unwind_glue(tmp_path, "module")
    before = run_cli("inspect", glue)
    assert before.returncode == 0, before.stderr
    assert UNWIND_LINE in before.stdout and "panics, why" not in before.stdout
    assert run_cli("patch", glue).returncode == 0
    assert UNWIND_LINE in run_cli("inspect", glue).stdout


@pytest.mark.parametrize(
    "old,new,missing",
    [
        (b"class PanicError extends", b"class PanicErr extends", "one `class PanicError`"),
        (b"__wbindgen_wrapped_jstag: __wbindgen_wrapped_jstag,", b"", "one `__wbindgen_wrapped_jstag: <tag>`"),
        (b"function __wbg_handle_catch(e) {", b"function __wbg_handle_catch(e, f) {", "one `function __wbg_handle_catch(e)"),
        (b"function __wbg_handle_catch(e) {", b"const __wbg_handle_catch = function (e) {", "one `function __wbg_handle_catch(e)"),
    ],
    ids=["no-panic-error", "no-wrapped-tag", "two-parameters", "not-a-declaration"],
)
def test_a_catch_of_another_shape_is_refused_naming_what_is_missing(old: bytes, new: bytes, missing: str, tmp_path: Path):
    refused_as_it_is(unwind_glue(tmp_path), old, new, missing, "mark the memory every thread shares as dead")


def refused_as_it_is(glue: Path, old: bytes | str, new: bytes | str, named: str, why: str) -> None:
    """The unwind glue with `old` (once in it) made `new` is refused, by the locator and by
    `wbg-patch patch`, naming `named` (and the locator `why`), and left byte-identical."""
    source = glue.read_bytes()
    old, new = (text.encode() if isinstance(text, str) else text for text in (old, new))
    assert source.count(old) == 1
    glue.write_bytes(source.replace(old, new))
    with pytest.raises(UnsupportedGlueError) as refused:
        located(glue)
    assert named in str(refused.value) and why in str(refused.value)
    before = snapshot(glue.parent)
    patched = run_cli("patch", glue)
    assert patched.returncode == UnsupportedGlueError.exit_code and named in patched.stderr
    assert snapshot(glue.parent) == before


# The end of wasm-bindgen's `__wbg_call_guard` (0.2.119 and later), where its
# --experimental-reset-state-function adds a reset of the glue's state once one is scheduled.
GUARD_END = "        }throw new Error('Module terminated');\n    }\n}"
WITH_RESET = (
    "        }\n        if (__wbg_reinit_scheduled) {\n            __wbg_reset_state();\n            return;\n        }"
    "throw new Error('Module terminated');\n    } else if (__wbg_reinit_scheduled) {\n        __wbg_reset_state();\n    }\n}"
)


@pytest.mark.parametrize(
    "old,new",
    [
        (GUARD_END, WITH_RESET),
        ("function __wbg_call_guard() {\n", "function __wbg_call_guard() {\n    __wbg_calls += 1;\n"),
        ("wasm.__instance_terminated.value / 4", "wasm.__abort_handler.value / 4"),
        ("function __wbg_call_guard() {", "function __wbg_call_guard(options) {"),
        ("function __wbg_call_guard() {", "const __wbg_call_guard = function () {"),
    ],
    ids=["reset-state", "another-statement", "another-mark", "a-parameter", "not-a-declaration"],
)
def test_a_call_guard_of_another_shape_is_refused(old: str, new: str, tmp_path: Path):
    # The patch replaces the guard's body: in a shape not known here, that would drop what else it does.
    refused_as_it_is(unwind_glue(tmp_path), old, new, "__wbg_call_guard", "in a shape this version does not know")


@pytest.mark.parametrize("package", ["pkg-unwind", "pkg-poolbuilder-global-unwind", "pkg-wasm-bindgen-rayon-unwind"])
def test_the_call_guard_of_every_unwind_build_has_the_known_shape(package: str):
    raw = BUILD / f"{package}-unpatched"
    if not any(raw.glob("*_bg.wasm")):
        pytest.skip(f"{raw} is not built yet (make build)")
    model = located(next(p for p in raw.glob("*.js") if p.with_name(f"{p.stem}_bg.wasm").is_file()))
    assert model.catch is not None and model.catch.call_guard is not None
