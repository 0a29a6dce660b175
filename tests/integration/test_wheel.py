"""wbg-patch installed as a user installs it, by the README's install lines
(`make wheel`, then pip into a fresh virtualenv), not from this checkout: the
runtime and templates must ship inside the wheel, and the installed command must
work with no path of this repository on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import BUILD, ROOT

from wbg_patch import __version__
from wbg_patch.emit import runtime_files


def readme_install_lines() -> list[str]:
    """The commands of the README's install snippet, comments dropped."""
    snippet = (ROOT / "README.md").read_text().split("<!-- install -->", 2)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in snippet.strip().splitlines() if line.split("#", 1)[0].strip()]


def test_the_readme_install_lines_give_a_working_wbg_patch(tmp_path: Path, unpatched: Path):
    make_wheel, pip_install = readme_install_lines()
    assert make_wheel == "make wheel" and pip_install.startswith("pip install dist/"), readme_install_lines()
    dist = tmp_path / "dist"
    # `make wheel`, writing to a directory of the test's own (DIST) instead of the checkout's dist/.
    built = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "wheel", f"DIST={dist}"],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "warning" not in (built.stdout + built.stderr).lower(), built.stdout + built.stderr
    wheel = dist / f"wbg_patch-{__version__}-py3-none-any.whl"
    assert built.stdout.strip().splitlines()[-1] == str(wheel)

    # A fresh virtualenv, and a PATH that holds none of this checkout's tools: the
    # venv's bin, node's directory (the V8 check runs node) and the system's.
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120)
    venv_bin = tmp_path / "venv" / "bin"
    node_dir = Path(shutil.which("node")).parent
    path = os.pathsep.join(map(str, dict.fromkeys([venv_bin, node_dir, "/usr/bin", "/bin"])))
    env = {**os.environ, "PATH": path, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    assert not any(str(ROOT) in p for p in path.split(os.pathsep))

    def user(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    installed = user(pip_install)  # the README's line, as written, where dist/ is the test's
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert user("command -v wbg-patch").stdout.strip() == str(venv_bin / "wbg-patch")
    assert user("wbg-patch --version").stdout.strip() == f"wbg-patch {__version__}"
    patched = user(f"wbg-patch patch {unpatched}")
    assert patched.returncode == 0, patched.stderr
    for name in runtime_files("commonjs"):
        assert (unpatched / name).read_bytes() == (BUILD / "pkg" / name).read_bytes(), name
    # Web glue gets the runtime's ES-module build, which the wheel must carry too (esm/, platform/).
    web = shutil.copytree(BUILD / "pkg-web-unpatched", tmp_path / "pkg-web")
    patched = user(f"wbg-patch patch {web}")
    assert patched.returncode == 0, patched.stderr
    for name in runtime_files("web"):
        assert (web / name).read_bytes() == (BUILD / "pkg-web" / name).read_bytes(), name
    # The licences ship in the wheel's metadata.
    licences = {Path(n).name for n in zipfile.ZipFile(wheel).namelist() if "/licenses/" in n}
    assert licences == {"LICENSE-MIT", "LICENSE-APACHE"}
