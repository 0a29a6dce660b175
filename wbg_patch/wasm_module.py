"""What the patcher needs from the .wasm binary: its memory import, the names
it imports and exports, which exports install a panic hook and whether it
raises wasm exceptions (the sections those questions need are read here, the
code decoded in ``wasm_code``).

The pool's shared memory must be created with the limits the module declares,
so they are read from the module itself rather than assumed; the pool
contract is checked against what the module really exports and imports, not
only against what the glue says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, UnsupportedGlueError
from .wasm_code import Module as _Module
from .wasm_code import REFTYPE_WITH_HEAP, CodeFacts, Reader, UnknownOpcode, analyse

_MAGIC = b"\0asm\x01\0\0\0"
_CUSTOM_SECTION = 0
_TYPE_SECTION = 1
_IMPORT_SECTION = 2
_FUNCTION_SECTION = 3
_EXPORT_SECTION = 7
_ELEMENT_SECTION = 9
_CODE_SECTION = 10
_DATA_SECTION = 11
_TAG_SECTION = 13
_TAG_IMPORT = 4


@dataclass(frozen=True)
class MemoryImport:
    module: str
    name: str
    initial: int
    maximum: int | None
    shared: bool

    def js_descriptor(self) -> str:
        """The argument of ``new WebAssembly.Memory(...)`` for these limits."""
        parts = [f"initial: {self.initial}"]
        if self.maximum is not None:
            parts.append(f"maximum: {self.maximum}")
        parts.append("shared: true")
        return "{ " + ", ".join(parts) + " }"


@dataclass(frozen=True)
class ModuleInterface:
    memory: MemoryImport | None  # None when the module defines its own memory
    function_imports: list[str] = field(default_factory=list)  # import names, any import module
    exports: list[str] = field(default_factory=list)
    # Exports taking and returning nothing that install a panic hook (wasm_code.panic_hook_exports):
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


class _Reader(Reader):
    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(data, lambda: InputError("the wasm module ends early (truncated?)", path))
        self.path = path

    def limits(self) -> tuple[int, int | None, bool]:
        flags = self.byte()
        initial = self.uleb()
        maximum = self.uleb() if flags & 0x01 else None
        return initial, maximum, bool(flags & 0x02)

    def skip_import_desc(self, kind: int) -> None:
        if kind == 1:  # table: reftype + limits
            self.byte()
            self.limits()
        elif kind == 3:  # global: valtype + mutability
            self.byte()
            self.byte()
        elif kind == _TAG_IMPORT:  # tag: attribute + type index
            self.byte()
            self.uleb()
        else:
            raise UnsupportedGlueError(f"unknown import kind {kind} in the wasm module", self.path)


def _valtype(r: _Reader) -> None:
    if r.byte() in REFTYPE_WITH_HEAP:
        r.sleb()


def _const_offset(r: _Reader) -> int:
    """A segment's offset: `i32.const N; end`, as wasm-ld writes it for a module
    that is not position-independent (the only kind wasm-bindgen takes)."""
    if r.byte() != 0x41:
        raise UnknownOpcode("a segment offset other than i32.const")
    offset = r.sleb()
    if r.byte() != 0x0B:
        raise UnknownOpcode("a segment offset other than i32.const")
    return offset


def _types(r: _Reader, module: _Module) -> None:
    for _ in range(r.uleb()):
        if r.byte() != 0x60:  # a GC type (rec, sub): not a module Rust emits
            raise UnknownOpcode("a type other than a function type")
        shape = []
        for _ in range(2):
            count = r.uleb()
            for _ in range(count):
                _valtype(r)
            shape.append(count)
        module.types.append((shape[0], shape[1]))


def _elements(r: _Reader, module: _Module) -> None:
    # Only the table the module fills at instantiation matters (indirect calls go
    # there); the first segment in another form ends the reading.
    for _ in range(r.uleb()):
        flags = r.uleb()
        if flags not in (0, 2) or (flags == 2 and r.uleb() != 0):
            return
        offset = _const_offset(r)
        if flags == 2 and r.byte() != 0:  # an element kind other than funcref
            return
        for slot in range(offset, offset + r.uleb()):
            module.table[slot] = r.uleb()


def _data(r: _Reader, module: _Module) -> None:
    for _ in range(r.uleb()):
        flags = r.uleb()
        if flags == 2:
            r.uleb()  # memory index
        offset = None if flags == 1 else _const_offset(r)
        length = r.uleb()
        module.segments.append((offset, r.data[r.pos : r.pos + length]))
        r.skip(length)


def _function_names(r: _Reader, end: int, module: _Module) -> None:
    while r.pos < end:
        subsection, size = r.byte(), r.uleb()
        after = r.pos + size
        if subsection == 1:
            for _ in range(r.uleb()):
                index = r.uleb()
                module.names[index] = r.name()
        r.pos = after


def _section(r: _Reader, section: int, end: int, module: _Module, interface: dict) -> None:
    if section == _IMPORT_SECTION:
        for _ in range(r.uleb()):
            mod, name, kind = r.name(), r.name(), r.byte()
            if kind == 2:
                interface["memory"] = MemoryImport(mod, name, *r.limits())
            elif kind == 0:
                interface["function_imports"].append(name)
                module.function_types.append(r.uleb())
            else:
                module.tags += kind == _TAG_IMPORT
                r.skip_import_desc(kind)
    elif section == _EXPORT_SECTION:
        for _ in range(r.uleb()):
            name, kind, index = r.name(), r.byte(), r.uleb()
            interface["exports"].append(name)
            if kind == 0:
                module.exports[name] = index
    elif section == _TYPE_SECTION:
        _types(r, module)
    elif section == _FUNCTION_SECTION:
        module.function_types += [r.uleb() for _ in range(r.uleb())]
    elif section == _ELEMENT_SECTION:
        _elements(r, module)
    elif section == _DATA_SECTION:
        _data(r, module)
    elif section == _TAG_SECTION:
        module.tags += r.uleb()
    elif section == _CODE_SECTION:
        for _ in range(r.uleb()):
            size = r.uleb()
            module.bodies.append(r.data[r.pos : r.pos + size])
            r.skip(size)
    elif section == _CUSTOM_SECTION:
        name = r.name()
        if name == "name":
            _function_names(r, end, module)
        elif name == "producers":
            interface["processed_by"] = _processed_by(r)


def _processed_by(r: _Reader) -> dict[str, str]:
    tools = {}
    for _ in range(r.uleb()):
        field_name = r.name()
        for _ in range(r.uleb()):
            tool, version = r.name(), r.name()
            if field_name == "processed-by":
                tools[tool] = version
    return tools


def read_interface(path: Path) -> ModuleInterface:
    """The module's imported memory, the names of its function imports and
    exports, the exports that install a panic hook, and whether it throws."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the wasm module: {e.strerror}", path) from e
    if not data.startswith(_MAGIC):
        raise InputError("is not a WebAssembly module (bad magic number)", path)
    r = _Reader(data, path)
    r.pos = len(_MAGIC)
    interface: dict = {"memory": None, "function_imports": [], "exports": [], "processed_by": {}}
    module = _Module()
    analysable = True
    # Every section is walked, not only the imports: a module cut short anywhere
    # would pass the patch and fail only when Node compiles it.
    while r.pos < len(data):
        section, size = r.byte(), r.uleb()
        end = r.pos + size
        if end > len(data):
            raise InputError("the wasm module ends inside a section (truncated?)", path)
        try:
            _section(r, section, end, module, interface)
        except UnknownOpcode:
            analysable = False
        r.pos = end
    code = analyse(module) if analysable else CodeFacts(throws=None)
    return ModuleInterface(
        interface["memory"], interface["function_imports"], interface["exports"], code.panic_hook_exports, module.tags, code.throws,
        interface["processed_by"],
    )
