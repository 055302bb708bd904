"""Data-parallel training in 2 local CPU processes with ``jax.distributed`` (gloo
collectives) equals the same training in one process on one device.

The worker is ``examples/multi_process.py`` (also the recipe for a real cluster); the
test starts two copies with a coordinator on 127.0.0.1, kills both if they do not finish
in time, and compares their final parameters with the single-process run.
"""

import importlib.util
import os
import pathlib
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

WORKER = pathlib.Path(__file__).resolve().parent.parent / "examples" / "multi_process.py"
TIMEOUT_S = 150  # a hang (e.g. a process waiting for a peer that died) fails, not blocks
PROCESSES, LOCAL_DEVICES = 2, 2
OPTIONS = ["--steps", "8", "--batch-size", "64", "--seed", "1"]


def load_worker():
    spec = importlib.util.spec_from_file_location("example_multi_process", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: pathlib.Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else "<nothing>"
    return "\n".join(text.splitlines()[-lines:])


def run_processes(tmp_path: pathlib.Path, options=OPTIONS):
    """Starts the workers; returns their output files, or fails with their stderr."""
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PAX_EXAMPLES_QUICK", None)
    procs, logs = [], []
    for pid in range(PROCESSES):
        cmd = [
            sys.executable,
            str(WORKER),
            "--coordinator",
            address,
            "--num-processes",
            str(PROCESSES),
            "--process-id",
            str(pid),
            "--cpu-devices",
            str(LOCAL_DEVICES),
            "--init-timeout",
            str(TIMEOUT_S),
            "--out",
            str(tmp_path / "result_{process_id}.npz"),
            *options,
        ]
        out, err = tmp_path / f"stdout_{pid}.txt", tmp_path / f"stderr_{pid}.txt"
        logs.append((out, err))
        with open(out, "w") as fo, open(err, "w") as fe:
            procs.append(subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env))

    def report(problem: str) -> str:
        parts = [problem]
        for pid, (proc, (out, err)) in enumerate(zip(procs, logs)):
            parts.append(f"--- process {pid} (exit status {proc.returncode}) stdout:\n{tail(out)}")
            parts.append(f"--- process {pid} stderr:\n{tail(err)}")
        return "\n".join(parts)

    deadline = time.monotonic() + TIMEOUT_S
    try:
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
        pytest.fail(report(f"the worker processes did not finish within {TIMEOUT_S} s"))
    finally:
        for proc in procs:  # e.g. on KeyboardInterrupt
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if any(proc.returncode != 0 for proc in procs):
        pytest.fail(report("a worker process failed"))
    return [np.load(tmp_path / f"result_{pid}.npz") for pid in range(PROCESSES)], [
        out.read_text() for out, _ in logs
    ]


def test_two_processes_train_like_one_device(tmp_path):
    results, stdouts = run_processes(tmp_path)
    for pid, out in enumerate(stdouts):
        assert f"process {pid}/{PROCESSES}: {LOCAL_DEVICES} local devices of 4 (cpu)" in out

    worker = load_worker()
    args = worker.parse_args(OPTIONS)
    reference = worker.train(args, devices=jax.devices()[:1])  # this process, one device
    assert reference["losses"][-1] < reference["losses"][0]

    first, second = results
    assert sorted(first.files) == sorted(["losses", *reference["params"]])
    for name in first.files:  # both processes hold the same model
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    np.testing.assert_allclose(first["losses"], reference["losses"], rtol=1e-5, atol=1e-6)
    # Adam divides each gradient by its running scale, so a weight whose gradient is
    # near zero can move by up to the learning rate (3e-3) on a rounding difference;
    # 1e-4 is still far below what one step on wrong rows changes.
    for name, value in reference["params"].items():
        np.testing.assert_allclose(first[name], value, rtol=1e-4, atol=1e-4, err_msg=name)


def test_a_failing_worker_is_reported_with_both_outputs(tmp_path):
    with pytest.raises(pytest.fail.Exception) as failure:
        run_processes(tmp_path, options=["--steps", "many"])
    message = str(failure.value)
    assert message.startswith("a worker process failed")
    for pid in range(PROCESSES):
        assert f"--- process {pid} (exit status 2) stdout:" in message
        assert f"--- process {pid} stderr:" in message
    assert message.count("argument --steps: invalid int value: 'many'") == PROCESSES
