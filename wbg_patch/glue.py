"""Read, parse and understand wasm-bindgen glue: the places a patch touches.

Everything here is located on the tree-sitter syntax tree, never by matching
text, so formatting, comments and names elsewhere in the file do not matter.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterator

import tree_sitter_javascript
from tree_sitter import Language, Node, Parser, Tree

from .errors import AlreadyPatchedError, InputError, NotGlueError, UnsupportedGlueError
from .wasm_module import MemoryImport, ModuleInterface, read_interface

JS = Language(tree_sitter_javascript.language())
GLUE_SUFFIXES = (".js", ".cjs", ".mjs")
# The marker the rewrite leaves; the version in it makes patching idempotent.
MARKER_RE = re.compile(r"^/\* wbg-patch ([0-9][^ :]*):")
# In the marker: what the glue was before the patch (which may have changed what shows).
GLUE_LINE = "glue: --target "
GLUE_LINE_RE = re.compile(r"^ \* glue: --target (\S+); (\w+); contract (\S+) \*/$", re.MULTILINE)
# The options the glue was patched with, as JSON in a comment of their own.
CONFIG_PREFIX = "/* wbg-patch-config "
# A digest of the whole patched glue, so that --check notices any later edit.
DIGEST_PREFIX = "/* wbg-patch-digest sha256:"
DIGEST_BLANK = "0" * 64
# What to build instead, said in every refusal of a target that is not for Node.
BUILD_FOR_NODE = (
    "build for Node: `wasm-pack build --target nodejs` or `wasm-bindgen --target nodejs` (CommonJS), "
    "or `wasm-bindgen --target experimental-nodejs-module` (ES module)"
)
WITH_THREADS = (
    "build with threads: -C target-feature=+atomics,+bulk-memory,+mutable-globals, "
    "-C link-args=--shared-memory --import-memory --max-memory=N and -Z build-std=panic_abort,std "
    "(see rust_example/.cargo/config.toml)"
)


class Generation(Enum):
    """How a threaded module's glue instantiates it: what the patch must change."""

    # wasm-bindgen >= 0.2.109, nodejs and experimental-nodejs-module: `initSync`,
    # called by the glue itself on the main thread.
    INIT_SYNC = "initSync, called on load (wasm-bindgen >= 0.2.109)"
    # wasm-bindgen >= 0.2.109, web: `initSync`, called by the user.
    EXPLICIT_INIT = "initSync, called by the user (wasm-bindgen >= 0.2.109, --target web)"
    # wasm-bindgen >= 0.2.109, module: instantiated by the module's top-level code.
    ON_LOAD = "instantiated on load (wasm-bindgen >= 0.2.109, --target module)"
    # wasm-bindgen 0.2.100-0.2.108, nodejs: the memory made by a top-level
    # statement, the module instantiated by top-level code on require.
    LOAD_TIME = "instantiated on require (wasm-bindgen 0.2.100-0.2.108, --target nodejs)"
    # wasm-bindgen <= 0.2.97: `imports['env'] = require('env')`, instantiated on require.
    LEGACY_ENV = "require('env') (wasm-bindgen <= 0.2.97)"


@dataclass
class SourceImport:
    """`import source <name> from "<specifier>"` (a source-phase import of the
    wasm module, --target module): Node 20 cannot load it, tree-sitter does not
    know it, and the patch replaces it."""

    statement: Node
    name: str
    specifier: str


