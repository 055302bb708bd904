"""Writes tests/data/pax3_0_5_checkpoint.pkl with PAX 0.5 itself (documentation only).

This script is not run by the tests: it needs the *old* libraries, installed in a
throwaway environment (Python 3.11), not pax's own:

    python -m venv /tmp/pax3old
    /tmp/pax3old/bin/pip install jax==0.5.0 jaxlib==0.5.0 jmp==0.0.4 "numpy<2.3"
    /tmp/pax3old/bin/pip install --no-deps <NTT123/pax at v0.5.10> <NTT123/opax at 0.2.11>
    /tmp/pax3old/bin/python tests/data/make_pax3_0_5_checkpoint.py tests/data

(pax3 0.5.10 is the last commit of NTT123/pax; PyPI stops at 0.5.9, whose pickles name
the same classes.) It builds a small model, takes one opax Adam step and pickles what a
PAX user saved: ``model.state_dict()``, ``optimizer.state_dict()`` and whole modules,
with the arrays of each as plain numpy (``expected``) to compare against, the training
inputs, and one small pickled layer of each kind with an input and PAX's output. It also
records the keys that ``pax.seed_rng_key``/``next_rng_key`` give for a few seeds
(printed; tests/test_pax3_compat.py hard-codes them). Run it with no PYTHONPATH, so that
``import pax`` is the old one.
"""

import importlib
import pickle
import sys

import jax
import jax.numpy as jnp
import numpy as np
import opax

import pax


class Net(pax.Module):
    def __init__(self):
        super().__init__()
        # no functions inside: jax.nn.relu does not pickle, so the whole-module pickle
        # of `encoder` would fail (in PAX too)
        self.encoder = pax.Sequential(pax.Linear(3, 4), pax.BatchNorm1D(4), pax.Linear(4, 4))
        self.lstm = pax.LSTM(4, 5)
        self.head = pax.Linear(5, 2)

    def __call__(self, x):
        h = jax.nn.relu(self.encoder(x))  # (N, L, C): BatchNorm1D's layout
        state = self.lstm.initial_state(x.shape[0])
        state, h = self.lstm(state, h[:, -1])
        return self.head(h)


def loss_fn(net, x, y):
    net, y_hat = pax.purecall(net, x)
    loss = jnp.mean((y_hat - y) ** 2)
    return loss, (loss, net)


def run(module, inputs):
    """PAX's output of `module` (in eval mode) on `inputs`; an RNN starts from zeros."""
    module = module.eval()
    if isinstance(module, (pax.LSTM, pax.GRU, pax.VanillaRNN)):
        state = module.initial_state(inputs[0].shape[0])
        return np.asarray(pax.purecall(module, state, *inputs)[1][1])
    return np.asarray(pax.purecall(module, *inputs)[1])


def pickled_layers():
    """One small module of each kind, pickled whole, with an input and PAX's output:
    (constructor name, args, kwargs, module, inputs, output)."""
    pax.seed_rng_key(1)
    rng = np.random.RandomState(0)
    normal = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    cases = [
        ("Conv1D", (2, 3, 3), {}, (normal(2, 5, 2),)),
        ("Conv2D", (2, 3, 3), {"stride": 2, "padding": "VALID"}, (normal(2, 6, 6, 2),)),
        ("Conv1DTranspose", (2, 3, 3), {"stride": 2}, (normal(2, 4, 2),)),
        ("Conv2DTranspose", (2, 3, 3), {"stride": 2}, (normal(2, 4, 4, 2),)),
        ("BatchNorm2D", (2,), {}, (normal(2, 3, 3, 2),)),
        ("LayerNorm", (3, -1, True, True), {}, (normal(2, 3),)),
        ("GroupNorm", (2, 4), {}, (normal(2, 3, 3, 4),)),
        ("Embed", (5, 3), {}, (np.array([[0, 4, 2]], np.int32),)),
        ("GRU", (3, 4), {}, (normal(2, 3),)),
        ("VanillaRNN", (3, 4), {}, (normal(2, 3),)),
        (
            "MultiHeadAttention",
            (2, 3, 1.0),
            {},
            (normal(1, 4, 6), normal(1, 4, 6), normal(1, 4, 6)),
        ),
        ("Dropout", (0.5,), {}, (normal(2, 3),)),
        ("Identity", (), {}, (normal(2, 3),)),
        ("RngSeq", (7,), {}, ()),
        ("nets.Transformer", (8, 2, 1, 0.1), {}, (normal(1, 5, 8),)),
        ("_src.nets.resnet.ResnetBlock", (4, 8, 2, True, False), {}, (normal(1, 4, 6, 6),)),
        ("_src.nets.resnet.BlockGroup", (4, 8, 2, 2, False, True), {}, (normal(1, 4, 6, 6),)),
    ]
    layers = []
    for name, args, kwargs, inputs in cases:
        module_path, _, class_name = f"pax.{name}".rpartition(".")
        module = getattr(importlib.import_module(module_path), class_name)(*args, **kwargs)
        if name == "BatchNorm2D":  # statistics that are not the initial ones
            module, _ = pax.purecall(module, normal(4, 3, 3, 2) + 1.0)
        output = None if name == "RngSeq" else run(module, inputs)
        layers.append((name, args, kwargs, module, inputs, output))
    return layers


def main(out_dir):
    pax.seed_rng_key(0)
    net = Net()
    optimizer = opax.adam(1e-2).init(net.parameters())
    x = np.linspace(-1.0, 1.0, 2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    y = np.cos(np.arange(4, dtype=np.float32)).reshape(2, 2)
    update_fn = jax.jit(pax.utils.build_update_fn(loss_fn))
    net, optimizer, loss = update_fn(net, optimizer, x, y)
    net2, optimizer2, loss2 = update_fn(net, optimizer, x, y)  # the step after

    def to_numpy(tree):
        return jax.tree_util.tree_map(np.asarray, tree)

    record = {
        "pax_version": pax.__version__,
        "jax_version": jax.__version__,
        "model_state_dict": net.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        # whole built-in modules pickled (the class `Net` itself lives in __main__)
        "modules": {"encoder": net.encoder, "lstm": net.lstm, "head": net.head},
        "expected_model_leaves": to_numpy(jax.tree_util.tree_leaves(net)),
        "expected_optimizer_leaves": to_numpy(jax.tree_util.tree_leaves(optimizer)),
        "x": x,
        "y": y,
        "loss_after_one_step": np.asarray(loss),
        "next_step_loss": np.asarray(loss2),
        "next_step_model_leaves": to_numpy(jax.tree_util.tree_leaves(net2)),
    }
    record["layers"] = pickled_layers()
    with open(f"{out_dir}/pax3_0_5_checkpoint.pkl", "wb") as f:
        pickle.dump(record, f)

    keys = {}
    for seed in (0, 1, 42, 2024):
        pax.seed_rng_key(seed)
        keys[seed] = [np.asarray(pax.next_rng_key()).tolist() for _ in range(3)]
    print("seed keys:", keys)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
