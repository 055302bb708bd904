"""Checkpoints across processes: resuming in a fresh process is bit-for-bit the same as
not stopping, and a writer killed with SIGKILL mid-write leaves the previous checkpoint
intact. The jobs run in subprocesses (tests/checkpoint_jobs.py)."""

import glob
import os
import pathlib
import signal
import subprocess
import sys
import time

import checkpoint_jobs
import jax
import numpy as np
import pytest

import pax

JOBS = pathlib.Path(checkpoint_jobs.__file__).resolve()
ROOT = JOBS.parent.parent


def run_job(*args: str, timeout: float = 120) -> None:
    # the environment is this one (conftest's XLA_FLAGS and JAX_PLATFORMS=cpu included)
    subprocess.run([sys.executable, str(JOBS), *args], cwd=ROOT, check=True, timeout=timeout)


def assert_bitwise_equal(a, b) -> None:
    # (not treedefs: opax makes a new optimizer class each time an optimizer is built)
    a_flat = jax.tree_util.tree_flatten_with_path(a)[0]
    b_flat = jax.tree_util.tree_flatten_with_path(b)[0]
    assert [p for p, _ in a_flat] == [p for p, _ in b_flat]
    for (_, x), (_, y) in zip(a_flat, b_flat):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def test_resume_in_a_fresh_process_equals_uninterrupted_training(tmp_path):
    n, m = 6, 5
    start = checkpoint_jobs.make_state(seed=0)
    uninterrupted = checkpoint_jobs.train(start, n + m)
    first = checkpoint_jobs.train(start, n)
    pax.save(tmp_path / "after_n.safetensors", first)

    run_job("resume", str(tmp_path / "after_n.safetensors"), str(tmp_path / "out"), str(m))

    resumed = pax.load(tmp_path / "out", like=checkpoint_jobs.make_state(seed=7))
    assert resumed["step"] == n + m
    assert_bitwise_equal(resumed, uninterrupted)
    # (the models did move: this is not a comparison of two untrained models)
    assert not np.array_equal(resumed["model"][0].weight, start["model"][0].weight)


def _temporaries(folder: pathlib.Path):
    return glob.glob(str(folder / ".ckpt.*.tmp"))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_a_writer_killed_mid_write_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "ckpt"
    megabytes = 64
    n = megabytes * 2**20 // 4
    writer = subprocess.Popen(
        [sys.executable, str(JOBS), "writer", str(path), str(megabytes)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        # wait for one complete checkpoint, then for the next write to be under way
        for line in writer.stdout:
            if line.startswith("saved"):
                break
        full_size = os.path.getsize(path)  # every generation has this size
        deadline = time.monotonic() + 60
        killed_partial = False
        while time.monotonic() < deadline and writer.poll() is None:
            for tmp in _temporaries(tmp_path):
                try:
                    size = os.path.getsize(tmp)
                except FileNotFoundError:  # renamed in the meantime
                    continue
                if 0 < size < full_size:  # the new file is half written: kill now
                    writer.send_signal(signal.SIGKILL)
                    killed_partial = True
                    break
            if killed_partial:
                break
            time.sleep(0.0005)
        assert killed_partial, "never saw a partly written checkpoint to kill the writer on"
        writer.wait(timeout=30)
        assert writer.returncode == -signal.SIGKILL
        saved = [int(line.split()[1]) for line in writer.stdout if line.startswith("saved")]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()

    # a complete generation is there (the last one announced; its successor only if
    # the kill landed after the rename), and the half-written one is left aside
    like = {"generation": 0, "big": np.zeros(n, np.float32)}
    restored = pax.load(path, like=like)
    generation = restored["generation"]
    last = saved[-1] if saved else 0
    assert generation in (last, last + 1)
    assert restored["big"].dtype == np.float32 and restored["big"].shape == (n,)
    assert np.all(restored["big"] == generation)
    assert _temporaries(tmp_path), "the killed write should have left its temporary file"

    # the next save replaces the file as usual, stale temporary file or not
    pax.save(path, {"generation": -1, "big": np.ones(8, np.float32)})
    assert (
        pax.load(path, like={"generation": 0, "big": np.zeros(8, np.float32)})["generation"] == -1
    )
