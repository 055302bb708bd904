"""The public surface of SPEC §0–§2: names, ``__all__``, and the distribution metadata."""

import importlib
import importlib.metadata
import pathlib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import pax

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# SPEC §1 and §2: the module-level names of the PAX core and its transforms.
CORE_NAMES = [
    "Module",
    "EmptyNode",
    "ParameterModule",
    "StateModule",
    "parameters_method",
    "pure",
    "purecall",
    "module_and_value",
    "select_parameters",
    "update_parameters",
    "freeze_parameters",
    "unfreeze_parameters",
    "enable_train_mode",
    "enable_eval_mode",
    "assert_structure_equal",
    "apply_mp_policy",
    "unwrap_mp_policy",
    "default_mp_policy",
    "mixed_precision_method",
    "seed_rng_key",
    "next_rng_key",
    "grad",
    "value_and_grad",
    "scan",
    "build_update_fn",
    "utils",
]

UTILS_NAMES = ["build_update_fn", "grad", "scan", "replicate", "unreplicate"]

MODULE_METHODS = [
    "parameters",
    "update_parameters",
    "train",
    "eval",
    "copy",
    "replace",
    "replace_node",
    "set_attribute",
    "apply",
    "apply_submodules",
    "submodules",
    "summary",
    "state_dict",
    "load_state_dict",
    "map",
    "scan_bugs",
    "__or__",
    "__invert__",
    "__mod__",
    "__eq__",
    "__hash__",
]


@pytest.mark.parametrize("name", CORE_NAMES)
def test_core_name_is_public(name):
    assert hasattr(pax, name), f"pax.{name} is missing"
    assert name in pax.__all__


@pytest.mark.parametrize("name", UTILS_NAMES)
def test_utils_name_is_public(name):
    assert callable(getattr(pax.utils, name))
    assert name in pax.utils.__all__


@pytest.mark.parametrize("name", MODULE_METHODS)
def test_module_method_exists(name):
    assert callable(getattr(pax.Module, name))


@pytest.mark.parametrize("name", ["training", "name"])
def test_module_properties(name):
    assert isinstance(getattr(pax.Module, name), property)
    getattr(pax.Linear(1, 1), name)  # readable on an instance


@pytest.mark.parametrize("namespace", [pax, pax.utils], ids=["pax", "pax.utils"])
def test_all_is_sorted_unique_and_resolves(namespace):
    names = list(namespace.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(namespace, name) is not None, name


def test_star_import_gives_exactly_all():
    scope = {}
    exec("from pax import *", scope)
    assert set(scope) - {"__builtins__"} == set(pax.__all__)


def test_private_tree_is_not_re_exported():
    assert not [n for n in pax.__all__ if n.startswith("_")]


# -- distribution metadata --------------------------------------------------------------------


def test_distribution_is_pax3_at_least_0_6_0():
    version = Version(importlib.metadata.version("pax3"))
    assert version >= Version("0.6.0")
    assert Version(pax.__version__) == version


def test_pax3_provides_the_pax_package_from_this_repository():
    assert "pax3" in importlib.metadata.packages_distributions().get("pax", [])
    assert pathlib.Path(pax.__file__).resolve().is_relative_to(REPO_ROOT)


def test_opax_imports_and_its_requirement_resolves_to_this_project():
    opax = importlib.import_module("opax")
    assert callable(opax.adam)
    requirements = [Requirement(r) for r in importlib.metadata.requires("opax") or []]
    pax3 = [r for r in requirements if r.name == "pax3"]
    assert pax3, f"opax no longer requires pax3: {requirements}"
    assert pax3[0].specifier.contains(importlib.metadata.version("pax3"))
    # opax's own `import pax` is this project
    opax_utils = importlib.import_module("opax.utils")
    assert opax_utils.Module is pax.Module
    assert opax.GradientTransformation.__mro__[1] is pax.StateModule
