"""Does the supernet train? Its loss as more paths share the same weights, and what makes it learn.

`supernet.py` trains one uniformly sampled path per step (SPOS). Before its ranking can be scored
against the panel, its children have to learn at all. This benchmark trains a fresh supernet with
the supernet recipe (`supernet.TRAIN`) for `--steps` steps on Fashion-MNIST in each of these
regimes, and records the loss curve and the held-out accuracy of children scored as the search
scores them (BatchNorm re-estimated, `supernet.score`):

  paths=1    one fixed path: a single network, trained through the supernet's slices
  paths=N    N fixed paths taken in turn: N networks sharing weights
  paths=0    a uniformly random path per step: SPOS, what the search's supernet does

(one-cycle schedule, as train_steps; a regime with fixed paths is scored on those paths, up to 4,
the uniform one on 4 random children). `--samplers` tests why SPOS stays at chance here: the
spaces where one-shot training works keep a signal every path shares (residuals on every
non-first layer of a stage, at least one layer per stage); this space does not (one body per
ConvOp serves all three SkipOps, a block's first layer has no shortcut, blocks 1 and 7 vanish in
a third of the paths), and at initialization a path's gradient norm grows with its layers
without a shortcut, while every step is clipped at norm 5. Each sampler trains at a CONSTANT
learning rate (`supernet.train_sampled`) and draws from a part of the space (`supernet.SubSpace`):

  uniform          SPOS: every decision uniform
  identity         SkipOp identity, layers +0 or +1 (no vanished block); the rest uniform
  identity-mbconv  the same, ConvOp MBConv3 or MBConv6
  sandwich         BigNAS on identity-mbconv: the largest, the smallest and two random children a
                   step, in-place distillation from the largest, last BN of residual bodies at
                   gamma = 0 (`supernet.sandwich_step`, `supernet.zero_init_residual_bn`; the
                   other samplers keep the plain initialization)

Its record adds the gradient norm before clipping (mean per tenth, `grad_norm_curve`), the
gradient norm at initialization of a few fixed paths (`init_grad_norms`), 4 children of the
sampler's own part scored, for sandwich the largest's and the smallest's accuracy, and the panel
members inside the part scored with their Kendall tau (`panel_tau`; on Fashion-MNIST).
Each regime and sampler is appended to benchmarks/results/sharing.json as it finishes (the
command resumes, skipping those it has).

    python benchmarks/sharing.py [--paths 1,2,8,0] [--steps 300] [--threads 1]
    python benchmarks/sharing.py --samplers uniform,identity,identity-mbconv,sandwich \
        --steps 400 --threads 1
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import math  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402

# flat modules live in the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset, Subset  # noqa: E402

import cli  # noqa: E402
import mnas  # noqa: E402
import panel  # noqa: E402
import proxy  # noqa: E402
import records  # noqa: E402
import supernet  # noqa: E402
import training  # noqa: E402
from models import Arch  # noqa: E402

SHARING = records.RESULTS / "sharing.json"


@dataclass(frozen=True)
class Sampler:
    """How a sampler trains the supernet: the part of the space it draws from
    (`supernet.SUB_SPACES`), BigNAS's sandwich rule with in-place distillation, and BigNAS's
    zero-initialized last BatchNorm of residual bodies."""

    sub_space: str
    sandwich: bool = False
    zero_init: bool = False


SAMPLERS = {
    "uniform": Sampler("uniform"),
    "identity": Sampler("identity"),
    "identity-mbconv": Sampler("identity-mbconv"),
    "sandwich": Sampler("identity-mbconv", sandwich=True, zero_init=True),
}

# Fixed paths whose gradient norm at initialization shows the cause: MBConv6 everywhere at depth +1,
# without and with identity shortcuts (the body is the same), and the sandwich's two ends.
MBCONV6_DEEP = {"conv_op": ("mbconv", 6), "kernel": 3, "se_ratio": 0.0, "filters": 1.0, "layers": 1}
INIT_PATHS = {
    "mbconv6 +1 skip none": MBCONV6_DEEP | {"skip": "none"},
    "mbconv6 +1 skip identity": MBCONV6_DEEP | {"skip": "identity"},
    "largest": supernet.LARGEST,
    "smallest": supernet.SMALLEST,
}


def unit(record: dict) -> tuple:
    """What one record of sharing.json measured: a --paths regime or a sampler, by steps and
    data."""
    return record.get("paths"), record.get("sampler"), record["steps"], record["dataset"]


def curve(values: list[float], steps: int) -> list[float]:
    """The mean of `values` per tenth of the run."""
    window = max(1, steps // 10)
    tenths = [values[i:i + window] for i in range(0, steps, window)]
    return [round(sum(part) / len(part), 3) for part in tenths]


def fixed_paths(net: supernet.Supernet, archs: list) -> None:
    """Make `net` take `archs` in turn instead of uniformly random paths."""
    def sample():
        arch = archs[int(net.paths_taken) % len(archs)]
        net.paths_taken += 1
        return arch
    net.sample = sample


def run(paths: int, steps: int, data: training.DataSpec, threads: int, device: str,
        origin: dict) -> dict:
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
    return {"paths": paths, "steps": steps, "config": asdict(cfg),
            "loss_curve": curve(losses, steps),
            "child_accuracy": [supernet.score(net, a, val, batches)["accuracy"] for a in scored],
            **records.provenance(started, origin, device)}


def init_grad_norms(net: supernet.Supernet, data: Dataset,
                    cfg: training.TrainConfig) -> dict[str, float]:
    """The gradient norm of each of `INIT_PATHS` on one fixed batch (the first `cfg.batch_size`
    images), before any training."""
    first = next(iter(DataLoader(data, cfg.batch_size)))
    x, y = training.to_device(first, cfg.device, cfg.channels_last)
    norms = {}
    for name, values in INIT_PATHS.items():
        arch = supernet.fixed_path(net.space, values)
        norms[name] = round(supernet.gradient_norm(net, arch, x, y, cfg.label_smoothing), 2)
    return norms


def panel_tau(net: supernet.Supernet, sub: supernet.SubSpace, archs: dict[str, Arch],
              truth: dict[str, dict], val: Dataset, batches: list[torch.Tensor]) -> dict:
    """The supernet's ranking of the panel members it can express inside `sub` (proxy.expressible,
    then the part of the space it was trained on), against the panel's test accuracy
    (proxy.panel_truth): {"accuracy": {member: supernet accuracy}, "kendall_tau": tau-b, or None
    below 3 members, where a ranking says little or nothing}."""
    space = net.space
    members = {name: arch for name, arch in proxy.expressible(archs).items()
               if name in truth and space.encode(arch) in sub}
    got = {name: supernet.score(net, a, val, batches)["accuracy"] for name, a in members.items()}
    tau = None
    if len(got) >= 3:
        tau = proxy.kendall(list(got.values()), [truth[name]["accuracy"] for name in got])
    return {"accuracy": got, "kendall_tau": tau}


def run_sampler(name: str, steps: int, data: training.DataSpec, threads: int, device: str,
                origin: dict, truth: dict[str, dict]) -> dict:
    """Train a fresh supernet with sampler `name` for `steps` steps at the constant lr of
    `supernet.TRAIN`, then score it: the sampler's record."""
    started = time.time()
    recipe, splits = SAMPLERS[name], training.load_splits(data)
    torch.manual_seed(0)
    net = supernet.for_data(data).to(device)
    sub = supernet.SubSpace(net.space, **supernet.SUB_SPACES[recipe.sub_space])
    if recipe.zero_init:
        supernet.zero_init_residual_bn(net)
    cfg = replace(supernet.TRAIN, steps=steps, threads=threads, device=device)
    at_init = init_grad_norms(net, splits["train"], cfg)
    curves = supernet.train_sampled(net, splits["train"], cfg, sub, recipe.sandwich, progress=True)
    net.eval()
    rng = random.Random(123)
    children = [net.space.decode(sub.draw(rng)) for _ in range(4)]  # from the sampler's own part
    batches = supernet.calibration_batches(splits["train"], device=device)
    val = Subset(splits["val"], range(min(1000, len(splits["val"]))))  # 1,000 held-out images
    clipped = sum(n > (cfg.clip_grad_norm or math.inf) for n in curves["grad_norm"])
    record = {"sampler": name, "steps": steps, "lr_schedule": "constant", "config": asdict(cfg),
              "sub_space": {k: list(v) for k, v in sub.allowed.items()},
              "sandwich": recipe.sandwich, "zero_init_residual_bn": recipe.zero_init,
              "loss_curve": curve(curves["loss"], steps),
              "grad_norm_curve": curve(curves["grad_norm"], steps),  # before clipping
              "clipped_share": round(clipped / steps, 3),  # steps clipped at cfg.clip_grad_norm
              "init_grad_norms": at_init,
              "child_accuracy": [supernet.score(net, a, val, batches)["accuracy"]
                                 for a in children]}
    if recipe.sandwich:
        record["distill_curve"] = curve(curves["distill"], steps)
        for end, values in (("largest", supernet.LARGEST), ("smallest", supernet.SMALLEST)):
            arch = supernet.fixed_path(net.space, values)
            record[f"{end}_accuracy"] = supernet.score(net, arch, val, batches)["accuracy"]
    if truth:  # scored on the whole held-out split, as benchmarks/proxy.py scores a supernet
        record["panel"] = panel_tau(net, sub, panel.panel_archs(12), truth, splits["val"], batches)
    return {**record, **records.provenance(started, origin, device)}


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", help="comma-separated: fixed paths taken in turn, 0 = uniform (SPOS) "
                   "(default 1,2,8,0 without --samplers)")
    p.add_argument("--samplers", default="", help=f"comma-separated, of {', '.join(SAMPLERS)}")
    p.add_argument("--steps", type=int, default=300)
    panel.add_training_options(p)
    p.add_argument("--panel", default=str(panel.PANEL), help="the panel's records, for panel_tau")
    p.add_argument("--out", default=str(SHARING))
    args = p.parse_args(argv)
    try:
        paths = args.paths if args.paths is not None else ("" if args.samplers else "1,2,8,0")
        regimes = [int(n) for n in paths.split(",")] if paths else []
        samplers = args.samplers.split(",") if args.samplers else []
        unknown = [s for s in samplers if s not in SAMPLERS]
        if unknown:
            raise training.UsageError(f"--samplers: unknown {', '.join(unknown)} "
                                      f"(choose from {', '.join(SAMPLERS)})")
        if min(regimes, default=0) < 0 or args.steps < 10:
            raise training.UsageError("--paths must be >= 0 and --steps >= 10")
        device = training.pick_device(args.device)
        data = training.DataSpec(args.dataset, args.data_dir)
        training.load_splits(data)
    # training.UsageError is one, and so is a --paths that is not a list of numbers
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    origin = records.origin(__file__, argv)  # after the checks: bad input is one error line
    if args.threads:
        torch.set_num_threads(args.threads)
    # a record is a --paths regime ("paths") or a sampler ("sampler"), by steps and dataset
    have = {unit(r) for r in records.finished(args.out)}  # a +dirty record is run again
    for n in regimes:
        if (n, None, args.steps, args.dataset) in have:
            continue
        record = {**run(n, args.steps, data, args.threads, device, origin), "dataset": args.dataset}
        records.append(args.out, record)
        print(f"paths={n or 'uniform'}: loss {record['loss_curve']}  children "
              f"{[round(a, 3) for a in record['child_accuracy']]}", flush=True)
    # the panel's truth is Fashion-MNIST test accuracy: only a Fashion-MNIST supernet is ranked
    fashion = args.dataset == "fashion-mnist"
    truth = proxy.panel_truth(records.load(args.panel)) if fashion else {}
    for name in samplers:
        if (None, name, args.steps, args.dataset) in have:
            continue
        record = run_sampler(name, args.steps, data, args.threads, device, origin, truth)
        record["dataset"] = args.dataset
        records.append(args.out, record)
        print(f"{name}: loss {record['loss_curve']}  grad norm {record['grad_norm_curve']}  "
              f"children {[round(a, 3) for a in record['child_accuracy']]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
