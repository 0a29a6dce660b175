"""Writes that never leave a half-written file, and one patcher per directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import InputError


def check_writable(path: Path) -> None:
    """Raises unless `path` can be replaced: checked for every output before the
    first is written, so a refusal changes nothing."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise InputError("exists and is not a regular file; nothing was changed", path)
    # Root may write anything, so the mode bits are checked too: a file marked
    # read-only is the user saying "do not change this".
    if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222):
        raise InputError("is read-only; nothing was changed", path)
    # The runtime goes into a directory of its own, made on the first write.
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot be written: {parent} exists and is not a directory; nothing was changed", path)
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot be written: {parent} is not writable; nothing was changed", path)


def write_atomically(path: Path, content: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers see
    the old file or the new one, never a mix, and a failure leaves the old one."""
    check_writable(path)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".wbg-patch.tmp", dir=path.parent)
    except OSError as e:
        raise InputError(f"cannot write in {path.parent}: {e.strerror}; nothing was changed", path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"cannot be written: {e.strerror}", path) from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Serialises wbg-patch runs on one directory, so two concurrent runs end
    with one correct patch instead of one overwriting the other's reading."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as e:
        raise InputError(f"cannot open directory: {e.strerror}", directory) from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
