"""The sections of a .wasm binary, read into a ``Module``: its types, imports,
functions, exports, tables and their elements, globals, data, code bodies (not
decoded here: see ``code``), function and global names, and producers.

Every section is walked, not only the ones a question needs: a module cut short
anywhere would pass the patch and fail only when Node compiles it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, UnsupportedGlueError
from .code import REFTYPE_WITH_HEAP, Reader, UnknownOpcode

MAGIC = b"\0asm\x01\0\0\0"
CUSTOM_SECTION = 0
TYPE_SECTION = 1
IMPORT_SECTION = 2
FUNCTION_SECTION = 3
TABLE_SECTION = 4
GLOBAL_SECTION = 6
EXPORT_SECTION = 7
ELEMENT_SECTION = 9
CODE_SECTION = 10
DATA_SECTION = 11
TAG_SECTION = 13
_TAG_IMPORT = 4
FUNCTION_KIND, TABLE_KIND, GLOBAL_KIND = 0, 1, 3
_EXTERNREF = 0x6F


@dataclass(frozen=True)
class MemoryImport:
    module: str
    name: str
    initial: int
    maximum: int | None
    shared: bool
    memory64: bool = False  # addresses are i64 (the memory64 proposal)

    def js_descriptor(self) -> str:
        """The argument of ``new WebAssembly.Memory(...)`` for these limits."""
        parts = [f"initial: {self.initial}"]
        if self.maximum is not None:
            parts.append(f"maximum: {self.maximum}")
        parts.append("shared: true")
        return "{ " + ", ".join(parts) + " }"


# A function type: its parameter and result value types (a reference type with a heap type
# after it as a (type, heap type) pair), so that two types compare equal when they are.
FunctionType = tuple[tuple[object, ...], tuple[object, ...]]


@dataclass
class Module:
    """What the analyses read off a module's sections."""

    types: list[FunctionType] = field(default_factory=list)
    function_types: list[int] = field(default_factory=list)  # type of each function, imports first
    imports: list[tuple[str, str]] = field(default_factory=list)  # (module, name) of each function import
    exports: dict[str, int] = field(default_factory=dict)  # exported function -> its index
    export_names: list[str] = field(default_factory=list)  # every export, of any kind
    exported_tables: list[str] = field(default_factory=list)  # JS may put any exported function in these
    names: dict[int, str] = field(default_factory=dict)  # the name section's function names
    bodies: list[bytes] = field(default_factory=list)  # the code of each defined function
    body_offsets: list[int] = field(default_factory=list)  # where each body starts in the file
    imported_globals: int = 0  # the global index space has these first
    # Each instance has its own globals and tables (the memory alone is shared): the mutable
    # globals and the tables of JS values (externref), by index, imports first.
    mutable_globals: set[int] = field(default_factory=set)
    global_names: dict[int, str] = field(default_factory=dict)  # the name section's
    externref_tables: set[int] = field(default_factory=set)
    globals: int = 0
    tables: int = 0
    table: dict[int, int] = field(default_factory=dict)  # slot -> function, as instantiation fills table 0
    # Every function some element segment names, of any table and mode: the functions a table may
    # hold. False when a segment could not be read (then any function may be in a table).
    elements: set[int] = field(default_factory=set)
    elements_known: bool = True
    segments: list[tuple[int | None, bytes]] = field(default_factory=list)  # data: (active offset, bytes)
    # Each exception tag, imports first as the tag index space has them: the name it is imported
    # under, None for one the module defines. Without one, nothing can throw.
    tags: list[str | None] = field(default_factory=list)
    memory: MemoryImport | None = None  # None when the module defines its own memory
    # The producers section's `processed-by` tools and versions: wasm-bindgen writes its own there.
    processed_by: dict[str, str] = field(default_factory=dict)
    data: bytes = field(default=b"", repr=False)  # the whole module, as read
    # Each section in order: (id, where its payload starts, where it ends), in `data`.
    sections: list[tuple[int, int, int]] = field(default_factory=list)
    undecodable: str | None = None  # why, when a section had a form this reader does not know

    def function_name(self, index: int) -> str:
        """The name section's name of a function, or the import's, or its index."""
        if index < len(self.imports):
            return self.names.get(index) or f"{self.imports[index][0]}.{self.imports[index][1]}"
        return self.names.get(index) or f"function {index}"


