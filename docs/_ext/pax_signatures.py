"""Class signatures from ``__init__`` for pax modules.

``pax.Module``'s metaclass defines ``__call__(cls, *args, **kwargs)`` (it finishes a
module after ``__init__``), which autodoc would show as every module's signature. This
extension gives a module class the signature of its ``__init__`` instead.
"""

import inspect

from sphinx.application import Sphinx
from sphinx.util.inspect import stringify_signature


def process_signature(app, what, name, obj, options, signature, return_annotation):
    import pax

    if what not in ("class", "exception") or not inspect.isclass(obj):
        return None
    if not issubclass(obj, pax.Module):
        return None
    try:
        sig = inspect.signature(obj.__init__)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())[1:]  # without `self`
    sig = sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
    # unqualified, as autodoc shows functions' hints (``Array``, not ``jaxlib._jax.Array``)
    return stringify_signature(sig, unqualified_typehints=True), return_annotation


def setup(app: Sphinx) -> dict:
    app.connect("autodoc-process-signature", process_signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
