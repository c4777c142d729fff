"""The project's import graph read from its sources (imports inside functions included), without running them."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("adapter", "harbor_client", "provisioning")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".")
        is_package = modules()[module].name == "__init__.py"
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    names = [f"{prefix}.{alias.name}" for alias in node.names]
    return [prefix] + [name for name in names if name in modules()]  # `from pkg import module`


def _nodes(tree: ast.AST, top_only: bool):
    """Every node, or with `top_only` those that run on import (function bodies left out)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if not (top_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))):
            todo.extend(ast.iter_child_nodes(node))


@cache
def imports(module: str, top_only: bool = False) -> frozenset[str]:
    """Every module that `module` names in an import statement: anywhere in its source, or with
    `top_only` only where it runs when the module is imported."""
    tree = ast.parse(modules()[module].read_text(), str(modules()[module]))
    found: set[str] = set()
    for node in _nodes(tree, top_only):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, node))
    return frozenset(found)


def _is_package(name: str) -> bool:
    return name in modules() and modules()[name].name == "__init__.py"


def _parents(name: str) -> list[str]:
    """`a.b.c` -> a, a.b, a.b.c: importing a module runs its packages' __init__ first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@cache
def closure(module: str) -> frozenset[str]:
    """Every module `module` may import, directly or through the project's own modules. A package
    passed through on the way to one of its modules counts with what its __init__ runs on import, and
    so does a package named itself: its functions are wiring (create_app, init_app), not library code."""
    seen: set[str] = set()
    todo = [(module, False)]
    while todo:
        current, top_only = todo.pop()
        for name in imports(current, top_only):
            steps = _parents(name)
            for step in steps:
                key = (step, step != steps[-1] or _is_package(step))
                if key not in seen:
                    seen.add(key)
                    if step in modules():
                        todo.append(key)
    return frozenset(name for name, _ in seen)


def under(*packages: str) -> list[str]:
    return [m for m in modules() if any(m == p or m.startswith(p + ".") for p in packages)]


def reaches(module: str, target: str) -> list[str]:
    """The modules in `module`'s closure that are `target` or inside it."""
    return sorted(m for m in closure(module) if m == target or m.startswith(target + "."))
