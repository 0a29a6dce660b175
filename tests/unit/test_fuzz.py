"""Fuzzing the patcher with inputs mutated from the fixtures: never a
traceback; a clean patch or a clear error; on error the directory is exactly
as it was; a patched output never has tree-sitter error nodes, and glue with an
error that only V8 sees is refused by V8's check, with nothing written."""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import snapshot
from test_patch_fixtures import VERSIONS, nodejs_fixture, target_fixture
from wbg_patch import syntax
from wbg_patch.cli import app
from wbg_patch.emit import runtime_files
from wbg_patch.errors import EXIT_CODES, RefusedByV8Error

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
def test_mutated_glue_never_crashes_or_damages_files(seed: str, tmp_path: Path, unpatched: Path, monkeypatch: pytest.MonkeyPatch):
    # Without node: V8's check, which has its own fuzz test below, would add a node start
    # to each of these inputs.
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "node").exists()))
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


# Early errors: JS that tree-sitter parses and V8 refuses at load. By name: the glue's module
# format it applies to, the statement put between two of the glue's, the part of it V8 points
# at, and V8's words for it.
V8_REFUSES = {
    "let-twice": (None, b"let wbgFuzzTwice = 1; let wbgFuzzTwice = 2;", b"wbgFuzzTwice = 2", "Identifier 'wbgFuzzTwice' has already been declared"),
    "bad-regex": (None, b"const wbgFuzzPattern = /(/;", b"/(/", "Invalid regular expression: /(/: Unterminated group"),
    "await-in-commonjs": ("commonjs", b"await wbgFuzzPromise;", b"await", "await is only valid in async functions"),
    # In a .cjs file (a .js one would be read as a module, as Node does when package.json says nothing)
    "import-in-cjs": ("commonjs", b'import wbgFuzzImport from "wbg-fuzz";', b"import", "Cannot use import statement outside a module"),
    "export-twice": ("esm", b"export { wbgFuzzOne as wbgFuzzA, wbgFuzzOne as wbgFuzzA }; let wbgFuzzOne;", b"wbgFuzzOne as wbgFuzzA }", "Duplicate export of 'wbgFuzzA'"),
    "octal-in-module": ("esm", b"const wbgFuzzOctal = 010;", b"010", "Octal literals are not allowed in strict mode"),
}
V8_FIXTURES = [*((v, "nodejs") for v in VERSIONS), ("0.2.129", "module"), ("0.2.129", "web"), ("0.2.129", "experimental-nodejs-module")]


def inject(source: bytes, statement: bytes, rng: random.Random) -> tuple[bytes, int, int]:
    """`statement` put before a random top-level statement, where tree-sitter parses the
    result as well as the glue (`--target module` glue has one error node: its source-phase
    import); with the line and column it starts at."""
    errors = len(list(syntax.errors(syntax.parse(source).root_node)))
    for start, _ in rng.sample(top_statements(source), len(top_statements(source))):
        mutated = source[:start] + statement + b"\n" + source[start:]
        if len(list(syntax.errors(syntax.parse(mutated).root_node))) == errors:
            line_start = source.rfind(b"\n", 0, start) + 1
            return mutated, source.count(b"\n", 0, start) + 1, len(source[line_start:start].decode()) + 1
    raise AssertionError(f"no place where {statement!r} parses")


@pytest.mark.skipif(shutil.which("node") is None, reason="V8's check needs node on PATH")
@pytest.mark.parametrize("version, target", V8_FIXTURES, ids=[f"{v}-{t}" for v, t in V8_FIXTURES])
def test_glue_v8_refuses_is_refused_and_left_untouched(version: str, target: str, tmp_path: Path):
    glue = target_fixture(version, target, tmp_path / "fixture")
    module_format = "commonjs" if target == "nodejs" else "esm"
    rng = random.Random(f"wbg-patch-v8-fuzz-{version}-{target}")
    runner = CliRunner()
    for name, (applies_to, statement, points_at, words) in V8_REFUSES.items():
        if applies_to not in (None, module_format):
            continue
        work = tmp_path / name
        shutil.copytree(glue.parent, work)
        mutated, line, column = inject(glue.read_bytes(), statement, rng)
        (work / glue.name).unlink()
        written = work / (glue.stem + (".cjs" if name == "import-in-cjs" else glue.suffix))
        written.write_bytes(mutated)
        before = snapshot(work)
        result = runner.invoke(app, ["patch", str(work)])
        assert result.exit_code == RefusedByV8Error.exit_code == 70, f"{name}: exit {result.exit_code}: {result.output}"
        message = " ".join(result.output.split())
        at = f"{line}:{column + statement.index(points_at)}"
        assert f"error[{RefusedByV8Error.code}]: {written}: V8 refuses it at {at}: SyntaxError: {words}" in message, f"{name}: {message}"
        assert f"in `{statement.decode()}`" in message and "Nothing was written." in message, message
        assert snapshot(work) == before, f"{name}: refused but changed files"
        assert not re.search(r"\.wbg-patch\.tmp", " ".join(before)), before