class _Reader(Reader):
    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(data, lambda: InputError("the wasm module ends early (truncated?)", path))
        self.path = path

    def limits(self) -> tuple[int, int | None, bool, bool]:
        """Initial, maximum, shared, 64-bit (memory64)."""
        flags = self.byte()
        initial = self.uleb()
        maximum = self.uleb() if flags & 0x01 else None
        return initial, maximum, bool(flags & 0x02), bool(flags & 0x04)

    def valtype(self) -> object:
        kind = self.byte()
        return (kind, self.sleb()) if kind in REFTYPE_WITH_HEAP else kind

    def skip_tag(self) -> None:
        self.byte()  # attribute
        self.uleb()  # type index

    def offset(self) -> int | None:
        """A segment's offset: `i32.const N; end`, as wasm-ld writes it for a module
        that is not position-independent (the only kind wasm-bindgen takes); None
        for another constant expression."""
        if self.byte() != 0x41:
            self.constant_expression_rest()
            return None
        offset = self.sleb()
        if self.byte() != 0x0B:
            raise UnknownOpcode("a segment offset other than a constant")
        return offset

    def constant_expression(self) -> None:
        """Skips a global's initial value: one constant (or a `ref`), or the extended
        constant expressions' arithmetic on them."""
        while (op := self.byte()) != 0x0B:
            if op in (0x41, 0x42, 0x23, 0xD2):  # i32/i64.const, global.get, ref.func
                self.uleb()
            elif op in (0x43, 0x44):  # f32/f64.const
                self.skip(4 if op == 0x43 else 8)
            elif op == 0xD0:  # ref.null: a heap type (s33)
                self.sleb()
            elif op not in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # i32/i64 add, sub, mul
                raise UnknownOpcode(f"a global's initial value with opcode 0x{op:02X}")

    def constant_expression_rest(self) -> None:
        """Skips a constant expression whose first opcode was read: only global.get
        (a position-independent module's base) is expected there."""
        self.pos -= 1
        if self.byte() != 0x23:
            raise UnknownOpcode("a constant expression other than i32.const or global.get")
        self.uleb()
        if self.byte() != 0x0B:
            raise UnknownOpcode("a constant expression of more than one instruction")

    def element_function(self) -> int | None:
        """An element expression's function: `ref.func F; end` gives F, `ref.null t; end` none."""
        op = self.byte()
        if op == 0xD2:
            function = self.uleb()
        elif op == 0xD0:
            self.valtype()
            function = None
        else:
            raise UnknownOpcode("an element expression other than ref.func or ref.null")
        if self.byte() != 0x0B:
            raise UnknownOpcode("an element expression of more than one instruction")
        return function


def _types(r: _Reader, module: Module) -> None:
    for _ in range(r.uleb()):
        if r.byte() != 0x60:  # a GC type (rec, sub): not a module Rust emits
            raise UnknownOpcode("a type other than a function type")
        parameters = tuple(r.valtype() for _ in range(r.uleb()))
        results = tuple(r.valtype() for _ in range(r.uleb()))
        module.types.append((parameters, results))


def _elements(r: _Reader, module: Module) -> None:
    """Every element segment, in each of its eight forms: the functions it names
    (any of them may be called through a table), and for the segments that fill
    table 0 at instantiation, where (the vtables of hooks.py point there)."""
    for _ in range(r.uleb()):
        flags = r.uleb()
        table = r.uleb() if flags in (2, 6) else 0
        active = flags in (0, 2, 4, 6)
        offset = r.offset() if active else None
        expressions = flags >= 4
        if flags in (1, 2, 3):
            r.byte()  # the element kind: funcref
        elif flags in (5, 6, 7):
            r.valtype()
        functions = [r.element_function() if expressions else r.uleb() for _ in range(r.uleb())]
        module.elements.update(f for f in functions if f is not None)
        if active and table == 0 and offset is not None:
            module.table.update((offset + i, f) for i, f in enumerate(functions) if f is not None)


def _data(r: _Reader, module: Module) -> None:
    for _ in range(r.uleb()):
        flags = r.uleb()
        if flags == 2:
            r.uleb()  # memory index
        offset = None if flags == 1 else r.offset()
        length = r.uleb()
        module.segments.append((offset, r.data[r.pos : r.pos + length]))
        r.skip(length)


# The name section's subsections of function names and of global names.
_FUNCTION_NAMES, _GLOBAL_NAMES = 1, 7


