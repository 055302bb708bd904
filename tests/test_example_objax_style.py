"""examples/objax_style.py in its reduced (``--quick``) mode: the Objax-style loop
(``vars()``, ``pax.GradValues``, ``opax_integration.Optimizer``, ``pax.Jit``) trains
the digits CNN to a good test accuracy and writes its curve and metrics."""

import json

import pytest
from helpers import load_example


@pytest.fixture()
def example():
    return load_example("objax_style")


def test_quick_run_reaches_a_good_test_accuracy(example, tmp_path, capsys):
    args = example.parse_args(["--quick", "--out-dir", str(tmp_path)])
    assert args.quick and args.steps <= 300 and args.optimizer == "opax"
    metrics = example.run(args)
    assert example.check(metrics, args) == []
    assert metrics["test_accuracy"] >= 0.94
    assert metrics["optimizer_steps"] == args.steps  # the state survived every Jit call
    assert metrics["final_loss"] < 0.3
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert json.loads((tmp_path / "metrics.json").read_text()) == pytest.approx(metrics)
    out = capsys.readouterr().out
    assert "test accuracy" in out and "(Sequential)[0](Conv2D).weight" in out


def test_the_optax_optimizer_trains_too(example, tmp_path):
    pytest.importorskip("optax")
    args = example.parse_args(["--quick", "--optimizer", "optax", "--out-dir", str(tmp_path)])
    args.steps, args.warmup = 60, 10  # a smoke run: the optax state is carried along
    metrics = example.run(args)
    assert metrics["optimizer_steps"] == 60
    assert metrics["test_accuracy"] > 0.6


def test_check_reports_a_low_accuracy_and_a_lost_state(example):
    args = example.parse_args(["--quick"])
    problems = example.check({"test_accuracy": 0.5, "optimizer_steps": 3}, args)
    assert len(problems) == 2
    assert "test accuracy 0.5000 is below" in problems[0]
    assert "counted 3 steps" in problems[1]
