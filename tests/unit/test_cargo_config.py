"""Cargo's configuration resolved by cargo's rules (wbg_patch/cargo/config.py), on
small trees of config files and manifests built per test: which `cfg(…)` tables
apply to wasm32-unknown-unknown, where the workspace root is and whose profile
counts, what `--config`, the environment, parent directories and $CARGO_HOME add,
and what an empty RUSTFLAGS does. Each expectation is cargo 1.96's, measured with
`cargo check -v` (the rustflags it passes) or `cargo config get --show-origin`.
rustc is replaced by a fixed cfg unless a test asks the real one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from wbg_patch.cargo.config import (
    CLI, ENV, FILE, KNOWN_CFG, CargoConfig, Setting, TargetCfg, cfg_matches, release_panic, rustc_cfg, rustflags_in_effect,
    workspace_root,
)
from wbg_patch.doctor import TOOLCHAIN
from wbg_patch.errors import InputError

def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def read(directory: Path, *arguments: str, cwd: Path | None = None, **env: str) -> CargoConfig:
    """The config of a build in `directory`, with no $CARGO_HOME config unless one is given."""
    env.setdefault("CARGO_HOME", str(directory / "no-cargo-home"))
    return CargoConfig.read(directory, env, arguments, cwd=cwd or directory)


def fixed():
    """A stand-in for rustc: always the thread build's cfg, and a record of the flags it was asked with."""
    asked: list[list[str]] = []

    def ask(flags: list[str]) -> TargetCfg:
        asked.append(flags)
        return TargetCfg(KNOWN_CFG)

    ask.asked = asked
    return ask


def texts(config: CargoConfig, ask=None) -> list[str]:
    return [f.text for f in rustflags_in_effect(config, ask or fixed()).flags]


# 16: cfg(…) tables, evaluated as cargo evaluates them against rustc's cfg.

@pytest.mark.parametrize("key", [
    "cfg(all())",
    "cfg(not(windows))",
    'cfg(all(target_arch = "wasm32", not(target_os = "wasi")))',
    'cfg(any(unix, target_family = "wasm"))',
    'cfg( all ( target_family="wasm" , ) )',
    'cfg(r#target_os = "unknown")',
    "cfg(target_has_atomic)",
    'cfg(target_feature = "atomics")',
    "cfg(true)",
])
def test_cfg_forms_that_hold_for_the_thread_build(key: str):
    assert cfg_matches(key, KNOWN_CFG)


@pytest.mark.parametrize("key", [
    'cfg(target_os = "emscripten")',
    'cfg(all(target_arch = "wasm32", target_os = "emscripten"))',
    'cfg(target_arch = "wasm")',
    "cfg(any())",
    "cfg(not(all()))",
    "cfg(windows)",
    "cfg(false)",
])
def test_cfg_forms_that_do_not_hold(key: str):
    assert not cfg_matches(key, KNOWN_CFG)


@pytest.mark.parametrize("key, reason", [
    ("cfg(foo bar)", "unexpected `bar`"),
    ("cfg()", "expected a cfg expression, found the end"),
    ("cfg(not(a, b))", "`not(…)` takes exactly one expression"),
    ("cfg(all)", "expected `(`, found the end"),
    ("cfg(any x)", "expected `(` after `any`"),
    ("cfg(a = b)", 'expected a "string" after `a =`'),
    ("cfg(all(a b))", "expected `,` or `)` in `all(…)`"),
    ("cfg(a == \"x\")", 'expected a "string"'),
    ("cfg(a!)", "unexpected `!`"),
    ("windows", "not of the form cfg(…)"),
])
def test_a_cfg_cargo_cannot_parse_says_why(key: str, reason: str):
    with pytest.raises(ValueError, match=re.escape(reason)):
        cfg_matches(key, KNOWN_CFG)


def test_a_matching_cfg_table_is_used_and_build_rustflags_are_ignored(tmp_path: Path):
    config = write(tmp_path / ".cargo/config.toml", """
[target.'cfg(all(target_arch = "wasm32", not(target_os = "wasi")))']
rustflags = ["-C", "target-feature=+atomics"]
[build]
rustflags = ["-C", "opt-level=2"]
""")
    found = rustflags_in_effect(read(tmp_path), fixed())
    assert [(f.text, f.table) for f in found.flags] == [
        ("-C", """target.'cfg(all(target_arch = "wasm32", not(target_os = "wasi")))'"""),
        ("target-feature=+atomics", """target.'cfg(all(target_arch = "wasm32", not(target_os = "wasi")))'"""),
    ]
    assert found.notes == [f"build.rustflags of {config} are ignored: target rustflags win"]


