"""The API reference of the documentation site (``docs/api/``) covers every public name.

A public name is anything in the ``__all__`` of ``pax``, ``opax_integration`` or one of
their public namespaces (``pax.nn``, ``pax.functional`` and its submodules, ...), found
by following the modules those ``__all__`` lists export. Each must

- have an entry in its namespace's page ``docs/api/<namespace>.rst`` (an autodoc
  directive, or "the same object as" an entry documented in full elsewhere),
- have a docstring (a ``#:`` comment for a constant) with a runnable ``>>>`` example;
  the examples of constants, which ``--doctest-modules`` cannot see, run here.

The test needs no Sphinx: it reads the pages' directives as text.
"""

import ast
import doctest
import importlib
import inspect
import os
import re
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = os.path.join(ROOT, "docs", "api")
ROOTS = ("pax", "opax_integration")
# namespaces that ``import pax`` does not import, each with the extra it needs: their
# pages must list their ``__all__`` (read from the source, so without the extra too);
# their docstrings are checked where the extra is installed
OPTIONAL = {"pax.netket": "netket"}

DIRECTIVE = re.compile(
    r"^\.\. (?:py:)?(auto)?(class|function|data|exception|attribute|method)::\s+(\S+)"
    r"((?:\n(?:[ \t]+.*|[ \t]*))*)",
    re.M,
)
SAME_AS = re.compile(r"The same object as :\w+:`([\w.]+)`")


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def namespaces() -> dict[str, types.ModuleType]:
    """Every public namespace: the roots and the modules their ``__all__`` export."""
    found: dict[str, types.ModuleType] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        module = importlib.import_module(name)
        found[name] = module
        for attr in getattr(module, "__all__", ()):
            value = getattr(module, attr)
            if isinstance(value, types.ModuleType) and value.__name__.startswith(ROOTS):
                todo.append(value.__name__)
    return dict(sorted(found.items()))


def optional_all(ns: str) -> list[str]:
    """The ``__all__`` of an optional namespace, read from its source (no import)."""
    path = os.path.join(ROOT, *ns.split("."), "__init__.py")
    for node in ast.parse(read_text(path)).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"{path} has no __all__")


def public_names() -> list[tuple[str, str]]:
    """``(namespace, name)`` for every non-module name of every namespace's ``__all__``."""
    names = []
    for ns, module in namespaces().items():
        for attr in module.__all__:
            if not isinstance(getattr(module, attr), types.ModuleType):
                names.append((ns, attr))
    for ns in OPTIONAL:
        names += [(ns, attr) for attr in optional_all(ns)]
    return names


def import_namespace(ns: str) -> types.ModuleType:
    """The namespace's module; an optional one skips the test where its extra is missing."""
    if ns in OPTIONAL:
        pytest.importorskip(OPTIONAL[ns], reason=f"{ns} needs the `{OPTIONAL[ns]}` extra")
    return importlib.import_module(ns)


def page_entries(ns: str) -> dict[str, dict]:
    """The entries of ``docs/api/<ns>.rst``: full name -> directive details."""
    path = os.path.join(API, f"{ns}.rst")
    if not os.path.exists(path):
        return {}
    return parse_entries(ns, read_text(path))


def parse_entries(ns: str, text: str) -> dict[str, dict]:
    """The top-level directives of a reST page: full name -> directive details."""
    entries = {}
    for auto, kind, target, body in DIRECTIVE.findall(text):
        full = target if target.startswith(ROOTS) else f"{ns}.{target}"
        same_as = SAME_AS.search(body)
        entries[full] = {
            "auto": bool(auto),
            "kind": kind,
            "body": body,
            "same_as": same_as.group(1) if same_as else None,
        }
    return entries


ALL_ENTRIES = {ns: page_entries(ns) for ns in [*namespaces(), *OPTIONAL]}
FULLY_DOCUMENTED = {
    full for entries in ALL_ENTRIES.values() for full, e in entries.items() if e["auto"]
}


def resolve(full: str):
    module, _, attr = full.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def constant_doc_comment(name: str, value) -> tuple[str, str] | None:
    """``(file, text)`` of the ``#:`` comment above ``NAME = ...`` in pax's sources."""
    for folder in ROOTS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for filename in files:
                if not filename.endswith(".py"):
                    continue
                path = os.path.join(dirpath, filename)
                lines = read_text(path).splitlines()
                for i, line in enumerate(lines):
                    if re.match(rf"{re.escape(name)}\s*(:[^=]*)?=", line):
                        comment = []
                        j = i - 1
                        while j >= 0 and lines[j].startswith("#:"):
                            comment.insert(0, lines[j][2:].removeprefix(" "))
                            j -= 1
                        if comment:
                            return path, "\n".join(comment)
    return None


def is_constant(value) -> bool:
    return not (inspect.isclass(value) or callable(value))


PUBLIC = public_names()


def test_the_namespaces_are_found():
    found = namespaces()
    for ns in ("pax", "pax.nn", "pax.functional", "pax.functional.loss", "opax_integration"):
        assert ns in found
    assert len(PUBLIC) > 150


