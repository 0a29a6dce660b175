"""Find the glue files, read one, and parse it into a Glue.

Bad input (missing, empty, binary, not UTF-8, not JavaScript) is refused here,
before any step looks at the tree: later steps may assume a clean parse, except
for the one construct tree-sitter does not know and the patch replaces, a
source-phase import of the .wasm.
"""

from __future__ import annotations

from pathlib import Path

from tree_sitter import Node

from .errors import InputError
from .model import Glue, SourceImport
from .syntax import errors, parse

GLUE_SUFFIXES = (".js", ".cjs", ".mjs")


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
    # Node loads .cjs and .mjs by their extension, whatever they hold (a `.cjs` with an
    # `import` is refused, not read as a module), and a `.js` by what it holds when its
    # package.json says nothing, as wasm-bindgen's do not.
    esm = path.suffix == ".mjs" or (
        path.suffix != ".cjs" and any(n.type in ("import_statement", "export_statement") for n in tree.root_node.children)
    )
    return Glue(path=path, source=source, tree=tree, module_format="esm" if esm else "commonjs", source_imports=source_imports)


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
