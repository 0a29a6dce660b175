"""The unwind check (`wbg-patch doctor --check-unwind`) for real: cargo check with the
unwind flags on rust_example/contracts/sdk-shaped as committed finds every type the
README's changes fix, one line each, and on a copy with those changes (its
unwind.patch, as scripts/build.sh applies it) finds nothing. Both check in
rust_example/contracts/target (a directory of the check's own per workspace there);
the copy stays at one place, build/check-unwind/, so each checks std once (a minute
or two), later runs take seconds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from wbg_patch.cargo import unwind_check
from wbg_patch.doctor import ERROR, OK
from wbg_patch.errors import InputError, SetupError

SDK = ROOT / "rust_example/contracts/sdk-shaped"
# The contract crates' shared target dir (ignored by git): the check goes to wbg-unwind-check/ in it.
TARGET = ROOT / "rust_example/contracts/target"


def toolchain_present() -> bool:
    if shutil.which("rustup") is None:
        return False
    listed = subprocess.run(["rustup", "toolchain", "list"], capture_output=True, text=True).stdout
    return any(line.split()[0] == unwind_check.TOOLCHAIN for line in listed.splitlines() if line.strip())


pytestmark = pytest.mark.skipif(not toolchain_present(), reason=f"no rustup toolchain {unwind_check.TOOLCHAIN}: the check cannot run")


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if "RUSTFLAGS" not in k and k != "RUSTUP_TOOLCHAIN"}
    return {**clean, "CARGO_TARGET_DIR": str(TARGET)}


def line_of(pattern: str) -> int:
    """The line of src/lib.rs that rustc points at for an export's argument or receiver."""
    lines = (SDK / "src/lib.rs").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if re.search(pattern, line))


def test_the_sdk_shaped_crate_as_committed_gets_one_line_per_type_with_its_fix():
    findings = unwind_check.check_unwind(SDK, env())
    assert all(f.level == ERROR and f.check == "unwind" for f in findings), findings
    summary, *per_type = findings
    assert re.match(r"a panic=unwind build fails with \d+ × E0277: under panic=unwind wasm-bindgen 0\.2\.129 requires", summary.message)
    assert [f.message for f in per_type] == [
        f"src/lib.rs:{line_of(r'^impl PoolBuilder')}: `PoolBuilder` (this crate's type): fix: impl std::panic::RefUnwindSafe for PoolBuilder {{}}",
        f"src/lib.rs:{line_of(r'^pub fn wbg_rayon_start_worker')}: `*const spmc::Receiver<ThreadBuilder>` (a raw pointer to a foreign type): "
        "fix: point at std::panic::AssertUnwindSafe<spmc::Receiver<ThreadBuilder>> instead: keep the value in an AssertUnwindSafe field "
        "and take `*const AssertUnwindSafe<…>` (a foreign type cannot get the impl: E0117)",
        f"src/lib.rs:{line_of(r'^impl Srs')}: `Srs` (this crate's type): fix: impl std::panic::RefUnwindSafe for Srs {{}}",
        f"src/lib.rs:{line_of(r'^impl Index')}: `Index` (this crate's type): fix: impl std::panic::RefUnwindSafe for Index {{}}",
    ]
    # Every export that takes the setup or the index is named, once.
    takers = [line_of(p) for p in (r"^impl Srs", r"pub fn new[(]srs: &Srs", r"^pub fn prove[(]", r"^pub fn prove_sequential", r"^pub fn verify")]
    assert per_type[2].details[0].startswith(f"needed at src/lib.rs:{', '.join(map(str, takers))};"), per_type[2].details


def test_the_readme_changes_pass_the_check():
    crate = ROOT / "build/check-unwind/sdk-shaped"
    shutil.rmtree(crate, ignore_errors=True)
    crate.mkdir(parents=True)
    shutil.copytree(ROOT / "rust_example/.cargo", crate / ".cargo")
    for name in ("Cargo.toml", "Cargo.lock", "src"):
        (shutil.copytree if (SDK / name).is_dir() else shutil.copy2)(SDK / name, crate / name)
    patched = subprocess.run(["git", "apply", f"--directory={crate.relative_to(ROOT)}", str(SDK / "unwind.patch")],
                             cwd=ROOT, capture_output=True, text=True)
    assert patched.returncode == 0, patched.stdout + patched.stderr
    findings = unwind_check.check_unwind(crate, env())
    assert [(f.level, f.check) for f in findings] == [(OK, "unwind")], findings
    assert findings[0].message.endswith(": every export's arguments are unwind-safe")


def test_doctor_check_unwind_prints_the_lines_and_fails_the_crate_as_committed(tmp_path):
    """The option as a user runs it: the crate's own checks, then the unwind lines; doctor's exit code of a setup error."""
    done = subprocess.run(
        [str(ROOT / ".venv/bin/wbg-patch"), "doctor", "--check-unwind", str(SDK)], capture_output=True, text=True, env=env()
    )
    assert done.returncode == SetupError.exit_code, done.stdout + done.stderr
    assert "fix: impl std::panic::RefUnwindSafe for Srs {}" in done.stdout
    assert "unwind" in done.stderr.splitlines()[-1]
    # Without the option no cargo runs, and nothing about the unwind build is said.
    plain = subprocess.run([str(ROOT / ".venv/bin/wbg-patch"), "doctor", str(SDK)], capture_output=True, text=True, env=env())
    assert "E0277" not in plain.stdout
    # A path with no crate at or above it: the option says so instead of checking anything.
    (tmp_path / "pkg").mkdir()
    empty = subprocess.run([str(ROOT / ".venv/bin/wbg-patch"), "doctor", "--check-unwind", str(tmp_path / "pkg")], capture_output=True, text=True)
    assert empty.returncode == InputError.exit_code and "no Cargo.toml" in empty.stderr, empty.stdout + empty.stderr
