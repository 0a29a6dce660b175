"""`wbg-patch doctor` on small broken crates (tests/fixtures/doctor/, never built),
one per check, with the tools on PATH under the test's control: a fake
`wasm-bindgen` (or `node`, `rustup`) that prints a version."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, FIXTURES, ROOT, WBG_PATCH
from wbg_patch.errors import SetupError

BROKEN = FIXTURES / "doctor"
QUICKSTART = ROOT / "rust_example/quickstart"
REAL_WASM_BINDGEN = ROOT / ".tools/wasm-bindgen-0.2.129/bin"
SYSTEM_PATH = [os.path.dirname(shutil.which(tool)) for tool in ("node", "rustup")]


def fake_tool(bin_dir: Path, name: str, prints: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\necho '{prints}'\n")
    script.chmod(0o755)


def doctor(path: Path, tmp_path: Path, wasm_bindgen: str | None = "0.2.129", options: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    """`wbg-patch doctor [options] path` with a fake wasm-bindgen of that version (None:
    none on PATH), node and rustup as installed, and no cargo config of the user's."""
    bin_dir = tmp_path / "bin"
    if wasm_bindgen is not None:
        fake_tool(bin_dir, "wasm-bindgen", f"wasm-bindgen {wasm_bindgen}")
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "cargo-home").mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if "RUSTFLAGS" not in k and not k.startswith("CARGO_") and k != "PATH"}
    full = {**clean, "CARGO_HOME": str(tmp_path / "cargo-home"), "PATH": os.pathsep.join([str(bin_dir), *SYSTEM_PATH]), **env}
    return subprocess.run([str(WBG_PATCH), "doctor", *options, str(path)], capture_output=True, text=True, env=full, timeout=60)


THREAD_FLAGS = ('"-C", "target-feature=+atomics,+bulk-memory,+mutable-globals", "-C", "link-args=--shared-memory", '
                '"-C", "link-args=--import-memory", "-C", "link-args=--max-memory=1073741824", "-C", "link-args=--export=__wasm_init_tls", '
                '"-C", "link-args=--export=__tls_size", "-C", "link-args=--export=__tls_align", "-C", "link-args=--export=__tls_base"')


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def small_crate(directory: Path, config: str | None = None, manifest: str = "[workspace]\n") -> Path:
    """A crate of its own (a [workspace] unless `manifest` says otherwise), with that .cargo/config.toml."""
    write(directory / "Cargo.toml", f'[package]\nname = "small"\nversion = "0.1.0"\n[dependencies]\nwasm-bindgen = "=0.2.129"\n{manifest}')
    write(directory / "src/lib.rs", "")
    if config is not None:
        write(directory / ".cargo/config.toml", config)
    return directory