@dataclass
class Glue:
    """What the patcher knows about one glue file."""

    path: Path
    source: bytes
    tree: Tree
    module_format: str  # "commonjs" or "esm"
    source_imports: list[SourceImport] = field(default_factory=list)
    target: str | None = None  # the wasm-bindgen --target that wrote it, as far as it shows
    patched_by: str | None = None
    patch_config: dict | None = None  # the options stored by the patch
    config_comment: Node | None = None
    digest_comment: Node | None = None
    generation: Generation | None = None
    contract: str | None = None  # the pool contract's kind (contract.Kind value), once detected
    wasm_declaration: Node | None = None
    wasm_assignments: list[Node] = field(default_factory=list)
    wasm_member_reads: list[Node] = field(default_factory=list)
    memory_site: Node | None = None  # the expression that makes (or fails to make) the memory
    finalization_registries: list[Node] = field(default_factory=list)  # `new FinalizationRegistry(...)`
    # The statement block of `__wbindgen_init_externref_table`, and its table variable (glue whose
    # module keeps JS values in an externref table): where each instance reserves its own slots
    externref_init: Node | None = None
    externref_table_variable: str | None = None
    externref_table: str | None = None  # the table's export name, e.g. `__wbindgen_externrefs`
    # `x.__wbg_ptr` of the glue's classes: every use of an object's address, and where it is set
    pointer_reads: list[Node] = field(default_factory=list)
    pointer_writes: list[Node] = field(default_factory=list)  # `x.__wbg_ptr = value` assignments
    module_variable: str | None = None
    init_sync: str | None = None  # how the prelude calls initSync: `exports.initSync` or `initSync`
    init_flag: str | None = None  # INIT_SYNC: the `if (flag) return wasm;` guard of initSync
    instance: Node | None = None  # ON_LOAD, LOAD_TIME: `new WebAssembly.Instance(...)`, run again on reset
    instance_variable: str | None = None  # ON_LOAD: the `let` that holds that instance
    memory_statement: Node | None = None  # LOAD_TIME: the top-level statement that makes the memory, run again on reset
    exposes_instance: bool = False  # LOAD_TIME: the glue exports its instance's exports as `__wasm`
    module_compile: Node | None = None  # LOAD_TIME: `new WebAssembly.Module(bytes)`, skipped where a module is given
    header_site: int = 0  # ESM: where the imports the prelude needs go
    memory: MemoryImport | None = None
    wasm_file: Path | None = None
    module_interface: ModuleInterface | None = None
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

    def edited_after_patch(self) -> str | None:
        """For glue this version patched: why it is no longer what the patch
        wrote (a `wasm.x` read that bypasses the pool, any other edit), or None."""
        if self.wasm_member_reads:
            first = self.wasm_member_reads[0]
            return (
                f"was edited after patching: `{self.text(first.parent)}` at line {self.line(first)} "
                f"reads `wasm` directly, bypassing the pool ({len(self.wasm_member_reads)} such read(s))"
            )
        if self.digest_comment is None or digest_of(self.source, self.digest_comment) != self.text(self.digest_comment):
            return "was edited after patching (its content no longer matches the digest the patch recorded)"
        return None


def digest_comment_text(source: bytes, start: int, end: int) -> str:
    """The digest comment for `source` whose digest comment spans [start, end):
    a sha256 over the whole file with the digest itself blanked."""
    blanked = source[:start] + f"{DIGEST_PREFIX}{DIGEST_BLANK} */".encode() + source[end:]
    return f"{DIGEST_PREFIX}{hashlib.sha256(blanked).hexdigest()} */"


def digest_of(source: bytes, comment: Node) -> str:
    return digest_comment_text(source, comment.start_byte, comment.end_byte)


def parse(source: bytes) -> Tree:
    return Parser(JS).parse(source)


def errors(node: Node) -> Iterator[Node]:
    """Every ERROR or MISSING node below `node`, outermost first, in source order."""
    if node.type == "ERROR" or node.is_missing:
        yield node
        return
    if node.has_error:
        for child in node.children:
            yield from errors(child)


def first_error(node: Node) -> Node | None:
    """The first ERROR or MISSING node below `node`, in source order."""
    return next(errors(node), None)


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


