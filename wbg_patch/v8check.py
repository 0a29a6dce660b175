"""V8's own check of the JS a patch writes, before anything is written.

tree-sitter accepts JS that V8 refuses at load: its early errors (a `let`
declared twice, `import` or a top-level `await` in CommonJS, an invalid
regular expression...). When `node` is on PATH, every JS file of the run goes
through one node process (v8check.cjs beside this file) that compiles each
file as Node will load it, and runs none of it; so does the module the patch
rewrites (wasm/instrument.py), which V8 validates. Without node the check is
skipped, and the report says so.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import InternalError, RefusedByV8Error
from .model import Glue

CHECKER = Path(__file__).resolve().with_name("v8check.cjs")
# How Node loads a file of this extension; None: by the glue's module format, as Node's
# syntax detection does for a `.js` whose package.json sets no "type".
KINDS = {".cjs": "commonjs", ".mjs": "module", ".js": None, ".wasm": "wasm"}
NOT_CHECKED = "not checked by V8: node is not on PATH"


def check(files: dict[Path, bytes], glue: Glue) -> str | None:
    """Raises RefusedByV8Error when V8 refuses one of `files` (the outputs of a
    run, the patched glue among them; on a refusal the input glue is checked
    too, to say whether the patch or the input is at fault). Returns a note for
    the report when the check could not run."""
    kinds = {path: KINDS[path.suffix] or ("module" if glue.module_format == "esm" else "commonjs") for path in files if path.suffix in KINDS}
    if not kinds:
        return None
    node = shutil.which("node")
    if node is None:
        return NOT_CHECKED
    refused = _refusals(node, {path: (kind, files[path]) for path, kind in kinds.items()})
    if not refused:
        return None
    path, line, column, message = refused[0]
    source, what = files[path], "V8 refuses it as patched"
    cause = "The patch made JS that Node cannot load: please report this."
    if kinds[path] == "wasm":
        raise RefusedByV8Error(f"{what}: {message}. The patch made a module V8 refuses: please report this. Nothing was written.", path)
    if path == glue.path:
        # The input's own error, at its place in the file the user has, when it is the input's.
        refused_input = _refusals(node, {path: (kinds[path], _without_source_imports(glue))})
        if refused_input:
            _, line, column, message = refused_input[0]
            source, what = glue.source, "V8 refuses it"
            cause = "It was so before the patch: regenerate it with wasm-bindgen and patch again."
    where = f" at {line}:{column}" if line is not None else ""
    raise RefusedByV8Error(f"{what}{where}: {message}{_excerpt(source, line, column)}. {cause} Nothing was written.", path)


def _refusals(node: str, files: dict[Path, tuple[str, bytes]]) -> list[tuple[Path, int | None, int | None, str]]:
    """(file, line, column, V8's message) of each file V8 refuses, from one node process."""
    request = [_request(path, kind, source) for path, (kind, source) in files.items()]
    # NODE_OPTIONS is the user's, for their programs (a --require, an --inspect): not for the checker.
    env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    try:
        run = subprocess.run(
            [node, "--experimental-vm-modules", "--no-warnings", str(CHECKER)],
            input=json.dumps(request).encode("utf-8"),
            capture_output=True,
            env=env,
        )
        answer = json.loads(run.stdout) if run.returncode == 0 else None
    except (OSError, ValueError) as e:
        raise InternalError(f"cannot check the output with V8 ({node}): {e}; nothing was written") from e
    if answer is None:
        raise InternalError(f"cannot check the output with V8 ({node} exited {run.returncode}): {run.stderr.decode(errors='replace').strip()}; nothing was written")
    by_name = {str(path): path for path in files}
    return [(by_name[r["name"]], r["line"], r["column"], r["message"]) for r in answer]


def _request(path: Path, kind: str, source: bytes) -> dict[str, str]:
    if kind != "wasm":
        return {"name": str(path), "kind": kind, "source": source.decode("utf-8")}
    # With the module as it is: a module whose features this Node lacks is not the patch's fault.
    original = base64.b64encode(path.read_bytes()).decode()
    return {"name": str(path), "kind": kind, "source": base64.b64encode(source).decode(), "original": original}


def _without_source_imports(glue: Glue) -> bytes:
    """The input glue with its source-phase imports blanked (positions kept): the
    patch replaces them, and Node 20 cannot parse them."""
    source = bytearray(glue.source)
    for found in glue.source_imports:
        start, end = found.statement.start_byte, found.statement.end_byte
        source[start:end] = re.sub(rb"[^\r\n]", b" ", bytes(source[start:end]))
    return bytes(source)


def _excerpt(source: bytes, line: int | None, column: int | None) -> str:
    """The refused line, near the column (glue can be one long line), quoted."""
    if line is None:
        return ""
    lines = re.split("\r\n|[\n\r\u2028\u2029]", source.decode("utf-8"))  # V8's line ends, not Python's
    if not 0 < line <= len(lines):
        return ""
    start = max(0, (column or 1) - 60)
    return f", in `{lines[line - 1][start : start + 120].strip()}`"
