"""Mixed-precision training: bfloat16 compute, float32 weights and a dynamic loss scale.

Run from the repository root (CPU is enough; under a minute, ``--quick`` about 15 s):

    python examples/mixed_precision.py [--quick] [--steps 1500] [--out-dir runs/mixed_precision]

The data are scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes;
no download), split once into 1,437 training and 360 test images. The model is an
MLP of ``pax.Linear`` layers. Each layer gets a jmp policy with ``pax.apply_mp_policy``:
its weights stay float32 (what the optimizer updates and what the gradients are
for); every call casts the weights and the input to bfloat16 and computes in
bfloat16; the hidden layers hand on bfloat16 activations, the last one float32
logits, so the softmax and the loss are float32.

The loss is multiplied by a ``jmp.DynamicLossScale`` before differentiation and the
gradients divided by it after, so that small gradients survive the half-precision
backward pass. ``pax.experimental.apply_scaled_gradients`` unscales the gradients,
skips the step (model and optimizer unchanged) when a gradient is not finite and
halves the scale; after ``--period`` finite steps in a row the scale doubles. Training
runs ``--chunk`` steps per jitted call (a ``jax.lax.scan``), the same batches for every
run.

bfloat16 has float32's exponent range, so its scaled gradients do not overflow: the
scale only grows, and the run shows that the scale costs nothing. The same training
in float16 (in ``--compute`` by default; 5 fewer exponent bits) is where the scale
does its job: it climbs until the scaled gradients overflow, and those steps are
skipped and the scale halved, so it settles at the largest scale float16 holds
(about 2^25 here). Do not let a scale reach 2^127 (with a tiny ``--period`` in a long
bfloat16 run): jmp unscales by multiplying with ``1 / scale``, a float32 subnormal
that XLA on CPU flushes to zero, so every gradient would silently become 0.

A float32 run of the same model (same initial weights and batches, no loss scale)
is the reference: the script reports the test accuracies, each loss-scale history
(the steps where the scale changed), the final scales and the skipped steps; checks
with ``jax.eval_shape`` and ``jax.make_jaxpr`` that the weights, gradients and
updated weights are float32 while the activations and every matrix product of a
training step are in the half dtype; and writes ``curve.png`` (the training losses),
``loss_scale.png`` (log2 of the scales) and ``metrics.json`` to ``--out-dir``. It exits
with status 1 if an accuracy is below ``--min-accuracy``, a half-precision run is more
than ``--max-gap`` from float32, or a dtype is off.
"""

import argparse
import os
import sys
import time
from collections import Counter
from typing import Any

import _common
import jax
import jax.numpy as jnp
import jmp
import numpy as np
import opax

import pax

HALF_DTYPES = ("bfloat16", "float16")

# -- the data and the model -------------------------------------------------------------------


