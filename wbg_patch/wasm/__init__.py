"""What the patcher needs from the .wasm binary beside the glue, one file per role:

- ``sections`` reads the binary into a ``Module`` (types, imports, exports,
  tables' elements, data, code bodies, names);
- ``code`` decodes a function body into what the analyses ask of it;
- ``hooks`` finds the exports that install a panic hook, and whether the
  module raises wasm exceptions (a panic=unwind build);
- ``waits`` finds the exports that can wait for another thread.

The pool's shared memory must be created with the limits the module declares,
so they are read from the module itself rather than assumed; the pool contract
is checked against what the module really exports and imports, not only
against what the glue says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import hooks
from .code import UnknownOpcode, decode_body
from .sections import MemoryImport, Module, read_module
from .waits import Reason, Waits, classify

__all__ = ["MemoryImport", "Module", "ModuleInterface", "Reason", "Waits", "read_interface", "read_module"]


@dataclass(frozen=True)
class ModuleInterface:
    memory: MemoryImport | None  # None when the module defines its own memory
    function_imports: list[str] = field(default_factory=list)  # import names, any import module
    exports: list[str] = field(default_factory=list)
    # Exports taking and returning nothing that install a panic hook (hooks.panic_hook_exports):
    # the runtime runs them again on each fresh memory if they ran on the one before.
    panic_hook_exports: tuple[str, ...] = ()
    # Exception tags, imported or defined: exception handling is compiled in (std built for
    # panic=unwind, or wasm-bindgen's glue passing its own tags).
    tags: int = 0
    # A `throw` in the code: the crate raises panics as wasm exceptions (-C panic=unwind took
    # effect); None when the code could not be decoded.
    throws: bool | None = False
    # The producers section's `processed-by` tools and versions: wasm-bindgen writes its own
    # there (`wbg-patch doctor` reports which wasm-bindgen made a package).
    processed_by: dict[str, str] = field(default_factory=dict)
    # Which exported functions can wait for another thread (waits.py); None when the code
    # could not be decoded (then every export counts as one that can).
    waits: Waits | None = None


def read_interface(path: Path) -> ModuleInterface:
    """The module's imported memory, the names of its function imports and
    exports, and what the analyses find in its code (every body decoded once)."""
    module = read_module(path)
    facts = None
    if module.decodable:
        try:
            facts = [decode_body(body) for body in module.bodies]
        except UnknownOpcode:
            facts = None
    found = {} if facts is None else {
        "panic_hook_exports": hooks.panic_hook_exports(module, facts),
        "throws": hooks.throws(facts),
        "waits": classify(module, facts),
    }
    return ModuleInterface(
        module.memory, [name for _, name in module.imports], module.export_names, tags=module.tags,
        processed_by=module.processed_by, **({"throws": None} | found),
    )
