"""examples/netket_ising.py in its reduced (``--quick``) mode: both pax models train in
NetKet and land near the exact ground-state energy."""

import json

import pytest
from helpers import load_example

nk = pytest.importorskip(
    "netket", reason="the NetKet example needs netket: pip install pax3[netket]"
)


def test_quick_run_reaches_the_exact_energy(capsys, tmp_path):
    nk.config.netket_sharding = False  # conftest.py forces 8 host CPU devices
    example = load_example("netket_ising")
    args = example.parse_args(["--quick", "--out-dir", str(tmp_path)])
    assert args.quick and args.rbm_steps < 300
    metrics = example.run(args)
    assert example.check(metrics, args) == []
    assert metrics["exact"] < metrics["rbm_energy"] < 0.95 * metrics["exact"]
    assert metrics["exact"] < metrics["arnn_energy"] < 0.9 * metrics["exact"]
    assert len(metrics["rbm_curve"]) == args.rbm_steps
    out = capsys.readouterr().out
    assert "exact ground-state energy" in out and "pax RBM (complex128" in out
    assert (tmp_path / "energy.png").stat().st_size > 1000
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
