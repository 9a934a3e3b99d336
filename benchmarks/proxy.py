"""Does the proxy rank architectures as real training does? Rank fidelity of proxy settings.

The search's ACC(m) comes from a short proxy training run (Sec. 4.2; `training.proxy_train`). Each
candidate setting below trains every member of the reference panel (benchmarks/panel.py) the
way the search trains a child, with two seeds on the same held-out split, and is scored by:

  kendall_tau  Kendall's tau-b between the proxy's held-out accuracy (one seed: what the search
               sees) and the panel's test accuracy (mean over the panel's seeds), averaged over the
               two proxy seeds; with a 95% bootstrap interval over the members
  spearman     Spearman's rho, likewise
  seed_tau     tau between the proxy's two seeds: its noise ceiling
  at_chance    the share of children left at chance level (held-out accuracy < 0.15): a proxy
               whose children mostly stay there ranks ties and noise, so it is never chosen
  seconds      wall seconds per child (training and held-out evaluation) as a search pays them:
               from `--time N` runs (N members, every core, nothing else running) where they exist,
               else from the fidelity runs at --threads; for the supernet settings, scoring a child
               (BatchNorm re-estimation and evaluation), the supernet's own training apart

and beside them the zero-cost baselines: the tau of MACs and of parameter count with the panel.
Every (setting, member, seed) is appended to benchmarks/results/proxy.json as it finishes, so the
command resumes. It ends with one line for the best setting within the time budget:

    proxy=<setting> kendall_tau=<t> seconds_per_child=<s> macs_tau=<m> panel=<n>

    python benchmarks/proxy.py [--settings NAME,...] [--budget 15] [--threads 0] [--report]
    python benchmarks/proxy.py --time 4       # seconds per child on the whole, quiet machine
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # flat modules live in the repo root
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402
from tqdm import tqdm  # noqa: E402

import mnas  # noqa: E402
import panel  # noqa: E402
import records  # noqa: E402
import supernet  # noqa: E402
import training  # noqa: E402

PROXY = records.RESULTS / "proxy.json"
TIMING = records.RESULTS / "proxy_timing.json"

# Candidate proxies: TrainConfig fields on top of the search's defaults (training.TrainConfig).
# "guards" are the final recipe's label smoothing and gradient clipping; "w0.5" trains the child
# at half width (the ranking is of the full-width architectures).
GUARDS = {"label_smoothing": 0.1, "clip_grad_norm": 5.0}
SETTINGS = {  # in the order they are trained
    "s70-b64-lr0.01": {"steps": 70, "batch_size": 64, "lr": 0.01},  # the search's proxy before this benchmark
    "s35-b64-lr0.05": {"steps": 35, "batch_size": 64, "lr": 0.05, **GUARDS},
    "s70-b64-lr0.05-w0.5": {"steps": 70, "batch_size": 64, "lr": 0.05, "width_mult": 0.5, **GUARDS},
    "s70-b64-lr0.05": {"steps": 70, "batch_size": 64, "lr": 0.05, **GUARDS},
    "s35-b128-lr0.1": {"steps": 35, "batch_size": 128, "lr": 0.1, **GUARDS},
    "s140-b64-lr0.05-w0.5": {"steps": 140, "batch_size": 64, "lr": 0.05, "width_mult": 0.5, **GUARDS},
    # Weight sharing (supernet.py): one supernet per seed trained for this many steps, then each
    # member that the search space can express scored with the shared weights.
    "supernet-1000": {"supernet_steps": 1000},
    "supernet-3000": {"supernet_steps": 3000},
}
SEEDS = (0, 1)
CHANCE = 0.15  # held-out accuracy below this counts as chance level (10 classes: 0.10)


def kendall(a, b) -> float:
    """Kendall's tau-b of two score lists (ties counted as scipy does)."""
    return float(stats.kendalltau(a, b).statistic)


def spearman(a, b) -> float:
    return float(stats.spearmanr(a, b).statistic)