def test_the_quickstart_with_the_repos_tools_is_clean(tmp_path: Path):
    result = doctor(QUICKSTART, tmp_path, wasm_bindgen=None, PATH=os.pathsep.join([str(REAL_WASM_BINDGEN), *SYSTEM_PATH]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok     wasm-bindgen: 0.2.129 in Cargo.lock = the CLI on PATH ({REAL_WASM_BINDGEN / 'wasm-bindgen'})" in result.stdout
    assert "ok     build flags: the thread flags are in effect for wasm32-unknown-unknown (max memory 1073741824 = 1 GiB)" in result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("error")]


def test_a_cli_of_another_version_is_an_error_with_the_install_line(tmp_path: Path):
    result = doctor(QUICKSTART, tmp_path, wasm_bindgen="0.2.128")
    assert result.returncode == SetupError.exit_code
    lines = result.stdout.splitlines()
    at = lines.index(f"error  wasm-bindgen: 0.2.129 in Cargo.lock, but the CLI on PATH is 0.2.128 ({tmp_path / 'bin/wasm-bindgen'})")
    assert lines[at + 1].startswith("         fix: cargo install wasm-bindgen-cli --version =0.2.129 --locked")
    assert "wbg-patch: error[setup]: wasm-bindgen: a build would fail or silently degrade" in result.stderr


def test_no_cli_on_path_is_an_error(tmp_path: Path):
    result = doctor(QUICKSTART, tmp_path, wasm_bindgen=None)
    assert result.returncode == SetupError.exit_code
    assert "error  wasm-bindgen: 0.2.129 in Cargo.lock, and no `wasm-bindgen` CLI on PATH" in result.stdout


def test_a_range_without_a_lock_is_an_error_that_says_pin_it(tmp_path: Path):
    result = doctor(BROKEN / "unpinned-no-lock", tmp_path)
    assert result.returncode == SetupError.exit_code
    assert ('error  wasm-bindgen: "0.2" in Cargo.toml and no Cargo.lock: the first build (or `cargo update`) locks the newest '
            "release it admits, which need not be the CLI's 0.2.129") in result.stdout
    assert '         fix: pin it in Cargo.toml: wasm-bindgen = "=0.2.129" (the lock and the CLI must match)' in result.stdout


def test_missing_link_args_are_named_with_the_lines_to_add_to_the_crates_own_config(tmp_path: Path):
    result = doctor(BROKEN / "missing-link-args", tmp_path)
    assert result.returncode == SetupError.exit_code
    lines = result.stdout.splitlines()
    at = lines.index("error  build flags: missing for wasm32-unknown-unknown: --shared-memory, --import-memory, --export=__wasm_init_tls, "
                     "--export=__tls_size, --export=__tls_align, --export=__tls_base")
    assert lines[at + 1 : at + 4] == [
        "         from .cargo/config.toml: +atomics +bulk-memory +mutable-globals --max-memory=4294967296",
        "         fix: add these lines to `rustflags` under [target.wasm32-unknown-unknown] in .cargo/config.toml, keeping your own:",
        '           "-C", "link-args=--shared-memory",',
    ]


def test_rustflags_in_the_environment_replace_the_config_and_say_so(tmp_path: Path):
    result = doctor(QUICKSTART, tmp_path, RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals")
    assert result.returncode == SetupError.exit_code
    assert "error  build flags: missing for wasm32-unknown-unknown: --shared-memory, --import-memory, --max-memory," in result.stdout
    assert f"RUSTFLAGS is set: it replaces the rustflags of {ROOT / 'rust_example/.cargo/config.toml'}" in result.stdout


def test_target_rustflags_from_the_environment_are_merged_with_the_config(tmp_path: Path):
    result = doctor(BROKEN / "missing-link-args", tmp_path, CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS=(
        "-C link-args=--shared-memory -C link-args=--import-memory -C link-args=--export=__wasm_init_tls "
        "-Clink-arg=--export=__tls_size --codegen link-args=--export=__tls_align --codegen=link-args=--export=__tls_base"))
    assert result.returncode == 0, result.stdout
    assert "ok     build flags: the thread flags are in effect for wasm32-unknown-unknown (max memory 4294967296 = 4 GiB)" in result.stdout


def test_a_workspace_roots_unwind_profile_without_the_rustflag_is_an_error(tmp_path: Path):
    result = doctor(BROKEN / "workspace-unwind/member", tmp_path)
    assert result.returncode == SetupError.exit_code
    root = BROKEN / "workspace-unwind/Cargo.toml"
    assert (f'error  panics: [profile.release] panic = "unwind" in {root}, but no -C panic=unwind in rustflags: the wasm32 target '
            "aborts, and -Z build-std=panic_unwind,std fails with E0463 (can't find crate for `panic_abort`)") in result.stdout
    assert f"Cargo.toml's [profile.release] panic = \"abort\" is ignored: cargo reads profiles only from the workspace root, {root}" in result.stdout


def test_unwind_rustflag_and_profile_say_unwind(tmp_path: Path):
    result = doctor(BROKEN / "workspace-unwind/member", tmp_path, CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C panic=unwind")
    assert result.returncode == 0, result.stdout
    assert "ok     panics: unwind — the pool survives a panic; build with -Z build-std=panic_unwind,std" in result.stdout


def test_an_unwind_rustflag_wins_over_an_abort_profile_and_is_only_a_warning(tmp_path: Path):
    # Measured: the demo built with -C panic=unwind in rustflags and its workspace's panic = "abort" throws its panics.
    result = doctor(ROOT / "rust_example/quickstart", tmp_path, CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C panic=unwind")
    assert result.returncode == 0, result.stdout
    assert "warn   panics: unwind — the rustflag -C panic=unwind wins over [profile.release] panic = \"abort\"" in result.stdout


def test_rayon_without_a_pool_contract_is_an_error(tmp_path: Path):
    result = doctor(BROKEN / "no-contract", tmp_path)
    assert result.returncode == SetupError.exit_code
    assert ("error  pool contract: rayon is a dependency, but no pool contract: no wbg-pool, no wasm-bindgen-rayon, "
            "no wbg_rayon_start_worker/initThreadPool in src/") in result.stdout


def test_parallel_work_without_run_in_pool_is_an_error_comments_and_strings_aside(tmp_path: Path):
    result = doctor(BROKEN / "no-run-in-pool", tmp_path)
    assert result.returncode == SetupError.exit_code
    assert "error  run_in_pool: parallel Rayon work (lib.rs:13) but no run_in_pool call in src/: it runs on one thread" in result.stdout


@pytest.mark.parametrize("tool, prints, line", [
    ("node", "v18.19.0", "error  node: v18.19.0 ({bin}/node): the runtime needs Node 20 or newer"),
    ("rustup", "stable-x86_64-unknown-linux-gnu (default)",
     "error  toolchain: no debian-web and no nightly with rust-src: -Z build-std (std with atomics) cannot build"),
], ids=["old-node", "no-toolchain"])
def test_old_node_and_a_missing_toolchain_are_errors(tmp_path: Path, tool: str, prints: str, line: str):
    fake_tool(tmp_path / "bin", tool, prints)
    result = doctor(QUICKSTART, tmp_path)
    assert result.returncode == SetupError.exit_code
    assert line.format(bin=tmp_path / "bin") in result.stdout


def test_a_wasm_pack_pkg_reports_the_glue_and_the_crate_above_it(tmp_path: Path):
    crate = tmp_path / "crate"
    shutil.copytree(QUICKSTART, crate, ignore=shutil.ignore_patterns("target"))
    shutil.copytree(BUILD / "pkg-unpatched", crate / "pkg")
    result = doctor(crate / "pkg", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok     glue: wbg_demo.js: --target nodejs, wasm-bindgen 0.2.129; panics: abort — a panic resets the memory" in result.stdout
    assert "ok     pool contract: wbg-pool, its contract re-exported" in result.stdout


def test_a_directory_with_neither_crate_nor_glue_is_bad_input(tmp_path: Path):
    result = doctor(tmp_path, tmp_path)
    assert result.returncode == 3
    assert "has no Cargo.toml and no wasm-bindgen glue" in result.stderr


# Cargo's configuration as cargo resolves it (wbg_patch/cargo/config.py; each rule in
# test_cargo_config.py): what of it doctor's lines show.

def test_a_cfg_table_that_holds_carries_the_thread_flags_and_build_rustflags_lose(tmp_path: Path):
    crate = small_crate(tmp_path / "crate", f"""
[target.'cfg(all(target_arch = "wasm32", not(target_os = "wasi")))']
rustflags = [{THREAD_FLAGS}]
[build]
rustflags = ["-C", "opt-level=2"]
""")
    result = doctor(crate, tmp_path)
    assert "ok     build flags: the thread flags are in effect for wasm32-unknown-unknown (max memory 1073741824 = 1 GiB)" in result.stdout
    assert ("""         from .cargo/config.toml [target.'cfg(all(target_arch = "wasm32", not(target_os = "wasi")))']: +atomics +bulk-memory """
            "+mutable-globals --shared-memory") in result.stdout
    assert f"         build.rustflags of {crate / '.cargo/config.toml'} are ignored: target rustflags win" in result.stdout


def test_an_emscripten_cfg_table_is_not_counted(tmp_path: Path):
    crate = small_crate(tmp_path / "crate", f"""[target.'cfg(all(target_arch = "wasm32", target_os = "emscripten"))']\nrustflags = [{THREAD_FLAGS}]\n""")
    result = doctor(crate, tmp_path)
    assert result.returncode == SetupError.exit_code
    assert "error  build flags: missing for wasm32-unknown-unknown: +atomics, +bulk-memory, +mutable-globals," in result.stdout
    assert (f"""         [target.'cfg(all(target_arch = "wasm32", target_os = "emscripten"))'] of {crate / '.cargo/config.toml'} does not apply """
            "to wasm32-unknown-unknown") in result.stdout


def test_a_member_written_dot_slash_has_the_roots_lock_and_profile(tmp_path: Path):
    root = tmp_path / "ws"
    write(root / "Cargo.toml", '[workspace]\nmembers = ["./crates/x"]\n[profile.release]\npanic = "abort"\n')
    write(root / "Cargo.lock", 'version = 3\n[[package]]\nname = "wasm-bindgen"\nversion = "0.2.129"\n')
    member = small_crate(root / "crates/x", manifest='[profile.release]\npanic = "unwind"\n')
    result = doctor(member, tmp_path)
    assert f"ok     wasm-bindgen: 0.2.129 in {root / 'Cargo.lock'} = the CLI on PATH" in result.stdout
    assert f'ok     panics: abort — a panic resets the memory ([profile.release] panic = "abort" in {root / "Cargo.toml"})' in result.stdout
    assert f"Cargo.toml's [profile.release] panic = \"unwind\" is ignored: cargo reads profiles only from the workspace root, {root / 'Cargo.toml'}" in result.stdout


def test_an_excluded_directory_holds_the_packages_below_it(tmp_path: Path):
    root = tmp_path / "ws"
    write(root / "Cargo.toml", '[workspace]\nmembers = ["crates/*"]\nexclude = ["crates"]\n')
    write(root / "Cargo.lock", 'version = 3\n[[package]]\nname = "wasm-bindgen"\nversion = "0.2.128"\n')
    member = small_crate(root / "crates/x", manifest="")
    write(member / "Cargo.lock", 'version = 3\n[[package]]\nname = "wasm-bindgen"\nversion = "0.2.129"\n')
    assert "ok     wasm-bindgen: 0.2.129 in Cargo.lock = the CLI on PATH" in doctor(member, tmp_path).stdout


def test_the_readmes_unwind_recipe_is_checked_with_its_config_arguments(tmp_path: Path):
    recipe = ("--config", 'profile.release.panic="unwind"', "--config", 'target.wasm32-unknown-unknown.rustflags=["-C","panic=unwind"]')
    result = doctor(QUICKSTART, tmp_path, options=recipe)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("ok     panics: unwind — the pool survives a panic; build with -Z build-std=panic_unwind,std "
            "(--config 'profile.release.panic=\"unwind\"')") in result.stdout
    assert "ok     build flags: the thread flags are in effect for wasm32-unknown-unknown" in result.stdout


def test_cargo_profile_release_panic_is_the_profile(tmp_path: Path):
    result = doctor(QUICKSTART, tmp_path, CARGO_PROFILE_RELEASE_PANIC="unwind")
    assert result.returncode == SetupError.exit_code
    assert "error  panics: CARGO_PROFILE_RELEASE_PANIC=unwind, but no -C panic=unwind in rustflags" in result.stdout
    assert "         fix: CARGO_PROFILE_RELEASE_PANIC=abort and -Z build-std=panic_abort,std; or for unwinding" in result.stdout


def test_cargo_build_rustflags_are_rustflags(tmp_path: Path):
    flags = " ".join(THREAD_FLAGS.replace('"', "").split(", "))
    result = doctor(small_crate(tmp_path / "crate"), tmp_path, CARGO_BUILD_RUSTFLAGS=flags)
    assert "ok     build flags: the thread flags are in effect for wasm32-unknown-unknown (max memory 1073741824 = 1 GiB)" in result.stdout
    assert "         from CARGO_BUILD_RUSTFLAGS: +atomics +bulk-memory +mutable-globals --shared-memory" in result.stdout


@pytest.mark.parametrize("where", ["parent/.cargo/config.toml", "cargo-home/config.toml"])
def test_a_profile_in_a_parent_directorys_or_cargo_homes_config_counts(tmp_path: Path, where: str):
    config = write(tmp_path / where, '[profile.release]\npanic = "unwind"\n')
    result = doctor(small_crate(tmp_path / "parent/crate"), tmp_path)
    assert f'error  panics: [profile.release] panic = "unwind" in {config}, but no -C panic=unwind in rustflags' in result.stdout


def test_an_empty_rustflags_says_unset_it(tmp_path: Path):
    result = doctor(QUICKSTART, tmp_path, RUSTFLAGS="")
    lines = result.stdout.splitlines()
    at = lines.index(f"         RUSTFLAGS is set but empty: it replaces the rustflags of {ROOT / 'rust_example/.cargo/config.toml'}, "
                     f"{QUICKSTART / '.cargo/config.toml'} entirely, and rustc gets none")
    assert lines[at + 1 : at + 3] == [
        "         fix: unset RUSTFLAGS (set, even empty, it replaces every config file's rustflags), or add to it:",
        "         -C target-feature=+atomics,+bulk-memory,+mutable-globals -C link-args=--shared-memory -C link-args=--import-memory "
        "-C link-args=--max-memory=1073741824 -C link-args=--export=__wasm_init_tls -C link-args=--export=__tls_size "
        "-C link-args=--export=__tls_align -C link-args=--export=__tls_base",
    ]


def test_a_config_argument_cargo_refuses_is_bad_input(tmp_path: Path):
    result = doctor(QUICKSTART, tmp_path, options=("--config", "profile.release.panic=unwind"))
    assert result.returncode == 3
    assert result.stderr.startswith("wbg-patch: error[bad-input]: --config `profile.release.panic=unwind`: no such file, and not TOML")
    assert "Traceback" not in result.stderr
