"""The reference panel: how architectures rank after real training, the ground truth for a proxy.

The search ranks children by a proxy (ACC(m) after a few dozen training steps, Sec. 4.2). Whether
that ranking is worth anything is measured against this panel: the four reference architectures
and `--sampled` architectures drawn from `mnas.SearchSpace`, each trained stand-alone with the
final-training recipe (`training.FINAL`) on all 60,000 Fashion-MNIST training images and scored on
the 10,000 test images. `--repeat` of them are trained with a second seed as well, so that the
panel's own noise is known (a ranking is only as good as the gaps between its entries).

Budget: `--epochs 1` by default, the least the issue allows and what 2 CPU cores afford for 20
networks in a few hours (about 4-8 minutes a network here). One epoch already separates the
panel (roughly 85-91% test accuracy); it remains a short-training ranking, and `--epochs 3` on a
lent GPU is the natural way to check it (records carry their epochs, and panels of different
budgets are kept apart).

Sampled members are spread over the space's range of MACs: a pool of 256 architectures from a
fixed seed is sorted by MACs, and member k takes the pool's quantile given by the k-th term of the
van der Corput sequence (1/2, 1/4, 3/4, 1/8, ...), so the panel covers the range at every size
and grows without changing its earlier members.

Every trained network is appended to benchmarks/results/panel.json at once, with its provenance;
running the command again skips what is there, so it resumes, and grows the panel when given more
members, seeds or another device. A training cut short (Ctrl-C, a session's end) continues from its
checkpoint in benchmarks/results/checkpoints/ as if never stopped; the file goes once the record is
in:

    python benchmarks/panel.py [--sampled 12] [--repeat 3] [--epochs 1] [--device auto] \
           [--threads 0]
    # the old recipe, compared
    python benchmarks/panel.py --recipe v0 --only mobilenetv2,sampled-00,sampled-01
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402

# flat modules live in the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import cli  # noqa: E402
import latency  # noqa: E402
import mnas  # noqa: E402
import records  # noqa: E402
import training  # noqa: E402
from models import (REFERENCE_ARCHS, Arch, arch_to_dict, build_model, count_macs,
                    count_params)  # noqa: E402

PANEL = records.RESULTS / "panel.json"
POOL = 256  # architectures sampled to choose the panel's members from

# The final-training recipe, and the one it replaced (kept to show why it was replaced).
RECIPES = {
    "final": training.FINAL,
    "v0": replace(training.FINAL, lr=0.1, label_smoothing=0.0, clip_grad_norm=None,
                  norm_weight_decay=True),
}


def van_der_corput(k: int) -> float:
    """The k-th term (k >= 1) of the base-2 van der Corput sequence: 1/2, 1/4, 3/4, 1/8, 5/8, ..."""
    q, denominator = 0.0, 1
    while k:
        denominator *= 2
        k, bit = divmod(k, 2)
        q += bit / denominator
    return q


def sampled_archs(n: int, seed: int = 0) -> dict[str, Arch]:
    """`n` architectures of the search space spread over its MACs (see the module's docstring)."""
    space, rng = mnas.SearchSpace(), random.Random(seed)
    pool = [space.decode(space.sample(rng)) for _ in range(POOL)]
    by_macs = sorted(pool, key=lambda a: count_macs(build_model(a, 10, small_input=True,
                                                                in_channels=1), 28, 1))
    return {f"sampled-{k:02d}": by_macs[int(van_der_corput(k + 1) * POOL)] for k in range(n)}


def member_names(sampled: int) -> list[str]:
    """The panel's members: the reference architectures, then the sampled ones."""
    return list(REFERENCE_ARCHS) + [f"sampled-{k:02d}" for k in range(sampled)]


def panel_archs(sampled: int, seed: int = 0) -> dict[str, Arch]:
    """The panel's members by name (`member_names`) and their architectures."""
    return {**REFERENCE_ARCHS, **sampled_archs(sampled, seed)}


def jobs(names: list[str], repeat: int, recipe: str, epochs: float,
         dataset: str = "fashion-mnist") -> list[dict]:
    """Every (member, seed) to train: seed 0 for all, seed 1 for the first `repeat` of MobileNetV2,
    the sampled members (the median, lower and upper quartile of MACs, ...) and the other
    reference networks, in that order (`--repeat 16` gives the whole default panel two seeds)."""
    sampled = [n for n in names if n.startswith("sampled-")]
    others = [n for n in names if n != "mobilenetv2" and n not in sampled]
    second = ([n for n in names if n == "mobilenetv2"] + sampled + others)[:repeat]
    return [{"name": n, "seed": seed, "recipe": recipe, "epochs": epochs, "dataset": dataset}
            for seed, members in ((0, names), (1, second)) for n in members]


def key(record: dict) -> tuple:
    """What makes two trainings the same: a record with this key is not trained again."""
    return tuple(record[k] for k in ("name", "seed", "recipe", "epochs", "dataset", "device"))


def checkpoint_path(out: str | Path, job: dict, arch: Arch, device: str) -> Path:
    """Where a training in progress keeps its checkpoint: beside the results file, one per training
    of one architecture (a name such as "table5/multi-cell" may stand for another network later)."""
    name = "-".join(str(job[k]) for k in ("name", "seed", "recipe", "epochs",
                                          "dataset")).replace("/", "_")
    network = hashlib.sha1(json.dumps(arch_to_dict(arch), sort_keys=True).encode()).hexdigest()[:10]
    return Path(out).parent / "checkpoints" / f"{Path(out).stem}-{name}-{device}-{network}.pt"


def train_member(job: dict, arch: Arch, data: training.DataSpec, cfg: training.TrainConfig,
                 latency_ratio: float | None,
                 origin: dict, checkpoint: Path | None = None) -> dict:
    """Train one member (resuming from `checkpoint` if it is there), score it on the test set, time
    its deployment network: one record. Its wall time is this process's; `resumed_at_step` says
    where it took over."""
    started = time.time()
    resumed = torch.load(checkpoint, weights_only=True,
                         map_location="cpu")["step"] if checkpoint and checkpoint.exists() else 0
    if checkpoint:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    _, acc, losses = training.final_train(arch, data, replace(cfg, seed=job["seed"]), job["epochs"],
                                          progress=True,
                                          checkpoint=checkpoint)
    # 224 px deployment network vs MobileNetV2, interleaved in one run, 1 thread
    if latency_ratio is None:
        latency_ratio = latency.relative_latency(build_model(arch), build_model("mobilenetv2"),
                                                 rounds=20)
    deploy = build_model(arch)
    chunk = max(1, len(losses) // 20)
    return {**job, "arch": arch_to_dict(arch), "test_accuracy": acc, "params": count_params(deploy),
            "macs": count_macs(deploy), "latency_ratio": round(latency_ratio, 4),
            "loss_curve": [round(sum(losses[i:i + chunk]) / len(losses[i:i + chunk]),
                                 4) for i in range(0, len(losses), chunk)],
            "max_loss_after_warmup": round(max(losses[int(0.15 * len(losses)):]), 4),
            "recipe_config": asdict(replace(cfg, seed=job["seed"], steps=len(losses))),
            **({"resumed_at_step": resumed} if resumed else {}),
            **records.provenance(started, origin, cfg.device)}


def train_and_append(out: str | Path, job: dict, arch: Arch, data: training.DataSpec,
                     cfg: training.TrainConfig,
                     latency_ratio: float | None, origin: dict, device: str,
                     extra: dict | None = None) -> dict:
    """train_member with its checkpoint (`checkpoint_path`, resumed if there); its record, with
    `device` and `extra`, appended to `out`; then the checkpoint removed."""
    checkpoint = checkpoint_path(out, job, arch, device)
    record = train_member(job, arch, data, cfg, latency_ratio, origin,
                          checkpoint) | {"device": device, **(extra or {})}
    records.append(out, record)
    checkpoint.unlink(missing_ok=True)
    return record


def add_training_options(p: cli.Parser) -> None:
    """--device, --threads, --dataset and --data-dir: where and on what the benchmarks that train
    networks train."""
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=cli.at_least(0), default=0,
                   help="torch threads (default: all cores)")
    p.add_argument("--dataset", default="fashion-mnist",
                   choices=training.DATASETS[:2] + ("synthetic",))
    p.add_argument("--data-dir", default="data")


def main(argv: list[str] | None = None) -> int:
    latency.keep_freed_memory()  # as every program that times networks
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--sampled", type=int, default=12,
                   help="sampled members (default 12; more grows the panel)")
    p.add_argument("--repeat", type=int, default=3,
                   help="members trained with a second seed (default 3)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--recipe", choices=sorted(RECIPES), default="final")
    p.add_argument("--only", help="comma-separated member names (default: the whole panel)")
    add_training_options(p)
    p.add_argument("--out", default=str(PANEL))
    args = p.parse_args(argv)
    try:
        if args.sampled < 0 or args.repeat < 0 or args.epochs <= 0:
            raise training.UsageError("--sampled and --repeat must be >= 0 and --epochs positive")
        names = members = member_names(args.sampled)
        if args.only:
            names = args.only.split(",")
            unknown = [n for n in names if n not in members]
            if unknown:
                raise training.UsageError(f"--only: unknown member(s) {', '.join(unknown)} "
                                          f"(members: {', '.join(members)})")
        device = training.pick_device(args.device)
        data = training.DataSpec(args.dataset, args.data_dir)
        splits = training.load_splits(data)  # fail early, in one line, if the data is missing
    except training.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    origin = records.origin(__file__, argv)  # after the checks: a rejected command prints one line
    cfg = replace(RECIPES[args.recipe], threads=args.threads, device=device)
    done = records.load(args.out)
    have = {key(r) for r in done}
    planned = jobs(names, args.repeat, args.recipe, args.epochs, args.dataset)
    todo = [j for j in planned if key({**j, "device": device}) not in have]
    # a member's latency does not depend on its training
    ratios = {r["name"]: r["latency_ratio"] for r in done}
    if args.threads:
        torch.set_num_threads(args.threads)
    seconds = training.time_steps(REFERENCE_ARCHS["mobilenetv2"], splits, replace(cfg, steps=3),
                                  steps=5) / 5 if todo else 0
    steps = args.epochs * (len(splits["train"]) + len(splits["val"])) / cfg.batch_size
    print(
        f"panel: {len(names)} members, {len(todo)} of {len(planned)} trainings to do, "
        f"{args.epochs:g} epoch(s) each "
        f"({steps:.0f} steps of {cfg.batch_size}, recipe {args.recipe}) on {device}"
        + (
            f"; MobileNetV2 trains at {cfg.batch_size / seconds:.0f} images/s, so expect about "
            f"{training.fmt_time(len(todo) * steps * seconds * 1.1)} (h:m:s)"
            if todo
            else ""
        )
        + f" -> {args.out}",
        flush=True,
    )
    archs = panel_archs(args.sampled) if todo else {}
    for job in tqdm(todo, desc="panel", unit="net"):
        record = train_and_append(args.out, job, archs[job["name"]], data, cfg,
                                  ratios.get(job["name"]), origin, device)
        ratios[job["name"]] = record["latency_ratio"]
        tqdm.write(f"{job['name']:<14} seed {job['seed']}  test accuracy "
                   f"{record['test_accuracy']:.4f}  "
                   f"latency {record['latency_ratio']:.3f}x MobileNetV2  "
                   f"{record['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
