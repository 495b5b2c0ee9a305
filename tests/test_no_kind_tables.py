"""No production module outside the kind declarations keeps its own table of stage-kind names.

Everything the harness knows about a `kind:` is a field or hook of its `StageKind` (harness/kinds.py,
expert/stage_kinds.py); a module that writes `kind == "verl_grpo"` or `("swift_sft", "swift_rlhf")`
again leaves every kind registered elsewhere (a plugin's, the expert's) without that behaviour.
This test reads the production packages (no imports) and fails naming file:line for every string
literal equal to a registered kind name that is compared (``==``, ``in``, ``match``), kept in a
tuple / list / set literal, or used as a dict key. `test_the_guard_catches_a_reintroduced_table`
shows it catching the tables it replaced (TRACKED_KINDS, the GPU checks' `kind in (...)`).
"""

from __future__ import annotations

import ast
from pathlib import Path

from harness.kinds import kind_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "launch", "data_prep", "rewards", "common", "expert")
DECLARATIONS = {"harness/kinds.py", "expert/stage_kinds.py"}  # where kinds are declared

# (file, enclosing function or "<module>", literal) -> why the literal is not a kind there.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("data_prep/__main__.py", "_run", "download"): "the CLI's own subcommand, not the stage kind",
    ("data_prep/__main__.py", "_option_problems", "download"): "the CLI's own subcommand, not the stage kind",
    ("harness/render/tools.py", "render_data_prep", "data_prep"): "argv: the module `python3 -m` runs",
    ("harness/render/tools.py", "render_download", "data_prep"): "argv: the module `python3 -m` runs",
    ("harness/render/tools.py", "render_download", "download"): "argv: data_prep's subcommand",
    ("harness/config_schemas.py", "_schemas", "eval"): "the `eval` config group, not the stage kind",
    ("harness/config.py", "_check_groups", "eval"): "the `eval` config group, not the stage kind",
    ("expert/infer.py", "infer", "expert_infer"): "a section name of the program's metadata record",
}


def kind_literal_uses(source: str, names: set[str]) -> list[tuple[int, str, str, str]]:
    """(line, enclosing function, literal, how) for each kind-name literal used as a table or test."""
    found: list[tuple[int, str, str, str]] = []

    def literal(node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            return node.value
        return None

    def members(node: ast.AST) -> list[ast.expr]:
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return list(node.elts)
        return []

    class Visitor(ast.NodeVisitor):
        scope = ["<module>"]

        def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
            self.scope.append(node.name)
            self.generic_visit(node)
            self.scope.pop()

        visit_FunctionDef = visit_AsyncFunctionDef = _function

        def add(self, node: ast.AST, name: str, how: str) -> None:
            found.append((getattr(node, "lineno", 0), self.scope[-1], name, how))

        def visit_Compare(self, node: ast.Compare) -> None:
            for side in (node.left, *node.comparators):
                name = literal(side)
                if name:
                    self.add(side, name, "compared")
            self.generic_visit(node)

        def visit_Assign(self, node: ast.Assign) -> None:
            # `__all__` lists the module's attribute names (hub_download's `download`), not kinds.
            if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
                self.generic_visit(node)

        def visit_Tuple(self, node: ast.AST) -> None:
            for element in members(node):
                name = literal(element)
                if name:
                    self.add(element, name, "in a tuple/list/set")
            self.generic_visit(node)

        visit_List = visit_Set = visit_Tuple

        def visit_Dict(self, node: ast.Dict) -> None:
            for key in node.keys:
                name = literal(key)
                if name:
                    self.add(key, name, "a dict key")
            self.generic_visit(node)

        def visit_MatchValue(self, node: ast.MatchValue) -> None:
            name = literal(node.value)
            if name:
                self.add(node.value, name, "a match case")
            self.generic_visit(node)

    Visitor().visit(ast.parse(source))
    return found


def _production_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_no_production_module_keeps_a_table_of_kind_names() -> None:
    names = set(kind_names())
    assert {"swift_sft", "verl_grpo", "eval", "expert_train"} <= names  # the registry was read
    problems: list[str] = []
    used_allowances: set[tuple[str, str, str]] = set()
    for path in _production_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative in DECLARATIONS:
            continue
        for line, scope, name, how in kind_literal_uses(path.read_text(encoding="utf-8"), names):
            if (relative, scope, name) in ALLOWED:
                used_allowances.add((relative, scope, name))
                continue
            problems.append(
                f"{relative}:{line}: kind name '{name}' {how} in {scope}: make it a StageKind field or hook"
            )
    assert problems == []
    # An allowance nothing needs any more goes too (the list stays the justified minimum).
    assert set(ALLOWED) - used_allowances == set()


def test_the_guard_catches_a_reintroduced_table() -> None:
    names = {"swift_sft", "swift_rlhf", "verl_grpo", "eval"}
    source = (
        'TRACKED_KINDS = ("swift_sft", "swift_rlhf", "verl_grpo")\n'  # the table step 1 removed
        "def stage_requirements(planned):\n"
        '    if planned.kind == "verl_grpo":\n'
        "        return []\n"
        '    if planned.kind in {"swift_sft"}:\n'
        "        return []\n"
        "def estimator(kind):\n"
        '    return {"eval": 1}[kind]\n'
        "def by_match(kind):\n"
        "    match kind:\n"
        '        case "swift_rlhf":\n'
        "            return 1\n"
        'LABEL = "eval stage"  # a word in a message is not a table\n'
        'print("eval")  # nor an argument\n'
    )
    found = [(line, scope, name, how) for line, scope, name, how in kind_literal_uses(source, names)]
    assert found == [
        (1, "<module>", "swift_sft", "in a tuple/list/set"),
        (1, "<module>", "swift_rlhf", "in a tuple/list/set"),
        (1, "<module>", "verl_grpo", "in a tuple/list/set"),
        (3, "stage_requirements", "verl_grpo", "compared"),
        (5, "stage_requirements", "swift_sft", "in a tuple/list/set"),
        (8, "estimator", "eval", "a dict key"),
        (11, "by_match", "swift_rlhf", "a match case"),
    ]
