"""The CLI on good and bad input: clear errors, documented exit codes, nothing damaged."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, WBG_PATCH, run_cli, snapshot
from wbg_patch import __version__, prelude
from wbg_patch.emit import runtime_files
from wbg_patch.errors import AlreadyPatchedError, ContractError, InputError, NotGlueError, RefusedByV8Error, UnsupportedGlueError


def test_patch_writes_glue_and_runtime_then_is_a_no_op(unpatched: Path):
    first = run_cli("patch", unpatched)
    assert first.returncode == 0, first.stderr
    assert "patched" in first.stdout
    for name in runtime_files("commonjs"):
        assert (unpatched / name).is_file(), name
    after_first = snapshot(unpatched)
    second = run_cli("patch", unpatched)
    assert second.returncode == 0
    assert "already patched" in second.stdout
    assert snapshot(unpatched) == after_first


def test_check_fails_until_patched_and_when_the_runtime_is_stale(unpatched: Path):
    assert run_cli("patch", "--check", unpatched).returncode == 1
    assert run_cli("patch", unpatched).returncode == 0
    assert run_cli("patch", "--check", unpatched).returncode == 0
    (unpatched / "wbg-pool" / "host.cjs").write_text("// edited by hand\n")
    result = run_cli("patch", "--check", unpatched)
    assert result.returncode == 1
    assert "runtime missing or stale: wbg-pool/host.cjs" in result.stderr


def test_dry_run_with_diff_changes_nothing(unpatched: Path):
    before = snapshot(unpatched)
    result = run_cli("patch", "--dry-run", "--diff", unpatched / "wbg_demo.js")
    assert result.returncode == 0, result.stderr
    assert "+const __wbg_pool = require(\"./wbg-pool/prelude.cjs\").attach(" in result.stdout
    assert "-        wasm.__wbg_histogram_free(ptr, 0);" in result.stdout
    assert snapshot(unpatched) == before


def test_diff_without_dry_run_is_refused(unpatched: Path):
    before = snapshot(unpatched)
    result = run_cli("patch", "--diff", unpatched)
    assert result.returncode == InputError.exit_code
    assert "--diff goes with --dry-run" in result.stderr
    assert snapshot(unpatched) == before


def test_version_and_help_document_exit_codes():
    assert run_cli("--version").stdout.strip() == f"wbg-patch {__version__}"
    help_text = run_cli("--help").stdout
    assert "Exit codes" in help_text and "70" in help_text
    assert "--version  Print the version" in help_text and "<bool>" not in help_text


def test_patch_help_shows_the_default_export_names():
    help_text = " ".join(run_cli("patch", "--help").stdout.split())
    for default in ["(default: initThreadPool)", "(default: exitThreadPool)", "(default: wbg_rayon_start_worker)", "(default: 5000)"]:
        assert default in help_text
    assert "<bool>" not in help_text


def test_a_reader_that_stops_early_ends_the_diff_quietly(unpatched: Path):
    # `wbg-patch patch --dry-run --diff | head -1`, with the pipe closed before the diff ends.
    run = subprocess.Popen([str(WBG_PATCH), "patch", "--dry-run", "--diff", str(unpatched)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # A pipe of one page: the diff cannot all fit in before the reader goes.
    fcntl.fcntl(run.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    assert run.stdout.readline()
    run.stdout.close()
    stderr = run.stderr.read().decode()
    assert run.wait(timeout=60) == 141
    assert "error" not in stderr and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_check_notices_a_read_edited_back_to_bypass_the_pool(unpatched: Path):
    assert run_cli("patch", unpatched).returncode == 0
    glue_file = unpatched / "wbg_demo.js"
    text = glue_file.read_text()
    glue_file.write_text(text.replace("__wbg_pool.wasm().noop()", "wasm.noop()", 1))
    result = run_cli("patch", "--check", unpatched)
    assert result.returncode == 1
    assert "reads `wasm` directly, bypassing the pool" in result.stderr and "`wasm.noop`" in result.stderr
    # Patching over it is refused too: the file is no longer what the patch wrote.
    refused = run_cli("patch", unpatched)
    assert refused.returncode == AlreadyPatchedError.exit_code
    assert "edited after patching" in refused.stderr


def test_check_notices_any_other_edit_after_patching(unpatched: Path):
    assert run_cli("patch", unpatched).returncode == 0
    glue_file = unpatched / "wbg_demo.js"
    glue_file.write_text(glue_file.read_text().replace("const ret = wasm", "const  ret = wasm", 1) + "\n// a harmless-looking edit\n")
    result = run_cli("patch", "--check", unpatched)
    assert result.returncode == 1
    assert "edited after patching (its content no longer matches the digest" in result.stderr
    inspect = run_cli("inspect", unpatched)
    assert "edited since: was edited after patching" in inspect.stdout


def test_the_readme_names_every_file_the_patch_writes():
    readme = (ROOT / "README.md").read_text()
    for module_format in ("commonjs", "esm"):
        for name in runtime_files(module_format):
            top, _, below = name.partition("/")
            # Whole names, a directory with its slash: "`wbg-pool" alone is also
            # in "`wbg-pool-manager.cjs`" and in the crate's "`wbg-pool`".
            named = f"`{top}/`" if below else f"`{top}`"
            assert named in readme, f"README does not mention {named}"


def test_inspect_reports_what_it_found(unpatched: Path):
    result = run_cli("inspect", unpatched)
    assert result.returncode == 0, result.stderr
    for expected in ["generation: initSync", "memory import:", "initial 18 maximum 16384", "pool contract: wbg-pool (initThreadPool(n), exitThreadPool()", "patched: no"]:
        assert expected in result.stdout


def test_package_json_lists_the_runtime(unpatched: Path):
    (unpatched / "package.json").write_text('{\n  "name": "demo",\n  "files": ["wbg_demo.js", "wbg_demo_bg.wasm"]\n}\n')
    assert run_cli("patch", unpatched).returncode == 0
    files = json.loads((unpatched / "package.json").read_text())["files"]
    assert files == ["wbg_demo.js", "wbg_demo_bg.wasm", "wbg-pool-manager.cjs", "wbg-pool-manager.d.cts", "wbg-pool"]


def test_other_export_names_must_exist(unpatched: Path):
    before = snapshot(unpatched)
    result = run_cli("patch", "--init-export", "init_pool", unpatched)
    assert result.returncode == ContractError.exit_code
    assert "the glue does not export init_pool()" in result.stderr
    assert snapshot(unpatched) == before


BAD_GLUE = {
    "empty": (b"", InputError, "is empty"),
    "binary": (b"\0asm\x01\0\0\0garbage", InputError, "binary file"),
    "not-glue": (b"const x = require('fs');\nmodule.exports = { x };\n", NotGlueError, "not JS glue generated by wasm-bindgen"),
    "not-utf8": (b"let wasm = '\xff\xfe';\n", InputError, "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_GLUE))
def test_bad_input_is_refused_and_left_untouched(case: str, tmp_path: Path):
    content, error, message = BAD_GLUE[case]
    path = tmp_path / "glue.js"
    path.write_bytes(content)
    result = run_cli("patch", path)
    assert result.returncode == error.exit_code, result.stderr
    assert str(path) in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["glue.js"]


def test_truncated_glue_is_refused(unpatched: Path):
    glue_file = unpatched / "wbg_demo.js"
    source = glue_file.read_bytes()
    # Cut inside the closing auto-init block, as an interrupted copy would.
    truncated = source[: source.rindex(b"}") - 1]
    glue_file.write_bytes(truncated)
    result = run_cli("patch", unpatched)
    assert result.returncode == InputError.exit_code
    assert "truncated or corrupted" in result.stderr
    assert glue_file.read_bytes() == truncated


def test_hand_rewritten_glue_is_refused_with_its_location(unpatched: Path):
    glue_file = unpatched / "wbg_demo.js"
    source = glue_file.read_text()
    # What o1js-style hand patches do: pick the memory with an isMainThread block.
    hand = source.replace(
        "let wasm, wasmInstance, wasmModule, memory;",
        "let wasm, wasmInstance, wasmModule, memory;\nconst { isMainThread, workerData } = require('worker_threads');\n"
        "const sharedMemory = isMainThread ? new WebAssembly.Memory({initial: 18, maximum: 16384, shared: true}) : workerData.memory;",
    )
    glue_file.write_text(hand)
    result = run_cli("patch", unpatched)
    assert result.returncode == AlreadyPatchedError.exit_code
    line = hand[: hand.index("isMainThread")].count("\n") + 1
    assert "rewritten by hand" in result.stderr and f"line {line}" in result.stderr
    assert glue_file.read_text() == hand


def test_glue_patched_by_another_version_is_refused(unpatched: Path):
    assert run_cli("patch", unpatched).returncode == 0
    glue_file = unpatched / "wbg_demo.js"
    text = glue_file.read_text().replace(f"/* wbg-patch {__version__}:", "/* wbg-patch 0.0.9:")
    glue_file.write_text(text)
    result = run_cli("patch", unpatched)
    assert result.returncode == AlreadyPatchedError.exit_code
    assert "patched by wbg-patch 0.0.9" in result.stderr
    assert glue_file.read_text() == text


def test_missing_path_and_directory_without_glue(tmp_path: Path):
    missing = run_cli("patch", tmp_path / "nope")
    assert missing.returncode == InputError.exit_code and "no such file" in missing.stderr
    (tmp_path / "readme.txt").write_text("hi")
    empty = run_cli("patch", tmp_path)
    assert empty.returncode == InputError.exit_code and "has no wasm-bindgen glue" in empty.stderr
    other = run_cli("patch", tmp_path / "readme.txt")
    assert other.returncode == InputError.exit_code and "not a .js" in other.stderr


def test_read_only_glue_is_refused_and_untouched(unpatched: Path):
    glue_file = unpatched / "wbg_demo.js"
    before = glue_file.read_bytes()
    glue_file.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        result = run_cli("patch", unpatched)
    finally:
        glue_file.chmod(0o644)
    assert result.returncode == InputError.exit_code, result.stderr
    assert "read-only" in result.stderr
    assert glue_file.read_bytes() == before
    assert not any(p.name.startswith("wbg-pool") for p in unpatched.iterdir())


@pytest.mark.parametrize("target", ["bundler", "deno", "no-modules"])
def test_glue_not_for_node_is_refused_naming_what_to_build(target: str, tmp_path: Path):
    shutil.copytree(FIXTURES / "0.2.129" / target, tmp_path / target)
    before = snapshot(tmp_path)
    result = run_cli("patch", tmp_path / target / "wbg_demo.js")
    assert result.returncode == UnsupportedGlueError.exit_code, result.stderr
    assert f"is `--target {target}` glue" in result.stderr
    assert "`wasm-pack build --target nodejs`" in result.stderr and "experimental-nodejs-module" in result.stderr
    # Each route with a tool that can take it: wasm-pack builds only nodejs, web, bundler, deno, no-modules.
    assert "`wasm-pack build --target web`" in result.stderr and "`wasm-bindgen --target experimental-nodejs-module`" in result.stderr
    assert set(re.findall(r"wasm-pack build --target ([\w-]+)", result.stderr)) <= {"nodejs", "web"}
    assert snapshot(tmp_path) == before


def test_glue_of_a_module_without_threads_is_told_to_build_with_atomics(tmp_path: Path):
    shutil.copytree(FIXTURES / "no-threads", tmp_path / "pkg")
    before = snapshot(tmp_path)
    result = run_cli("patch", tmp_path / "pkg")
    assert result.returncode == UnsupportedGlueError.exit_code, result.stderr
    assert "built without threads (no shared memory)" in result.stderr
    assert "+atomics" in result.stderr and "--shared-memory" in result.stderr
    assert snapshot(tmp_path) == before


def test_two_concurrent_runs_end_with_one_correct_patch(unpatched: Path, tmp_path: Path):
    reference = tmp_path / "reference"
    shutil.copytree(unpatched, reference)
    assert run_cli("patch", reference).returncode == 0
    for _ in range(5):
        target = tmp_path / "race"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(unpatched, target)
        runs = [subprocess.Popen([str(WBG_PATCH), "patch", str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [r.communicate(timeout=60) for r in runs]
        assert [r.returncode for r in runs] == [0, 0], outputs
        assert sorted("already patched" in out for out, _ in outputs) == [False, True], outputs
        assert snapshot(target) == snapshot(reference)
        assert not [p for p in target.iterdir() if p.name.endswith(".wbg-patch.tmp")]


def test_an_unwritable_runtime_target_refuses_before_touching_the_glue(unpatched: Path):
    (unpatched / "wbg-pool-manager.d.cts").mkdir()
    before = snapshot(unpatched)
    result = run_cli("patch", unpatched)
    assert result.returncode == InputError.exit_code, result.stderr
    assert "wbg-pool-manager.d.cts: exists and is not a regular file" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(unpatched) == before


def test_a_package_json_that_is_not_an_object_is_refused(unpatched: Path):
    (unpatched / "package.json").write_text("[]\n")
    before = snapshot(unpatched)
    result = run_cli("patch", unpatched)
    assert result.returncode == InputError.exit_code, result.stderr
    assert "package.json: is not a JSON object" in result.stderr
    assert snapshot(unpatched) == before


@pytest.mark.parametrize(
    "exports,says",
    [("3", 'has an "exports" field wbg-patch cannot extend (int)'), ('{".": "./a.js", "import": "./b.mjs"}', "mixes subpaths and conditions")],
)
def test_an_exports_map_node_would_refuse_is_refused_and_nothing_changes(exports: str, says: str, unpatched: Path):
    (unpatched / "package.json").write_text(f'{{"name": "sdk", "exports": {exports}}}\n')
    before = snapshot(unpatched)
    result = run_cli("patch", unpatched)
    assert result.returncode == InputError.exit_code, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert snapshot(unpatched) == before


def test_a_file_where_the_runtime_directory_goes_is_refused_and_nothing_changes(unpatched: Path):
    (unpatched / "wbg-pool").write_text("not a directory\n")
    before = snapshot(unpatched)
    result = run_cli("patch", unpatched)
    assert result.returncode == InputError.exit_code, result.stderr
    assert "wbg-pool exists and is not a directory; nothing was changed" in result.stderr
    assert snapshot(unpatched) == before


def test_two_packages_in_one_directory_are_refused(unpatched: Path):
    shutil.copy(unpatched / "wbg_demo.js", unpatched / "other.js")
    shutil.copy(unpatched / "wbg_demo_bg.wasm", unpatched / "other_bg.wasm")
    before = snapshot(unpatched)
    for target in (unpatched, unpatched / "wbg_demo.js"):
        result = run_cli("patch", target)
        assert result.returncode == InputError.exit_code, result.stderr
        assert "holds 2 wasm-bindgen packages (other.js, wbg_demo.js)" in result.stderr
    assert snapshot(unpatched) == before


def test_options_are_kept_until_changed_and_checked(unpatched: Path):
    manager = unpatched / "wbg-pool-manager.cjs"
    assert run_cli("patch", "--heartbeat-timeout-ms", "10000", "--num-threads", "3", unpatched).returncode == 0
    assert '"heartbeatTimeoutMs": 10000' in manager.read_text()
    assert run_cli("patch", "--check", unpatched).returncode == 0
    again = run_cli("patch", unpatched)
    assert "already patched" in again.stdout
    assert '"heartbeatTimeoutMs": 10000' in manager.read_text() and '"numThreads": 3' in manager.read_text()
    other = run_cli("patch", "--check", "--heartbeat-timeout-ms", "3000", unpatched)
    assert other.returncode == 1
    assert "patched with other options: --init-export initThreadPool --exit-export exitThreadPool " in other.stderr
    assert "--heartbeat-timeout-ms 10000 --idle-shutdown-ms 1000 --num-threads 3; asked for: " in other.stderr
    assert "--heartbeat-timeout-ms 3000" in other.stderr and "heartbeat_timeout_ms" not in other.stderr
    changed = run_cli("patch", "--heartbeat-timeout-ms", "2000", unpatched)
    assert changed.returncode == 0 and "options changed" in changed.stdout
    assert '"heartbeatTimeoutMs": 2000' in manager.read_text() and '"numThreads": 3' in manager.read_text()
    assert '"heartbeat_timeout_ms": 2000' in (unpatched / "wbg_demo.js").read_text()


def test_a_truncated_wasm_module_is_named_as_such(unpatched: Path):
    wasm = unpatched / "wbg_demo_bg.wasm"
    wasm.write_bytes(wasm.read_bytes()[:5000])
    result = run_cli("patch", unpatched)
    assert result.returncode == InputError.exit_code, result.stderr
    assert "truncated" in result.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["--heartbeat-timeout-ms", "0"], "--heartbeat-timeout-ms"),
        # Below the runtime's measurable minimum, and past what a Node timer can wait.
        (["--heartbeat-timeout-ms", "99"], "--heartbeat-timeout-ms"),
        (["--heartbeat-timeout-ms", str(2**31)], "--heartbeat-timeout-ms"),
        (["--idle-shutdown-ms", str(2**31)], "--idle-shutdown-ms"),
        (["--idle-shutdown-ms", "-1"], "--idle-shutdown-ms"),
        (["--num-threads", "257"], "--num-threads"),
        (["--num-threads", "two"], "--num-threads"),
    ],
)
def test_bad_option_values_are_usage_errors_that_change_nothing(args: list[str], says: str, unpatched: Path):
    before = snapshot(unpatched)
    result = run_cli("patch", *args, unpatched)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert snapshot(unpatched) == before


def test_check_and_dry_run_together_are_refused(unpatched: Path):
    before = snapshot(unpatched)
    result = run_cli("patch", "--check", "--dry-run", unpatched)
    assert result.returncode == InputError.exit_code
    assert "--check and --dry-run: pick one" in result.stderr
    assert snapshot(unpatched) == before


def test_inspect_refuses_what_patch_refuses_and_says_why(tmp_path: Path):
    missing = run_cli("inspect", tmp_path / "nope")
    assert missing.returncode == InputError.exit_code and "no such file" in missing.stderr
    path = tmp_path / "glue.js"
    path.write_text("module.exports = 1;\n")
    result = run_cli("inspect", path)
    assert result.returncode == NotGlueError.exit_code
    assert "patchable: no" in result.stdout and "not JS glue generated by wasm-bindgen" in result.stdout
    assert path.read_text() == "module.exports = 1;\n"


def test_glue_the_patch_would_make_invalid_for_v8_is_refused_with_exit_70(unpatched: Path):
    # Glue that declares the prelude's own name: tree-sitter reads the patched glue well,
    # V8 refuses it (a `let` declared twice), so Node could not load what would be written.
    glue = unpatched / "wbg_demo.js"
    glue.write_bytes(glue.read_bytes() + f"\nlet {prelude.HANDLE} = 1;\n".encode())
    before = snapshot(unpatched)
    for mode in (["--dry-run"], []):
        result = run_cli("patch", *mode, unpatched)
        assert result.returncode == RefusedByV8Error.exit_code == 70, result.stderr
        message = " ".join(result.stderr.split())
        assert f"error[refused-by-v8]: {glue}: V8 refuses it as patched at " in message, message
        assert f"SyntaxError: Identifier '{prelude.HANDLE}' has already been declared, in `let {prelude.HANDLE} = 1;`" in message
        assert "The patch made JS that Node cannot load: please report this. Nothing was written." in message
        assert snapshot(unpatched) == before


def test_without_node_the_v8_check_is_skipped_and_the_report_says_so(unpatched: Path):
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "node").exists())
    result = subprocess.run([str(WBG_PATCH), "patch", str(unpatched)], capture_output=True, text=True, env={**os.environ, "PATH": path})
    assert result.returncode == 0, result.stderr
    assert "; not checked by V8: node is not on PATH; wrote " in result.stdout
    with_node = run_cli("patch", "--idle-shutdown-ms", "5", unpatched)
    assert with_node.returncode == 0 and "options changed; wrote " in with_node.stdout, with_node.stdout


def test_wasm_packs_gitignore_gets_an_npmignore_and_the_patch_says_why(unpatched: Path):
    # wasm-pack's pkg/.gitignore: npm reads it when there is no .npmignore, and a package
    # that ships the directory (an SDK's `"files": ["pkg"]`) would pack none of its files.
    (unpatched / ".gitignore").write_text("*")
    dry = run_cli("patch", "--dry-run", unpatched)
    assert "adds .npmignore: without it npm reads wasm-pack's .gitignore" in dry.stdout
    assert not (unpatched / ".npmignore").exists()
    first = run_cli("patch", unpatched)
    assert first.returncode == 0, first.stderr
    assert "adds .npmignore" in first.stdout and "leaves every file of this directory out" in first.stdout
    assert (unpatched / ".npmignore").read_text().startswith("# Written by wbg-patch")
    assert (unpatched / ".gitignore").read_text() == "*"  # git still ignores the build output
    assert run_cli("patch", "--check", unpatched).returncode == 0
    assert ".npmignore" not in run_cli("patch", unpatched).stdout
    (unpatched / ".npmignore").unlink()
    check = run_cli("patch", "--check", unpatched)
    assert check.returncode == 1 and "runtime missing or stale: .npmignore" in check.stderr


@pytest.mark.parametrize("ignore", [".gitignore", ".npmignore"])
def test_an_npmignore_of_the_users_or_another_gitignore_is_left_alone(unpatched: Path, ignore: str):
    (unpatched / ignore).write_text("*.log\n" if ignore == ".gitignore" else "# mine\n")
    if ignore == ".npmignore":
        (unpatched / ".gitignore").write_text("*")
    result = run_cli("patch", unpatched)
    assert result.returncode == 0, result.stderr
    assert ".npmignore" not in result.stdout
    assert (unpatched / ".npmignore").exists() == (ignore == ".npmignore")
    if ignore == ".npmignore":
        assert (unpatched / ".npmignore").read_text() == "# mine\n"


def test_help_lists_exit_code_2_and_usage_names_the_argument_plainly():
    help_text = " ".join(run_cli("--help").stdout.split())
    assert "; 2 usage: an unknown command or option" in help_text
    for command in ("patch", "inspect"):
        usage = run_cli(command, "--help").stdout.splitlines()[0]
        assert usage == f"Usage: wbg-patch {command} [OPTIONS] PATH", usage
    missing = run_cli("patch")
    assert missing.returncode == 2 and "{" not in missing.stderr, missing.stderr


def test_inspect_on_js_that_is_not_glue_names_no_target(tmp_path: Path):
    for name, source in (("plain.js", "const fs = require('fs');\nmodule.exports = { fs };\n"), ("plain.mjs", "export const a = 1;\n")):
        (tmp_path / name).write_text(source)
        result = run_cli("inspect", tmp_path / name)
        assert result.returncode == NotGlueError.exit_code
        assert "target: none: not wasm-bindgen glue" in result.stdout, result.stdout
        assert "nodejs" not in result.stdout and "experimental-nodejs-module" not in result.stdout
