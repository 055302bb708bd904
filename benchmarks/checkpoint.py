"""How long do ``pax.save`` and ``pax.load`` take for a ResNet18 and its Adam state?

Run:  python benchmarks/checkpoint.py            (about a minute on 2 CPU cores)
      python benchmarks/checkpoint.py --quick    (a few seconds; smoke test)

The tree is ``{"model": pax.nets.ResNet18(3, 1000), "optimizer": opax.adam(1e-3)(...),
"step": 0}``: 11.7 M parameters plus BatchNorm statistics, three times over with
Adam's two moments, about 140 MB of float32. Each run saves it to a fresh folder in
``--dir`` (default: a temporary folder) and loads it back into the same tree; the
table gives the median over ``--runs`` runs (after one warm-up) of:

- ``save``: ``pax.save`` end to end (device to host, CRC-32s, safetensors write,
  fsync of the file and its folder, rename);
- ``load``: ``pax.load`` end to end (header and structure checks, read, CRC-32s,
  host to device), with ``jax.block_until_ready`` on the result;
- ``checksums``: the CRC-32 of every tensor alone, next to what SHA-256 would cost,
  which is why the format uses CRC-32;
- ``save without fsync``: ``pax.save`` with ``os.fsync`` made a no-op, i.e. without
  the durability guarantee; the difference to ``save`` is what the disk charges for it
  (on a slow or busy disk, most of ``save``).
"""

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import unittest.mock
import zlib
from collections.abc import Callable
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import opax  # noqa: E402

import pax  # noqa: E402


def make_tree(quick: bool) -> dict[str, Any]:
    if quick:  # a small ResNet: the same code paths in a fraction of the time
        model = pax.nets.ResNet(3, [1, 1, 1, 1], 10, False, (16, 32, 64, 128))
    else:
        model = pax.nets.ResNet18(3, 1000)
    return {"model": model, "optimizer": opax.adam(1e-3)(model.parameters()), "step": 0}


def median_time(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small ResNet, 2 runs")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp folder)")
    args = parser.parse_args(argv)
    runs = 2 if args.quick else args.runs

    tree = make_tree(args.quick)
    leaves = jax.tree_util.tree_leaves(tree)
    arrays = [np.asarray(x) for x in leaves]
    megabytes = sum(a.nbytes for a in arrays) / 1e6
    params = sum(x.size for x in jax.tree_util.tree_leaves(tree["model"].parameters()))
    folder = tempfile.mkdtemp(dir=args.dir)
    path = os.path.join(folder, "resnet.safetensors")
    try:
        save_s = median_time(lambda: pax.save(path, tree), runs)
        file_mb = os.path.getsize(path) / 1e6
        load_s = median_time(lambda: jax.block_until_ready(pax.load(path, like=tree)), runs)
        views = [a.reshape(-1).view(np.uint8) for a in arrays]
        crc_s = median_time(lambda: [zlib.crc32(v) for v in views], runs)
        sha_s = median_time(lambda: [hashlib.sha256(v).digest() for v in views], runs)

        with unittest.mock.patch("os.fsync", lambda fd: None):
            no_fsync_s = median_time(lambda: pax.save(path, tree), runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    name = "small ResNet" if args.quick else "ResNet18"
    print(
        f"{name} + opax.adam state: {params / 1e6:.1f} M parameters, {len(leaves)} leaves, "
        f"{megabytes:.1f} MB of arrays, file {file_mb:.1f} MB"
    )
    print(
        f"jax {jax.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {jax.devices()[0].platform}; median of {runs} runs\n"
    )
    rows = [
        ("pax.save", save_s),
        ("pax.load", load_s),
        ("  crc32 of all tensors", crc_s),
        ("  (sha256 would take)", sha_s),
        ("  save without fsync", no_fsync_s),
    ]
    print(f"{'':24s} {'seconds':>8s} {'MB/s':>8s}")
    for label, seconds in rows:
        print(f"{label:24s} {seconds:8.3f} {megabytes / seconds:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
