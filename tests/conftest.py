"""Shared fixtures: the built demo package, and copies of it to damage."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
WBG_PATCH = ROOT / ".venv" / "bin" / "wbg-patch"
FIXTURES = ROOT / "tests" / "fixtures"


def locked_wasm_bindgen(lock: Path) -> str:
    """The wasm-bindgen version a Cargo.lock holds: the CLI must be that one, to the patch version."""
    return re.search(r'name = "wasm-bindgen"\nversion = "([^"]+)"', lock.read_text()).group(1)


def wasm_bindgen_output(package: str = "pkg") -> Path:
    """A package as wasm-bindgen wrote it, before wbg-patch (kept by scripts/build.sh):
    the demo (pkg), or a crate of rust_example/contracts (pkg-wasm-bindgen-rayon, …)."""
    raw = BUILD / f"{package}-unpatched"
    if not any(raw.glob("*_bg.wasm")):
        pytest.exit(f"{raw} is missing: run `make build` first", returncode=2)
    return raw


@pytest.fixture
def unpatched(tmp_path: Path) -> Path:
    """A fresh copy of the unpatched demo package."""
    target = tmp_path / "pkg"
    shutil.copytree(wasm_bindgen_output(), target)
    return target


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WBG_PATCH), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=60)


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry below a directory with its bytes (None for a non-file): to
    show that a refused run changed nothing."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() if p.is_file() else None for p in sorted(directory.rglob("*"))}


def uleb(n: int) -> bytes:
    """`n` as an unsigned LEB128 number, as wasm binaries write them: for tests that build modules."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
