"""Class-level annotations of pax modules (``weight: jax.Array``) are PEP 526
declarations of instance attributes, for readers and type checkers; pax does not build
fields from them (a module's fields are what ``__init__`` assigns). This test keeps them
true: every instance of every layer has each attribute its classes annotate."""

import typing

import pytest
from layer_registry import collect_cases

import pax

CASES = [case for cases in collect_cases().values() for case in cases]


def _declared_attributes(cls: type) -> list[str]:
    names = []
    for klass in cls.__mro__:
        if klass is pax.Module or not issubclass(klass, pax.Module):
            continue
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            text = annotation if isinstance(annotation, str) else repr(annotation)
            if typing.get_origin(annotation) is typing.ClassVar or "ClassVar" in text:
                continue
            names.append(name)
    return names


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_annotated_attributes_exist_on_every_module(case):
    missing = []

    def check(m: pax.Module) -> pax.Module:
        for name in _declared_attributes(type(m)):
            if not hasattr(m, name):  # an instance attribute, a class default or a property
                missing.append(f"{type(m).__qualname__}.{name}")
        return m

    case.make().apply(check)
    assert not missing, f"annotated but never set: {missing}"
