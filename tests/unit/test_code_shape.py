"""The house rules of the code, as checks anyone can run: one home per piece of
logic (no block of six or more lines written twice in the runtime or the
patcher), functions a reader can hold in mind (none over ~80 lines), and no
runtime JS hidden in Python strings, where no linter, editor or test reads it
(the patch writes names and values, and brackets named *_BRACKET; the logic is
in runtime_js/)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import tree_sitter_javascript
from tree_sitter import Language, Parser

from conftest import ROOT

RUNTIME = sorted(p for p in (ROOT / "runtime_js").rglob("*.cjs") if "test" not in p.relative_to(ROOT / "runtime_js").parts)
PATCHER = sorted((ROOT / "wbg_patch").rglob("*.py"))
MAX_FUNCTION_LINES = 80
REPEATED_LINES = 6


def significant_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text with white space folded) of the lines that carry code:
    not blank, not only a comment, not lone punctuation, not an import."""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = " ".join(line.split())
        if not text or text.startswith(("//", "#", "*", "/*", '"""')) or not re.search(r"\w", text):
            continue
        if re.match(r"(from \S+ )?import |const .* = require\(", text):
            continue
        out.append((number, text))
    return out


def test_no_block_of_code_is_written_twice():
    seen: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in RUNTIME + PATCHER:
        lines = significant_lines(path)
        for i in range(len(lines) - REPEATED_LINES + 1):
            window = tuple(text for _, text in lines[i : i + REPEATED_LINES])
            seen[window].append(f"{path.relative_to(ROOT)}:{lines[i][0]}")
    repeated = {places[0]: places[1:] for places in seen.values() if len(places) > 1}
    assert not repeated, f"the same {REPEATED_LINES} lines stand in more than one place: {repeated}"


def test_no_function_is_longer_than_a_reader_can_hold():
    long = []
    for path in PATCHER:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    parser = Parser(Language(tree_sitter_javascript.language()))
    kinds = {"function_declaration", "function_expression", "arrow_function", "method_definition", "generator_function_declaration"}
    for path in RUNTIME:
        stack = [parser.parse(path.read_bytes()).root_node]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.type in kinds and node.end_point[0] - node.start_point[0] + 1 > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(ROOT)}:{node.start_point[0] + 1} {node.type}")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


# What JS logic looks like: control flow, operators that decide, function bodies.
JS_LOGIC = re.compile(
    r"\bfunction\s*\w*\s*\(|\breturn\b|\bif\s*\(|\belse\b|\bthrow\b|\btry\s*\{|\bcatch\s*\(|\bfor\s*\(|"
    r"\bwhile\s*\(|\bswitch\s*\(|\btypeof\b|\binstanceof\b|=>\s*\{|===|!==|&&|\|\||\?\?|\?[^:?]*:"
)


def python_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string literal, f-strings' literal parts included,
    except docstrings and the messages of raised errors (prose that may quote
    the glue it talks about)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        if isinstance(node, ast.Raise):
            skip.update(id(n) for n in ast.walk(node))
        # A bracket the patch puts around the glue's own code (prelude.ROUTE_BRACKET): syntax
        # that makes the runtime's call at the end happen however the code ends, no decision.
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("_BRACKET") for t in node.targets):
            skip.update(id(n) for n in ast.walk(node))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


# wbg_patch/wasm/ reads the .wasm and writes no JS (its strings are symbol patterns and
# import names, such as wasm-bindgen's `throw` and `typeof` intrinsics); wbg_patch/cargo/
# reads cargo's configuration and messages (its patterns are cfg expressions and rustc's words).
READS_NO_JS = ("wasm", "cargo")
WRITES_JS = [p for p in PATCHER if not set(READS_NO_JS) & set(p.relative_to(ROOT / "wbg_patch").parts[:-1])]


def test_the_patcher_writes_no_js_logic_only_names_and_values():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in WRITES_JS
        for line, text in python_strings(ast.parse(path.read_text()))
        if JS_LOGIC.search(text)
    ]
    assert not found, f"JS logic in Python strings (it belongs in runtime_js/): {found}"


def test_the_js_logic_check_sees_the_logic_it_forbids():
    tree = ast.parse('PRELUDE = f"""function __wbg_wasm() {{ return x === undefined ? wasm : x; }}"""\nOK = "__wbg_pool.wasm()"\n')
    assert [line for line, text in python_strings(tree) if JS_LOGIC.search(text)] == [1]