def load_digits_split(test_size: int, seed: int):
    """The bundled digits scaled to [0, 1]: ``(x_train, y_train, x_test, y_test)``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    perm = np.random.default_rng(seed).permutation(len(x))
    test, train = perm[:test_size], perm[test_size:]
    return x[train], y[train], x[test], y[test]


class MLP(pax.Module):
    """``Linear -> relu -> ... -> Linear``; :meth:`features` is the part before the head."""

    def __init__(self, sizes: list[int], *, rng_key: jax.Array):
        super().__init__()
        keys = jax.random.split(rng_key, len(sizes) - 1)
        self.layers = [pax.Linear(a, b, rng_key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys)]

    def features(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.layers[-1](self.features(x))


def with_policies(model: MLP, compute: str) -> MLP:
    """Hidden layers compute and output ``compute``; the head outputs float32 logits."""
    body = jmp.get_policy(f"params=float32,compute={compute},output={compute}")
    head = jmp.get_policy(f"params=float32,compute={compute},output=float32")
    layers = [pax.apply_mp_policy(layer, body) for layer in model.layers[:-1]]
    layers.append(pax.apply_mp_policy(model.layers[-1], head))
    return model.replace(layers=layers)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def train_step(model: MLP, optimizer: Any, loss_scale: Any, x: jax.Array, y: jax.Array):
    """One step on the scaled loss; returns the new model, optimizer and loss scale, the
    (unscaled) loss and whether the gradients were finite (else the step was skipped)."""

    def scaled_loss(model: MLP):
        loss = cross_entropy(model(x), y)
        return loss_scale.scale(loss), loss

    grads, loss = pax.grad(scaled_loss, has_aux=True)(model)
    finite = jmp.all_finite(grads)
    model, optimizer, loss_scale = pax.experimental.apply_scaled_gradients(
        model, optimizer, loss_scale, grads
    )
    return model, optimizer, loss_scale, loss, finite


@jax.jit
def train_chunk(model, optimizer, loss_scale, x_train, y_train, batches):
    """Steps on ``x_train[batches[i]]`` for each row ``i``, as one ``jax.lax.scan``;
    returns the final state and each step's loss, the loss scale it used, and whether
    its gradients were finite."""

    def body(carry, idx):
        used_scale = carry[2].loss_scale
        model, optimizer, loss_scale, loss, finite = train_step(*carry, x_train[idx], y_train[idx])
        return (model, optimizer, loss_scale), (loss, used_scale, finite)

    (model, optimizer, loss_scale), history = jax.lax.scan(
        body, (model, optimizer, loss_scale), batches
    )
    return model, optimizer, loss_scale, history


@jax.jit
def accuracy(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(model(x), axis=-1) == y)


def matmul_dtypes(fn, *args) -> dict[str, int]:
    """How many matrix products (``dot_general``) ``fn(*args)`` runs, by operand dtype."""
    counts: Counter = Counter()

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                dtypes = sorted({str(v.aval.dtype) for v in eqn.invars})
                counts["+".join(dtypes)] += 1
            for param in eqn.params.values():  # the bodies of pjit, custom_jvp, ...
                for sub in param if isinstance(param, (tuple, list)) else [param]:
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        visit(inner)

    visit(jax.make_jaxpr(fn)(*args).jaxpr)
    return dict(counts)


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (about 15 s)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--compute",
        nargs="+",
        choices=HALF_DTYPES,
        default=list(HALF_DTYPES),
        help="the half-precision runs (each next to the float32 one)",
    )
    parser.add_argument("--initial-scale-log2", type=float, default=15.0)
    parser.add_argument("--period", type=int, default=50, help="finite steps per doubling")
    parser.add_argument("--chunk", type=int, default=50, help="steps per jitted call")
    parser.add_argument("--test-size", type=int, default=360)
    parser.add_argument("--min-accuracy", type=float, default=0.96)
    parser.add_argument("--max-gap", type=float, default=0.02, help="|acc(half) - acc(f32)|")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join("runs", "mixed_precision"))
    args = parser.parse_args(argv)
    if args.quick or _common.quick_mode(argv):
        args.quick = True
        args.steps, args.period, args.min_accuracy, args.max_gap = 300, 10, 0.93, 0.03
    return args


def train(
    model: MLP, loss_scale: Any, data: tuple[np.ndarray, ...], args: argparse.Namespace, name: str
) -> dict[str, Any]:
    """``args.steps`` Adam steps on batches drawn by ``args.seed`` (the same for every
    run), ``args.chunk`` per jitted call; returns the model and the history of the loss
    and the loss scale."""
    x_train, y_train, x_test, y_test = (jnp.asarray(a) for a in data)
    optimizer = opax.adam(args.learning_rate)(model.parameters())
    rng = np.random.default_rng(args.seed)
    batches = rng.integers(0, len(x_train), (args.steps, args.batch_size))
    losses: list[float] = []
    scales: list[float] = []
    finite: list[bool] = []
    bar = _common.progress(range(0, args.steps, args.chunk), desc=name)
    for start in bar:
        chunk = jnp.asarray(batches[start : start + args.chunk])
        model, optimizer, loss_scale, history = train_chunk(
            model, optimizer, loss_scale, x_train, y_train, chunk
        )
        chunk_losses, chunk_scales, chunk_finite = (np.asarray(h) for h in history)
        losses.extend(chunk_losses.tolist())
        scales.extend(chunk_scales.tolist())
        finite.extend(chunk_finite.tolist())
        for loss in chunk_losses:
            bar.update_loss(loss, log2_scale=float(np.log2(scales[-1])))
    bar.close()
    return {
        "model": model,
        "losses": losses,
        "scales": scales,
        "final_scale": float(loss_scale.loss_scale),
        "skipped_steps": [i + 1 for i, ok in enumerate(finite) if not ok],
        "test_accuracy": float(accuracy(model, x_test, y_test)),
    }


def dtype_report(
    mixed: MLP, x: jax.Array, y: jax.Array, args: argparse.Namespace
) -> dict[str, Any]:
    """The dtypes of weights, activations, gradients and the matrix products of one
    training step, from abstract evaluation (``jax.eval_shape``, ``jax.make_jaxpr``)."""
    scale = jmp.DynamicLossScale(jnp.float32(2.0**args.initial_scale_log2), period=args.period)
    optimizer = opax.adam(args.learning_rate)(mixed.parameters())
    new_model = jax.eval_shape(train_step, mixed, optimizer, scale, x, y)[0]
    grads = jax.eval_shape(pax.grad(lambda m: cross_entropy(m(x), y)), mixed)

    def leaf_dtypes(tree: Any) -> list[str]:
        return sorted({str(leaf.dtype) for leaf in jax.tree_util.tree_leaves(tree)})

    return {
        "params": leaf_dtypes(mixed.parameters()),
        "params_after_step": leaf_dtypes(new_model.parameters()),
        "grads": leaf_dtypes(grads),
        "features": str(jax.eval_shape(MLP.features, mixed, x).dtype),
        "logits": str(jax.eval_shape(mixed, x).dtype),
        "step_matmuls": matmul_dtypes(train_step, mixed, optimizer, scale, x, y),
    }


def scale_history(scales: list[float]) -> list[tuple[int, float]]:
    """``(step, scale)``: the scale used from that step on, at the first step and
    wherever it changed (a step after a skipped one uses half the scale)."""
    return [(1, scales[0])] + [
        (i + 1, s) for i, s in enumerate(scales) if i > 0 and s != scales[i - 1]
    ]


def scale_at(history: list[tuple[int, float]], step: int) -> float:
    """The scale used at ``step``, from a :func:`scale_history`."""
    return max(h for h in history if h[0] <= step)[1]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train the half-precision models and the float32 one; return the metrics."""
    start = time.perf_counter()
    data = load_digits_split(args.test_size, args.seed)
    print(f"digits: {len(data[0])} training and {len(data[2])} test images")
    base = MLP([data[0].shape[1], *args.hidden, 10], rng_key=jax.random.PRNGKey(args.seed))
    x, y = jnp.asarray(data[0][: args.batch_size]), jnp.asarray(data[1][: args.batch_size])
    initial_scale = jnp.float32(2.0**args.initial_scale_log2)

    results: dict[str, dict[str, Any]] = {}
    dtypes: dict[str, dict[str, Any]] = {}
    for compute in args.compute:
        mixed = with_policies(base, compute)
        print(mixed.summary())
        dtypes[compute] = dtype_report(mixed, x, y, args)
        d = dtypes[compute]
        print(
            f"  weights {d['params']}, hidden activations {d['features']}, logits "
            f"{d['logits']}, gradients {d['grads']}, matrix products of a step {d['step_matmuls']}"
        )
        loss_scale = jmp.DynamicLossScale(initial_scale, period=args.period)
        results[compute] = train(mixed, loss_scale, data, args, f"{compute} + loss scale")
        results[compute]["final_param_dtypes"] = sorted(
            {str(p.dtype) for p in jax.tree_util.tree_leaves(results[compute]["model"])}
        )
    results["float32"] = train(base, jmp.NoOpLossScale(), data, args, "float32")
    elapsed = time.perf_counter() - start

    print(
        "test accuracy: "
        + ", ".join(f"{name} {r['test_accuracy']:.4f}" for name, r in results.items())
    )
    loss_scale_metrics = {}
    for compute in args.compute:
        r = results[compute]
        history = scale_history(r["scales"])
        skipped = r["skipped_steps"]
        loss_scale_metrics[compute] = {
            "final": r["final_scale"],
            "history": history,
            "skipped_steps": skipped,
            "num_skipped": len(skipped),
        }
        where = f" (steps {skipped[:8]}{' ...' if len(skipped) > 8 else ''})" if skipped else ""
        print(
            f"{compute} loss scale: 2^{args.initial_scale_log2:g} -> "
            f"2^{np.log2(r['final_scale']):g}, {len(history) - 1} changes; skipped "
            f"{len(skipped)} of {args.steps} steps for non-finite gradients{where}"
        )
    print(f"({elapsed:.1f} s)")

    # same start, same batches: how far half-precision rounding moved the weights
    reference = jax.tree_util.tree_leaves(results["float32"]["model"].parameters())

    def relative_distance(model: MLP) -> float:
        leaves = jax.tree_util.tree_leaves(model.parameters())
        diff = sum(float(jnp.sum((a - b) ** 2)) for a, b in zip(leaves, reference))
        return float(np.sqrt(diff / sum(float(jnp.sum(b**2)) for b in reference)))

    metrics = {
        "accuracy": {name: r["test_accuracy"] for name, r in results.items()},
        "weight_distance_to_float32": {
            c: relative_distance(results[c]["model"]) for c in args.compute
        },
        "final_loss": {name: float(np.mean(r["losses"][-50:])) for name, r in results.items()},
        "loss_scale": loss_scale_metrics,
        "dtypes": dtypes,
        "final_param_dtypes": {c: results[c]["final_param_dtypes"] for c in args.compute},
        "initial_scale": float(initial_scale),
        "period": args.period,
        "steps": args.steps,
        "seconds": elapsed,
    }
    metrics["curve"] = _common.save_curve(
        os.path.join(args.out_dir, "curve.png"),
        {name: r["losses"] for name, r in results.items()},
        title="digits MLP: training loss, half-precision compute vs float32",
        ylabel="cross-entropy",
        logy=True,
    )
    metrics["scale_curve"] = _common.save_curve(
        os.path.join(args.out_dir, "loss_scale.png"),
        {
            f"{c} ({len(results[c]['skipped_steps'])} skipped)": np.log2(results[c]["scales"])
            for c in args.compute
        },
        title=f"dynamic loss scale (doubles after {args.period} finite steps)",
        ylabel="log2(loss scale)",
    )
    _common.write_metrics(os.path.join(args.out_dir, "metrics.json"), metrics)
    return metrics