def test_an_emscripten_cfg_table_is_not_counted(tmp_path: Path):
    config = write(tmp_path / ".cargo/config.toml", """
[target.'cfg(all(target_arch = "wasm32", target_os = "emscripten"))']
rustflags = ["-C", "target-feature=+atomics"]
""")
    found = rustflags_in_effect(read(tmp_path), fixed())
    assert found.flags == []
    assert found.notes == [f"""[target.'cfg(all(target_arch = "wasm32", target_os = "emscripten"))'] of {config} does not apply to wasm32-unknown-unknown"""]


def test_cfg_tables_join_after_the_triples_in_the_order_of_their_keys(tmp_path: Path):
    write(tmp_path / ".cargo/config.toml", """
[target.'cfg(not(windows))']
rustflags = ["--cfg", "not_windows"]
[target.wasm32-unknown-unknown]
rustflags = ["--cfg", "triple"]
[target.'cfg(all())']
rustflags = ["--cfg", "all"]
""")
    assert texts(read(tmp_path)) == ["--cfg", "triple", "--cfg", "all", "--cfg", "not_windows"]


def atomics_when_asked_for(flags: list[str]) -> TargetCfg:
    """rustc's answer, reduced to what these tests look at: atomics when the flags turn it on."""
    atomics_when_asked_for.asked.append(flags)
    return TargetCfg(frozenset({("target_arch", "wasm32")} | ({("target_feature", "atomics")} if "target-feature=+atomics" in flags else set())))


@pytest.mark.parametrize("adds_atomics, found, asked", [
    # The triple's flags are there before any cfg(…) table: rustc is asked with them, then with what they add.
    ("[target.wasm32-unknown-unknown]", ["-C", "target-feature=+atomics", "--cfg", "atomics"],
     [["-C", "target-feature=+atomics"], ["-C", "target-feature=+atomics", "--cfg", "atomics"]]),
    # A cfg(…) table's +atomics would make another apply: cargo asks twice, warns, and keeps its second choice.
    ("[target.'cfg(all())']", ["-C", "target-feature=+atomics"], [[], ["-C", "target-feature=+atomics"]]),
], ids=["triple", "cfg"])
def test_rustc_is_asked_under_the_rustflags_chosen_before(tmp_path: Path, adds_atomics: str, found: list[str], asked: list[list[str]]):
    write(tmp_path / ".cargo/config.toml", f"""
{adds_atomics}
rustflags = ["-C", "target-feature=+atomics"]
[target.'cfg(target_feature = "atomics")']
rustflags = ["--cfg", "atomics"]
""")
    atomics_when_asked_for.asked = []
    result = rustflags_in_effect(read(tmp_path), atomics_when_asked_for)
    assert [f.text for f in result.flags] == found
    assert atomics_when_asked_for.asked == asked
    assert any("non-trivial mutual dependency" in note for note in result.notes) == (len(found) == 2)


def test_rustc_is_not_asked_without_cfg_tables(tmp_path: Path):
    write(tmp_path / ".cargo/config.toml", '[target.wasm32-unknown-unknown]\nrustflags = ["--cfg", "x"]\n')
    ask = fixed()
    assert texts(read(tmp_path), ask) == ["--cfg", "x"]
    assert ask.asked == []


def test_a_cfg_table_cargo_cannot_parse_is_skipped_with_a_note(tmp_path: Path):
    config = write(tmp_path / ".cargo/config.toml", "[target.'cfg(foo bar)']\nrustflags = [\"--cfg\", \"bad\"]\n")
    found = rustflags_in_effect(read(tmp_path), fixed())
    assert found.flags == []
    assert found.notes == [f"[target.'cfg(foo bar)'] of {config} is skipped: cargo cannot parse it (unexpected `bar` after the expression), and says nothing"]


def test_without_rustup_the_known_cfg_stands_in_and_says_so(tmp_path: Path):
    answer = rustc_cfg(TOOLCHAIN, {"PATH": str(tmp_path)})(["-C", "target-feature=+atomics"])
    assert answer.values == KNOWN_CFG
    assert answer.stand_in == ("`rustup run debian-web rustc --print cfg --target wasm32-unknown-unknown` failed (no rustup on PATH): "
                               "cfg(…) evaluated as for rustc 1.96 with +atomics")


