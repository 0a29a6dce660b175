"""The runtime emitted beside the glue: plain JS copied as is, plus an entry
file rendered per package."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from wbg_patch import __version__, config, emit, syntax
from wbg_patch.errors import InputError, InternalError

ROOT = Path(__file__).resolve().parents[2]
CONFIG = config.RuntimeConfig(
    init_export="init_pool",
    exit_export="exit_pool",
    start_worker_export="start_pool_worker",
    heartbeat_timeout_ms=1234,
    idle_shutdown_ms=0,
    num_threads=3,
)


@pytest.mark.parametrize("module_format", ["commonjs", "esm", "web"])
def test_every_runtime_file_is_valid_javascript_for_any_configuration(module_format: str):
    files = emit.render(Path("/pkg/o1js_bindings.cjs"), module_format, CONFIG, "poolbuilder-global")
    assert sorted(files) == sorted(emit.runtime_files(module_format))
    assert ("wbg-pool/runtime.mjs" if module_format == "web" else "wbg-pool/defaults.json") in files
    for name, content in files.items():
        if name.endswith(".json"):  # data the runtime reads
            json.loads(content)
        elif ".d." not in name:  # declarations are TypeScript
            assert syntax.first_error(syntax.parse(content).root_node) is None, name
    entry = files[emit.entry_files(module_format)[0]].decode()
    assert '"./o1js_bindings.cjs"' in entry
    assert '"kind": "poolbuilder-global"' in entry
    assert '"init": "init_pool"' in entry and '"exit": "exit_pool"' in entry and '"startWorker": "start_pool_worker"' in entry
    assert '"heartbeatTimeoutMs": 1234' in entry and '"numThreads": 3' in entry and '"idleShutdownMs": 0' in entry


def test_the_runtime_is_copied_as_is_and_the_templates_hold_no_logic():
    files = emit.render(Path("/pkg/glue.js"), "commonjs", CONFIG, "wbg-pool")
    for name, content in files.items():
        if name.startswith("wbg-pool/"):
            assert content == (config.RUNTIME_JS / name.removeprefix("wbg-pool/")).read_bytes(), name
    for template in config.TEMPLATES.iterdir():
        code = [line for line in template.read_text().splitlines() if line.strip() and not line.lstrip().startswith("//")]
        assert len(code) <= 12, f"{template.name}: {len(code)} lines of code; runtime logic belongs in runtime_js/"


def test_the_es_module_build_holds_every_runtime_file_as_it_is():
    files = emit.render(Path("/pkg/glue.js"), "web", CONFIG, "wbg-pool")
    build = files["wbg-pool/runtime.mjs"].decode()
    for source in emit.runtime_sources():
        if source.suffix == ".cjs":
            assert (config.RUNTIME_JS / source).read_text().rstrip("\n") in build, source
            assert f'  "{source.as_posix()}": function (module, exports, require, __filename, __dirname, __wbgBundle) {{' in build
    assert files["wbg-pool/load.mjs"] == (config.RUNTIME_JS / "esm/load.mjs").read_bytes()
    # The entry re-exports every name of manager.cjs's public API.
    entry = files["wbg-pool-manager.mjs"].decode()
    for name in ("ThreadPoolManager", "WasmPanicError", "StaleObjectError", "CHANNELS", "QueueFullError"):
        assert re.search(rf"export const {{[^}}]*\b{name}\b", entry), name


def test_the_runtime_version_is_the_patcher_version():
    protocol = (config.RUNTIME_JS / "protocol.cjs").read_text()
    assert f"const RUNTIME_VERSION = '{__version__}';" in protocol


def test_the_cli_bounds_and_defaults_are_those_of_defaults_json(tmp_path: Path):
    from typer.testing import CliRunner

    from wbg_patch import cli

    data = json.loads((config.RUNTIME_JS / "defaults.json").read_text())
    defaults, limits = data["defaults"], data["limits"]
    options = {  # flag -> its key in defaults.json, and its bounds
        "--heartbeat-timeout-ms": ("heartbeatTimeoutMs", limits["minHeartbeatMs"], limits["maxTimerMs"]),
        "--idle-shutdown-ms": ("idleShutdownMs", 0, limits["maxTimerMs"]),
        "--num-threads": ("numThreads", 0, limits["maxThreads"]),
    }
    runner = CliRunner()
    shown = runner.invoke(cli.app, ["patch", "--help"])
    assert shown.exit_code == 0, shown.output
    help_text = " ".join(shown.output.split())
    missing = str(tmp_path / "missing")
    for flag, (key, low, high) in options.items():
        assert f"(default: {defaults[key]})" in help_text.split(f"{flag} ", 1)[1].split(" --", 1)[0], flag
        assert getattr(config.RuntimeConfig(), flag[2:].replace("-", "_")) == defaults[key], flag
        for value, accepted in ((low - 1, False), (low, True), (high, True), (high + 1, False)):
            # Accepted: on to the path, which is missing (bad input); refused: a usage error.
            result = runner.invoke(cli.app, ["patch", flag, str(value), missing])
            assert result.exit_code == (InputError.exit_code if accepted else 2), (flag, value, result.output)


def test_a_template_variable_that_is_missing_is_an_error(tmp_path: Path, monkeypatch):
    for template in config.TEMPLATES.iterdir():
        shutil.copy(template, tmp_path)
    (tmp_path / "wbg-pool-manager.cjs.j2").write_text("const x = {{ no_such_setting }};\n")
    monkeypatch.setattr(emit, "TEMPLATES", tmp_path)
    with pytest.raises(InternalError, match="no_such_setting"):
        emit.render(Path("/pkg/glue.js"), "commonjs", config.RuntimeConfig(), "wbg-pool")


def manifest_after(tmp_path: Path, data: object, module_format: str = "commonjs") -> dict:
    (tmp_path / "package.json").write_text(json.dumps(data))
    planned = emit.plan(tmp_path / "glue.js", module_format, config.RuntimeConfig(), "wbg-pool")
    return json.loads(planned[tmp_path / "package.json"])


def test_an_exports_map_gets_the_entry_under_its_file_name(tmp_path: Path):
    entry = {"types": "./wbg-pool-manager.d.cts", "default": "./wbg-pool-manager.cjs"}
    after = manifest_after(tmp_path, {"name": "sdk", "exports": {".": "./sdk.js", "./extra": "./extra.js"}})
    assert after["exports"] == {".": "./sdk.js", "./extra": "./extra.js", "./wbg-pool-manager.cjs": entry}
    # The shorthands for the main entry alone keep meaning the main entry.
    assert manifest_after(tmp_path, {"exports": "./sdk.js"})["exports"] == {".": "./sdk.js", "./wbg-pool-manager.cjs": entry}
    conditions = {"import": "./sdk.mjs", "require": "./sdk.cjs"}
    assert manifest_after(tmp_path, {"exports": conditions})["exports"] == {".": conditions, "./wbg-pool-manager.cjs": entry}
    esm = manifest_after(tmp_path, {"exports": {".": "./sdk.js"}, "files": ["sdk.js"]}, "esm")
    assert esm["exports"]["./wbg-pool-manager.mjs"] == {"types": "./wbg-pool-manager.d.mts", "default": "./wbg-pool-manager.mjs"}
    assert esm["files"] == ["sdk.js", "wbg-pool-manager.mjs", "wbg-pool-manager.d.mts", "wbg-pool"]


def test_a_package_without_files_or_exports_is_left_as_it_is(tmp_path: Path):
    (tmp_path / "package.json").write_text('{ "name": "sdk",   "main": "sdk.js" }')
    planned = emit.plan(tmp_path / "glue.js", "commonjs", config.RuntimeConfig(), "wbg-pool")
    assert planned[tmp_path / "package.json"] == b'{ "name": "sdk",   "main": "sdk.js" }'


@pytest.mark.parametrize("exports", [3, {".": "./a.js", "import": "./b.mjs"}])
def test_an_exports_field_node_would_refuse_is_refused(tmp_path: Path, exports: object):
    with pytest.raises(InputError, match="exports"):
        manifest_after(tmp_path, {"exports": exports})


def declarations_after(tmp_path: Path, text: str) -> str:
    glue = tmp_path / "x.js"
    glue.write_text("")
    (tmp_path / "x.d.ts").write_text(text)
    planned = emit.plan(glue, "commonjs", config.RuntimeConfig(), "wbg-pool")
    return planned[tmp_path / "x.d.ts"].decode()


def test_the_pools_init_and_exit_exports_are_marked_in_the_declarations_once(tmp_path: Path):
    text = (
        "/**\n * Builds the pool.\n */\nexport function initThreadPool(num_threads: number): void;\n"
        "export function exitThreadPool(): boolean;\nexport function initThreadPoolLater(): void;\n"
    )
    marked = declarations_after(tmp_path, text)
    assert marked == (
        f"/**\n * Builds the pool.\n{emit.OWNED_EXPORT_DOC} */\nexport function initThreadPool(num_threads: number): void;\n"
        f"/**\n{emit.OWNED_EXPORT_DOC} */\nexport function exitThreadPool(): boolean;\nexport function initThreadPoolLater(): void;\n"
    )
    assert "ERR_POOL_OWNED_BY_RUNTIME" in emit.OWNED_EXPORT_DOC
    # Patching again leaves them as they are.
    assert declarations_after(tmp_path, marked) == marked


def test_declarations_that_cannot_be_read_are_bad_input_and_nothing_is_planned(tmp_path: Path):
    glue = tmp_path / "x.js"
    glue.write_text("")
    (tmp_path / "x.d.ts").write_bytes(b"export function initThreadPool(\xff\xfe): void;\n")
    with pytest.raises(InputError, match="cannot read the glue's declarations"):
        emit.plan(glue, "commonjs", config.RuntimeConfig(), "wbg-pool")
    assert (tmp_path / "x.d.ts").read_bytes() == b"export function initThreadPool(\xff\xfe): void;\n"
