"""pax.debug.explain_retraces: every new trace under jax.jit says what changed."""

import functools
import logging
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax
from pax._src.debug.retraces import RetraceWarning, explain_retraces


class Scale(pax.Module):
    """Multiplies by a static `rate` (a treedef field)."""

    def __init__(self, rate: float = 0.1):
        super().__init__()
        self.rate = rate

    def __call__(self, x):
        return x * self.rate


class Net(pax.Module):
    def __init__(self, n: int = 4, rate: float = 0.1):
        super().__init__()
        self.layers = [pax.Linear(3, 3, rng_key=jax.random.PRNGKey(i)) for i in range(n - 1)]
        self.layers.append(Scale(rate))

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def step(model, x):
    return model(x)


def traced_messages(fn, *calls):
    """Run ``fn(*args, **kwargs)`` for each ``(args, kwargs)``; the RetraceWarning
    messages of each call."""
    out = []
    for args, kwargs in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn(*args, **kwargs)
        assert all(issubclass(w.category, RetraceWarning) for w in caught), caught
        out.append([str(w.message) for w in caught])
    return out


def changes(message):
    """The lines under the header of one report."""
    return [line.strip() for line in message.splitlines()[1:]]


def only_report(fn, first, second):
    """The changed lines reported by the second of two calls (the first reports nothing)."""
    first_messages, second_messages = traced_messages(fn, first, second)
    assert first_messages == []
    assert len(second_messages) == 1
    return changes(second_messages[0])


X = jnp.ones((8, 3))


def test_first_trace_and_unchanged_inputs_report_nothing():
    wrapped = explain_retraces(step)
    jitted = jax.jit(wrapped)
    model = Net()
    calls = [((model, X),), ((model, X + 1),), ((Net(), jnp.zeros((8, 3))),)]
    messages = traced_messages(jitted, *[(c[0], {}) for c in calls])
    assert messages == [[], [], []]
    assert wrapped.trace_count == 1


def test_outputs_and_metadata_are_those_of_the_function():
    wrapped = explain_retraces(step)
    assert wrapped.__name__ == "step" and wrapped.__wrapped__ is step
    model = Net()
    np.testing.assert_array_equal(jax.jit(wrapped)(model, X), jax.jit(step)(model, X))
    # a call outside jit with concrete arrays is not a trace
    np.testing.assert_array_equal(wrapped(model, X), step(model, X))
    assert wrapped.trace_count == 1


def test_shape_change():
    jitted = jax.jit(explain_retraces(step))
    model = Net()
    lines = only_report(jitted, ((model, X), {}), ((model, jnp.ones((16, 3))), {}))
    assert lines == ["x: float32[8,3] -> float32[16,3]"]


def test_dtype_change():
    jitted = jax.jit(explain_retraces(step))
    model = Net()
    lines = only_report(jitted, ((model, X), {}), ((model, X.astype(jnp.bfloat16)), {}))
    assert lines == ["x: float32[8,3] -> bfloat16[8,3]"]


def test_weak_type_change():
    jitted = jax.jit(explain_retraces(lambda model, x, scale: model(x) * scale))
    model = Net()
    lines = only_report(jitted, ((model, X, 2.0), {}), ((model, X, jnp.float32(2.0)), {}))
    assert lines == [
        "scale: ~float32[] -> float32[] (weak type: a Python scalar before, an array now)"
    ]


def test_static_field_of_a_nested_module():
    jitted = jax.jit(explain_retraces(step))
    lines = only_report(jitted, ((Net(rate=0.1), X), {}), ((Net(rate=0.2), X), {}))
    assert lines == ["model.layers[3].rate: 0.1 -> 0.2"]


def test_list_that_grew():
    jitted = jax.jit(explain_retraces(step))
    lines = only_report(jitted, ((Net(n=4), X), {}), ((Net(n=5), X), {}))
    assert lines == [
        "model.layers: list of 4 -> list of 5",
        "model.layers[3]: Scale -> Linear",
        "model.layers[4]: added (Scale)",
    ]


def test_attribute_added_and_removed():
    jitted = jax.jit(explain_retraces(step))
    model = Net()
    tagged = model.set_attribute("offset", jnp.zeros(3))
    lines = only_report(jitted, ((model, X), {}), ((tagged, X), {}))
    assert lines == ["model.offset: added (float32[3])"]
    (messages,) = traced_messages(jitted, ((model.set_attribute("mode", "a"), X), {}))
    assert changes(messages[0]) == [
        "model.mode: added ('a')",
        "model.offset: removed (was float32[3])",
    ]


def test_module_type_change_reports_the_module_not_its_leaves():
    jitted = jax.jit(explain_retraces(step))
    other = Net()
    other = other.replace(layers=[Scale(0.5)] + other.layers[1:])
    lines = only_report(jitted, ((Net(), X), {}), ((other, X), {}))
    assert lines == ["model.layers[0]: Linear -> Scale"]