def _source_import(error: Node) -> SourceImport | None:
    """The source-phase import an ERROR node marks, if that is what it is:
    tree-sitter reads `import source x from "y"` as an import whose `source`
    keyword is an error."""
    statement = error.parent
    if (
        statement is None
        or statement.type != "import_statement"
        or statement.parent is None
        or statement.parent.type != "program"
        or error.text != b"source"
    ):
        return None
    clause = next((c for c in statement.named_children if c.type == "import_clause"), None)
    specifier = statement.child_by_field_name("source")
    if clause is None or specifier is None or len(clause.named_children) != 1 or clause.named_children[0].type != "identifier":
        return None
    return SourceImport(statement, clause.named_children[0].text.decode(), specifier.text[1:-1].decode())


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
    source_imports = []
    for bad in errors(tree.root_node):
        found = _source_import(bad)
        if found is not None:
            source_imports.append(found)
            continue
        row, col = bad.start_point
        raise InputError(f"is not valid JavaScript (syntax error at line {row + 1}, column {col + 1}); truncated or corrupted?", path)
    esm = any(n.type in ("import_statement", "export_statement") for n in tree.root_node.children)
    return Glue(path=path, source=source, tree=tree, module_format="esm" if esm else "commonjs", source_imports=source_imports)


def locate(glue: Glue) -> Glue:
    """Finds every place a patch touches; raises when the glue is not patchable."""
    glue.patched_by = _marker_version(glue)
    if glue.target is None:
        glue.target = _target(glue)
    if glue.patched_by is None:
        _refuse_targets_not_for_node(glue)
    _locate_wasm_binding(glue)
    glue.exports = [name for name, _ in exported_values(glue)]
    if glue.patched_by is not None:
        return glue
    _refuse_hand_rewrite(glue)
    init_sync = _init_sync_function(glue)
    glue.generation = _generation(glue, init_sync is not None)
    glue.module_variable = _find_module_variable(glue)
    if glue.generation in (Generation.INIT_SYNC, Generation.EXPLICIT_INIT):
        if init_sync is None:
            raise UnsupportedGlueError("has `__wbg_get_imports(memory)` but no `initSync` function", glue.path)
        glue.init_sync, init_sync_body = init_sync
        if glue.generation is Generation.INIT_SYNC:
            glue.init_flag = _find_init_flag(glue, init_sync_body)
    if glue.generation is Generation.ON_LOAD:
        glue.instance, glue.instance_variable = _find_top_level_instance(glue)
    if glue.generation is Generation.LOAD_TIME:
        glue.instance, glue.module_compile = _find_load_time_instantiation(glue)
        glue.exposes_instance = any(
            _is_member(n, "exports", "__wasm") or _is_member(n, "module.exports", "__wasm") for n in glue.nodes("member_expression")
        )
    if glue.module_format == "esm":
        glue.header_site = next(c.start_byte for c in glue.tree.root_node.children if c.type != "comment")
    glue.finalization_registries = [n for n in glue.nodes("new_expression") if _is_new(n, "FinalizationRegistry")]
    _locate_pointers(glue)
    _locate_externref_init(glue)
    glue.wasm_file = _find_wasm_file(glue)
    glue.memory = _memory_limits(glue)
    return glue


def _locate_pointers(glue: Glue) -> None:
    """Every `x.__wbg_ptr` of the glue's classes: the object's address in the
    memory. Reads (a method, a getter, `free()`, the object passed as an
    argument) and the assignments that give an object its address."""
    for node in glue.nodes("member_expression"):
        prop = node.child_by_field_name("property")
        if prop is None or prop.text != b"__wbg_ptr":
            continue
        parent = node.parent
        if parent.type == "assignment_expression" and parent.child_by_field_name("left") == node:
            glue.pointer_writes.append(parent)
        elif parent.type in ("augmented_assignment_expression", "update_expression") or (
            parent.type == "unary_expression" and parent.child(0).type == "delete"
        ):
            raise UnsupportedGlueError(
                f"changes an object's address in place at line {glue.line(node)} (`{glue.text(parent)}`), "
                "which wasm-bindgen does not generate; the stale-object check could not follow it",
                glue.path,
            )
        elif b"?." in glue.source[node.child_by_field_name("object").end_byte : prop.start_byte]:
            raise UnsupportedGlueError(
                f"reads an address with optional chaining at line {glue.line(node)}, which wasm-bindgen does not generate",
                glue.path,
            )
        else:
            glue.pointer_reads.append(node)


EXTERNREF_INIT = "__wbindgen_init_externref_table"


