"""Model scaling (Sec. 6.2, Fig. 5): MnasNet-A1 and MobileNetV2 at several width multipliers,
accuracy against latency, one curve per network.

The paper scales the searched network by a depth (channel) multiplier and shows that it keeps
its lead over MobileNetV2 at every size (Fig. 5). Here each network at each `--widths`
multiplier (`models.build_model(width_mult=...)`, every layer's channels scaled and rounded to a
multiple of 8) is:

  trained   with the final recipe for `--epochs`, once per training seed, and scored on the
            test set: one record per (network, width, seed) in benchmarks/results/scaling.json,
            appended as it finishes, resumable (a training cut short continues from its
            checkpoint);
  timed     (`--time R`, trains nothing): the deployment networks (224 px, 1000 classes) at every
            width in `--time-widths`, all timed together, round-robin, in one run on this CPU
            (eager PyTorch) and one through ExecuTorch fp32, R runs each: one record per run in
            scaling-timing.json, with each network's params and MACs.

    python benchmarks/scaling.py --epochs 5 --seeds 3 --widths 0.5 1.4 --threads 1 --shard 1/2
    python benchmarks/scaling.py --epochs 5 --seeds 3 --widths 0.5 1.4 --threads 1 --shard 2/2
    python benchmarks/scaling.py --time 3      # 0.35, 0.5, 0.75, 1.0, 1.4, CPU and ExecuTorch
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the flat modules of the root
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import cli  # noqa: E402
import export  # noqa: E402
import int8  # noqa: E402
import latency  # noqa: E402
import panel  # noqa: E402
import records  # noqa: E402
import table1  # noqa: E402
import training  # noqa: E402
from models import REFERENCE, REFERENCE_ARCHS, build_model, count_macs, count_params  # noqa: E402

SCALING = records.RESULTS / "scaling.json"
NETWORKS = ("mnasnet-a1", "mobilenetv2")
WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.4)


def label(name: str, width: float) -> str:
    """"mnasnet-a1@0.5": a network at a width multiplier."""
    return f"{name}@{width:g}"


def time_widths(widths: list[float], backends: list[str], runs: int, out: Path,
                origin: dict, rounds: int | None = None) -> None:
    """Every network at every width, deployment size, timed together per backend, `runs` runs each
    (the missing ones: a stopped command resumes); one record per run, its ms and each network's
    ratio to MobileNetV2 at width 1 timed in the same rounds, and the CPU's int8 features (every
    latency record names them)."""
    nets = {label(n, w): build_model(n, width_mult=w) for n in NETWORKS for w in widths}
    reference = label(REFERENCE, 1.0)  # what every ratio divides by, timed in the same rounds
    nets.setdefault(reference, build_model(REFERENCE))
    sizes = {k: {"params": count_params(m), "macs": count_macs(m)} for k, m in nets.items()}
    for backend in backends:
        done = [r for r in records.finished(out)  # a +dirty run is made again
                if r["backend"] == backend and r["widths"] == widths]
        for _ in tqdm(range(runs - len(done)), desc=f"timing together ({backend})", unit="run"):
            started, load = time.time(), os.getloadavg()[0]
            got = latency.measure_interleaved(nets, backend=backend, rounds=rounds)
            records.append(out, {
                "backend": backend, "widths": widths, "input_size": 224, "threads": 1,
                "median_ms": {k: round(m.median_ms, 4) for k, m in got.items()},
                "over_mobilenetv2": {k: round(latency.ratio(m, got[reference]), 4)
                                     for k, m in got.items()},
                "sizes": sizes, "cpu_features": export.cpu_features(), "load": round(load, 2),
                "load_after": round(os.getloadavg()[0], 2),
                **records.provenance(started, origin)})


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="+", default=[0.5, 1.4],
                   help="width multipliers to train (default 0.5 1.4)")
    p.add_argument("--epochs", type=float, default=5.0)
    p.add_argument("--seeds", type=cli.at_least(1), default=3)
    panel.add_training_options(p)
    p.add_argument("--shard", type=table1.shard, default=(1, 1), metavar="K/N",
                   help="train only the K-th of every N (network, width, seed) units")
    p.add_argument("--time", type=cli.at_least(1), metavar="R",
                   help="train nothing: time every network at every --time-widths, R runs each")
    p.add_argument("--time-widths", type=float, nargs="+", default=list(WIDTHS))
    p.add_argument("--rounds", type=cli.at_least(1), help="samples per network per timing run")
    p.add_argument("--out", default=str(SCALING))
    args = p.parse_args(argv)
    out = Path(args.out)
    try:
        if args.epochs <= 0 or min(args.widths + args.time_widths) <= 0:
            raise training.UsageError("--epochs and every width multiplier must be positive")
        data = training.DataSpec(args.dataset, args.data_dir)
        training.load_splits(data)  # fail early, in one line, if the data is missing
    except training.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    origin = records.origin(__file__, argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.time:
        time_widths(args.time_widths, ["cpu", "executorch"], args.time,
                    out.with_name(f"{out.stem}-timing.json"), origin, args.rounds)
        return 0
    device = training.pick_device(args.device)
    key = ("name", "width_mult", "seed", "epochs", "dataset", "device")
    have = {tuple(r[k] for k in key) for r in records.finished(out)}  # +dirty: done again
    k, n = args.shard
    units = [(name, w, s) for s in range(args.seeds) for w in args.widths for name in NETWORKS]
    todo = [u for u in units[k - 1::n] if (*u, args.epochs, args.dataset, device) not in have]
    print(f"scaling: {len(NETWORKS)} networks x {len(args.widths)} widths x {args.seeds} seeds, "
          f"{len(todo)} to do, {args.epochs:g} epochs each -> {out}", flush=True)
    for name, width, seed in tqdm(todo, desc="scaling", unit="net"):
        started = time.time()
        cfg = replace(training.FINAL, threads=args.threads, device=device, width_mult=width)
        job = {"name": label(name, width), "seed": seed, "recipe": "final", "epochs": args.epochs,
               "dataset": args.dataset}
        _, acc, resumed = int8.train_resumably(out, job, REFERENCE_ARCHS[name], data, cfg)
        deploy = build_model(name, width_mult=width)
        records.append(out, {**job, "name": name, "width_mult": width, "device": device,
                             "test_accuracy": acc, "params": count_params(deploy),
                             "macs": count_macs(deploy),
                             **({"resumed_at_step": resumed} if resumed else {}),
                             **records.provenance(started, origin, device)})
        panel.checkpoint_path(out, job, REFERENCE_ARCHS[name], device).unlink(missing_ok=True)
        tqdm.write(f"{label(name, width):<18} seed {seed}  test accuracy {acc:.4f}  "
                   f"{time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
