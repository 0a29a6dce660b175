"""What the patcher needs from the .wasm binary: its memory import, and the
names it imports and exports.

The pool's shared memory must be created with the limits the module declares,
so they are read from the module itself rather than assumed; the pool
contract is checked against what the module really exports and imports, not
only against what the glue says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, UnsupportedGlueError

_MAGIC = b"\0asm\x01\0\0\0"
_IMPORT_SECTION = 2
_EXPORT_SECTION = 7


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


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise InputError("the wasm module ends early (truncated?)", self.path)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def name(self) -> str:
        length = self.uleb()
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def limits(self) -> tuple[int, int | None, bool]:
        flags = self.byte()
        initial = self.uleb()
        maximum = self.uleb() if flags & 0x01 else None
        return initial, maximum, bool(flags & 0x02)

    def skip_import_desc(self, kind: int) -> None:
        if kind == 0:  # function: type index
            self.uleb()
        elif kind == 1:  # table: reftype + limits
            self.byte()
            self.limits()
        elif kind == 3:  # global: valtype + mutability
            self.byte()
            self.byte()
        elif kind == 4:  # tag: attribute + type index
            self.byte()
            self.uleb()
        else:
            raise UnsupportedGlueError(f"unknown import kind {kind} in the wasm module", self.path)


def read_interface(path: Path) -> ModuleInterface:
    """The module's imported memory and the names of its function imports and exports."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the wasm module: {e.strerror}", path) from e
    if not data.startswith(_MAGIC):
        raise InputError("is not a WebAssembly module (bad magic number)", path)
    r = _Reader(data, path)
    r.pos = len(_MAGIC)
    memory, function_imports, exports = None, [], []
    # Every section is walked, not only the imports: a module cut short anywhere
    # would pass the patch and fail only when Node compiles it.
    while r.pos < len(data):
        section, size = r.byte(), r.uleb()
        end = r.pos + size
        if end > len(data):
            raise InputError("the wasm module ends inside a section (truncated?)", path)
        if section == _IMPORT_SECTION:
            for _ in range(r.uleb()):
                module, name, kind = r.name(), r.name(), r.byte()
                if kind == 2:
                    initial, maximum, shared = r.limits()
                    memory = MemoryImport(module, name, initial, maximum, shared)
                else:
                    if kind == 0:
                        function_imports.append(name)
                    r.skip_import_desc(kind)
        elif section == _EXPORT_SECTION:
            for _ in range(r.uleb()):
                exports.append(r.name())
                r.byte()  # kind
                r.uleb()  # index
        r.pos = end
    return ModuleInterface(memory, function_imports, exports)
