"""The rewrite on real glue from three wasm-bindgen generations (tests/fixtures)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli

from wbg_patch import __version__, glue, rewrite
from wbg_patch.emit import RuntimeConfig
from wbg_patch.errors import UnsupportedGlueError
from wbg_patch.glue import Generation

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if (p / "memory.json").is_file())


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _name(s: str) -> bytes:
    return _uleb(len(s)) + s.encode()


def memory_only_module(module: str, name: str, initial: int, maximum: int | None, shared: bool) -> bytes:
    """A wasm binary whose import section holds one memory import: the old
    fixtures keep their memory import in memory.json instead of a 400 KB module."""
    flags = (1 if maximum is not None else 0) | (2 if shared else 0)
    limits = bytes([flags]) + _uleb(initial) + (_uleb(maximum) if maximum is not None else b"")
    entry = _name(module) + _name(name) + b"\x02" + limits
    section = _uleb(1) + entry
    return b"\0asm\x01\0\0\0" + b"\x02" + _uleb(len(section)) + section


def nodejs_fixture(version: str, tmp_path: Path) -> Path:
    """The fixture's nodejs glue in a temp dir, beside a module with its memory import."""
    meta = json.loads((FIXTURES / version / "memory.json").read_text())
    module, name = meta["import"]["nodejs"] if "import" in meta else ("env", "memory")
    target = tmp_path / version
    shutil.copytree(FIXTURES / version / "nodejs", target)
    wasm = target / "wbg_demo_bg.wasm"
    if not wasm.exists():
        wasm.write_bytes(memory_only_module(module, name, meta["initial"], meta["maximum"], meta["shared"]))
    return target / "wbg_demo.js"


@pytest.fixture(params=VERSIONS)
def fixture_glue(request, tmp_path: Path) -> Path:
    return nodejs_fixture(request.param, tmp_path)


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
    model = glue.locate(glue.read(fixture_glue))
    edits = rewrite.edits(model, RuntimeConfig())
    patched = rewrite.patch(model, RuntimeConfig())
    assert glue.first_error(glue.parse(patched).root_node) is None
    # Every byte outside the edits is still there, in order.
    pos = 0
    for region in untouched_regions(model.source, edits):
        found = patched.find(region, pos)
        assert found >= pos, f"untouched region lost: {region[:80]!r}"
        pos = found + len(region)
    # Nothing reads `wasm.x` directly any more: every read goes through the accessor.
    fixture_glue.write_bytes(patched)
    again = glue.locate(glue.read(fixture_glue))
    assert again.patched_by == __version__
    assert again.wasm_member_reads == []
    assert patched.count(rewrite.ACCESSOR.encode()) == len(model.wasm_member_reads) + 2  # + prelude


def test_generation_is_recognised(fixture_glue: Path):
    model = glue.locate(glue.read(fixture_glue))
    version = fixture_glue.parent.name
    minor = int(version.split(".")[2])
    expected = Generation.INIT_SYNC if minor >= 109 else Generation.LEGACY_ENV
    assert model.generation is expected
    assert model.memory.shared and model.memory.maximum


def test_patching_is_idempotent(fixture_glue: Path):
    first = run_cli("patch", fixture_glue)
    assert first.returncode == 0, first.stderr
    once = {p.name: p.read_bytes() for p in fixture_glue.parent.iterdir()}
    second = run_cli("patch", fixture_glue)
    assert second.returncode == 0, second.stderr
    assert "already patched" in second.stdout
    assert {p.name: p.read_bytes() for p in fixture_glue.parent.iterdir()} == once


@pytest.mark.parametrize("target", ["web", "bundler", "experimental-nodejs-module", "module", "deno", "no-modules"])
def test_es_module_targets_are_refused_clearly(target: str, tmp_path: Path):
    found = [v for v in VERSIONS if (FIXTURES / v / target).is_dir()]
    if not found:
        pytest.skip(f"no fixture generation has --target {target}")
    for version in found:
        js = next((FIXTURES / version / target).glob("wbg_demo.js"))
        with pytest.raises(UnsupportedGlueError, match="--target nodejs"):
            glue.locate(glue.read(js))
