"""The README's support matrix, cell by cell: each row is patched (or refused)
here, and each package it says runs is built from that version, target and
contract and is one `make test-js` runs tests against."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, locked_wasm_bindgen, run_cli, wasm_bindgen_output
from test_patch_fixtures import ALL_FIXTURES, target_fixture

MARK = "<!-- support-matrix -->"
CELL_REFUSED = re.compile(r'^refused \(exit (\d+)\): "(.+)"$')


def matrix_rows() -> list[dict[str, str]]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split(MARK)[1].strip().splitlines()
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == ["wasm-bindgen", "`--target`", "contract", "patch", "runs"], header
    return [dict(zip(["versions", "target", "contract", "patch", "runs"], (c.strip() for c in line.strip("|").split("|")))) for line in table[2:]]


ROWS = matrix_rows()
CELLS = [(row, v) for row in ROWS for v in row["versions"].split(", ")]


def built_from(package: str) -> tuple[str, str, str]:
    """(wasm-bindgen version, target, contract) of a built package."""
    name = Path(package).name
    pinned = re.fullmatch(r"pkg-wasm-bindgen-(\d+\.\d+\.\d+)", name)
    if pinned:
        lock = BUILD / "pinned" / f"wasm-bindgen-{pinned.group(1)}" / "Cargo.lock"
    elif (ROOT / "rust_example" / "contracts" / name.removeprefix("pkg-")).is_dir():
        lock = ROOT / "rust_example" / "contracts" / name.removeprefix("pkg-") / "Cargo.lock"
    else:
        lock = ROOT / "rust_example" / "Cargo.lock"
    shown = run_cli("inspect", ROOT / package)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    target = re.search(r"^  target: (\S+)$", shown.stdout, re.M).group(1)
    contract = re.search(r"^  pool contract: (\S+) ", shown.stdout, re.M).group(1).lower()
    return locked_wasm_bindgen(lock), target, contract


def packages_under_test() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    listed = set()
    for variable in ("PACKAGES", "VERSION_PACKAGES"):
        listed |= set(re.search(rf"^{variable} = (.+)$", makefile, re.M).group(1).split())
    contracts = (ROOT / "runtime_js" / "test" / "contracts" / "contracts.test.mjs").read_text()
    kinds = re.search(r"for \(const kind of \[([^\]]+)\]\)", contracts).group(1)
    listed |= {f"build/pkg-{k.strip().strip(chr(39))}" for k in kinds.split(",")}
    return listed


def test_every_committed_fixture_has_its_row():
    covered = {(v, row["target"].strip("`")) for row, v in CELLS if row["contract"] == "wbg-pool"}
    assert set(ALL_FIXTURES) <= covered, sorted(set(ALL_FIXTURES) - covered)


@pytest.mark.parametrize("row,version", CELLS, ids=[f"{v}-{r['target'].strip('`')}-{r['contract']}" for r, v in CELLS])
def test_the_patch_cell(row: dict[str, str], version: str, tmp_path: Path):
    target = row["target"].strip("`")
    if row["contract"] == "wbg-pool":
        directory = target_fixture(version, target, tmp_path).parent
    else:
        package = f"pkg-{row['contract']}"
        assert locked_wasm_bindgen(ROOT / "rust_example" / "contracts" / row["contract"] / "Cargo.lock") == version
        directory = tmp_path / package
        shutil.copytree(wasm_bindgen_output(package), directory)
    result = run_cli("patch", directory)
    refused = CELL_REFUSED.match(row["patch"])
    if row["patch"] == "patched":
        assert result.returncode == 0, result.stderr
        assert f"{target}, contract {row['contract']})" in result.stdout
    else:
        assert refused, f"unreadable patch cell: {row['patch']}"
        assert result.returncode == int(refused.group(1)), result.stdout + result.stderr
        assert refused.group(2).replace("`", "") in result.stderr.replace("`", "")


@pytest.mark.parametrize("row", [r for r in ROWS if r["runs"] != "—"], ids=lambda r: r["runs"])
def test_the_runs_cell(row: dict[str, str]):
    package = row["runs"].strip("`")
    assert package in packages_under_test(), f"{package} is not one the runtime tests run against"
    assert built_from(package) == (row["versions"], row["target"].strip("`"), row["contract"])