def bootstrap(fn, a, b, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of fn(a, b) over members resampled with replacement."""
    a, b, rng = np.asarray(a), np.asarray(b), np.random.default_rng(seed)
    resamples = (rng.integers(0, len(a), len(a)) for _ in range(n))
    values = [fn(a[i], b[i]) for i in resamples if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0]  # else: no ranking
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def panel_truth(panel_records: list[dict], epochs: float = 1.0) -> dict[str, dict]:
    """{member: {"accuracy": mean test accuracy over seeds, "macs", "params"}} of the final recipe's panel."""
    by_name: dict[str, list[dict]] = {}
    for r in panel_records:
        if (r["recipe"], r["epochs"], r["dataset"]) == ("final", epochs, "fashion-mnist"):
            by_name.setdefault(r["name"], []).append(r)
    return {name: {"accuracy": float(np.mean([r["test_accuracy"] for r in rs])), "macs": rs[0]["macs"],
                   "params": rs[0]["params"]} for name, rs in by_name.items()}


def score(setting: str, proxy_records: list[dict], truth: dict[str, dict], timing: list[dict] = ()) -> dict | None:
    """The fidelity of one setting over the members it and the panel both have (both proxy seeds),
    and its seconds per child: from the quiet `timing` records where the setting has some."""
    acc = {(r["name"], r["seed"]): r["accuracy"] for r in proxy_records if r["setting"] == setting}
    names = [n for n in truth if all((n, s) in acc for s in SEEDS)]
    if len(names) < 4:
        return None
    target = [truth[n]["accuracy"] for n in names]
    per_seed = [[acc[n, s] for n in names] for s in SEEDS]
    seconds = [r["seconds"] for r in timing if r["setting"] == setting] or \
        [r["seconds"] for r in proxy_records if r["setting"] == setting and r["name"] in names]
    at_chance = np.mean([a < CHANCE for accs in per_seed for a in accs])
    return {"setting": setting, "panel": len(names), "at_chance": float(at_chance),
            "kendall_tau": float(np.mean([kendall(p, target) for p in per_seed])),
            "tau_interval": bootstrap(kendall, per_seed[0], target),
            "spearman": float(np.mean([spearman(p, target) for p in per_seed])),
            "spearman_interval": bootstrap(spearman, per_seed[0], target),
            "seed_tau": kendall(*per_seed), "seconds_per_child": float(np.mean(seconds)),
            "macs_tau": kendall([truth[n]["macs"] for n in names], target),
            "params_tau": kendall([truth[n]["params"] for n in names], target)}


def best(scores: list[dict], budget: float) -> dict | None:
    """The setting with the highest tau among those within `budget` seconds per child whose children
    mostly learn: where most sit at chance, the ranking is of ties and noise, whatever its tau."""
    within = [s for s in scores if s["seconds_per_child"] <= budget and s["at_chance"] <= 0.25]
    return max(within, key=lambda s: s["kendall_tau"]) if within else None


def run_setting(setting: str, archs: dict, data: training.DataSpec, threads: int, device: str, out: Path, have: set,
                origin: dict) -> None:
    if "supernet_steps" in SETTINGS[setting]:
        return run_supernet(setting, archs, data, threads, device, out, have, origin)
    cfg = replace(training.TrainConfig(), **SETTINGS[setting], threads=threads, device=device)
    todo = [(n, s) for s in SEEDS for n in archs if (setting, n, s) not in have]
    for name, seed in tqdm(todo, desc=setting, unit="child"):
        started = time.time()
        got = training.proxy_train(archs[name], data, replace(cfg, seed=seed))
        records.append(out, {"setting": setting, "name": name, "seed": seed, "accuracy": got["accuracy"],
                             "seconds": round(time.time() - started, 2), "threads": torch.get_num_threads(),
                             "config": asdict(replace(cfg, seed=seed)), **records.provenance(started, origin, device)})


def expressible(archs: dict) -> dict:
    """The members a supernet over mnas.SearchSpace has a path for."""
    space, members = mnas.SearchSpace(), {}
    for name, arch in archs.items():
        try:
            space.encode(arch)
            members[name] = arch
        except ValueError:  # e.g. MnasNet-A1's 112-wide block 5 is not one of the space's filter choices
            pass
    return members


def run_supernet(setting: str, archs: dict, data: training.DataSpec, threads: int, device: str, out: Path, have: set,
                 origin: dict) -> None:
    """A supernet setting: train (or resume) one supernet per seed, then score the members it can express.
    `seconds` is the scoring time of a child; the supernet's training time is `supernet_seconds`."""
    members = expressible(archs)
    splits = training.load_splits(data)
    for seed in SEEDS:
        todo = [n for n in members if (setting, n, seed) not in have]
        if not todo:
            continue
        started = time.time()
        cfg = replace(supernet.TRAIN, steps=SETTINGS[setting]["supernet_steps"], seed=seed, threads=threads, device=device)
        checkpoint = out.parent / "supernets" / f"{setting}-seed{seed}.pt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        net = supernet.train_supernet(data, cfg, checkpoint).eval()
        trained = round(time.time() - started, 1)
        batches = supernet.calibration_batches(splits["train"], seed=seed, device=device)
        for name in tqdm(todo, desc=f"{setting} seed {seed}", unit="child"):
            t0 = time.time()
            got = supernet.score(net, members[name], splits["val"], batches)
            records.append(out, {"setting": setting, "name": name, "seed": seed, "accuracy": got["accuracy"],
                                 "seconds": round(time.time() - t0, 2), "supernet_seconds": trained,
                                 "threads": torch.get_num_threads(), "config": asdict(cfg),
                                 **records.provenance(t0, origin, device)})


def time_setting(setting: str, archs: dict, data: training.DataSpec, count: int, device: str, out: Path,
                 origin: dict) -> None:
    """Seconds per child as a search pays them: `count` members spread over the panel, each trained
    (or, for a supernet setting, scored with the seed-0 supernet) on every core. Run it with nothing
    else on the machine: these are the figures the time budget is checked against."""
    names = list(archs)[::max(1, len(archs) // count)][:count]
    if "supernet_steps" in SETTINGS[setting]:
        checkpoint = out.parent / "supernets" / f"{setting}-seed0.pt"
        if not checkpoint.exists():
            print(f"{setting}: no trained supernet yet ({checkpoint}); run the setting first")
            return
        net, splits = supernet.load(checkpoint, data, device), training.load_splits(data)
        batches = supernet.calibration_batches(splits["train"], device=device)
        members = expressible(archs)
        names = [n for n in names if n in members]

        def child(name: str) -> dict:
            return supernet.score(net, archs[name], splits["val"], batches)
    else:
        cfg = replace(training.TrainConfig(), **SETTINGS[setting], device=device)

        def child(name: str) -> dict:
            return training.proxy_train(archs[name], data, cfg)
    child(names[0])  # warm-up: first-call costs (data loading, thread pools) are not a child's
    for name in tqdm(names, desc=f"timing {setting}", unit="child"):
        started = time.time()
        child(name)
        records.append(out, {"setting": setting, "name": name, "seconds": round(time.time() - started, 2),
                             "threads": torch.get_num_threads(), **records.provenance(started, origin, device)})


def main(argv: list[str] | None = None) -> int:
    p = records.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated (default all: {', '.join(SETTINGS)})")
    p.add_argument("--sampled", type=int, default=12, help="the panel's sampled members to train (default 12)")
    p.add_argument("--budget", type=float, default=15.0, help="seconds per child the chosen setting may take (default 15)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores, as the search)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--report", action="store_true", help="train nothing: score what the results files hold")
    p.add_argument("--time", type=int, default=0, metavar="N",
                   help="time N members per setting on every core (run on a quiet machine), then report")
    p.add_argument("--panel", default=str(panel.PANEL))
    p.add_argument("--out", default=str(PROXY))
    args = p.parse_args(argv)
    origin = records.origin(__file__, argv)
    settings = args.settings.split(",")
    try:
        unknown = [s for s in settings if s not in SETTINGS]
        if unknown:
            raise training.UsageError(f"--settings: unknown {', '.join(unknown)} (choose from {', '.join(SETTINGS)})")
        device = training.pick_device(args.device)
        data = training.DataSpec()  # the search's default: Fashion-MNIST, 2,000 training images held out
        if args.time < 0:
            raise training.UsageError("--time must be >= 1 members")
        if not args.report:
            training.load_splits(data)
    except training.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.time:
        archs = panel.panel_archs(args.sampled)
        for setting in settings:
            time_setting(setting, archs, data, args.time, device, Path(args.out).with_name(TIMING.name), origin)
    elif not args.report:
        archs = panel.panel_archs(args.sampled)
        for setting in settings:
            have = {(r["setting"], r["name"], r["seed"]) for r in records.load(args.out)}
            run_setting(setting, archs, data, args.threads, device, Path(args.out), have, origin)

    truth, proxy_records = panel_truth(records.load(args.panel)), records.load(args.out)
    timing = records.load(Path(args.out).with_name(TIMING.name))
    if not truth:
        print(f"error: {args.panel} holds no panel yet: train it first (python benchmarks/panel.py)", file=sys.stderr)
        return 2
    scores = [s for s in (score(name, proxy_records, truth, timing) for name in settings) if s]
    if not scores:
        print("no setting has results for 4 or more panel members yet")
        return 1
    print(f"{'setting':<22} {'tau':>6} {'95% interval':>15} {'spearman':>8} {'seed tau':>8} {'at chance':>9} {'s/child':>7}  members")
    for s in scores:
        lo, hi = s["tau_interval"]
        print(f"{s['setting']:<22} {s['kendall_tau']:6.3f} {f'[{lo:.2f}, {hi:.2f}]':>15} {s['spearman']:8.3f} "
              f"{s['seed_tau']:8.3f} {100 * s['at_chance']:8.0f}% {s['seconds_per_child']:7.1f}  {s['panel']}")
    print(f"{'MACs':<22} {scores[0]['macs_tau']:6.3f}\n{'params':<22} {scores[0]['params_tau']:6.3f}")
    chosen = best(scores, args.budget)
    if chosen is None:
        print(f"no setting within {args.budget:g} s per child")
        return 1
    print(f"proxy={chosen['setting']} kendall_tau={chosen['kendall_tau']:.3f} seconds_per_child="
          f"{chosen['seconds_per_child']:.1f} macs_tau={chosen['macs_tau']:.3f} panel={chosen['panel']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