def _function_name(fn: Node) -> str | None:
    """The name a function is known by: declared, a property key, or the member it is assigned to."""
    name = fn.child_by_field_name("name")
    parent = fn.parent
    if name is None and parent.type == "pair" and parent.child_by_field_name("value") == fn:
        name = parent.child_by_field_name("key")
    if name is None and parent.type == "assignment_expression" and parent.child_by_field_name("right") == fn:
        left = parent.child_by_field_name("left")
        name = left.child_by_field_name("property") if left.type == "member_expression" else left
    return name.text.decode() if name is not None else None


def _locate_externref_init(glue: Glue) -> None:
    """wasm-bindgen's `__wbindgen_init_externref_table` import, which every
    instance runs first: `const table = wasm.<table>; const offset = table.grow(4); …`.
    The patch lets each instance reserve its own range of table slots there."""
    found = [n for n in glue.nodes("function_expression", "function", "function_declaration") if _function_name(n) == EXTERNREF_INIT]
    if not found:
        return
    if len(found) > 1:
        raise UnsupportedGlueError(f"defines {EXTERNREF_INIT} {len(found)} times (lines {', '.join(str(glue.line(n)) for n in found)})", glue.path)
    body = found[0].child_by_field_name("body")
    first = body.named_children[0] if body.named_children else None
    declarator = first.named_children[0] if first is not None and first.type == "lexical_declaration" else None
    value = declarator.child_by_field_name("value") if declarator is not None else None
    if value is None or not (value.type == "member_expression" and _is_ident(value.child_by_field_name("object"), "wasm")):
        raise UnsupportedGlueError(
            f"has {EXTERNREF_INIT} at line {glue.line(found[0])}, but it does not start with `const table = wasm.<table>;` "
            "as wasm-bindgen writes it; the per-instance JS value slots could not be set up",
            glue.path,
        )
    glue.externref_init = body
    glue.externref_table_variable = declarator.child_by_field_name("name").text.decode()
    glue.externref_table = value.child_by_field_name("property").text.decode()


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
            before = GLUE_LINE_RE.search(text)
            if before is not None and before.group(2) in Generation.__members__:
                glue.target, glue.generation = before.group(1), Generation[before.group(2)]
                glue.contract = before.group(3)
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


def _top_level_declarators(glue: Glue) -> dict[str, Node]:
    """Variables declared at the top level of the glue, by name."""
    found = {}
    for stmt in glue.tree.root_node.children:
        if stmt.type in ("lexical_declaration", "variable_declaration"):
            for decl in stmt.named_children:
                name = decl.child_by_field_name("name") if decl.type == "variable_declarator" else None
                if name is not None and name.type == "identifier":
                    found[name.text.decode()] = decl
    return found


def _target(glue: Glue) -> str:
    """Which `--target` wrote this glue, from what shows in it."""
    if glue.module_format == "commonjs":
        return "no-modules" if "wasm_bindgen" in _top_level_declarators(glue) else "nodejs"
    if glue.source_imports:
        return "module"
    for stmt in glue.tree.root_node.children:
        source = stmt.child_by_field_name("source") if stmt.type == "import_statement" else None
        if source is not None and source.text[1:-1].endswith(b".wasm"):
            return "bundler"  # `import * as wasm from "./x_bg.wasm"`: needs a bundler's wasm loader
    if any(n.parent is not None and _outside_functions(n) for n in glue.nodes("await_expression")):
        return "deno"  # top-level await of instantiateStreaming(fetch(...))
    if any(
        spec.child_by_field_name("alias") is not None and spec.child_by_field_name("alias").text == b"default"
        for spec in glue.nodes("export_specifier")
    ) or any(stmt.type == "export_statement" and any(c.type == "default" for c in stmt.children) for stmt in glue.tree.root_node.children):
        return "web"  # `export { initSync, __wbg_init as default }`, or (<= 0.2.108) `export default __wbg_init`
    return "experimental-nodejs-module"