def _debian_web_answers() -> bool:
    return not rustc_cfg(TOOLCHAIN, dict(os.environ))([]).stand_in


@pytest.mark.skipif(not _debian_web_answers(), reason=f"needs rustup's {TOOLCHAIN} toolchain")
def test_the_toolchains_rustc_says_what_the_flags_turn_on():
    ask = rustc_cfg(TOOLCHAIN, dict(os.environ))
    assert ("target_feature", "atomics") in ask(["-C", "target-feature=+atomics,+bulk-memory,+mutable-globals"]).values
    assert ("target_feature", "atomics") not in ask([]).values
    assert ("target_arch", "wasm32") in ask([]).values


# 17: the workspace root, and whose profile counts.

def workspace(tmp_path: Path, root: str, member: str = "crates/x") -> Path:
    write(tmp_path / "ws/Cargo.toml", root)
    write(tmp_path / "ws" / member / "Cargo.toml", '[package]\nname = "x"\nversion = "0.1.0"\n[profile.release]\npanic = "unwind"\n')
    return tmp_path / "ws" / member


@pytest.mark.parametrize("root", [
    '[workspace]\nmembers = ["./crates/x"]\n',
    '[workspace]\nmembers = ["crates/*"]\n',
    '[workspace]\nmembers = ["crates/x"]\nexclude = ["crates"]\n',  # a member written out wins over an exclude
    '[workspace]\nmembers = ["crates/x"]\nexclude = ["crate"]\n',  # paths compare part by part, not as strings
])
def test_the_nearest_workspace_that_does_not_exclude_the_package_is_its_root(tmp_path: Path, root: str):
    member = workspace(tmp_path, root)
    assert workspace_root(member, {"package": {}}) == tmp_path / "ws"


@pytest.mark.parametrize("root", [
    '[workspace]\nmembers = ["crates/*"]\nexclude = ["crates"]\n',
    '[workspace]\nmembers = ["crates/*"]\nexclude = ["./crates/x/"]\n',
])
def test_an_exclude_holds_everything_below_it(tmp_path: Path, root: str):
    member = workspace(tmp_path, root)
    assert workspace_root(member, {"package": {}}) == member


def test_only_the_workspace_roots_profile_counts(tmp_path: Path):
    member = workspace(tmp_path, '[workspace]\nmembers = ["./crates/x"]\n[profile.release]\npanic = "abort"\n')
    root = workspace_root(member, {"package": {}})
    manifest = {"workspace": {}, "profile": {"release": {"panic": "abort"}}}
    assert release_panic(read(member), root, manifest) == Setting("abort", str(tmp_path / "ws/Cargo.toml"), FILE)


# 18: what cargo reads besides the crate's own config: --config, the environment,
# parent directories, $CARGO_HOME.

