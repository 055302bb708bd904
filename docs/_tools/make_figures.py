"""The site's figures: the training curves of the examples, run in their quick mode.

``python docs/_tools/make_figures.py [--force]`` writes ``docs/_generated/figures/*.png``
(ignored by git); ``docs/conf.py`` calls :func:`ensure` so that a build makes the
figures it lacks. Each example runs in a subprocess, two at a time.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(DOCS)
FIGURES = os.path.join(DOCS, "_generated", "figures")

# example -> {file the example writes: figure name on the site}
EXAMPLES = {
    "quickstart": {"training_curve.png": "quickstart.png"},
    "objax_style": {"curve.png": "objax_style.png"},
    "data_parallel": {"curve.png": "data_parallel.png"},
    "mixed_precision": {
        "curve.png": "mixed_precision.png",
        "loss_scale.png": "mixed_precision_loss_scale.png",
    },
    "autoregressive": {"curve.png": "autoregressive.png"},
}


def _missing(example: str) -> bool:
    return not all(
        os.path.exists(os.path.join(FIGURES, name)) for name in EXAMPLES[example].values()
    )


def _run(example: str) -> str:
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
        env["MPLBACKEND"] = "Agg"
        script = os.path.join(ROOT, "examples", f"{example}.py")
        done = subprocess.run(
            [sys.executable, script, "--quick", "--out-dir", out],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"examples/{example}.py --quick failed (exit {done.returncode}):\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            )
        for written, name in EXAMPLES[example].items():
            shutil.copyfile(os.path.join(out, written), os.path.join(FIGURES, name))
    return example


def ensure(force: bool = False, workers: int = 2) -> list[str]:
    """Run the examples whose figures are missing (all with ``force``); their names."""
    os.makedirs(FIGURES, exist_ok=True)
    todo = [e for e in EXAMPLES if force or _missing(e)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run, todo))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rerun every example")
    args = parser.parse_args()
    print("ran:", ensure(force=args.force) or "nothing (all figures present)")
