"""wbg-pool vendored as the README says (`make crate`, then the .crate unpacked into
the user's crate): the vendored copy is a crate of its own, with its workspace keys
resolved, that a crate outside this repository builds against."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import ROOT


def readme_vendor_lines() -> list[str]:
    """The commands of the README's vendoring snippet, comments dropped."""
    snippet = (ROOT / "README.md").read_text().split("<!-- vendor -->", 2)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in snippet.strip().splitlines() if line.split("#", 1)[0].strip()]


def test_the_vendored_crate_builds_outside_this_repository(tmp_path: Path):
    make_crate, unpack = readme_vendor_lines()
    assert make_crate == "make crate", make_crate
    dist = tmp_path / "dist"
    built = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "crate", f"DIST={dist}"], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    crate_file = Path(built.stdout.strip().splitlines()[-1])
    assert crate_file.parent == dist and crate_file.name.startswith("wbg-pool-"), built.stdout

    user = tmp_path / "user-crate"
    (user / "src").mkdir(parents=True)
    unpacked = subprocess.run(unpack.replace("/path/to/wbg-patch/dist", str(dist)), shell=True, cwd=user, capture_output=True, text=True)
    assert unpacked.returncode == 0, unpacked.stderr
    vendored = user / "vendor" / crate_file.name.removesuffix(".crate")
    assert "workspace = true" not in (vendored / "Cargo.toml").read_text()
    (user / "Cargo.toml").write_text(
        '[package]\nname = "user-crate"\nversion = "0.1.0"\nedition = "2021"\n\n'
        f'[dependencies]\nwbg-pool = {{ path = "vendor/{vendored.name}" }}\nrayon = "1.8"\n\n[workspace]\n'
    )
    (user / "src/lib.rs").write_text("pub fn sum(n: u64) -> u64 {\n    wbg_pool::run_in_pool(|| (0..n).sum())\n}\n")
    # A host check: what the vendored crate is made of resolves and compiles outside this repository.
    checked = subprocess.run(["cargo", "+debian-web", "check", "--quiet"], cwd=user, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "CARGO_TARGET_DIR": str(tmp_path / "target")})
    assert checked.returncode == 0, checked.stderr
