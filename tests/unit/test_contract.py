"""The pool contract: recognised from the glue and the module, stored, shown by
`inspect`; anything wbg-patch could not drive is refused at patch time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import run_cli, snapshot, wasm_bindgen_output
from wbg_patch import parse
from wbg_patch.errors import ContractError

KINDS = {"pkg": "wbg-pool", "pkg-wasm-bindgen-rayon": "wasm-bindgen-rayon", "pkg-poolbuilder-global": "poolbuilder-global"}


def package(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(wasm_bindgen_output(name), target)
    return target


def glue_of(directory: Path) -> Path:
    (found,) = parse.find_glue_files(directory)
    return found


@pytest.mark.parametrize("name", KINDS)
def test_each_contract_is_recognised_stored_and_shown(tmp_path: Path, name: str):
    pkg = package(tmp_path, name)
    before = run_cli("inspect", pkg)
    assert before.returncode == 0, before.stderr
    assert f"pool contract: {KINDS[name].replace('poolbuilder', 'PoolBuilder')} (" in before.stdout
    patched = run_cli("patch", pkg)
    assert patched.returncode == 0, patched.stderr
    assert f"contract {KINDS[name]})" in patched.stdout
    assert f"; contract {KINDS[name]}; panics abort */" in glue_of(pkg).read_text()
    assert f'"kind":"{KINDS[name]}"' in (pkg / "wbg-pool-manager.cjs").read_text().replace(" ", "")
    after = run_cli("inspect", pkg)
    assert after.returncode == 0 and "pool contract: " in after.stdout
    assert after.stdout.split("pool contract: ")[1].split("\n")[0] == before.stdout.split("pool contract: ")[1].split("\n")[0]


def test_wasm_bindgen_rayon_browser_snippet_is_replaced_by_the_runtime(tmp_path: Path):
    pkg = package(tmp_path, "pkg-wasm-bindgen-rayon")
    assert "require(String.raw`./snippets/wasm-bindgen-rayon-" in glue_of(pkg).read_text()
    assert run_cli("patch", pkg).returncode == 0
    patched = glue_of(pkg).read_text()
    assert "./snippets/" not in patched
    assert "const startWorkers = __wbg_pool.startWorkers;" in patched


# Each broken contract: (package, what to change in its glue, what the refusal must say).
BROKEN = {
    "poolbuilder-global, initThreadPool without workerSource": (
        "pkg-poolbuilder-global",
        ("function initThreadPool(num_threads, worker_source) {", "function initThreadPool(num_threads) {"),
        "initThreadPool takes 1 argument(s), the contract passes 2",
    ),
    "poolbuilder-global without exitThreadPool": (
        "pkg-poolbuilder-global",
        ("exports.exitThreadPool = exitThreadPool;", ""),
        "the glue does not export exitThreadPool()",
    ),
    "wasm-bindgen-rayon builder without build()": (
        "pkg-wasm-bindgen-rayon",
        ("    build() {", "    finish() {"),
        "class wbg_rayon_PoolBuilder lacks build()",
    ),
    "a mix: wasm-bindgen-rayon's builder with a global startWorkers": (
        "pkg-wasm-bindgen-rayon",
        ("const { startWorkers } = require(", "const { startWorkersElsewhere } = require("),
        "mixes the parts of two pool contracts (wasm-bindgen-rayon: class wbg_rayon_PoolBuilder; PoolBuilder-global: global startWorkers)",
    ),
    "no contract at all": (
        "pkg",
        None,  # every contract export renamed, below
        "has no thread pool contract wbg-patch knows",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_contract_wbg_patch_cannot_drive_is_refused_with_what_is_missing(tmp_path: Path, case: str):
    name, change, expected = BROKEN[case]
    pkg = package(tmp_path, name)
    glue_file = glue_of(pkg)
    text = glue_file.read_text()
    if change is None:
        for export in ("initThreadPool", "exitThreadPool", "wbg_rayon_start_worker"):
            text = text.replace(f"exports.{export} = ", f"exports.renamed_{export} = ")
    else:
        assert change[0] in text, f"the fixture no longer has {change[0]!r}"
        text = text.replace(change[0], change[1])
    glue_file.write_text(text)
    before = snapshot(pkg)
    result = run_cli("patch", pkg)
    assert result.returncode == ContractError.exit_code, result.stdout + result.stderr
    assert expected in result.stderr
    assert "error[unknown-contract]" in result.stderr
    assert snapshot(pkg) == before, "a refused patch must leave every file as it was"
    shown = run_cli("inspect", pkg)
    assert shown.returncode == ContractError.exit_code
    assert "pool contract: refused: " in shown.stdout and expected in shown.stdout


def test_glue_and_module_of_different_crates_are_refused(tmp_path: Path):
    """The glue of one contract over the module of another: the module is checked too."""
    pkg = package(tmp_path, "pkg-poolbuilder-global")
    other = wasm_bindgen_output("pkg-wasm-bindgen-rayon")
    shutil.copy(next(other.glob("*_bg.wasm")), next(pkg.glob("*_bg.wasm")))
    before = snapshot(pkg)
    result = run_cli("patch", pkg)
    assert result.returncode == ContractError.exit_code, result.stdout + result.stderr
    assert "the module does not import terminateWorkers" in result.stderr
    assert snapshot(pkg) == before


@pytest.mark.parametrize("name", KINDS)
def test_the_pool_init_and_exit_wrappers_are_guarded(tmp_path: Path, name: str):
    # The runtime owns the pool: the SDK's own JS calling these must be refused before wasm runs.
    pkg = package(tmp_path, name)
    assert run_cli("patch", pkg).returncode == 0
    patched = glue_of(pkg).read_text()
    owned = {"initThreadPool": "init"} if name == "pkg-wasm-bindgen-rayon" else {"initThreadPool": "init", "exitThreadPool": "exit"}
    for export, role in owned.items():
        wrapper = patched.split(f"function {export}(", 1)[1].split("\n}", 1)[0]
        first = wrapper.split("{", 1)[1].strip().splitlines()[0]
        assert first == f'__wbg_pool.guardPoolExport("{role}", "{export}");', wrapper
    assert patched.count("guardPoolExport") == len(owned)
