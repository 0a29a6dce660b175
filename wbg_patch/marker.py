"""The marker the rewrite leaves in the glue, written and read back here.

Three comments: the marker itself (the version that patched the glue, which
makes patching idempotent, and what the glue was before the patch changed what
shows: target, generation, pool contract, panic mode), the options the glue was
patched with (so a later run keeps them), and a digest of the whole patched file (so --check notices any later edit). Both
halves live in one file so that what is written is what is read.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from tree_sitter import Node, Tree

from . import __version__
from .config import RuntimeConfig
from .errors import AlreadyPatchedError, InternalError
from .model import Generation, Glue
from .panics import ABORT

# The marker the rewrite leaves; the version in it makes patching idempotent.
MARKER_RE = re.compile(r"^/\* wbg-patch ([0-9][^ :]*):")
# In the marker: what the glue was before the patch (which may have changed what shows).
GLUE_LINE = "glue: --target "
# Markers of earlier versions have no `; panics <mode>`: their glue was patched as "abort".
GLUE_LINE_RE = re.compile(r"^ \* glue: --target (\S+); (\w+); contract (\S+)(; panics (\w+))? \*/$", re.MULTILINE)
# The options the glue was patched with, as JSON in a comment of their own.
CONFIG_PREFIX = "/* wbg-patch-config "
# A digest of the whole patched glue, so that --check notices any later edit.
DIGEST_PREFIX = "/* wbg-patch-digest sha256:"
DIGEST_BLANK = "0" * 64


def config_comment(config: RuntimeConfig) -> str:
    return f"{CONFIG_PREFIX}{json.dumps(config.to_json(), sort_keys=True)} */"


def comments(glue: Glue, config: RuntimeConfig, contract: str) -> str:
    """The three comments of a freshly patched glue, its digest still blank (see `seal`)."""
    assert glue.generation is not None
    return (
        f"/* wbg-patch {__version__}: reads of `wasm` go through the `__wbg_pool` handle, so a ThreadPoolManager can\n"
        " * send them to its pool; pool threads take their memory from workerData. Do not edit: re-run wbg-patch.\n"
        f" * {GLUE_LINE}{glue.target}; {glue.generation.name}; contract {contract}; panics {glue.panics} */\n"
        f"{config_comment(config)}\n"
        f"{DIGEST_PREFIX}{DIGEST_BLANK} */\n"
    )


def digest_comment_text(source: bytes, start: int, end: int) -> str:
    """The digest comment for `source` whose digest comment spans [start, end):
    a sha256 over the whole file with the digest itself blanked."""
    blanked = source[:start] + f"{DIGEST_PREFIX}{DIGEST_BLANK} */".encode() + source[end:]
    return f"{DIGEST_PREFIX}{hashlib.sha256(blanked).hexdigest()} */"


def digest_of(source: bytes, comment: Node) -> str:
    return digest_comment_text(source, comment.start_byte, comment.end_byte)


def seal(patched: bytes, tree: Tree, path: Path) -> bytes:
    """`patched` (whose syntax tree is `tree`) with its digest filled in."""
    digest = next(
        (c for c in tree.root_node.children if c.type == "comment" and c.text.startswith(DIGEST_PREFIX.encode())), None
    )
    if digest is None:
        raise InternalError("the patched glue has no digest comment; regenerate it and patch again", path)
    text = digest_comment_text(patched, digest.start_byte, digest.end_byte).encode()
    return patched[: digest.start_byte] + text + patched[digest.end_byte :]


def read_marker(glue: Glue) -> str | None:
    """The version in the patch marker, if any; also reads the stored options."""
    version = None
    for node in glue.tree.root_node.children:
        if node.type != "comment":
            continue
        text = glue.text(node)
        m = MARKER_RE.match(text)
        if m:
            version = m.group(1)
            before = GLUE_LINE_RE.search(text)
            if before is not None and before.group(2) in Generation.__members__:
                glue.target, glue.generation = before.group(1), Generation[before.group(2)]
                glue.contract = before.group(3)
                glue.panics = before.group(5) or ABORT
        elif text.startswith(DIGEST_PREFIX):
            glue.digest_comment = node
        elif text.startswith(CONFIG_PREFIX) and text.endswith("*/"):
            glue.config_comment = node
            try:
                stored = json.loads(text[len(CONFIG_PREFIX) : -2])
            except ValueError:
                stored = None
            if not isinstance(stored, dict):
                raise AlreadyPatchedError(f"has a damaged wbg-patch-config comment at line {glue.line(node)}", glue.path)
            glue.patch_config = stored
    return version


def edited_after_patch(glue: Glue) -> str | None:
    """For glue this version patched: why it is no longer what the patch
    wrote (a `wasm.x` read that bypasses the pool, any other edit), or None."""
    if glue.wasm_member_reads:
        first = glue.wasm_member_reads[0]
        return (
            f"was edited after patching: `{glue.text(first.parent)}` at line {glue.line(first)} "
            f"reads `wasm` directly, bypassing the pool ({len(glue.wasm_member_reads)} such read(s))"
        )
    if glue.digest_comment is None or digest_of(glue.source, glue.digest_comment) != glue.text(glue.digest_comment):
        return "was edited after patching (its content no longer matches the digest the patch recorded)"
    return None
