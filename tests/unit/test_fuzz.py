"""Fuzzing the patcher with inputs mutated from the fixtures: never a
traceback; a clean patch or a clear error; on error the directory is exactly
as it was; a patched output never has tree-sitter error nodes."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import snapshot
from test_patch_fixtures import VERSIONS, nodejs_fixture
from wbg_patch import syntax
from wbg_patch.cli import app
from wbg_patch.emit import runtime_files
from wbg_patch.errors import EXIT_CODES

INPUTS_PER_SEED = 260  # x the seeds below: well over 1000 inputs


def top_statements(source: bytes) -> list[tuple[int, int]]:
    return [(n.start_byte, n.end_byte) for n in syntax.parse(source).root_node.children]


def identifiers(source: bytes) -> list[tuple[int, int]]:
    return [(n.start_byte, n.end_byte) for n in syntax.walk(syntax.parse(source).root_node) if n.type == "identifier"]


def mutate(source: bytes, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["flip", "truncate", "delete", "duplicate", "rename", "rename-wasm"])
    if kind == "flip":
        data = bytearray(source)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return kind, bytes(data)
    if kind == "truncate":
        return kind, source[: rng.randrange(len(source))]
    if kind in ("delete", "duplicate"):
        start, end = rng.choice(top_statements(source))
        middle = b"" if kind == "delete" else source[start:end] + b"\n" + source[start:end]
        return kind, source[:start] + middle + source[end:]
    spots = identifiers(source)
    if kind == "rename-wasm":
        spots = [s for s in spots if source[s[0] : s[1]] == b"wasm"] or spots
    start, end = rng.choice(spots)
    return kind, source[:start] + rng.choice([b"wasm", b"memory", b"imports", b"x1", b"exports"]) + source[end:]


def damage_outputs(directory: Path, rng: random.Random) -> None:
    """Now and then, also break what the patch writes to: a runtime file that is a
    directory or read-only, a package.json that is not a manifest."""
    roll = rng.random()
    if roll < 0.05:
        (directory / rng.choice(runtime_files("commonjs"))).mkdir(parents=True)
    elif roll < 0.10:
        target = directory / rng.choice(runtime_files("commonjs"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("// an older runtime\n")
        target.chmod(0o444)
    elif roll < 0.15:
        (directory / "package.json").write_text(rng.choice(["[]", "{", '"x"', '{"files": 3}', '{"files": ["a.js"]}', '{"exports": 3}', '{"exports": {".": "./a.js", "import": "./b.js"}}']))


@pytest.mark.parametrize("seed", [*VERSIONS, "demo"])
def test_mutated_glue_never_crashes_or_damages_files(seed: str, tmp_path: Path, unpatched: Path):
    if seed == "demo":
        original_dir = unpatched
    else:
        original_dir = nodejs_fixture(seed, tmp_path / "fixture").parent
    source = (original_dir / "wbg_demo.js").read_bytes()
    rng = random.Random(f"wbg-patch-fuzz-{seed}")
    runner = CliRunner()
    outcomes: dict[str, int] = {}
    work = tmp_path / "work"
    for i in range(INPUTS_PER_SEED):
        kind, mutated = mutate(source, rng)
        if work.exists():
            for p in work.rglob("*"):
                if p.is_file():
                    p.chmod(0o644)
            shutil.rmtree(work)
        shutil.copytree(original_dir, work)
        (work / "wbg_demo.js").write_bytes(mutated)
        damage_outputs(work, rng)
        before = snapshot(work)
        result = runner.invoke(app, ["patch", str(work)])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"input {i} ({kind}) raised {result.exception!r}") from result.exception
        assert result.exit_code in EXIT_CODES, f"input {i} ({kind}): exit {result.exit_code}: {result.output}"
        assert "Traceback" not in result.output
        outcomes[f"{kind}:{result.exit_code}"] = outcomes.get(f"{kind}:{result.exit_code}", 0) + 1
        if result.exit_code == 0:
            patched = (work / "wbg_demo.js").read_bytes()
            assert syntax.first_error(syntax.parse(patched).root_node) is None, f"input {i} ({kind}) patched into broken JS"
        else:
            assert snapshot(work) == before, f"input {i} ({kind}) failed ({result.output.strip()}) but changed files"
    # The fuzzer must exercise both paths, or it proves little.
    assert any(k.endswith(":0") for k in outcomes), outcomes
    assert any(not k.endswith(":0") for k in outcomes), outcomes
