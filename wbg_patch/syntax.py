"""The tree-sitter view of JavaScript that every step shares: parse, walk, and
tell what a node is.

The patch finds what it changes on the syntax tree, never by matching text, so
formatting, comments and names elsewhere in the file do not matter; these are
the few questions about nodes that the steps ask.
"""

from __future__ import annotations

from typing import Iterator

import tree_sitter_javascript
from tree_sitter import Language, Node, Parser, Tree

JS = Language(tree_sitter_javascript.language())


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


def is_ident(node: Node | None, name: str) -> bool:
    return node is not None and node.type == "identifier" and node.text == name.encode()


def is_member(node: Node | None, obj: str, prop: str) -> bool:
    """`obj.prop` (also with `obj` itself a dotted name)."""
    if node is None or node.type != "member_expression":
        return False
    o, p = node.child_by_field_name("object"), node.child_by_field_name("property")
    return p is not None and p.text == prop.encode() and o is not None and o.text == obj.encode()


def is_new(node: Node | None, constructor: str) -> bool:
    if node is None or node.type != "new_expression":
        return False
    ctor = node.child_by_field_name("constructor")
    return ctor is not None and ctor.text == constructor.encode()


def is_require(node: Node | None, module: str | None = None) -> bool:
    if node is None or node.type != "call_expression" or not is_ident(node.child_by_field_name("function"), "require"):
        return False
    if module is None:
        return True
    args = [a for a in node.child_by_field_name("arguments").named_children]
    return len(args) == 1 and args[0].type in ("string", "template_string") and args[0].text[1:-1] == module.encode()


def outside_functions(node: Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in ("function_declaration", "function_expression", "arrow_function", "method_definition"):
            return False
        parent = parent.parent
    return True


def enclosing_function(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in ("function_declaration", "function_expression", "arrow_function"):
        parent = parent.parent
    return parent


def function_name(fn: Node) -> str | None:
    """The name a function is known by: declared, a property key, or the member it is assigned to."""
    name = fn.child_by_field_name("name")
    parent = fn.parent
    if name is None and parent.type == "pair" and parent.child_by_field_name("value") == fn:
        name = parent.child_by_field_name("key")
    if name is None and parent.type == "assignment_expression" and parent.child_by_field_name("right") == fn:
        left = parent.child_by_field_name("left")
        name = left.child_by_field_name("property") if left.type == "member_expression" else left
    return name.text.decode() if name is not None else None


# The nodes that bind names, and the field holding what each binds (formal_parameters: every
# child). Imports are left out: they bind at the top level only, where a second binding of a
# name is a SyntaxError.
BINDERS = {
    "variable_declarator": "name",
    "formal_parameters": None,
    "arrow_function": "parameter",  # `x => …`; `(x) => …` has formal_parameters
    "catch_clause": "parameter",
    "for_in_statement": "left",  # with `var`, `let` or `const` only: else it assigns
    "function_declaration": "name",
    "function_expression": "name",  # bound inside the function itself
    "generator_function_declaration": "name",
    "generator_function": "name",
    "class_declaration": "name",
    "class": "name",
}
# Destructuring: where in each pattern the names it binds are (None: every child).
_PATTERNS = {
    "object_pattern": None,
    "array_pattern": None,
    "rest_pattern": None,
    "pair_pattern": "value",
    "assignment_pattern": "left",
    "object_assignment_pattern": "left",
}


def bound_identifiers(binder: Node) -> Iterator[Node]:
    """The identifiers a node of BINDERS binds, destructuring patterns followed."""
    field_name = BINDERS[binder.type]
    if binder.type == "for_in_statement" and binder.child_by_field_name("kind") is None:
        return
    todo = binder.named_children if field_name is None else [binder.child_by_field_name(field_name)]
    while todo:
        node = todo.pop()
        if node is None:
            continue
        if node.type in ("identifier", "shorthand_property_identifier_pattern"):
            yield node
        elif node.type in _PATTERNS:
            inner = _PATTERNS[node.type]
            todo += node.named_children if inner is None else [node.child_by_field_name(inner)]


def top_level_declarators(tree: Tree) -> dict[str, Node]:
    """Variables declared at the top level of the file, by name."""
    found = {}
    for stmt in tree.root_node.children:
        if stmt.type in ("lexical_declaration", "variable_declaration"):
            for decl in stmt.named_children:
                name = decl.child_by_field_name("name") if decl.type == "variable_declarator" else None
                if name is not None and name.type == "identifier":
                    found[name.text.decode()] = decl
    return found