def test_config_arguments_win_a_string_and_join_rustflags_last(tmp_path: Path):
    write(tmp_path / ".cargo/config.toml", '[profile.release]\npanic = "abort"\n[target.wasm32-unknown-unknown]\nrustflags = ["--cfg", "file"]\n')
    config = read(tmp_path, 'profile.release.panic="unwind"', "target.wasm32-unknown-unknown.rustflags=['--cfg', 'cli']",
                  CARGO_PROFILE_RELEASE_PANIC="abort", CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--cfg env")
    assert release_panic(config, tmp_path, {}) == Setting("unwind", CLI, CLI)
    assert [(f.text, f.origin) for f in rustflags_in_effect(config, fixed()).flags] == [
        ("--cfg", str(tmp_path / ".cargo/config.toml")), ("file", str(tmp_path / ".cargo/config.toml")),
        ("--cfg", "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS"), ("env", "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS"),
        ("--cfg", CLI), ("cli", CLI),
    ]


def test_a_config_file_argument_is_found_from_the_current_directory(tmp_path: Path):
    write(tmp_path / "shell/unwind.toml", '[profile.release]\npanic = "unwind"\n')
    crate = tmp_path / "crate"
    crate.mkdir()
    config = read(crate, "unwind.toml", cwd=tmp_path / "shell")
    assert release_panic(config, crate, {}) == Setting("unwind", f"--config {tmp_path / 'shell/unwind.toml'}", CLI)


def test_a_config_argument_too_long_for_a_file_name_is_a_key_value(tmp_path: Path):
    flags = [f"link-args=--export=symbol_{n:03}" for n in range(20)]
    config = read(tmp_path, f"target.wasm32-unknown-unknown.rustflags={flags!r}".replace("'", '"'))
    assert texts(config) == flags


@pytest.mark.parametrize("argument, says", [
    ("profile.release.panic=unwind", "no such file, and not TOML"),
    ("profile.release.panic", "no such file, and not TOML"),
    ("build={rustflags=[]}", "not one dotted key set to a value"),
    ("build.jobs=1\nbuild.incremental=false", "not one dotted key set to a value"),
    ("[build]", "not one dotted key set to a value"),
])
def test_a_config_argument_cargo_refuses_is_bad_input(tmp_path: Path, argument: str, says: str):
    with pytest.raises(InputError, match=re.escape(f"--config `{argument}`: {says}")):
        read(tmp_path, argument)


def test_cargo_profile_release_panic_wins_over_the_files_and_cargo_toml(tmp_path: Path):
    write(tmp_path / ".cargo/config.toml", '[profile.release]\npanic = "abort"\n')
    config = read(tmp_path, CARGO_PROFILE_RELEASE_PANIC="unwind")
    assert release_panic(config, tmp_path, {"profile": {"release": {"panic": "abort"}}}) == Setting("unwind", "CARGO_PROFILE_RELEASE_PANIC", ENV)


def test_a_config_files_profile_wins_over_cargo_toml(tmp_path: Path):
    config = write(tmp_path / ".cargo/config.toml", '[profile.release]\npanic = "unwind"\n')
    assert release_panic(read(tmp_path), tmp_path, {"profile": {"release": {"panic": "abort"}}}) == Setting("unwind", str(config), FILE)


def test_cargo_build_rustflags_joins_the_files_build_rustflags(tmp_path: Path):
    write(tmp_path / ".cargo/config.toml", '[build]\nrustflags = ["--cfg", "file"]\n')
    found = rustflags_in_effect(read(tmp_path, CARGO_BUILD_RUSTFLAGS="--cfg  env"), fixed()).flags
    assert [(f.text, f.origin, f.table) for f in found][1:] == [
        ("file", str(tmp_path / ".cargo/config.toml"), "build"), ("--cfg", "CARGO_BUILD_RUSTFLAGS", "build"), ("env", "CARGO_BUILD_RUSTFLAGS", "build")]


def test_parent_directories_are_read_and_the_deeper_file_wins(tmp_path: Path):
    write(tmp_path / ".cargo/config.toml", '[profile.release]\npanic = "unwind"\n[build]\nrustflags = ["--cfg", "parent"]\n')
    crate = tmp_path / "crate"
    config = write(crate / ".cargo/config", '[profile.release]\npanic = "abort"\n[build]\nrustflags = ["--cfg", "crate"]\n')
    write(crate / ".cargo/config.toml", '[build]\nrustflags = ["--cfg", "unread"]\n')  # cargo reads `config`, the old name, when both exist
    assert texts(read(crate)) == ["--cfg", "parent", "--cfg", "crate"]
    assert release_panic(read(crate), crate, {}) == Setting("abort", str(config), FILE)
    assert release_panic(read(tmp_path), crate, {}) == Setting("unwind", str(tmp_path / ".cargo/config.toml"), FILE)


def test_cargo_homes_config_is_read_first(tmp_path: Path):
    write(tmp_path / "home/.cargo/config.toml", '[build]\nrustflags = ["--cfg", "home"]\n[profile.release]\npanic = "unwind"\n')
    write(tmp_path / "crate/.cargo/config.toml", '[build]\nrustflags = ["--cfg", "crate"]\n')
    config = CargoConfig.read(tmp_path / "crate", {"HOME": str(tmp_path / "home")})  # $CARGO_HOME unset: ~/.cargo
    assert texts(config) == ["--cfg", "home", "--cfg", "crate"]
    assert release_panic(config, tmp_path / "crate", {}).origin == str(tmp_path / "home/.cargo/config.toml")


def test_a_cargo_home_on_the_way_up_is_read_there_once(tmp_path: Path):
    write(tmp_path / "home/.cargo/config.toml", '[build]\nrustflags = ["--cfg", "home"]\n')
    write(tmp_path / ".cargo/config.toml", '[build]\nrustflags = ["--cfg", "top"]\n')
    config = read(tmp_path / "home/crate", CARGO_HOME=str(tmp_path / "home/.cargo"))
    assert texts(config) == ["--cfg", "top", "--cfg", "home"]


def test_a_string_rustflags_is_replaced_not_joined(tmp_path: Path):
    write(tmp_path / ".cargo/config.toml", '[build]\nrustflags = "--cfg parent"\n')
    write(tmp_path / "crate/.cargo/config.toml", '[build]\nrustflags = "--cfg crate"\n')
    assert texts(read(tmp_path / "crate", CARGO_BUILD_RUSTFLAGS="--cfg env")) == ["--cfg", "crate", "--cfg", "env"]


def test_a_string_and_an_array_do_not_merge(tmp_path: Path):
    write(tmp_path / ".cargo/config.toml", '[build]\nrustflags = "--cfg parent"\n')
    write(tmp_path / "crate/.cargo/config.toml", '[build]\nrustflags = ["--cfg", "crate"]\n')
    with pytest.raises(InputError, match="`build.rustflags` is a string in one of .* and an array in another: cargo refuses to merge them"):
        texts(read(tmp_path / "crate"))


def _cargo_config_get(directory: Path, cargo_home: Path, *arguments: str) -> list[str] | None:
    cargo = shutil.which("cargo")
    if cargo is None:
        return None
    done = subprocess.run([cargo, f"+{TOOLCHAIN}", "-Z", "unstable-options", "config", "get", "--format", "json-value", *arguments, "build.rustflags"],
                          cwd=directory, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CARGO_HOME": str(cargo_home), "RUSTC_BOOTSTRAP": "1"})
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_the_merge_is_cargos_own(tmp_path: Path):
    """The same tree as cargo's `config get` sees it (nightly-only: skipped where it cannot run)."""
    write(tmp_path / "home/config.toml", '[build]\nrustflags = ["home"]\n')
    write(tmp_path / ".cargo/config.toml", '[build]\nrustflags = ["top"]\n')
    write(tmp_path / "a/b/.cargo/config.toml", '[build]\nrustflags = ["deep"]\n')
    write(tmp_path / "extra.toml", '[build]\nrustflags = ["file"]\n')
    arguments = ("--config", str(tmp_path / "extra.toml"), "--config", "build.rustflags=['kv']")
    cargo = _cargo_config_get(tmp_path / "a/b", tmp_path / "home", *arguments)
    if cargo is None:
        pytest.skip(f"`cargo +{TOOLCHAIN} -Z unstable-options config get` does not run here")
    ours = read(tmp_path / "a/b", *arguments[1::2], CARGO_HOME=str(tmp_path / "home"))
    assert texts(ours) == cargo == ["home", "top", "deep", "file", "kv"]


# 19: RUSTFLAGS and CARGO_ENCODED_RUSTFLAGS, set even empty, replace every config's rustflags.

@pytest.mark.parametrize("name", ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"])
def test_an_empty_rustflags_variable_replaces_the_config(tmp_path: Path, name: str):
    config = write(tmp_path / ".cargo/config.toml", '[target.wasm32-unknown-unknown]\nrustflags = ["-C", "target-feature=+atomics"]\n')
    found = rustflags_in_effect(read(tmp_path, **{name: ""}), fixed())
    assert (found.flags, found.env) == ([], name)
    assert found.notes == [f"{name} is set but empty: it replaces the rustflags of {config} entirely, and rustc gets none"]


def test_encoded_rustflags_win_over_rustflags_and_split_at_the_unit_separator(tmp_path: Path):
    found = rustflags_in_effect(read(tmp_path, CARGO_ENCODED_RUSTFLAGS="-C\x1fpanic=unwind", RUSTFLAGS="--cfg x"), fixed())
    assert ([f.text for f in found.flags], found.env) == (["-C", "panic=unwind"], "CARGO_ENCODED_RUSTFLAGS")
    assert found.notes == ["CARGO_ENCODED_RUSTFLAGS is set: it replaces the rustflags of RUSTFLAGS entirely"]


def test_rustflags_split_at_spaces_only(tmp_path: Path):
    assert texts(read(tmp_path, RUSTFLAGS=" -C  panic=unwind\t--cfg x ")) == ["-C", "panic=unwind\t--cfg", "x"]
