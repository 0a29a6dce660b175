"""The unwind check's reading of cargo (wbg_patch/cargo/unwind_check.py), on messages
recorded from its real run (tests/fixtures/unwind-check/record.sh): the crate
rust_example/contracts/sdk-shaped as committed, 20 × E0277 under panic=unwind, and a
copy with an error of another kind. The real run itself: tests/integration/."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FIXTURES, ROOT
from wbg_patch.cargo import unwind_check
from wbg_patch.doctor import ERROR, OK, WARN, Finding

RECORDED = FIXTURES / "unwind-check"
SDK = ROOT / "rust_example/contracts/sdk-shaped"


def recorded(name: str) -> tuple[list[str], Path]:
    """The recorded lines, and the crate they were recorded for (where it was then)."""
    lines = (RECORDED / name).read_text().splitlines()
    return lines, Path(json.loads(lines[0])["manifest_path"]).parent


def lines_of(findings: list[Finding]) -> list[str]:
    return [f"{f.level} {f.message}" for f in findings]


def test_recorded_e0277s_become_one_line_per_type_with_its_fix():
    lines, crate = recorded("sdk-shaped.jsonl")
    outcome = unwind_check.parse_messages(lines, crate)
    assert outcome.count == 20
    assert outcome.others == []
    findings = unwind_check.outcome_findings(outcome, "0.2.129")
    assert all(f.level == ERROR and f.check == "unwind" for f in findings)
    summary, *per_type = findings
    assert summary.message.startswith("a panic=unwind build fails with 20 × E0277: under panic=unwind wasm-bindgen 0.2.129 requires")
    assert "4 type(s) are not" in summary.message
    assert [f.message for f in per_type] == [
        "src/lib.rs:51: `PoolBuilder` (this crate's type): fix: impl std::panic::RefUnwindSafe for PoolBuilder {}",
        "src/lib.rs:96: `*const spmc::Receiver<ThreadBuilder>` (a raw pointer to a foreign type): fix: point at "
        "std::panic::AssertUnwindSafe<spmc::Receiver<ThreadBuilder>> instead: keep the value in an AssertUnwindSafe field "
        "and take `*const AssertUnwindSafe<…>` (a foreign type cannot get the impl: E0117)",
        "src/lib.rs:147: `Srs` (this crate's type): fix: impl std::panic::RefUnwindSafe for Srs {}",
        "src/lib.rs:185: `Index` (this crate's type): fix: impl std::panic::RefUnwindSafe for Index {}",
    ]
    # Every place that needs the type, each once, and what in it is not unwind-safe.
    assert [f.details for f in per_type] == [
        ("needed at src/lib.rs:51; not unwind-safe: its field of type spmc::Sender<ThreadBuilder>",),
        ("needed at src/lib.rs:96; not unwind-safe: inside it: UnsafeCell<*mut spmc::channel::Node<ThreadBuilder>>",),
        ("needed at src/lib.rs:147, 188, 230, 246, 254; not unwind-safe: its field of type RefCell<HashMap<usize, Arc<Vec<u64>>>>",),
        ("needed at src/lib.rs:185, 230, 246, 254; not unwind-safe: its fields of type Cell<Option<u64>>, Cell<u32>",),
    ]


def test_a_type_of_a_workspace_member_is_the_crates_own_and_paths_read_from_the_crate(tmp_path: Path):
    """Cargo names a member's files relative to the workspace root: the crate one level
    down still sees src/lib.rs, and its types are still its own."""
    lines, crate = recorded("sdk-shaped.jsonl")
    member = tmp_path / "sdk"
    moved = []
    for line in lines:
        record = json.loads(line)
        record["manifest_path"] = str(member / "Cargo.toml")
        for span in record["message"]["spans"]:
            span["file_name"] = f"sdk/{span['file_name']}"
        for child in record["message"]["children"]:
            for span in child["spans"]:
                if not span["file_name"].startswith("/"):
                    span["file_name"] = f"sdk/{span['file_name']}"
        moved.append(json.dumps(record))
    outcome = unwind_check.parse_messages(moved, member, workspace=tmp_path)
    assert {name: (entry.own, entry.sites[0]) for name, entry in outcome.unsafe.items()} == {
        "PoolBuilder": (True, "src/lib.rs:51"),
        "*const spmc::Receiver<ThreadBuilder>": (False, "src/lib.rs:96"),
        "Srs": (True, "src/lib.rs:147"),
        "Index": (True, "src/lib.rs:185"),
    }


def test_other_compile_errors_are_reported_as_such_after_the_unwind_lines():
    lines, crate = recorded("other-error.jsonl")
    findings = unwind_check.outcome_findings(unwind_check.parse_messages(lines, crate), "0.2.129")
    assert len(findings) == 6
    assert findings[-1] == Finding(ERROR, "unwind", "a panic=unwind build fails with other compile errors (1): "
                                   "src/lib.rs:23: error[E0432]: unresolved import `spmc::Channel`")


def test_an_export_of_a_dependency_is_not_the_crates_to_fix(tmp_path: Path):
    lines, crate = recorded("sdk-shaped.jsonl")
    outcome = unwind_check.parse_messages(lines, tmp_path / "the-app")
    fixes = [f.message for f in unwind_check.outcome_findings(outcome)[1:]]
    assert len(fixes) == 4
    assert all("in a dependency's export" in fix and "needs a release of that dependency" in fix for fix in fixes), fixes


def test_warnings_and_lines_that_are_not_messages_give_nothing():
    lines, crate = recorded("sdk-shaped.jsonl")
    noise = [lines[0], "   Compiling spmc v0.3.0", "", '{"reason":"build-finished","success":true}']
    assert json.loads(lines[0])["message"]["level"] == "warning"
    outcome = unwind_check.parse_messages(noise, crate)
    assert (outcome.count, outcome.unsafe, outcome.others) == (0, {}, [])
    assert unwind_check.outcome_findings(outcome) == []


def test_no_cargo_on_path_is_a_finding_not_a_traceback(tmp_path: Path):
    findings = unwind_check.check_unwind(SDK, {"PATH": str(tmp_path)})
    assert lines_of(findings) == [f"{ERROR} cannot check the unwind build: no `cargo` (and no `rustup`) on PATH: "
                                  "install rustup (https://rustup.rs), then `make setup`"]


def test_a_directory_without_cargo_toml_is_a_finding(tmp_path: Path):
    findings = unwind_check.check_unwind(tmp_path, {"PATH": ""})
    assert [f.level for f in findings] == [ERROR]
    assert "no Cargo.toml" in findings[0].message


def test_an_environment_rustflags_gets_the_unwind_flag_too():
    """RUSTFLAGS replaces every config's rustflags, --config's too: the flag must go there,
    or the check would compile for abort and find nothing."""
    assert unwind_check._unwind_env({"RUSTFLAGS": "-C opt-level=2"}, "debian-web")["RUSTFLAGS"] == "-C opt-level=2 -C panic=unwind"
    encoded = unwind_check._unwind_env({"CARGO_ENCODED_RUSTFLAGS": "-Copt-level=2"}, None)
    assert encoded["CARGO_ENCODED_RUSTFLAGS"] == "-Copt-level=2\x1f-C\x1fpanic=unwind"
    plain = unwind_check._unwind_env({}, "debian-web")
    assert "RUSTFLAGS" not in plain and plain["RUSTUP_TOOLCHAIN"] == "debian-web" and plain["RUSTC_BOOTSTRAP"] == "1"


def test_a_target_dir_shared_by_workspaces_gets_a_check_dir_per_workspace(tmp_path: Path):
    """Cargo keys a path package's fingerprints by its path relative to its workspace: in a
    shared target dir, a copy's successful check would pass for the original's."""
    own = unwind_check.check_dir(tmp_path / "crate/target", tmp_path / "crate")
    assert own == tmp_path / "crate/target/wbg-unwind-check"
    shared = tmp_path / "shared-target"
    first, second = (unwind_check.check_dir(shared, tmp_path / name / "sdk") for name in ("a", "b"))
    assert first != second and first.parent == second.parent == shared / "wbg-unwind-check"
    assert first.name.startswith("sdk-") and first == unwind_check.check_dir(shared, tmp_path / "a/sdk")


def test_the_readme_shows_unwind_patch_as_it_is():
    """The README's smallest changes are the patch scripts/build.sh applies for
    build/pkg-sdk-shaped-unwind, byte for byte."""
    shown = (ROOT / "README.md").read_text().split("<!-- unwind-patch -->", 2)[1].split("```diff\n", 1)[1].split("```", 1)[0]
    assert shown == (SDK / "unwind.patch").read_text()


def test_a_crate_that_compiles_is_ok_and_told_what_its_wasm_bindgen_checks():
    assert unwind_check.compiled(12.3, "0.2.129") == Finding(OK, "unwind", "cargo check with panic=unwind compiles (12 s): every export's arguments are unwind-safe")
    older = unwind_check.compiled(3, "0.2.121")
    assert (older.level, older.message) == (OK, "cargo check with panic=unwind compiles (3 s); wasm-bindgen 0.2.121 does not check exports' unwind safety (0.2.122 and later do)")
    assert unwind_check.compiled(3, "0.2.106").level == WARN
    assert "cannot catch a panic at an export" in unwind_check.compiled(3, "0.2.106").message


def test_the_panic_flag_joins_the_table_the_crates_rustflags_come_from(tmp_path):
    """A target table's rustflags replace `[build] rustflags` whole: a crate whose thread
    flags sit in [build] would lose them (and wbg-pool's compile_error! would be all the
    check says), so the flag goes where they are; the build's own --config comes first."""
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
    config = tmp_path / ".cargo" / "config.toml"
    config.parent.mkdir()
    env = {"CARGO_HOME": str(tmp_path / "home")}
    config.write_text('[build]\nrustflags = ["-C", "target-feature=+atomics"]\n')
    assert unwind_check.panic_flag_config(tmp_path, env, []) == ["--config", 'build.rustflags=["-C","panic=unwind"]']
    config.write_text('[target.wasm32-unknown-unknown]\nrustflags = ["-C", "target-feature=+atomics"]\n')
    assert unwind_check.panic_flag_config(tmp_path, env, ["profile.release.lto=true"]) == [
        "--config", "profile.release.lto=true", "--config", 'target.wasm32-unknown-unknown.rustflags=["-C","panic=unwind"]',
    ]