@pytest.mark.parametrize("ns", [*namespaces(), *OPTIONAL])
def test_every_namespace_has_a_page_in_the_reference_index(ns):
    assert os.path.exists(os.path.join(API, f"{ns}.rst")), (
        f"`{ns}` has no page: add docs/api/{ns}.rst (an `.. automodule:: {ns}` with "
        f"`:no-members:` and an entry per name of its __all__) and list it in "
        f"docs/api/index.md."
    )
    index = read_text(os.path.join(API, "index.md"))
    assert re.search(rf"^{re.escape(ns)}$", index, re.M), f"add `{ns}` to docs/api/index.md"


@pytest.mark.parametrize("ns, name", PUBLIC, ids=[f"{ns}.{n}" for ns, n in PUBLIC])
def test_every_public_name_is_in_the_reference(ns, name):
    full = f"{ns}.{name}"
    entry = ALL_ENTRIES[ns].get(full)
    assert entry is not None, (
        f"`{full}` is public (in {ns}.__all__) but missing from docs/api/{ns}.rst: add "
        f"`.. autoclass:: {name}` / `.. autofunction:: {name}` / `.. autodata:: {name}`, "
        f"or, if it is documented in full in another namespace, "
        f"`.. py:class:: {name}` with the line `The same object as :class:`<there>`.`"
    )
    if entry["same_as"] is not None:
        target = entry["same_as"]
        assert target in FULLY_DOCUMENTED, (
            f"docs/api/{ns}.rst says `{full}` is the same object as `{target}`, which no "
            f"page documents with an autodoc directive."
        )
        import_namespace(ns)
        assert resolve(target) is resolve(full), f"`{full}` is not `{target}`"
    else:
        assert entry["auto"] or entry["kind"] == "data", (
            f"`{full}` needs an autodoc directive (its signature and docstring), or a "
            f"`The same object as` line."
        )


@pytest.mark.parametrize("ns, name", PUBLIC, ids=[f"{ns}.{n}" for ns, n in PUBLIC])
def test_every_public_name_has_a_docstring_with_an_example(ns, name):
    full = f"{ns}.{name}"
    value = getattr(import_namespace(ns), name)
    if is_constant(value):
        entry = ALL_ENTRIES[ns].get(full, {})
        if not entry.get("auto") and ">>>" in entry.get("body", ""):
            return  # a `.. data::` entry written in the page, with its example
        found = constant_doc_comment(name, value)
        assert found is not None, (
            f"the constant `{full}` needs a `#:` doc comment above its assignment (what "
            f"it is, with a `>>>` example), or a `.. data::` entry with an example in "
            f"docs/api/{ns}.rst."
        )
        assert ">>>" in found[1], f"the `#:` comment of `{full}` ({found[0]}) has no example"
        return
    doc = inspect.getdoc(value)
    assert doc, f"`{full}` has no docstring"
    assert ">>>" in doc, (
        f"the docstring of `{full}` has no runnable example: add a short `>>>` doctest "
        f"(it runs with `--doctest-modules`)."
    )


def constant_examples():
    cases = []
    for ns, name in PUBLIC:
        if ns in OPTIONAL:
            continue  # constants of optional namespaces: none so far
        value = getattr(namespaces()[ns], name)
        if is_constant(value):
            entry = ALL_ENTRIES[ns].get(f"{ns}.{name}", {})
            if entry and not entry.get("auto"):
                cases.append(
                    (f"{ns}.{name}", "\n".join(line[3:] for line in entry["body"].splitlines()))
                )
            else:
                found = constant_doc_comment(name, value)
                if found is not None:
                    cases.append((f"{ns}.{name}", found[1]))
    return cases


CONSTANT_EXAMPLES = constant_examples()


@pytest.mark.parametrize("full, text", CONSTANT_EXAMPLES, ids=[c[0] for c in CONSTANT_EXAMPLES])
def test_the_examples_of_constants_run(full, text):
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, full, None, 0)
    assert test.examples, f"`{full}`: no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test)
    assert result.failed == 0


def test_the_reference_lists_no_stale_names():
    """Every entry is a public name (or a shared private base class documented in place)."""
    public = {f"{ns}.{name}" for ns, name in PUBLIC}
    stale = [
        full
        for entries in ALL_ENTRIES.values()
        for full in entries
        if full not in public and not full.startswith("pax._src.")
    ]
    assert not stale, f"the reference documents names that are not public: {stale}"


def test_the_page_parser_sees_entries_and_aliases():
    """The check itself: entries, aliases and their bodies are read from the text."""
    text = (
        ".. currentmodule:: pax\n\n"
        ".. autoclass:: Linear\n   :members:\n\n"
        ".. py:function:: grad\n\n   The same object as :func:`pax.utils.grad`.\n\n"
        ".. data:: LIMIT\n\n   The limit.\n\n   >>> 1 + 1\n   2\n"
    )
    entries = parse_entries("pax", text)
    assert set(entries) == {"pax.Linear", "pax.grad", "pax.LIMIT"}
    assert entries["pax.Linear"]["auto"] and entries["pax.Linear"]["same_as"] is None
    assert entries["pax.grad"]["same_as"] == "pax.utils.grad"
    assert not entries["pax.LIMIT"]["auto"] and ">>> 1 + 1" in entries["pax.LIMIT"]["body"]
    assert "pax.nn.Linear" in FULLY_DOCUMENTED and "pax.Linear" not in FULLY_DOCUMENTED
