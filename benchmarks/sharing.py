"""Does the supernet train? Its loss as more paths share the same weights.

`supernet.py` trains one uniformly sampled path per step (SPOS). Before its ranking can be scored
against the panel, its children have to learn at all. This benchmark trains a fresh supernet with
the supernet recipe (`supernet.TRAIN`) for `--steps` steps on Fashion-MNIST in each of these
regimes, and records the loss curve and the held-out accuracy of children scored as the search
scores them (BatchNorm re-estimated, `supernet.score`):

  paths=1    one fixed path: a single network, trained through the supernet's slices
  paths=N    N fixed paths taken in turn: N networks sharing weights
  paths=0    a uniformly random path per step: SPOS, what the search's supernet does

A regime with fixed paths is scored on those paths (up to 4); the uniform one on 4 random children.
Each regime is appended to benchmarks/results/sharing.json as it finishes (the command resumes).

    python benchmarks/sharing.py [--paths 1,2,8,0] [--steps 300] [--threads 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # flat modules live in the repo root
import torch  # noqa: E402
from torch.utils.data import Subset  # noqa: E402

import mnas  # noqa: E402
import panel  # noqa: E402
import records  # noqa: E402
import supernet  # noqa: E402
import training  # noqa: E402

SHARING = records.RESULTS / "sharing.json"


def fixed_paths(net: supernet.Supernet, archs: list) -> None:
    """Make `net` take `archs` in turn instead of uniformly random paths."""
    def sample():
        arch = archs[int(net.paths_taken) % len(archs)]
        net.paths_taken += 1
        return arch
    net.sample = sample


def run(paths: int, steps: int, data: training.DataSpec, threads: int, device: str, origin: dict) -> dict:
    started = time.time()
    space, splits = mnas.SearchSpace(), training.load_splits(data)
    torch.manual_seed(0)
    net = supernet.for_data(data)
    archs = [space.decode(space.sample(random.Random(1000 + k))) for k in range(paths)]
    if paths:
        fixed_paths(net, archs)
    cfg = replace(supernet.TRAIN, steps=steps, threads=threads, device=device)
    losses = training.train_steps(net.to(device), splits["train"], cfg, progress=True)
    net.eval()
    rng = random.Random(123)
    scored = archs[:4] if paths else [space.decode(space.sample(rng)) for _ in range(4)]
    batches = supernet.calibration_batches(splits["train"], device=device)
    val = Subset(splits["val"], range(min(1000, len(splits["val"]))))  # 1,000 held-out images
    window = max(1, steps // 10)
    return {"paths": paths, "steps": steps, "config": asdict(cfg),
            "loss_curve": [round(sum(losses[i:i + window]) / len(losses[i:i + window]), 3) for i in range(0, steps, window)],
            "child_accuracy": [supernet.score(net, a, val, batches)["accuracy"] for a in scored],
            **records.provenance(started, origin, device)}


def main(argv: list[str] | None = None) -> int:
    p = records.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", default="1,2,8,0", help="comma-separated: fixed paths taken in turn, 0 = uniform (SPOS)")
    p.add_argument("--steps", type=int, default=300)
    panel.add_training_options(p)
    p.add_argument("--out", default=str(SHARING))
    args = p.parse_args(argv)
    origin = records.origin(__file__, argv)
    try:
        regimes = [int(n) for n in args.paths.split(",")]
        if min(regimes) < 0 or args.steps < 10:
            raise training.UsageError("--paths must be >= 0 and --steps >= 10")
        device = training.pick_device(args.device)
        data = training.DataSpec(args.dataset, args.data_dir)
        training.load_splits(data)
    except ValueError as e:  # training.UsageError is one, and so is a --paths that is not a list of numbers
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    have = {(r["paths"], r["steps"], r["dataset"]) for r in records.load(args.out)}
    for paths in regimes:
        if (paths, args.steps, args.dataset) in have:
            continue
        record = {**run(paths, args.steps, data, args.threads, device, origin), "dataset": args.dataset}
        records.append(args.out, record)
        print(f"paths={paths or 'uniform'}: loss {record['loss_curve']}  children "
              f"{[round(a, 3) for a in record['child_accuracy']]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