def _outside_functions(node: Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in ("function_declaration", "function_expression", "arrow_function", "method_definition"):
            return False
        parent = parent.parent
    return True


def _refuse_targets_not_for_node(glue: Glue) -> None:
    why = {
        "no-modules": "is `--target no-modules` glue (a browser script)",
        "bundler": "is `--target bundler` glue: it imports the .wasm file, which only a bundler can load",
        "deno": "is `--target deno` glue: it fetches the .wasm file with top-level await",
    }.get(glue.target or "")
    if why is not None:
        raise UnsupportedGlueError(f"{why}; {BUILD_FOR_NODE}", glue.path)


def _locate_wasm_binding(glue: Glue) -> None:
    glue.wasm_declaration = next(
        (d.parent for name, d in _top_level_declarators(glue).items() if name == "wasm"), None
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
    ] + [
        d for d in glue.wasm_declaration.named_children
        if _is_ident(d.child_by_field_name("name"), "wasm") and d.child_by_field_name("value") is not None
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
    over it would fight that code, so it is refused with its location. Only
    wasm-bindgen's own auto-init may use it: `if (isMainThread) initSync()`,
    with `isMainThread` imported from worker_threads (ESM) or read off
    `require('worker_threads')` (CommonJS)."""
    for node in glue.nodes("identifier", "property_identifier", "shorthand_property_identifier_pattern"):
        if node.text == b"isMainThread" and not (_is_generated_auto_init(node) or _is_worker_threads_import(node)):
            raise AlreadyPatchedError(
                f"looks rewritten by hand: `isMainThread` at line {glue.line(node)} selects memory or threads "
                "outside wasm-bindgen's own code; patch the untouched wasm-bindgen output instead",
                glue.path,
            )


def _is_generated_auto_init(node: Node) -> bool:
    """`isMainThread` as the whole condition of an `if` (CommonJS: off `require('worker_threads')`)."""
    condition = node
    if node.parent is not None and node.parent.type == "member_expression":
        if not _is_require(node.parent.child_by_field_name("object"), "worker_threads"):
            return False
        condition = node.parent
    elif node.type != "identifier":
        return False
    wrapper = condition.parent
    return (
        wrapper is not None
        and wrapper.type == "parenthesized_expression"
        and wrapper.parent is not None
        and wrapper.parent.type == "if_statement"
    )


def _is_worker_threads_import(node: Node) -> bool:
    spec = node.parent
    statement = spec.parent.parent.parent if spec is not None and spec.type == "import_specifier" else None
    if statement is None or statement.type != "import_statement":
        return False
    source = statement.child_by_field_name("source")
    return source is not None and source.text[1:-1] in (b"worker_threads", b"node:worker_threads")


def _generation(glue: Glue, has_init_sync: bool) -> Generation:
    memory_pair = _find_memory_pair(glue)
    if memory_pair is not None:
        glue.memory_site = memory_pair
        if glue.target == "module" or (glue.target == "nodejs" and not has_init_sync):
            return Generation.ON_LOAD
        return Generation.EXPLICIT_INIT if glue.target == "web" else Generation.INIT_SYNC
    if glue.module_format == "commonjs":
        env_require = _find_env_require(glue)
        if env_require is not None:
            glue.memory_site = env_require
            return Generation.LEGACY_ENV
        made = _find_load_time_memory(glue)
        if made is not None:
            glue.memory_statement, glue.memory_site = made
            return Generation.LOAD_TIME
    split = next(
        (
            n.child_by_field_name("source").text[1:-1].decode()
            for n in glue.tree.root_node.children
            if n.type == "import_statement" and n.child_by_field_name("source").text[1:-1].endswith(b"_bg.js")
        ),
        None,
    )
    if split is not None:
        raise UnsupportedGlueError(
            f"is `--target {glue.target}` glue split over two files (its memory is made in {split}), as wasm-bindgen "
            "before 0.2.109 writes it; wbg-patch runs those generations as `--target nodejs` (CommonJS) only: build "
            "with `wasm-bindgen --target nodejs`, or with wasm-bindgen 0.2.109 or newer for ES-module glue",
            glue.path,
        )
    if any(
        _is_new(n, "WebAssembly.Memory") and b"shared" in n.text for n in glue.nodes("new_expression")
    ) or any(n.text[1:-1] == b"env" for n in glue.nodes("string") if n.parent.type == "import_statement"):
        raise UnsupportedGlueError(
            f"is threaded `--target {glue.target}` glue of a wasm-bindgen generation wbg-patch does not know "
            "(ES-module and web glue: wasm-bindgen >= 0.2.109; CommonJS: 0.2.89-0.2.97 and >= 0.2.100); "
            "build with `--target nodejs`, or with wasm-bindgen 0.2.109 or newer",
            glue.path,
        )
    raise UnsupportedGlueError(
        "imports no memory: the module was built without threads (no shared memory), so it has no pool "
        f"to run; {WITH_THREADS}",
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


def _find_load_time_memory(glue: Glue) -> tuple[Node, Node] | None:
    """A top-level statement that makes the shared memory: `exports.memory =
    new WebAssembly.Memory(...)` (0.2.105+) or `imports.wbg = { memory: new
    WebAssembly.Memory(...) }` (0.2.100); returns it and the `new` expression."""
    for statement in glue.tree.root_node.children:
        expr = statement.named_children[0] if statement.type == "expression_statement" and statement.named_children else None
        if expr is None or expr.type != "assignment_expression":
            continue
        value = expr.child_by_field_name("right")
        if _is_new(value, "WebAssembly.Memory"):
            return statement, value
        if value.type == "object":
            for pair in value.named_children:
                if pair.type == "pair" and pair.child_by_field_name("key").text == b"memory":
                    if _is_new(pair.child_by_field_name("value"), "WebAssembly.Memory"):
                        return statement, pair.child_by_field_name("value")
    return None


def _find_load_time_instantiation(glue: Glue) -> tuple[Node, Node | None]:
    """`new WebAssembly.Instance(...)` outside any function (run again on reset),
    and the top-level `new WebAssembly.Module(...)` that compiles the module."""
    instances = [n for n in glue.nodes("new_expression") if _is_new(n, "WebAssembly.Instance") and _outside_functions(n)]
    if len(instances) != 1:
        raise UnsupportedGlueError(
            f"instantiates its module on require, but with {len(instances)} top-level `new WebAssembly.Instance` "
            "(expected one)",
            glue.path,
        )
    compiles = [n for n in glue.nodes("new_expression") if _is_new(n, "WebAssembly.Module") and _outside_functions(n)]
    return instances[0], compiles[0] if len(compiles) == 1 else None


def _find_module_variable(glue: Glue) -> str:
    """The top-level variable holding the compiled module: the first argument
    of `new WebAssembly.Instance(module, imports)` when that is one (nodejs,
    module), else the variable `__wbg_finalize_init(instance, module)` stores
    its `module` parameter in (web)."""
    declared = _top_level_declarators(glue)
    for source_import in glue.source_imports:
        declared[source_import.name] = source_import.statement
    for node in glue.nodes("new_expression"):
        if _is_new(node, "WebAssembly.Instance"):
            args = node.child_by_field_name("arguments").named_children
            if args and args[0].type == "identifier" and args[0].text.decode() in declared:
                return glue.text(args[0])
    for assignment in glue.nodes("assignment_expression"):
        left, right = assignment.child_by_field_name("left"), assignment.child_by_field_name("right")
        if left.type == "identifier" and left.text.decode() in declared and _is_ident(right, "module"):
            function = _enclosing_function(assignment)
            params = function.child_by_field_name("parameters") if function is not None else None
            if params is not None and any(_is_ident(p, "module") for p in params.named_children):
                return left.text.decode()
    raise UnsupportedGlueError("has no `new WebAssembly.Instance(module, imports)`: cannot find the instantiation", glue.path)


def _enclosing_function(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in ("function_declaration", "function_expression", "arrow_function"):
        parent = parent.parent
    return parent


def _init_sync_function(glue: Glue) -> tuple[str, Node] | None:
    """`exports.initSync = function (...) {...}` (CommonJS) or
    `function initSync(...) {...}` (ES module): how to call it, and its body."""
    for node in glue.nodes("assignment_expression"):
        if _is_member(node.child_by_field_name("left"), "exports", "initSync"):
            return "exports.initSync", node.child_by_field_name("right")
    for node in glue.tree.root_node.children:
        function = node.child_by_field_name("declaration") if node.type == "export_statement" else node
        if function is not None and function.type == "function_declaration" and _is_ident(function.child_by_field_name("name"), "initSync"):
            return "initSync", function
    return None


def _find_init_flag(glue: Glue, init_sync: Node) -> str:
    """The flag in `initSync`'s `if (flag) return wasm;` guard; clearing it
    lets the runtime instantiate again on fresh memory after a crash."""
    for inner in walk(init_sync):
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
    raise UnsupportedGlueError("has `__wbg_get_imports(memory)` but no `initSync` with its `if (…) return wasm;` guard", glue.path)


def _find_top_level_instance(glue: Glue) -> tuple[Node, str]:
    """`let <name> = new WebAssembly.Instance(...)` at the top level: the
    instantiation that a reset runs again."""
    for name, declarator in _top_level_declarators(glue).items():
        value = declarator.child_by_field_name("value")
        if _is_new(value, "WebAssembly.Instance"):
            if declarator.parent.child(0).type != "let":
                raise UnsupportedGlueError(f"holds its instance in `const {name}`, which a reset cannot replace", glue.path)
            return value, name
    raise UnsupportedGlueError("instantiates its module on load, but not with `let … = new WebAssembly.Instance(…)`", glue.path)


def _find_wasm_file(glue: Glue) -> Path | None:
    """The module beside the glue, named in a string that ends in `_bg.wasm`."""
    names = [s.specifier for s in glue.source_imports] + [
        n.text.decode() for n in glue.nodes("string_fragment") if n.text.endswith(b"_bg.wasm")
    ]
    for name in names:
        candidate = glue.path.parent / name.rsplit("/", 1)[-1]
        if candidate.is_file():
            return candidate
    candidate = glue.path.with_name(glue.path.stem + "_bg.wasm")
    return candidate if candidate.is_file() else None


def _memory_limits(glue: Glue) -> MemoryImport:
    if glue.wasm_file is None:
        raise InputError(
            f"needs its module beside it ({glue.path.stem}_bg.wasm) to read the memory import's limits", glue.path
        )
    glue.module_interface = read_interface(glue.wasm_file)
    memory = glue.module_interface.memory
    if memory is None or not memory.shared:
        raise UnsupportedGlueError(
            f"the module does not import a shared memory: it was built without threads; {WITH_THREADS}",
            glue.wasm_file,
        )
    if memory.maximum is None:
        raise UnsupportedGlueError("the shared memory import has no maximum (shared memories need one)", glue.wasm_file)
    return memory


def exported_values(glue: Glue) -> list[tuple[str, Node | None]]:
    """(name, value) of every export: `exports.x = v`, `module.exports.x = v`,
    `export function x`, `export { x as y }` (the value is then the local name)."""
    found = []
    for stmt in glue.tree.root_node.children:
        expr = stmt.named_children[0] if stmt.type == "expression_statement" and stmt.named_children else None
        if expr is not None and expr.type == "assignment_expression":
            left = expr.child_by_field_name("left")
            if left.type == "member_expression":
                obj = left.child_by_field_name("object")
                if _is_ident(obj, "exports") or _is_member(obj, "module", "exports"):
                    found.append((glue.text(left.child_by_field_name("property")), expr.child_by_field_name("right")))
        if stmt.type == "export_statement":
            decl = stmt.child_by_field_name("declaration")
            if decl is not None and decl.child_by_field_name("name") is not None:
                found.append((glue.text(decl.child_by_field_name("name")), decl))
            for spec in (n for n in walk(stmt) if n.type == "export_specifier"):
                local = spec.child_by_field_name("name")
                found.append((glue.text(spec.child_by_field_name("alias") or local), local))
    return found


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
