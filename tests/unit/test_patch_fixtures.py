"""The rewrite on real glue from three wasm-bindgen generations (tests/fixtures)."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import run_cli, snapshot, uleb
from test_wasm_code import sleb

from wbg_patch import __version__, locate, marker, parse, pipeline, prelude, rewrite, syntax
from wbg_patch.config import RuntimeConfig
from wbg_patch.errors import UnsupportedGlueError
from wbg_patch.model import Generation

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if (p / "memory.json").is_file())


def wasm_string(s: str) -> bytes:
    """A name or string, as wasm binaries write them: its length, then its UTF-8."""
    return uleb(len(s)) + s.encode()


def section(sid: int, entries: list[bytes]) -> bytes:
    """A wasm section: its id, size, entry count and entries."""
    body = uleb(len(entries)) + b"".join(entries)
    return bytes([sid]) + uleb(len(body)) + body


# What the demo module exports that the patch checks: its pool contract.
CONTRACT_EXPORTS = ("initThreadPool", "exitThreadPool", "wbg_rayon_start_worker")
# panic_unwind's exception class, `u64::from_ne_bytes(*b"MOZ\0RUST")`, as `i64.const` writes it.
RUST_EXCEPTION_CLASS = b"\x42" + sleb(int.from_bytes(b"MOZ\0RUST", "little"))
EXTERNREF = 0x6F


@dataclass(frozen=True)
class Throws:
    """Exception handling in a stand-in module: its tags (None: one the module defines, with an i32
    as C's and Rust's tags have; else the name wasm-bindgen imports one under from the glue, with an
    externref; imported ones first, as the tag index space has them), and the tags it throws, each
    by a function of its own (`local.get 0; throw T`) that the first export calls inside a `try`.
    With `rust`, that export holds panic_unwind's exception class before it calls the first one, as
    Rust's `__rust_start_panic` does before it calls `_Unwind_RaiseException`: a Rust panic raised."""

    tags: tuple[str | None, ...] = (None,)
    thrown: tuple[int, ...] = (0,)
    rust: bool = True


RUST_PANICS = Throws()  # -C panic=unwind took effect
NOTHING_THROWN = Throws(thrown=(), rust=False)  # std built for panic=unwind, a crate whose profile says abort


def interface_only_module(module: str, name: str, initial: int, maximum: int | None, shared: bool, throws: Throws | None = None) -> bytes:
    """A valid wasm binary with the demo's memory import and pool-contract
    exports (empty functions) and nothing else: the old fixtures keep their
    memory import in memory.json instead of a 400 KB module; with `throws`,
    the exception handling it describes (see Throws)."""
    flags = (1 if maximum is not None else 0) | (2 if shared else 0)
    limits = bytes([flags]) + uleb(initial) + (uleb(maximum) if maximum is not None else b"")
    tags = throws.tags if throws is not None else ()
    imported = [n for n in tags if n is not None]
    thrown = throws.thrown if throws is not None else ()
    # Types: 0 () -> (), 1 (i32) -> (), 2 (externref) -> (): the exports, and each tag and its thrower.
    takes = [2 if tags[t] is not None else 1 for t in thrown]
    bodies = [b"\x00\x0b" for _ in CONTRACT_EXPORTS]  # no locals, end
    bodies += [b"\x00\x20\x00\x08" + uleb(t) + b"\x0b" for t in thrown]  # local.get 0; throw t
    if throws is not None:
        calls = b"".join(
            (b"\x41\x00" if kind == 1 else b"\xd0" + bytes([EXTERNREF])) + b"\x10" + uleb(len(CONTRACT_EXPORTS) + i)
            for i, kind in enumerate(takes)
        )
        raised = RUST_EXCEPTION_CLASS + b"\x1a" if throws.rust else b""  # i64.const class; drop
        bodies[0] = b"\x00\x06\x40" + (raised + calls or b"\x01") + b"\x19\x0b\x0b"  # try; …; catch_all; end
    return b"".join(
        [
            b"\0asm\x01\0\0\0",
            section(1, [b"\x60\x00\x00", b"\x60\x01\x7f\x00", b"\x60\x01\x6f\x00"]),
            section(2, [wasm_string(module) + wasm_string(name) + b"\x02" + limits] + [wasm_string("./wbg_demo_bg.js") + wasm_string(n) + b"\x04\x00\x02" for n in imported]),
            section(3, [b"\x00" for _ in CONTRACT_EXPORTS] + [uleb(k) for k in takes]),
            section(13, [b"\x00\x01" for n in tags if n is None]) if tags else b"",
            section(7, [wasm_string(n) + b"\x00" + uleb(i) for i, n in enumerate(CONTRACT_EXPORTS)]),
            section(10, [uleb(len(b)) + b for b in bodies]),
        ]
    )


def minor(version: str) -> int:
    return int(version.split(".")[2])


def target_fixture(version: str, target: str, tmp_path: Path, root: Path = FIXTURES, throws: Throws | None = None) -> Path:
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


# Issue 28, point 1: a `--target web` package loads in a browser. Patched, its runtime is the
# ES-module build (no CommonJS file, which a browser cannot load, and no import of Node's
# modules, which a bundler would try to resolve); inspect says so. Node's glue keeps its files.
def test_glue_a_browser_loads_gets_the_runtime_as_one_es_module(tmp_path: Path):
    glue = target_fixture("0.2.129", "web", tmp_path)
    patched = run_cli("patch", glue)
    assert patched.returncode == 0 and patched.stderr == "", patched.stderr
    runtime = sorted(p.relative_to(glue.parent).as_posix() for p in glue.parent.rglob("*") if "wbg-pool" in p.as_posix() and p.is_file())
    assert runtime == ["wbg-pool-manager.d.mts", "wbg-pool-manager.mjs", "wbg-pool/load.mjs", "wbg-pool/runtime.mjs", "wbg-pool/thread.mjs"]
    assert 'import { runtime as __wbg_prelude } from "./wbg-pool/runtime.mjs";' in glue.read_text()
    for name in runtime:
        text = (glue.parent / name).read_text()
        assert not re.search(r"""^\s*import\b[^;]*['"](node:|fs|path|url|worker_threads)""", text, re.M), name
    assert 'import("../wbg_demo.js")' in (glue.parent / "wbg-pool/thread.mjs").read_text()
    assert "  browsers: load it, and Node: the runtime is its ES-module build (wbg-pool/runtime.mjs)" in run_cli("inspect", glue).stdout
    node = nodejs_fixture("0.2.129", tmp_path)
    assert run_cli("patch", node).stderr == ""
    assert (node.parent / "wbg-pool/prelude.cjs").is_file() and not (node.parent / "wbg-pool/runtime.mjs").exists()
    assert "browsers:" not in run_cli("inspect", node).stdout
