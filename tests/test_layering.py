"""Dependencies run one way: the core imports none of the layers built on it."""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "pax" / "_src"

# package -> the pax._src packages it must not import
FORBIDDEN = {
    "core": {"objax", "nn", "nets", "functional", "transforms", "netket"},
    "nn": {"nets", "netket"},
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
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pax._src."):
                    yield alias.name.split(".")[2], node.lineno


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    bad = [
        f"{path.relative_to(SRC.parent.parent)}:{line} imports pax._src.{imported}"
        for path in sorted((SRC / package).rglob("*.py"))
        for imported, line in _imported_packages(path, package)
        if imported in FORBIDDEN[package]
    ]
    assert not bad, "upward imports:\n" + "\n".join(bad)
