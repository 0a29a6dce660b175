"""Every failure the user can cause, with its exit code.

The CLI prints ``error[code]: message`` and exits with ``exit_code``; it never
shows a traceback for these.
"""

from __future__ import annotations

from pathlib import Path


class PatchError(Exception):
    """Base class: a failure explained to the user."""

    code = "patch-error"
    exit_code = 2

    def __init__(self, message: str, path: Path | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)


class InputError(PatchError):
    """The path is missing, unreadable, read-only, empty or binary."""

    code = "bad-input"
    exit_code = 3


class NotGlueError(PatchError):
    """The file is JavaScript, but not glue that wasm-bindgen generated."""

    code = "not-glue"
    exit_code = 4


class UnsupportedGlueError(PatchError):
    """wasm-bindgen glue of a form this version cannot patch (yet)."""

    code = "unsupported-glue"
    exit_code = 5


class UndecodableModuleError(UnsupportedGlueError):
    """The module's code has an instruction (or a section has a form) this version cannot
    decode, and what the patch could not find there would be lost without a word: the
    exports that install a panic hook."""

    code = "undecodable-module"


class AlreadyPatchedError(PatchError):
    """Patched by another version of wbg-patch, or rewritten by hand."""

    code = "foreign-patch"
    exit_code = 6


class ContractError(PatchError):
    """The crate's thread pool contract is none wbg-patch can drive, or a mix of them."""

    code = "unknown-contract"
    exit_code = 7


class SetupError(PatchError):
    """`wbg-patch doctor`: the crate's setup would make a build fail or silently degrade."""

    code = "setup"
    exit_code = 8


class InternalError(PatchError):
    """The rewrite produced something wrong; nothing was written."""

    code = "internal"
    exit_code = 70


class RefusedByV8Error(InternalError):
    """V8 refuses a file the patch would write (what tree-sitter accepts and Node
    would not load); nothing was written."""

    code = "refused-by-v8"


EXIT_CODES = {
    0: "success (or already patched by this version)",
    1: "--check: the glue is not patched by this version",
    2: "usage: an unknown command or option, or a missing or invalid argument",
    InputError.exit_code: "bad input: missing, unreadable, read-only, empty or binary file",
    NotGlueError.exit_code: "not wasm-bindgen glue",
    UnsupportedGlueError.exit_code: "wasm-bindgen glue of an unsupported target or generation, or a module whose code it cannot decode",
    AlreadyPatchedError.exit_code: "patched by another wbg-patch version, or rewritten by hand",
    ContractError.exit_code: "no thread pool contract wbg-patch can drive (unknown, incomplete or mixed)",
    SetupError.exit_code: "doctor: the setup would make a build fail or silently degrade (each problem printed with its fix)",
    InternalError.exit_code: "internal error: the output failed its own check (tree-sitter or V8), or a bug; nothing written",
    130: "interrupted (Ctrl-C); every file is untouched or fully written",
    141: "the reader of the output went away (`| head`)",
}
