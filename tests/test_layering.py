"""Dependencies run one way: the core imports none of the layers built on it, and
neither the core nor ``nn`` imports the Objax layer. Layers meet through explicit
extension points, not through string-named ``_pax_*`` class flags."""

import ast
import collections
import pathlib
import re

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "pax" / "_src"

# package -> the pax._src packages it must not import
FORBIDDEN = {
    "core": {"objax", "nn", "nets", "functional", "transforms", "netket"},
    "nn": {"nets", "objax", "netket"},
    "functional": {"nets"},
}


def _imported_packages(path: pathlib.Path, package: str):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 2 and node.module:  # from ..x import y
                yield node.module.split(".")[0], node.lineno
            elif node.level == 0 and (node.module or "").startswith("pax._src."):
                yield node.module.split(".")[2], node.lineno
            elif node.level == 0 and node.module == "pax":  # from pax import objax
                for alias in node.names:
                    yield alias.name, node.lineno
            elif node.level == 0 and (node.module or "").startswith("pax."):
                yield node.module.split(".")[1], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pax._src."):
                    yield alias.name.split(".")[2], node.lineno
                elif alias.name.startswith("pax."):
                    yield alias.name.split(".")[1], node.lineno


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    bad = [
        f"{path.relative_to(SRC.parent.parent)}:{line} imports pax._src.{imported}"
        for path in sorted((SRC / package).rglob("*.py"))
        for imported, line in _imported_packages(path, package)
        if imported in FORBIDDEN[package]
    ]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_pax_imports_nothing_built_on_it():
    """``opax_integration`` is built on pax: pax (``pax/``, every file) never imports it."""
    bad = []
    for path in sorted(SRC.parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            bad += [
                f"{path.relative_to(SRC.parent.parent)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] == "opax_integration"
            ]
    assert not bad, "\n".join(bad)


_FLAG = re.compile(r"_pax_\w+")

# flags shared between files, with the reason they are (none: a layer's default precision
# is declared with core/mixed_precision.py's `@default_precision`, not a class flag)
_SHARED_FLAGS: set[str] = set()


def _flag_names(path: pathlib.Path):
    """The ``_pax_*`` names a file uses in code: identifiers, attribute names, and
    strings that are exactly such a name (``getattr(cls, "_pax_x")``), not prose."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value
        else:
            continue
        if _FLAG.fullmatch(name):
            yield name


def test_no_pax_flag_is_read_outside_the_file_that_defines_it():
    files = collections.defaultdict(set)
    for path in sorted(SRC.parent.rglob("*.py")):
        for name in _flag_names(path):
            files[name].add(str(path.relative_to(SRC.parent.parent)))
    shared = {name: sorted(where) for name, where in files.items() if len(where) > 1}
    unexpected = {name: where for name, where in shared.items() if name not in _SHARED_FLAGS}
    assert not unexpected, f"_pax_* names used across files: {unexpected}"


def test_the_flag_scan_sees_flags():
    # guards the scan above: it must find the flags that pax does define
    names = {n for p in sorted(SRC.parent.rglob("*.py")) for n in _flag_names(p)}
    assert {"_pax_layout", "_pax_mp_policy"} <= names
