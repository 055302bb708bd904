"""examples/quickstart.py in its reduced (``--quick``) mode: the digits CNN trains to a
good test accuracy, and its checkpoint, loaded into a freshly built model, gives the
same logits; the curve, the metrics and the checkpoint are written."""

import json

import jax
import numpy as np
import pytest
from helpers import load_example

import pax


@pytest.fixture()
def example():
    return load_example("quickstart")


def test_quick_run_trains_checkpoints_and_reloads_identically(example, tmp_path, capsys):
    args = example.parse_args(["--quick", "--out-dir", str(tmp_path)])
    assert args.quick and args.epochs <= 5 and args.min_accuracy == 0.95
    metrics = example.run(args)
    assert example.check(metrics, args) == []
    assert metrics["test_accuracy"] >= 0.95 and metrics["train_accuracy"] >= 0.95
    assert metrics["reloaded_logits_identical"] is True
    assert metrics["reloaded_test_accuracy"] == metrics["test_accuracy"]
    assert len(metrics["test_accuracy_per_epoch"]) == args.epochs
    assert metrics["final_loss"] < 0.6
    assert (tmp_path / "training_curve.png").stat().st_size > 1000
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    out = capsys.readouterr().out
    assert "test accuracy" in out and "identical logits" in out

    # the checkpoint holds model, optimizer, shuffling key and epoch; it loads again
    # into a fresh model that then predicts what the trained one did
    fresh = example.make_model(args, seed=5)
    like = {
        "model": fresh,
        "optimizer": example.make_optimizer(fresh, args),
        "key": jax.random.key(1),
        "epoch": 0,
    }
    state = pax.load(metrics["checkpoint"], like=like)
    assert state["epoch"] == args.epochs
    _, _, x_test, y_test = example._common.load_digits(args.test_fraction, args.seed)
    logits = np.asarray(example.predict(state["model"], x_test))
    assert example.accuracy(logits, y_test) == metrics["test_accuracy"]


def test_check_reports_a_low_accuracy_and_a_different_reload(example):
    args = example.parse_args(["--quick"])
    metrics = {
        "test_accuracy": 0.5,
        "reloaded_test_accuracy": 0.4,
        "reloaded_logits_identical": False,
    }
    problems = example.check(metrics, args)
    assert len(problems) == 3
    assert "test accuracy 0.5000 is below 0.95" in problems[0]
    assert "logits differ" in problems[1] and "0.4000 differs from 0.5000" in problems[2]
