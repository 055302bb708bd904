"""examples/data_parallel.py in its reduced (``--quick``) mode: pmap and jit +
NamedSharding over 8 devices train like one device."""

import json

import jax
from helpers import load_example


def test_quick_run_matches_one_device(tmp_path, capsys):
    assert jax.device_count() >= 8  # tests/conftest.py asks for 8 host devices
    example = load_example("data_parallel")
    args = example.parse_args(["--quick", "--out-dir", str(tmp_path)])
    assert args.quick and args.steps < 100 and args.devices == 8
    metrics = example.run(args)
    assert example.check(metrics, args) == []
    assert metrics["devices"] == 8
    for name in ("one_device", "pmap", "sharded"):
        assert metrics[f"accuracy_{name}"] >= 0.8
        assert metrics[f"final_loss_{name}"] < 1.0  # from about log(10) = 2.3
    assert abs(metrics["accuracy_pmap"] - metrics["accuracy_one_device"]) <= 1 / 360
    assert abs(metrics["accuracy_sharded"] - metrics["accuracy_one_device"]) <= 1 / 360
    for name in ("pmap", "sharded"):
        assert metrics[f"max_param_diff_{name}"] < 1e-4
        assert metrics[f"max_loss_diff_{name}"] < 1e-4
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == args.steps
    out = capsys.readouterr().out
    assert "pmap: test accuracy" in out and "sharded: test accuracy" in out


def test_check_reports_disagreement():
    example = load_example("data_parallel")
    args = example.parse_args(["--quick"])
    metrics = {f"accuracy_{n}": 0.9 for n in ("one_device", "pmap", "sharded")}
    metrics.update(
        {f"max_{w}_diff_{n}": 0.0 for w in ("loss", "param") for n in ("pmap", "sharded")}
    )
    assert example.check(metrics, args) == []
    metrics["max_param_diff_sharded"] = 0.5
    metrics["accuracy_pmap"] = 0.1
    failures = example.check(metrics, args)
    assert len(failures) == 2
    assert any("pmap: test accuracy 0.1000" in f for f in failures)
    assert any("sharded: the params differ" in f for f in failures)
