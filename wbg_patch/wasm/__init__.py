"""What the patcher needs from the .wasm binary beside the glue, one file per role:

- ``sections`` reads the binary into a ``Module`` (types, imports, exports,
  tables' elements, data, code bodies, names);
- ``code`` decodes a function body into what the analyses ask of it;
- ``hooks`` finds the exports that install a panic hook, and the exception
  tag the module raises its panics with (a panic=unwind build);
- ``waits`` finds the exports that can wait for another thread, and those that
  depend on the instance they run on;
- ``instrument`` rewrites the module so that it counts its threads' waits.

The pool's shared memory must be created with the limits the module declares,
so they are read from the module itself rather than assumed; the pool contract
is checked against what the module really exports and imports, not only
against what the glue says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UndecodableModuleError
from . import hooks, instrument
from .code import BodyFacts, UnknownOpcode, decode_body
from .instrument import CannotCount, Counted, count_waits
from .sections import MemoryImport, Module, read_module
from .waits import Reason, Waits, classify

__all__ = ["Counted", "MemoryImport", "Module", "ModuleInterface", "Reason", "Waits", "decode_bodies", "read_interface", "read_module"]


@dataclass(frozen=True)
class ModuleInterface:
    memory: MemoryImport | None  # None when the module defines its own memory
    function_imports: list[str] = field(default_factory=list)  # import names, any import module
    exports: list[str] = field(default_factory=list)
    # Exports taking and returning nothing that install a panic hook (hooks.panic_hook_exports):
    # the runtime runs them again on each fresh memory if they ran on the one before.
    panic_hook_exports: tuple[str, ...] = ()
    # Exception tags, imported or defined: exception handling is compiled in (std built for
    # panic=unwind, C/C++ code built with it, or wasm-bindgen's glue passing its own tags).
    tags: int = 0
    # Rust's panics are thrown as wasm exceptions (-C panic=unwind took effect: hooks.panic_tags);
    # None when the code could not be decoded.
    throws: bool | None = False
    # Something else throws (C/C++ exceptions, setjmp/longjmp): hooks.other_throws.
    other_throws: bool = False
    # The producers section's `processed-by` tools and versions: wasm-bindgen writes its own
    # there (`wbg-patch doctor` reports which wasm-bindgen made a package).
    processed_by: dict[str, str] = field(default_factory=dict)
    # Which exported functions can wait for another thread, and which depend on their instance
    # (waits.py); None when the code could not be decoded (then every export counts as one that can).
    waits: Waits | None = None
    # Whether the module counts its waits (instrument.py): True when it does (patched before),
    # False when the patch would make it, None when it has no wait, its code could not be read,
    # or it cannot be made to (then `not_counted` says why).
    waits_counted: bool | None = None
    # The module rewritten to count its waits, when `waits_counted` is False: the patch writes it.
    counted: Counted | None = None
    not_counted: str | None = None


def read_interface(path: Path) -> ModuleInterface:
    """The module's imported memory, the names of its function imports and
    exports, and what the analyses find in its code (every body decoded once).

    Code this version cannot decode leaves the analyses "unknown": no panic
    raised as an exception (throws None: the patch treats panics as aborts), and
    every export one that can wait. But the exports that install a panic hook
    cannot be told then, and the runtime runs them again on each fresh memory:
    without them every panic after a reset would lose its message, so a module
    that has std's set_hook is refused instead (UndecodableModuleError)."""
    module = read_module(path)
    try:
        facts = decode_bodies(module)
    except UnknownOpcode as e:
        if hooks.set_hook_functions(module):
            raise UndecodableModuleError(
                f"has code this version cannot decode ({e}), so it cannot tell which exports install a panic hook "
                "(std's set_hook is in the module): the runtime runs them again after each reset of the memory, "
                "and without them every later panic would lose its message; report it with the module",
                path,
            ) from None
        facts = None
    found = {"throws": None} if facts is None else _found(module, facts)
    return ModuleInterface(
        module.memory, [name for _, name in module.imports], module.export_names, tags=len(module.tags),
        processed_by=module.processed_by, **found,
    )


def decode_bodies(module: Module) -> list[BodyFacts]:
    """Every function body decoded; raises UnknownOpcode naming where the decoding stopped."""
    if module.undecodable is not None:
        raise UnknownOpcode(module.undecodable)
    first = len(module.function_types) - len(module.bodies)
    facts = []
    for index, body in enumerate(module.bodies, first):
        try:
            facts.append(decode_body(body))
        except UnknownOpcode as e:
            raise UnknownOpcode(f"{e}, in {module.function_name(index)}") from None
    return facts


def _found(module: Module, facts: list[BodyFacts]) -> dict[str, object]:
    panics = hooks.panic_tags(module, facts)
    already = instrument.EXPORT in module.export_names
    try:
        counted, not_counted = (None if already else count_waits(module, facts)), None
    except CannotCount as e:
        counted, not_counted = None, str(e)
    # Failure paths are left out only where the main thread cannot wait in them (waits.py):
    # a module counted now or before with the guard of instrument.NO_WAIT.
    guarded = counted is not None or instrument.NO_WAIT in module.export_names
    waits = classify(module, facts, cut_failure_paths=guarded)
    waits.pop(instrument.EXPORT)  # the runtime's, not the glue's
    return {
        "waits_counted": True if already else (False if counted is not None else None),
        "counted": counted,
        "not_counted": not_counted,
        "panic_hook_exports": hooks.panic_hook_exports(module, facts),
        "throws": bool(panics),
        "other_throws": hooks.other_throws(module, facts, panics),
        "waits": waits,
    }
