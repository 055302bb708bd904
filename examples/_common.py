"""Small utilities shared by the example scripts (not part of the pax package).

- :func:`quick_mode` tells whether the example runs in its reduced (CI) mode: set
  ``PAX_EXAMPLES_QUICK=1`` in the environment or pass ``--quick`` on the command line.
- :func:`progress` wraps an iterable in a tqdm progress bar that shows the running loss.
- :func:`save_curve` writes a PNG of a training curve with matplotlib (no screen needed).
- :func:`write_metrics` writes the final metrics as JSON, so tests can read them.
- :func:`run_main` is every example's ``main``: run, check the metrics, exit status.
- :func:`load_digits` gives scikit-learn's bundled digits, split into train and test.

Each example imports this module by name (``import _common``); Python puts the script's
folder on ``sys.path``, so ``python examples/<name>.py`` works from any directory.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

QUICK_ENV = "PAX_EXAMPLES_QUICK"


def quick_mode(argv: Sequence[str] | None = None) -> bool:
    """True when ``--quick`` is in ``argv`` (default ``sys.argv``) or when
    ``$PAX_EXAMPLES_QUICK`` is set (to anything but ``0``)."""
    argv = sys.argv[1:] if argv is None else argv
    return "--quick" in argv or os.environ.get(QUICK_ENV, "") not in ("", "0")


class progress:
    """A tqdm bar over ``iterable``; call :meth:`update_loss` to show the running loss.

    The displayed loss is an exponential moving average (``smoothing``) of the values
    given; ``bar.losses`` keeps every raw value for the training curve.
    """

    def __init__(self, iterable: Iterable[Any], desc: str, smoothing: float = 0.9):
        from tqdm.auto import tqdm

        self._bar = tqdm(iterable, desc=desc, dynamic_ncols=True, mininterval=0.5)
        self._smoothing = smoothing
        self._running: float | None = None
        self.losses: list[float] = []

    def __iter__(self) -> Iterator[Any]:
        return iter(self._bar)

    def update_loss(self, loss: float, **extra: float) -> None:
        loss = float(loss)
        self.losses.append(loss)
        s = self._smoothing
        self._running = loss if self._running is None else s * self._running + (1 - s) * loss
        postfix = {"loss": f"{self._running:.4f}"}
        postfix.update({k: f"{v:.4f}" for k, v in extra.items()})
        self._bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        self._bar.close()


def save_curve(
    path: str,
    curves: dict[str, Sequence[float]],
    title: str,
    xlabel: str = "step",
    ylabel: str = "loss",
    logy: bool = False,
) -> str:
    """Plots each named curve against its index and writes a PNG to ``path``; returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_metrics(path: str, metrics: dict[str, Any]) -> None:
    """Writes ``metrics`` as JSON to ``path`` (creating its folder)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)


def run_main(
    parse_args: Callable[[Sequence[str] | None], Any],
    run: Callable[[Any], dict[str, Any]],
    check: Callable[[dict[str, Any], Any], list[str]],
    argv: Sequence[str] | None = None,
) -> int:
    """The examples' ``main``: parse ``argv``, ``run`` the example, ``check`` its
    metrics; print each problem found (to stderr) and return the exit status."""
    args = parse_args(argv)
    problems = check(run(args), args)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """scikit-learn's bundled 8x8 digits (1797 images, shipped with the package: no
    download), split stratified: ``x_train, y_train, x_test, y_test``, images of shape
    ``(N, 8, 8, 1)`` as float32 in [0, 1] and int32 labels 0..9."""
    import numpy as np
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    return x_train, y_train, x_test, y_test
