"""No private JAX API in the library (SPEC §0): nothing from ``jax._src``,
``jax.interpreters``, ``jax.lib``, ``jaxlib``, or ``jax.core`` beyond ``jax.core.Tracer``.

The check reads the source with ``ast`` (imports, attribute chains, and string
lookups through ``getattr``/``importlib.import_module``), so it does not depend on
what happens to be importable.
"""

import ast
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CHECKED_PACKAGES = ("pax", "opax_integration")

BANNED_PREFIXES = ("jax._src", "jax.interpreters", "jax.lib", "jaxlib")
ALLOWED_CORE = frozenset({"Tracer"})


def banned_reason(dotted: str) -> str | None:
    """Why the fully qualified name ``dotted`` is private JAX API, or ``None``."""
    for prefix in BANNED_PREFIXES:
        if dotted == prefix or dotted.startswith(prefix + "."):
            return f"`{dotted}` is private JAX API ({prefix})"
    if dotted.startswith("jax.core."):
        member = dotted.split(".")[2]
        if member not in ALLOWED_CORE:
            return f"`{dotted}`: only jax.core.Tracer may be used from jax.core"
    return None


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``['a', 'b', 'c']``; ``None`` when the chain does not start at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> fully qualified module/object
        self.problems: list[str] = []

    def _flag(self, node: ast.AST, dotted: str) -> None:
        reason = banned_reason(dotted)
        if reason is not None:
            self.problems.append(f"line {getattr(node, 'lineno', '?')}: {reason}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._flag(node, alias.name)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._flag(node, node.module)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                self._flag(node, full)
                self.aliases[alias.asname or alias.name] = full
        self.generic_visit(node)

    def _resolve(self, parts: list[str]) -> str | None:
        base = self.aliases.get(parts[0])
        if base is None:
            return None
        return ".".join([base, *parts[1:]])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts = _dotted(node)
        if parts is not None:
            full = self._resolve(parts)
            if full is not None:
                self._flag(node, full)
            return  # the whole chain is checked; its inner attributes are prefixes
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = _dotted(node.func)
        name = func[-1] if func else None
        args = node.args
        if name == "getattr" and len(args) >= 2 and isinstance(args[1], ast.Constant):
            target = _dotted(args[0])
            full = self._resolve(target) if target else None
            if full is not None and isinstance(args[1].value, str):
                self._flag(node, f"{full}.{args[1].value}")
        if name in ("import_module", "__import__") and args and isinstance(args[0], ast.Constant):
            if isinstance(args[0].value, str):
                self._flag(node, args[0].value)
        self.generic_visit(node)


def find_private_jax(source: str) -> list[str]:
    """Every use of private JAX API in ``source``, as ``line N: reason``."""
    checker = _Checker()
    checker.visit(ast.parse(source))
    return checker.problems


def library_files() -> list[pathlib.Path]:
    files = []
    for package in CHECKED_PACKAGES:
        files.extend(sorted((REPO_ROOT / package).rglob("*.py")))
    return files


def test_the_library_has_python_files_to_check():
    files = library_files()
    names = {f.relative_to(REPO_ROOT).as_posix() for f in files}
    assert "pax/__init__.py" in names
    assert "pax/_src/core/module.py" in names
    assert "pax/_src/opax_compat.py" in names
    assert "opax_integration/objax_optimizer.py" in names


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_no_private_jax_api(path):
    problems = find_private_jax(path.read_text(encoding="utf-8"))
    assert not problems, f"{path.relative_to(REPO_ROOT)}:\n" + "\n".join(problems)


# -- the checker itself --------------------------------------------------------------------------

BAD_SNIPPETS = [
    ("import_src", "import jax._src.core"),
    ("from_src_import", "from jax._src import core"),
    ("from_src_module", "from jax._src.tree_util import flatten_one_level"),
    ("from_jax_import_src", "from jax import _src"),
    ("interpreters", "from jax.interpreters import partial_eval as pe"),
    ("interpreters_attribute", "import jax\nx = jax.interpreters.ad.JVPTracer"),
    ("lib", "from jax.lib import xla_client"),
    ("lib_attribute", "import jax\nv = jax.lib.xla_bridge"),
    ("jaxlib", "import jaxlib.xla_extension"),
    ("jaxlib_from", "from jaxlib import xla_client"),
    ("core_member", "import jax\nt = jax.core.get_aval(1)"),
    ("core_from_import", "from jax.core import Trace"),
    ("core_alias", "from jax import core\ncore.find_top_trace(())"),
    ("core_module_alias", "import jax.core as jc\njc.MainTrace"),
    ("jax_alias", "import jax as j\nj._src.config"),
    ("src_via_attribute", "import jax\njax._src.dispatch.apply_primitive"),
    ("getattr_string", "import jax\ngetattr(jax, '_src')"),
    ("import_module_string", "import importlib\nimportlib.import_module('jax._src.core')"),
]

GOOD_SNIPPETS = [
    ("public", "import jax\nimport jax.numpy as jnp\njax.tree_util.tree_map(jnp.sin, [1.0])"),
    ("tracer_attribute", "import jax\nisinstance(1, jax.core.Tracer)"),
    ("tracer_import", "from jax.core import Tracer"),
    ("core_tracer_alias", "from jax import core\ncore.Tracer"),
    ("other_src", "import mylib._src.helpers\nfrom pax._src.core import module"),
    ("jax_lib_lookalike", "import jax\njax.tree_util.register_pytree_node"),
    ("local_name_core", "core = object()\ncore.get_aval"),
]


@pytest.mark.parametrize("source", [s for _, s in BAD_SNIPPETS], ids=[n for n, _ in BAD_SNIPPETS])
def test_checker_flags_private_api(source):
    assert find_private_jax(source), source


@pytest.mark.parametrize("source", [s for _, s in GOOD_SNIPPETS], ids=[n for n, _ in GOOD_SNIPPETS])
def test_checker_accepts_public_api(source):
    assert find_private_jax(source) == []


def test_checker_reports_the_line():
    problems = find_private_jax("import jax\n\n\nx = jax._src.core\n")
    assert problems == ["line 4: `jax._src.core` is private JAX API (jax._src)"]
