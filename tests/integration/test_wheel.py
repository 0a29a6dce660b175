"""wbg-patch installed from its wheel (as a prepublish hook would use it), not
from this checkout: the runtime templates must ship inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import BUILD, ROOT

from wbg_patch.emit import runtime_files


def test_the_wheel_carries_the_runtime_and_patches(tmp_path: Path, unpatched: Path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, cwd=tmp_path, timeout=300,
    )
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl"))],
        check=True, capture_output=True, timeout=300,
    )
    run = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(site)!r}); import wbg_patch.cli as c; "
         f"assert c.__file__.startswith({str(site)!r}), c.__file__; sys.argv = ['wbg-patch', 'patch', {str(unpatched)!r}]; c.main()"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    for name in runtime_files("commonjs"):
        assert (unpatched / name).read_bytes() == (BUILD / "pkg" / name).read_bytes(), name
    # The licences ship in the wheel's metadata.
    licences = {Path(n).name for n in zipfile.ZipFile(next(wheels.glob("*.whl"))).namelist() if "/licenses/" in n}
    assert licences == {"LICENSE-MIT", "LICENSE-APACHE"}
