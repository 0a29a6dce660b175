"""The rewrite on real glue from three wasm-bindgen generations (tests/fixtures)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli, snapshot, uleb

from wbg_patch import __version__, locate, marker, parse, pipeline, prelude, rewrite, syntax
from wbg_patch.config import RuntimeConfig
from wbg_patch.errors import UnsupportedGlueError
from wbg_patch.model import Generation

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if (p / "memory.json").is_file())


def _name(s: str) -> bytes:
    return uleb(len(s)) + s.encode()


# What the demo module exports that the patch checks: its pool contract.
CONTRACT_EXPORTS = ("initThreadPool", "exitThreadPool", "wbg_rayon_start_worker")


def interface_only_module(
    module: str, name: str, initial: int, maximum: int | None, shared: bool, throws: bool | None = None
) -> bytes:
    """A valid wasm binary with the demo's memory import and pool-contract
    exports (empty functions) and nothing else: the old fixtures keep their
    memory import in memory.json instead of a 400 KB module. With `throws` not
    None, exception handling as a panic=unwind std compiles it in (a tag, a
    `try` in one export), and with True a `throw` of it too: how panic_unwind
    raises a panic."""

    def section(sid: int, entries: list[bytes]) -> bytes:
        body = uleb(len(entries)) + b"".join(entries)
        return bytes([sid]) + uleb(len(body)) + body

    flags = (1 if maximum is not None else 0) | (2 if shared else 0)
    limits = bytes([flags]) + uleb(initial) + (uleb(maximum) if maximum is not None else b"")
    functions = range(len(CONTRACT_EXPORTS))
    bodies = [b"\x00\x0b" for _ in functions]  # no locals, end
    if throws is not None:
        # try; i32.const 0; throw 0 (or nop); catch_all; end
        bodies[0] = b"\x00\x06\x40" + (b"\x41\x00\x08\x00" if throws else b"\x01") + b"\x19\x0b\x0b"
    return b"".join(
        [
            b"\0asm\x01\0\0\0",
            section(1, [b"\x60\x00\x00", b"\x60\x01\x7f\x00"]),  # types: () -> (), (i32) -> () for the tag
            section(2, [_name(module) + _name(name) + b"\x02" + limits]),
            section(3, [b"\x00" for _ in functions]),
            section(13, [b"\x00\x01"]) if throws is not None else b"",  # a tag of type 1
            section(7, [_name(n) + b"\x00" + uleb(i) for i, n in enumerate(CONTRACT_EXPORTS)]),
            section(10, [uleb(len(b)) + b for b in bodies]),
        ]
    )


def minor(version: str) -> int:
    return int(version.split(".")[2])


def target_fixture(version: str, target: str, tmp_path: Path, root: Path = FIXTURES, throws: bool | None = None) -> Path:
    """The fixture's glue in a temp dir, beside a module with its memory import
    (and the exception handling `throws` asks for: see interface_only_module)."""
    meta = json.loads((root / version / "memory.json").read_text())
    module, name = meta["import"][target] if "import" in meta else ("env", "memory")
    directory = tmp_path / f"{version}-{target}"
    shutil.copytree(root / version / target, directory)
    wasm = directory / "wbg_demo_bg.wasm"
    if not wasm.exists():
        wasm.write_bytes(interface_only_module(module, name, meta["initial"], meta["maximum"], meta["shared"], throws))
    return directory / "wbg_demo.js"


def nodejs_fixture(version: str, tmp_path: Path) -> Path:
    return target_fixture(version, "nodejs", tmp_path)


# What each patchable fixture is, by (version, target): the rest is refused.
EXPECTED = {
    **{
        (v, "nodejs"): Generation.INIT_SYNC if minor(v) >= 109 else Generation.LOAD_TIME if minor(v) >= 100 else Generation.LEGACY_ENV
        for v in VERSIONS
    },
    **{
        (v, t): generation
        for v in VERSIONS
        if minor(v) >= 109
        for t, generation in [
            ("experimental-nodejs-module", Generation.INIT_SYNC),
            ("module", Generation.ON_LOAD),
            ("web", Generation.EXPLICIT_INIT),
        ]
    },
}
ALL_FIXTURES = sorted((v, t.name) for v in VERSIONS for t in (FIXTURES / v).iterdir() if t.is_dir())
REFUSED = [f for f in ALL_FIXTURES if f not in EXPECTED]


@pytest.fixture(params=sorted(EXPECTED), ids=lambda p: f"{p[0]}-{p[1]}")
def fixture_glue(request, tmp_path: Path) -> Path:
    return target_fixture(*request.param, tmp_path)


def untouched_regions(source: bytes, edits: list[rewrite.Edit]) -> list[bytes]:
    out, pos = [], 0
    for e in edits:
        out.append(source[pos : e.start])
        pos = e.end
    out.append(source[pos:])
    return out


def test_there_are_three_generations_of_fixtures():
    assert len(VERSIONS) >= 3, VERSIONS


def test_patch_parses_cleanly_and_keeps_untouched_regions_byte_identical(fixture_glue: Path):
    model = locate.locate(parse.read(fixture_glue))
    found = pipeline.contract_of(model, RuntimeConfig())
    edits = rewrite.edits(model, RuntimeConfig(), found)
    patched = rewrite.patch(model, RuntimeConfig(), found)
    assert syntax.first_error(syntax.parse(patched).root_node) is None
    # Every byte outside the edits is still there, in order.
    pos = 0
    for region in untouched_regions(model.source, edits):
        found = patched.find(region, pos)
        assert found >= pos, f"untouched region lost: {region[:80]!r}"
        pos = found + len(region)
    # Nothing reads `wasm.x` directly any more: every read goes through the accessor.
    fixture_glue.write_bytes(patched)
    again = locate.locate(parse.read(fixture_glue))
    assert again.patched_by == __version__
    assert again.wasm_member_reads == []
    assert marker.edited_after_patch(again) is None
    # What the glue was is kept in the marker: the patch removes some of what showed it.
    assert (again.target, again.generation, again.contract) == (model.target, model.generation, "wbg-pool")
    assert patched.count(prelude.ACCESSOR.encode()) == len(model.wasm_member_reads)


def test_generation_and_target_are_recognised(fixture_glue: Path):
    model = locate.locate(parse.read(fixture_glue))
    version, target = fixture_glue.parent.name.split("-", 1)
    assert model.generation is EXPECTED[(version, target)]
    assert model.target == target
    assert model.module_format == ("commonjs" if target == "nodejs" else "esm")
    assert model.memory.shared and model.memory.maximum


def test_patching_is_idempotent(fixture_glue: Path):
    first = run_cli("patch", fixture_glue)
    assert first.returncode == 0, first.stderr
    once = snapshot(fixture_glue.parent)
    second = run_cli("patch", fixture_glue)
    assert second.returncode == 0, second.stderr
    assert "already patched" in second.stdout
    assert snapshot(fixture_glue.parent) == once


@pytest.mark.parametrize("version,target", REFUSED, ids=[f"{v}-{t}" for v, t in REFUSED])
def test_glue_that_cannot_run_in_node_is_refused_with_what_to_build(version: str, target: str, tmp_path: Path):
    js = target_fixture(version, target, tmp_path)
    with pytest.raises(UnsupportedGlueError) as refused:
        locate.locate(parse.read(js))
    message = str(refused.value)
    if target in ("bundler", "deno", "no-modules"):
        assert f"`--target {target}` glue" in message and "wasm-pack build --target nodejs" in message
    else:  # an ES-module generation from before initSync
        assert "wasm-bindgen 0.2.109 or newer" in message and "--target nodejs" in message


def test_the_refused_fixtures_cover_every_target_not_for_node():
    assert {t for _, t in REFUSED} >= {"bundler", "deno", "no-modules"}
    assert {t for _, t in EXPECTED} == {"nodejs", "experimental-nodejs-module", "module", "web"}


# What logic looks like in a syntax tree: the prelude must hold none (it lives in runtime_js/prelude.cjs).
LOGIC = {
    "statement_block", "if_statement", "return_statement", "throw_statement", "try_statement", "for_statement",
    "for_in_statement", "while_statement", "switch_statement", "ternary_expression", "binary_expression",
    "function_declaration", "function_expression", "class_declaration", "method_definition",
}


def test_the_prelude_is_names_and_values_only(fixture_glue: Path):
    model = locate.locate(parse.read(fixture_glue))
    statement = prelude.statement(model)
    tree = syntax.parse(statement.encode())
    assert syntax.first_error(tree.root_node) is None, statement
    logic = sorted({n.type for n in syntax.walk(tree.root_node)} & LOGIC)
    assert not logic, f"{logic} in the prelude:\n{statement}"