def test_eval_mode_is_one_line_for_all_submodules():
    jitted = jax.jit(explain_retraces(step))
    model = Net()
    lines = only_report(jitted, ((model, X), {}), ((model.eval(), X), {}))
    assert lines == [
        "model.training: True -> False (and at 4 other paths, e.g. model.layers[0].training)"
    ]


@pytest.mark.parametrize("static", ["argnums", "argnames"])
def test_static_arguments_arrive_as_python_values(static):
    def power(x, k):
        return x**k

    wrapped = explain_retraces(power)
    options = {"static_argnums": 1} if static == "argnums" else {"static_argnames": "k"}
    jitted = jax.jit(wrapped, **options)
    call = (lambda k: ((X, k), {})) if static == "argnums" else (lambda k: ((X,), {"k": k}))
    messages = traced_messages(jitted, call(2), call(2), call(3))
    assert messages[:2] == [[], []]
    assert changes(messages[2][0]) == ["k: 2 -> 3"]
    assert messages[2][0].startswith(
        "`test_static_arguments_arrive_as_python_values.<locals>.power` is traced again (trace 2)"
    )


def test_static_object_without_eq_gets_a_hint():
    class Config:
        pass

    jitted = jax.jit(explain_retraces(lambda x, config: x), static_argnums=1)
    lines = only_report(jitted, ((X, Config()), {}), ((X, Config()), {}))
    assert len(lines) == 1 and "compared by identity" in lines[0]


def test_dict_keys_and_container_types():
    jitted = jax.jit(explain_retraces(lambda batch: batch))
    lines = only_report(jitted, (({"x": X, "y": X},), {}), (({"x": X, "z": X},), {}))
    assert lines == [
        "batch: dict with keys ['x', 'y'] -> dict with keys ['x', 'z']",
        "batch['z']: added (float32[8,3])",
        "batch['y']: removed (was float32[8,3])",
    ]
    jitted = jax.jit(explain_retraces(lambda batch: batch))
    lines = only_report(jitted, (([X, X],), {}), (((X, X),), {}))
    assert lines == ["batch: list of 2 -> tuple of 2"]


def test_names_of_variadic_and_keyword_arguments():
    def f(model, *inputs, scale=1.0):
        return model(inputs[0]) * scale

    jitted = jax.jit(explain_retraces(f))
    model = Net()
    lines = only_report(
        jitted, ((model, X), {"scale": 2.0}), ((model, jnp.ones((4, 3))), {"scale": 2.0})
    )
    assert lines == ["inputs[0]: float32[8,3] -> float32[4,3]"]


def test_pure_and_update_functions_can_be_wrapped():
    @pax.pure
    def pure_step(model, x):
        model.calls = 1  # mutates the copy pax.pure gives it
        return model(x)

    jitted = jax.jit(explain_retraces(pure_step))
    jitted(Net(), X)
    with pytest.warns(RetraceWarning) as record:
        jitted(Net(), X[:2])
    assert changes(str(record[0].message)) == ["x: float32[8,3] -> float32[2,3]"]
    assert record[0].filename == __file__  # the step's definition, not pax.pure's wrapper


def test_unknown_cause_says_so():
    wrapped = explain_retraces(lambda x: x + 1)
    jax.jit(wrapped)(X)
    jax.clear_caches()
    (messages,) = traced_messages(jax.jit(wrapped), ((X,), {}))
    assert len(messages) == 1
    assert "the cause is outside them" in messages[0]


def test_a_failed_trace_is_named_as_the_cause():
    def fragile(x, fail):
        if fail[0]:
            raise RuntimeError("boom")
        return x

    flag = [True]
    wrapped = explain_retraces(functools.partial(fragile, fail=flag))
    jitted = jax.jit(wrapped)
    with pytest.raises(RuntimeError, match="boom"):
        jitted(X)
    flag[0] = False
    (messages,) = traced_messages(jitted, ((X,), {}))
    assert "the previous trace raised an exception" in messages[0]


def test_report_goes_to_logging_and_the_warning_can_be_filtered(caplog):
    jitted = jax.jit(explain_retraces(step))
    model = Net()
    jitted(model, X)
    with caplog.at_level(logging.WARNING, logger="pax.debug"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RetraceWarning)
        jitted(model, X[:4])
    assert [r.name for r in caplog.records] == ["pax.debug"]
    assert "x: float32[8,3] -> float32[4,3]" in caplog.records[0].getMessage()
    assert issubclass(RetraceWarning, UserWarning)


def test_public_names():
    import pax.debug

    assert pax.debug.explain_retraces is explain_retraces
    assert pax.debug.RetraceWarning is RetraceWarning
