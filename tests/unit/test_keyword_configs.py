"""Dataclasses defined in toolkit/ and quant/ are constructed with keyword arguments."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for pkg in ("toolkit", "quant") for p in (ROOT / pkg).rglob("*.py"))
KEYWORD_ONLY = ("Config", "Settings", "Options", "Plan")


def _is_dataclass_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "dataclass") or (
        isinstance(target, ast.Attribute) and target.attr == "dataclass")


def _trees():
    return [(path, ast.parse(path.read_text(), filename=str(path))) for path in SOURCES]


def _called_name(func: ast.expr):
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def test_dataclasses_are_constructed_with_keywords():
    trees = _trees()
    dataclasses = {node.name for _, tree in trees for node in ast.walk(tree)
                   if isinstance(node, ast.ClassDef) and any(map(_is_dataclass_decorator, node.decorator_list))}
    assert dataclasses, "no dataclasses found"
    violations = []
    for path, tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _called_name(node.func) not in dataclasses:
                continue
            name = _called_name(node.func)
            limit = 0 if name.endswith(KEYWORD_ONLY) else 2
            if len(node.args) > limit:
                violations.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}: {len(node.args)} positional")
    violations.sort()
    assert not violations, f"{len(violations)} dataclass calls with too many positional arguments:\n" + "\n".join(
        violations)
