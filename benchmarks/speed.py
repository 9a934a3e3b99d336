"""How fast does a child train here, and how far is that from what this CPU can compute?

The search's cost is dominated by proxy training (Sec. 4.2: every sampled model is trained). This
benchmark times `training.train_steps` (the search's own training step) on Fashion-MNIST-sized input
for a few networks under the settings that change speed but not what is computed: memory format
(channels-last or not), batch size, torch threads. All settings are timed interleaved, round by
round, so the machine's drift hits them alike; the median of the rounds is reported.

The arithmetic limit is measured, not looked up: the GFLOP/s of a large float32 matrix product
on the same threads. A training step costs about 3x the forward pass (forward, and the two
backward products), so its arithmetic rate is images/s x 3 x 2 x forward MACs; depthwise and
1x1 convolutions on 28 px maps reach only a small share of the matrix-product peak.

    python benchmarks/speed.py [--archs mobilenetv2,mnasnet-a1] [--rounds 5] [--steps 8]

Writes benchmarks/results/speed.json (one record per network and setting, with provenance).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import itertools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

# flat modules live in the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import cli  # noqa: E402
import records  # noqa: E402
import training  # noqa: E402
from models import REFERENCE_ARCHS, build_model, count_macs  # noqa: E402

SPEED = records.RESULTS / "speed.json"


def matmul_gflops(threads: int, n: int = 1024, repeats: int = 10) -> float:
    """float32 GFLOP/s of an n x n matrix product on `threads` threads (best of `repeats`)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", default="mobilenetv2,mnasnet-a1",
                   help="reference names, comma-separated")
    p.add_argument("--batches", type=cli.integers(2), default=[32, 64, 128, 256],
                   help="comma-separated (default 32,64,128,256)")
    p.add_argument("--threads", type=cli.integers(1), default=[1, 2],
                   help="comma-separated (default 1,2)")
    p.add_argument("--rounds", type=cli.at_least(1), default=5)
    p.add_argument("--steps", type=cli.at_least(1), default=8,
                   help="timed training steps per setting and round")
    p.add_argument("--out", default=str(SPEED))
    args = p.parse_args(argv)
    archs = args.archs.split(",")
    if any(a not in REFERENCE_ARCHS for a in archs):
        print(f"error: --archs takes reference names ({', '.join(REFERENCE_ARCHS)})",
              file=sys.stderr)
        return 2
    origin = records.origin(__file__, argv)  # after the checks: a rejected command prints one line
    started = time.time()
    splits = training.load_splits(training.DataSpec())
    threads = args.threads
    peak = {t: matmul_gflops(t) for t in threads}
    print(
        "matrix-product peak: "
        + ", ".join(f"{peak[t]:.0f} GFLOP/s on {t} thread(s)" for t in threads)
    )
    settings = list(itertools.product(archs, [True, False], args.batches, threads))
    models = {a: training.make_model(REFERENCE_ARCHS[a], splits) for a in archs}
    seconds = {s: [] for s in settings}
    for r in range(args.rounds):
        for arch, channels_last, batch, t in (
            settings[r % len(settings) :] + settings[: r % len(settings)]
        ):
            torch.set_num_threads(t)
            cfg = replace(training.TrainConfig(), batch_size=batch, channels_last=channels_last)
            # the layout's first step
            training.train_steps(models[arch], splits["train"], replace(cfg, steps=1))
            seconds[arch, channels_last, batch, t].append(
                _seconds(lambda: training.train_steps(models[arch], splits["train"],
                                                      replace(cfg, steps=args.steps))))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"{'network':<12} {'layout':<14} {'batch':>5} {'threads':>7} {'images/s':>9} "
          f"{'GFLOP/s':>8} {'of peak':>7}")
    for arch, channels_last, batch, t in settings:
        macs = count_macs(build_model(REFERENCE_ARCHS[arch], 10, small_input=True, in_channels=1),
                          28, 1)
        images = batch * args.steps / float(np.median(seconds[arch, channels_last, batch, t]))
        gflops = images * 3 * 2 * macs / 1e9
        layout = "channels-last" if channels_last else "contiguous"
        print(f"{arch:<12} {layout:<14} {batch:>5} {t:>7} {images:>9.0f} {gflops:>8.1f} "
              f"{100 * gflops / peak[t]:>6.1f}%")
        records.append(args.out, {"arch": arch, "channels_last": channels_last, "batch_size": batch,
                                  "threads": t,
                                  "images_per_second": round(images, 1), "gflops": round(gflops, 2),
                                  "peak_gflops": round(peak[t], 1), "rounds": args.rounds,
                                  "steps": args.steps,
                                  **records.provenance(started, origin)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