def _names(r: _Reader, end: int, module: Module) -> None:
    while r.pos < end:
        subsection, size = r.byte(), r.uleb()
        after = r.pos + size
        names = {_FUNCTION_NAMES: module.names, _GLOBAL_NAMES: module.global_names}.get(subsection)
        if names is not None:
            for _ in range(r.uleb()):
                index = r.uleb()
                names[index] = r.name()
        r.pos = after


def _table_type(r: _Reader, module: Module) -> None:
    if r.valtype() == _EXTERNREF:
        module.externref_tables.add(module.tables)
    module.tables += 1
    r.limits()


def _global_type(r: _Reader, module: Module) -> None:
    r.valtype()
    if r.byte() & 0x01:
        module.mutable_globals.add(module.globals)
    module.globals += 1


def _processed_by(r: _Reader) -> dict[str, str]:
    tools = {}
    for _ in range(r.uleb()):
        field_name = r.name()
        for _ in range(r.uleb()):
            tool, version = r.name(), r.name()
            if field_name == "processed-by":
                tools[tool] = version
    return tools


def _section(r: _Reader, section: int, end: int, module: Module) -> None:
    if section == IMPORT_SECTION:
        for _ in range(r.uleb()):
            mod, name, kind = r.name(), r.name(), r.byte()
            if kind == 2:
                module.memory = MemoryImport(mod, name, *r.limits())
            elif kind == FUNCTION_KIND:
                module.imports.append((mod, name))
                module.function_types.append(r.uleb())
            elif kind == TABLE_KIND:
                _table_type(r, module)
            elif kind == GLOBAL_KIND:
                _global_type(r, module)
                module.imported_globals += 1
            elif kind == _TAG_IMPORT:
                module.tags.append(name)
                r.skip_tag()
            else:
                raise UnsupportedGlueError(f"unknown import kind {kind} in the wasm module", r.path)
    elif section == EXPORT_SECTION:
        for _ in range(r.uleb()):
            name, kind, index = r.name(), r.byte(), r.uleb()
            module.export_names.append(name)
            if kind == FUNCTION_KIND:
                module.exports[name] = index
            elif kind == TABLE_KIND:
                module.exported_tables.append(name)
    elif section == TYPE_SECTION:
        _types(r, module)
    elif section == FUNCTION_SECTION:
        module.function_types += [r.uleb() for _ in range(r.uleb())]
    elif section == TABLE_SECTION:
        for _ in range(r.uleb()):
            _table_type(r, module)
    elif section == GLOBAL_SECTION:
        count = r.uleb()
        for done in range(count):
            _global_type(r, module)
            try:
                r.constant_expression()
            except UnknownOpcode:
                # An initial value of a form unknown here: the globals after it are read as
                # mutable (each instance's own), which keeps more calls on the pool, nothing worse.
                module.mutable_globals.update(range(module.globals, module.globals + count - done - 1))
                module.globals += count - done - 1
                return
    elif section == ELEMENT_SECTION:
        try:
            _elements(r, module)
        except UnknownOpcode:
            module.elements_known = False
            raise
    elif section == DATA_SECTION:
        _data(r, module)
    elif section == TAG_SECTION:
        for _ in range(r.uleb()):
            r.skip_tag()  # a defined tag is written as an imported one is
            module.tags.append(None)
    elif section == CODE_SECTION:
        for _ in range(r.uleb()):
            size = r.uleb()
            module.body_offsets.append(r.pos)
            module.bodies.append(r.data[r.pos : r.pos + size])
            r.skip(size)
    elif section == CUSTOM_SECTION:
        name = r.name()
        if name == "name":
            _names(r, end, module)
        elif name == "producers":
            module.processed_by = _processed_by(r)


def read_module(path: Path) -> Module:
    """The module's sections; raises InputError for a file that is not a whole
    wasm module. A section in a form this reader does not know is noted in
    `undecodable` (see read_interface)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the wasm module: {e.strerror}", path) from e
    if not data.startswith(MAGIC):
        raise InputError("is not a WebAssembly module (bad magic number)", path)
    r = _Reader(data, path)
    r.pos = len(MAGIC)
    module = Module(data=data)
    while r.pos < len(data):
        section, size = r.byte(), r.uleb()
        end = r.pos + size
        if end > len(data):
            raise InputError("the wasm module ends inside a section (truncated?)", path)
        module.sections.append((section, r.pos, end))
        try:
            _section(r, section, end, module)
        except UnknownOpcode as e:
            module.undecodable = str(e)
        r.pos = end
    return module
