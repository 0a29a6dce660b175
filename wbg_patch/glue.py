"""Read, parse and understand wasm-bindgen glue: the places a patch touches.

Everything here is located on the tree-sitter syntax tree, never by matching
text, so formatting, comments and names elsewhere in the file do not matter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterator

import tree_sitter_javascript
from tree_sitter import Language, Node, Parser, Tree

from .errors import AlreadyPatchedError, InputError, NotGlueError, UnsupportedGlueError
from .wasm_module import MemoryImport, read_memory_import

JS = Language(tree_sitter_javascript.language())
GLUE_SUFFIXES = (".js", ".cjs", ".mjs")
# The marker the rewrite leaves; the version in it makes patching idempotent.
MARKER_RE = re.compile(r"^/\* wbg-patch ([0-9][^ :]*):")
# The options the glue was patched with, as JSON in a comment of their own.
CONFIG_PREFIX = "/* wbg-patch-config "


class Generation(Enum):
    """The shapes of `--target nodejs` glue for a threaded module."""

    # wasm-bindgen >= 0.2.109: `__wbg_get_imports(memory)`, `exports.initSync`.
    INIT_SYNC = "initSync (wasm-bindgen >= 0.2.109)"
    # wasm-bindgen <= 0.2.97: `imports['env'] = require('env')`, instantiated on require.
    LEGACY_ENV = "require('env') (wasm-bindgen <= 0.2.97)"


@dataclass
class Glue:
    """What the patcher knows about one glue file."""

    path: Path
    source: bytes
    tree: Tree
    module_format: str  # "commonjs" or "esm"
    patched_by: str | None = None
    patch_config: dict | None = None  # the options stored by the patch
    config_comment: Node | None = None
    generation: Generation | None = None
    wasm_declaration: Node | None = None
    wasm_assignments: list[Node] = field(default_factory=list)
    wasm_member_reads: list[Node] = field(default_factory=list)
    memory_site: Node | None = None  # the expression that makes (or fails to make) the memory
    finalization_registries: list[Node] = field(default_factory=list)  # `new FinalizationRegistry(...)`
    module_variable: str | None = None
    init_flag: str | None = None  # INIT_SYNC: the `if (flag) return wasm;` guard of initSync
    memory: MemoryImport | None = None
    wasm_file: Path | None = None
    exports: list[str] = field(default_factory=list)
    _index: dict[str, list[Node]] | None = field(default=None, repr=False)

    def nodes(self, *types: str) -> list[Node]:
        """All nodes of these types, in source order (one walk, then cached:
        large glue has hundreds of thousands of nodes)."""
        if self._index is None:
            self._index = {}
            for n in walk(self.tree.root_node):
                self._index.setdefault(n.type, []).append(n)
        found = [n for t in types for n in self._index.get(t, [])]
        return sorted(found, key=lambda n: n.start_byte) if len(types) > 1 else found

    def line(self, node: Node) -> int:
        return node.start_point[0] + 1

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8")


def parse(source: bytes) -> Tree:
    return Parser(JS).parse(source)


def first_error(node: Node) -> Node | None:
    """The first ERROR or MISSING node below `node`, in source order."""
    if node.type == "ERROR" or node.is_missing:
        return node
    if not node.has_error:
        return None
    for child in node.children:
        found = first_error(child)
        if found is not None:
            return found
    return node


def walk(node: Node) -> Iterator[Node]:
    """Every node below `node` (itself included), in source order."""
    cursor = node.walk()
    while True:
        yield cursor.node
        if cursor.goto_first_child() or cursor.goto_next_sibling():
            continue
        while True:
            if not cursor.goto_parent() or cursor.node == node:
                return
            if cursor.goto_next_sibling():
                break


def _is_ident(node: Node | None, name: str) -> bool:
    return node is not None and node.type == "identifier" and node.text == name.encode()


def _is_member(node: Node | None, obj: str, prop: str) -> bool:
    """`obj.prop` (also with `obj` itself a dotted name)."""
    if node is None or node.type != "member_expression":
        return False
    o, p = node.child_by_field_name("object"), node.child_by_field_name("property")
    return p is not None and p.text == prop.encode() and o is not None and o.text == obj.encode()


def _is_new(node: Node | None, constructor: str) -> bool:
    if node is None or node.type != "new_expression":
        return False
    ctor = node.child_by_field_name("constructor")
    return ctor is not None and ctor.text == constructor.encode()


def _is_require(node: Node | None, module: str | None = None) -> bool:
    if node is None or node.type != "call_expression" or not _is_ident(node.child_by_field_name("function"), "require"):
        return False
    if module is None:
        return True
    args = [a for a in node.child_by_field_name("arguments").named_children]
    return len(args) == 1 and args[0].type in ("string", "template_string") and args[0].text[1:-1] == module.encode()


def read(path: Path) -> Glue:
    """Reads and parses one glue file; raises a PatchError for bad input."""
    try:
        source = path.read_bytes()
    except FileNotFoundError as e:
        raise InputError("no such file", path) from e
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path) from e
    if not source.strip():
        raise InputError("is empty; expected the JS glue that wasm-bindgen generated", path)
    if b"\0" in source[:8192]:
        raise InputError("is a binary file; expected the JS glue that wasm-bindgen generated", path)
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"is not UTF-8 text (byte {e.start}); expected JS glue", path) from e
    tree = parse(source)
    bad = first_error(tree.root_node)
    if bad is not None:
        row, col = bad.start_point
        statement = next((c for c in tree.root_node.children if c.start_byte <= bad.start_byte < c.end_byte), None)
        if statement is not None and statement.child_count and statement.children[0].type == "import":
            # e.g. `import source wasmModule from "./x_bg.wasm"` of --target module.
            raise UnsupportedGlueError(
                f"is ES-module glue with an import this parser does not know (line {row + 1}; "
                "`--target module`?); this version patches CommonJS glue only: build with `wasm-bindgen --target nodejs`",
                path,
            )
        raise InputError(f"is not valid JavaScript (syntax error at line {row + 1}, column {col + 1}); truncated or corrupted?", path)
    esm = any(n.type in ("import_statement", "export_statement") for n in tree.root_node.children)
    return Glue(path=path, source=source, tree=tree, module_format="esm" if esm else "commonjs")


def locate(glue: Glue) -> Glue:
    """Finds every place a patch touches; raises when the glue is not patchable."""
    glue.patched_by = _marker_version(glue)
    if glue.module_format == "esm" and glue.patched_by is None:
        raise UnsupportedGlueError(
            "is ES-module glue (wasm-bindgen --target experimental-nodejs-module, module, web, bundler or deno); "
            "this version patches CommonJS glue only: build with `wasm-bindgen --target nodejs`",
            glue.path,
        )
    _locate_wasm_binding(glue)
    glue.exports = _exported_names(glue)
    if glue.patched_by is not None:
        return glue
    _refuse_hand_rewrite(glue)
    memory_pair = _find_memory_pair(glue)
    env_require = _find_env_require(glue)
    if memory_pair is not None:
        glue.generation = Generation.INIT_SYNC
        glue.memory_site = memory_pair
    elif env_require is not None:
        glue.generation = Generation.LEGACY_ENV
        glue.memory_site = env_require
    else:
        raise UnsupportedGlueError(
            "has no memory import that wbg-patch knows (neither `memory: memory || new WebAssembly.Memory(...)` "
            "nor `imports['env'] = require('env')`): was the module built with shared memory "
            "(-C target-feature=+atomics and --shared-memory --import-memory link args)?",
            glue.path,
        )
    glue.module_variable = _find_module_variable(glue)
    if glue.generation is Generation.INIT_SYNC:
        glue.init_flag = _find_init_flag(glue)
    glue.finalization_registries = [n for n in glue.nodes("new_expression") if _is_new(n, "FinalizationRegistry")]
    glue.wasm_file = _find_wasm_file(glue)
    glue.memory = _memory_limits(glue)
    return glue


def _marker_version(glue: Glue) -> str | None:
    """The version in the patch marker, if any; also reads the stored options."""
    version = None
    for node in glue.tree.root_node.children:
        if node.type != "comment":
            continue
        text = glue.text(node)
        m = MARKER_RE.match(text)
        if m:
            version = m.group(1)
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


def _locate_wasm_binding(glue: Glue) -> None:
    root = glue.tree.root_node
    for stmt in root.children:
        if stmt.type in ("lexical_declaration", "variable_declaration"):
            for decl in stmt.named_children:
                if decl.type == "variable_declarator" and _is_ident(decl.child_by_field_name("name"), "wasm"):
                    glue.wasm_declaration = stmt
    if glue.wasm_declaration is None and any(
        _is_ident(d.child_by_field_name("name"), "wasm_bindgen")
        for stmt in root.children
        if stmt.type in ("lexical_declaration", "variable_declaration")
        for d in stmt.named_children
    ):
        raise UnsupportedGlueError(
            "is `--target no-modules` glue; this version patches CommonJS glue only: "
            "build with `wasm-bindgen --target nodejs`",
            glue.path,
        )
    if glue.wasm_declaration is None:
        raise NotGlueError(
            "has no top-level `let wasm` binding: this is not JS glue generated by wasm-bindgen "
            "(pass the <name>.js that wasm-bindgen wrote beside <name>_bg.wasm)",
            glue.path,
        )
    for node in glue.nodes("variable_declarator"):
        if node.parent != glue.wasm_declaration and _is_ident(node.child_by_field_name("name"), "wasm"):
            raise UnsupportedGlueError(
                f"declares another `wasm` at line {glue.line(node)}; the rewrite cannot tell the two apart", glue.path
            )
    for node in glue.nodes("formal_parameters"):
        if any(_is_ident(p, "wasm") for p in node.named_children):
            raise UnsupportedGlueError(f"has a parameter named `wasm` at line {glue.line(node)}", glue.path)
    glue.wasm_assignments = [
        n for n in glue.nodes("assignment_expression") if _is_ident(n.child_by_field_name("left"), "wasm")
    ]
    glue.wasm_member_reads = [
        n.child_by_field_name("object")
        for n in glue.nodes("member_expression")
        if _is_ident(n.child_by_field_name("object"), "wasm")
    ]
    if not glue.wasm_assignments:
        raise NotGlueError("never assigns the `wasm` binding: not wasm-bindgen glue", glue.path)


def _refuse_hand_rewrite(glue: Glue) -> None:
    """o1js-style glue selects memory with its own `isMainThread` block; patching
    over it would fight that code, so it is refused with its location."""
    for node in glue.nodes("identifier", "property_identifier", "shorthand_property_identifier_pattern"):
        if node.text == b"isMainThread":
            # wasm-bindgen's own auto-init: `if (require('worker_threads').isMainThread)`.
            parent = node.parent
            generated = (
                parent is not None
                and parent.type == "member_expression"
                and _is_require(parent.child_by_field_name("object"), "worker_threads")
                and parent.parent is not None
                and parent.parent.type == "parenthesized_expression"
                and parent.parent.parent is not None
                and parent.parent.parent.type == "if_statement"
            )
            if not generated:
                raise AlreadyPatchedError(
                    f"looks rewritten by hand: `isMainThread` at line {glue.line(node)} selects memory or threads "
                    "outside wasm-bindgen's own code; patch the untouched wasm-bindgen output instead",
                    glue.path,
                )


def _find_memory_pair(glue: Glue) -> Node | None:
    """`memory: memory || new WebAssembly.Memory({...})` in `__wbg_get_imports`;
    returns the `new WebAssembly.Memory(...)` expression."""
    for node in glue.nodes("pair"):
        if node.child_by_field_name("key").text == b"memory":
            value = node.child_by_field_name("value")
            if value.type == "binary_expression" and _is_new(value.child_by_field_name("right"), "WebAssembly.Memory"):
                return value.child_by_field_name("right")
    return None


def _find_env_require(glue: Glue) -> Node | None:
    """`imports['env'] = require('env')`; returns the `require('env')` call."""
    for node in glue.nodes("assignment_expression"):
        if _is_require(node.child_by_field_name("right"), "env"):
            left = node.child_by_field_name("left")
            if left.type == "subscript_expression" and left.child_by_field_name("index").text[1:-1] == b"env":
                return node.child_by_field_name("right")
    return None


def _find_module_variable(glue: Glue) -> str:
    """The variable holding the compiled module: first argument of
    `new WebAssembly.Instance(module, imports)`."""
    for node in glue.nodes("new_expression"):
        if _is_new(node, "WebAssembly.Instance"):
            args = node.child_by_field_name("arguments").named_children
            if args and args[0].type == "identifier":
                return glue.text(args[0])
    raise UnsupportedGlueError("has no `new WebAssembly.Instance(module, imports)`: cannot find the instantiation", glue.path)


def _find_init_flag(glue: Glue) -> str:
    """The flag in `exports.initSync = function (opts) { ... if (flag) return wasm; ... }`;
    clearing it lets the runtime instantiate again on fresh memory after a crash."""
    for node in glue.nodes("assignment_expression"):
        if _is_member(node.child_by_field_name("left"), "exports", "initSync"):
            for inner in walk(node.child_by_field_name("right")):
                if inner.type != "if_statement":
                    continue
                condition = inner.child_by_field_name("condition").named_children
                body = inner.child_by_field_name("consequence")
                if (
                    len(condition) == 1
                    and condition[0].type == "identifier"
                    and body.type == "return_statement"
                    and _is_ident(body.named_children[0] if body.named_children else None, "wasm")
                ):
                    return glue.text(condition[0])
    raise UnsupportedGlueError("has `__wbg_get_imports(memory)` but no `exports.initSync` with its `if (…) return wasm;` guard", glue.path)


def _find_wasm_file(glue: Glue) -> Path | None:
    """The module beside the glue, named in a string that ends in `_bg.wasm`."""
    for node in glue.nodes("string_fragment"):
        if node.text.endswith(b"_bg.wasm"):
            name = node.text.decode().rsplit("/", 1)[-1]
            candidate = glue.path.parent / name
            if candidate.is_file():
                return candidate
    candidate = glue.path.with_name(glue.path.stem + "_bg.wasm")
    return candidate if candidate.is_file() else None


def _memory_limits(glue: Glue) -> MemoryImport:
    if glue.wasm_file is None:
        raise InputError(
            f"needs its module beside it ({glue.path.stem}_bg.wasm) to read the memory import's limits", glue.path
        )
    memory = read_memory_import(glue.wasm_file)
    if memory is None or not memory.shared:
        raise UnsupportedGlueError(
            "the module does not import a shared memory: rebuild with -C target-feature=+atomics,+bulk-memory,"
            "+mutable-globals and -C link-args=--shared-memory --import-memory --max-memory=N",
            glue.wasm_file,
        )
    if memory.maximum is None:
        raise UnsupportedGlueError("the shared memory import has no maximum (shared memories need one)", glue.wasm_file)
    return memory


def _exported_names(glue: Glue) -> list[str]:
    names = []
    for stmt in glue.tree.root_node.children:
        expr = stmt.named_children[0] if stmt.type == "expression_statement" and stmt.named_children else None
        if expr is not None and expr.type == "assignment_expression":
            left = expr.child_by_field_name("left")
            if left.type == "member_expression":
                obj = left.child_by_field_name("object")
                if _is_ident(obj, "exports") or _is_member(obj, "module", "exports"):
                    names.append(glue.text(left.child_by_field_name("property")))
        if stmt.type == "export_statement":
            decl = stmt.child_by_field_name("declaration")
            if decl is not None and decl.child_by_field_name("name") is not None:
                names.append(glue.text(decl.child_by_field_name("name")))
            for spec in (n for n in walk(stmt) if n.type == "export_specifier"):
                alias = spec.child_by_field_name("alias") or spec.child_by_field_name("name")
                names.append(glue.text(alias))
    return names


def find_glue_files(directory: Path) -> list[Path]:
    """Glue files in a wasm-bindgen/wasm-pack output directory: `<name>.js`
    beside `<name>_bg.wasm`."""
    found = []
    for wasm in sorted(directory.glob("*_bg.wasm")):
        stem = wasm.name[: -len("_bg.wasm")]
        for suffix in GLUE_SUFFIXES:
            candidate = directory / f"{stem}{suffix}"
            if candidate.is_file():
                found.append(candidate)
    return found
