"""Resolves cross-references to pax's private paths (``pax._src...``) to public names.

Autodoc writes a signature's type hints and a class's bases with the object's defining
module (``pax._src.core.module.Module``); the reference documents it under its public
name (``pax.Module``, ``pax.nn.Linear``). This extension maps each private path to the
public name that documents it, so that nitpicky builds (``-n``) resolve them.
"""

import importlib
import types

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

# Where an object exported by several namespaces is documented in full (the others
# list it as "the same object as ...").
NAMESPACES = (
    "pax.nn",
    "pax",
    "pax.functional",
    "pax.functional.divergence",
    "pax.functional.loss",
    "pax.functional.parallel",
    "pax.nets",
    "pax.experimental",
    "pax.debug",
    "pax.sharding",
    "pax.utils",
    "pax.util",
    "pax.random",
    "pax.optimizer",
    "opax_integration",
)


def canonical_names() -> dict[int, str]:
    """``id(obj) -> "namespace.name"`` for every object of the namespaces' ``__all__``."""
    names: dict[int, str] = {}
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            if name == "DEFAULT_GENERATOR":
                continue
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                continue
            names.setdefault(id(obj), f"{namespace}.{name}")
    return names


def _lookup(path: str) -> object | None:
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def setup(app: Sphinx) -> dict:
    canonical: dict[int, str] = {}

    def missing_reference(app, env, node, contnode):
        if node.get("refdomain") != "py":
            return None
        target = node.get("reftarget", "")
        domain = env.get_domain("py")
        if "." not in target:
            # a bare name in a private module's docstring (``:class:`EMA```): the public
            # name, else the one documented object of that name (a shared base class)
            found = [f"{ns}.{target}" for ns in NAMESPACES if f"{ns}.{target}" in domain.objects]
            if not found:
                found = [name for name in domain.objects if name.endswith(f".{target}")]
                if len(found) != 1:
                    return None
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, "obj", found[0], node, contnode
            )
            if found and (len(set(found)) == 1 or found[0].startswith(NAMESPACES)):
                return domain.resolve_xref(
                    env, node["refdoc"], app.builder, "obj", found[0], node, contnode
                )
            return None
        if not target.startswith(("pax.", "opax_integration.")):
            return None
        if not canonical:
            canonical.update(canonical_names())
        obj = _lookup(target)
        public = canonical.get(id(obj)) if obj is not None else None
        if public is None or public == target:
            return None
        return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", public, node, contnode)

    app.connect("missing-reference", missing_reference)
    app.add_post_transform(HeadingAnchorsAcrossPages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


class HeadingAnchorsAcrossPages(SphinxPostTransform):
    """``[text](#slug)`` to a heading of another page.

    The README links its own sections by anchor (``#parameter-dtypes-float64-complex``);
    on the site those sections live on different pages, so such a link is pointed at
    the page whose heading has that slug. It runs before MyST's resolver, which would
    only look on the page itself.
    """

    default_priority = 8

    def run(self, **kwargs) -> None:
        env = self.env
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst":
                continue
            target = node.get("reftarget", "")
            refdoc = node.get("refdoc", env.docname)
            if not target or target in env.metadata[refdoc].get("myst_slugs", {}):
                continue
            for docname in sorted(env.found_docs):
                slugs = env.metadata.get(docname, {}).get("myst_slugs", {})
                if target in slugs:
                    _, section_id, _ = slugs[target]
                    uri = self.app.builder.get_relative_uri(refdoc, docname)
                    ref = nodes.reference("", "", internal=True, refuri=f"{uri}#{section_id}")
                    ref += node[0].deepcopy()
                    node.replace_self(ref)
                    break