def check(metrics: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """What is off: accuracies, their gaps, the dtypes, the loss-scale bookkeeping."""
    problems = []
    accuracy = metrics["accuracy"]
    for name, value in accuracy.items():
        if not value >= args.min_accuracy:
            problems.append(f"{name} test accuracy {value:.4f} is below {args.min_accuracy}")
    for compute in args.compute:
        gap = abs(accuracy[compute] - accuracy["float32"])
        if not gap <= args.max_gap:
            problems.append(f"{compute} and float32 accuracies differ by {gap:.4f}")
        d = metrics["dtypes"][compute]
        if d["features"] != compute or d["logits"] != "float32":
            problems.append(f"{compute}: activations are {d['features']}, logits {d['logits']}")
        for key in ("params", "params_after_step", "grads"):
            if d[key] != ["float32"]:
                problems.append(f"{compute}: {key} are {d[key]}, not float32")
        if metrics["final_param_dtypes"][compute] != ["float32"]:
            problems.append(f"{compute}: trained weights are {metrics['final_param_dtypes']}")
        if set(d["step_matmuls"]) != {compute}:
            problems.append(f"{compute}: matrix products of a step are {d['step_matmuls']}")
        # each skipped step halved the scale (down to jmp's minimum, 1)
        ls = metrics["loss_scale"][compute]
        history = [tuple(h) for h in ls["history"]] + [(metrics["steps"] + 1, ls["final"])]
        for step in ls["skipped_steps"]:
            if scale_at(history, step + 1) != max(scale_at(history, step) / 2, 1.0):
                problems.append(f"{compute}: the skipped step {step} did not halve the scale")
                break
    return problems


def main(argv: list[str] | None = None) -> int:
    return _common.run_main(parse_args, run, check, argv)


if __name__ == "__main__":
    sys.exit(main())
