"""The command line: the search loop of the paper (Sec. 4.2, Fig. 1) and the final training of
its result.

    python train.py --search                       # search on Fashion-MNIST, latency on this CPU
    python train.py --search --space cell --latency macs     # the alternatives MnasNet replaced
    python train.py --arch runs/<ts>/best.json --epochs 10   # train a result, report test accuracy
    python train.py --arch mnasnet-a1 --export int8          # and a .pte for ExecuTorch (export.py)

The search samples models from the controller (controller.py), trains each briefly on a proxy
task for ACC (`training.proxy_train`), measures LAT of its 224 px deployment network on the
target platform (latency.py) and rewards the controller with Eq. 2 (mnas.py). This module ties
those together; a run's settings and files are run.py's, data and training training.py's. The
optional parts (supernet.py, figures.py, Dask) are imported only when used.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting make training 5-10x slower when another process shares
# the cores (measured here: 3.7 vs 33 img/s with 2 threads on a busy 2-core machine). Set before
# torch loads OpenMP; spawned worker processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402 (after the environment is set)
import importlib.util
import json
import random
import shlex
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from datetime import datetime
from functools import partial
from pathlib import Path

import torch

import latency
import mnas
from cli import Parser, UsageError, at_least
from controller import make_learning_rule
from latency_table import LatencyTable
from models import (REFERENCE, REFERENCE_ARCHS, arch_from_dict, build_model, count_macs,
                    count_params, load_arch, save_arch)
from run import (Progress, RunConstants, SearchConfig, backend_options, latency_target,
                 measure_constants)
from runner import InlineExecutor
from training import (FINAL, PROXY, DataSpec, TrainConfig, final_train, fmt_time, load_splits,
                      pick_device, proxy_train, time_steps)


# ----------------------------------------------------------------------------- the search command


def run_search(config: SearchConfig, out: Path) -> int:
    """`python train.py --search`: set the search of Fig. 1 up from its settings (a new run's, or
    a stopped run's to resume in `out`), run `mnas.search`, and write and print its results."""
    # Ctrl-C (SIGINT) stops the search cleanly, also when a shell started it in the background
    # with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if (config.workers > 1 or config.scheduler) and not config.latency_table \
            and config.latency != "adb":
        raise UsageError("children training in parallel on this machine would disturb its "
                         "latency measurements: pass --latency-table FILE or --latency adb")
    space = mnas.CellSpace() if config.space == "cell" else mnas.SearchSpace()
    data = DataSpec(config.dataset, config.data_dir, config.val_size, config.seed)
    splits = load_splits(data)  # fail early, in the driver, if the data is missing
    table = LatencyTable.load(config.latency_table) if config.latency_table else None
    if table and config.latency not in ("macs", table.backend):  # a table is one platform's
        raise UsageError(f"--latency-table {config.latency_table} was built for {table.backend}: "
                         f"pass --latency {table.backend} (or macs)")
    out.mkdir(parents=True, exist_ok=True)
    config.save(out)
    make_executor, in_flight, cfg = executor(config, proxy_config(config))
    evaluate = make_evaluator(config, data, cfg, out)  # ACC(m)
    constants = measure_constants(config, table, out / "run.json",
                                  lambda: seconds_per_child(config, space, evaluate, splits, cfg))
    platform = latency_target(config, constants, table)  # T and LAT(m)
    constraint = mnas.Constraint(config.alpha, config.beta)  # Eq. 3
    logged = mnas.SearchLog(out / "search.jsonl").children
    progress = Progress(config.samples, logged, constants.lat_unit)
    announce(config, constants, constraint, len(logged), out)
    rule = make_learning_rule(config.controller, space.decisions, seed=config.seed)
    try:
        children = mnas.search(space, rule, evaluate, platform, constraint, config.samples,
                               config.batch, out, make_executor, in_flight, progress)
    except KeyboardInterrupt:
        saved = mnas.SearchLog(out / "search.jsonl").children  # the log, not the progress bar:
        write_results(saved, constants, out)                    # a child logged as Ctrl-C came
        resume = shlex.join(["python", "train.py", "--search", "--resume", str(out)])  # counts
        print(f"\ninterrupted: {len(saved)} children saved; continue with: {resume}")
        return 130
    return report(children, progress, rule, space, evaluate, platform, constants, constraint, out,
                  config)


def announce(config: SearchConfig, constants: RunConstants, constraint: mnas.Constraint,
             logged: int, out: Path) -> None:
    """What the search is about to do: T, the references, the budget and the expected time."""
    c = config
    print(f"target T = {constants.target:.2f} {constants.lat_unit} "
          f"(alpha={constraint.alpha}, beta={constraint.beta}); "
          + (f"measured against {constants.target_ms:.2f} ms; "
             if constants.lat_unit != "ms" else "")
          + f"{c.space} space; references: "
          + ", ".join(f"{k} {v:.1f} ms" for k, v in constants.references.items()))
    how = (f"{c.proxy_steps} proxy steps" if c.evaluator == "proxy" else "scored by the supernet")
    left = (c.samples - logged) * constants.seconds_per_child
    print(f"search: {c.samples} children ({logged} done), {c.controller}, batch {c.batch}, "
          f"{how} on {c.dataset}; expected about {fmt_time(left)} (h:m:s) -> {out}", flush=True)


def proxy_config(config: SearchConfig) -> TrainConfig:
    """How each child trains on the proxy task (training.PROXY with the run's settings)."""
    threads = config.threads or max(1, (os.cpu_count() or 1) // max(1, config.workers))
    return replace(PROXY, steps=config.proxy_steps, batch_size=config.proxy_batch,
                   lr=config.proxy_lr, width_mult=config.proxy_width, seed=config.seed,
                   threads=threads, device=pick_device(config.device))


def seconds_per_child(config: SearchConfig, space: mnas.SearchSpace, evaluate, splits,
                      cfg: TrainConfig) -> float:
    """An estimate of one child's training time, for the expected duration printed at the start."""
    t0 = time.time()
    if config.evaluator == "supernet":  # one child scored
        evaluate(space.decode(space.sample(random.Random(config.seed))))
        return time.time() - t0
    # a few training steps of MobileNetV2, +20% for the held-out evaluation
    return time_steps(REFERENCE_ARCHS[REFERENCE], splits, cfg, steps=3) / 3 * cfg.steps * 1.2


def executor(config: SearchConfig, cfg: TrainConfig) -> tuple:
    """Where children train: in this process, in local worker processes, or on a Dask cluster
    (as many in flight as it has worker threads, each using its machine's cores: threads=0).
    Returns (a function making the executor, children in flight, the proxy config to train with)."""
    if config.scheduler:
        client = dask_client(config.scheduler)
        return client.get_executor, sum(client.nthreads().values()), replace(cfg, threads=0)
    if config.workers > 1:
        spawn = torch.multiprocessing.get_context("spawn")
        return partial(ProcessPoolExecutor, config.workers, mp_context=spawn), config.workers, cfg
    return InlineExecutor, 1, cfg


def write_results(children: list[mnas.Child], constants: RunConstants,
                  out: Path) -> mnas.Child | None:
    """best.json (an architecture file models.py and train.py accept), top5.json and the plots."""
    ok = sorted((c for c in children if c.status == "ok"), key=lambda c: -c.reward)
    if ok:
        best = {k: v for k, v in asdict(ok[0]).items() if k != "arch"}
        save_arch(arch_from_dict(ok[0].arch), out / "best.json", **best)
        (out / "top5.json").write_text(json.dumps([asdict(c) for c in ok[:5]], indent=1) + "\n")
    import figures  # matplotlib, only once there is something to draw

    figures.pareto(children, constants.target_ms, constants.references, out / "pareto.png")
    figures.reward_curve(children, out / "reward.png")
    return ok[0] if ok else None


def write_greedy(rule, space: mnas.SearchSpace, evaluate, platform: mnas.LatencyTarget,
                 constraint: mnas.Constraint, out: Path) -> mnas.Child | None:
    """greedy.json: the controller's most likely architecture (what its policy has learned),
    trained and scored as a child is. Random search has no policy: None."""
    tokens = rule.greedy()
    if tokens is None:
        return None
    arch, started = space.decode(tokens), time.time()
    trained = InlineExecutor().submit(evaluate, arch)  # trains it now, here
    child = mnas.measure_and_reward(-1, tokens, arch, trained, time.time() - started, platform,
                                    constraint)
    save_arch(arch, out / "greedy.json",
              **{k: v for k, v in asdict(child).items() if k not in ("step", "arch")})
    return child


def report(children: list[mnas.Child], progress: Progress, rule, space: mnas.SearchSpace,
           evaluate, platform: mnas.LatencyTarget, constants: RunConstants,
           constraint: mnas.Constraint, out: Path, config: SearchConfig) -> int:
    """A finished search: best.json, top5.json, the plots, greedy.json, and what to do next."""
    best = write_results(children, constants, out)
    print(f"\ndone: {len(children)} children in {fmt_time(time.time() - progress.started)}; "
          f"{sum(c.status != 'ok' for c in children)} failed")
    try:
        greedy = write_greedy(rule, space, evaluate, platform, constraint, out)
    except KeyboardInterrupt:
        print(f"\ninterrupted: all {len(children)} children are saved; "
              "only greedy.json was not written")
        return 130
    if greedy:
        print("greedy (the controller's most likely architecture): " + (
            f"reward {greedy.reward:.4f}, accuracy {greedy.accuracy:.4f}, "
            f"latency {greedy.latency_ms:.2f} ms" if greedy.status == "ok" else greedy.status))
    if best:
        ref = constants.references[REFERENCE]
        print(f"best: child {best.step + 1}, reward {best.reward:.4f}, "
              f"accuracy {best.accuracy:.4f}, latency {best.latency_ms:.2f} ms "
              f"({best.latency_ms / ref:.2f}x MobileNetV2)")
    for name in ("search.jsonl", "best.json", "top5.json", "greedy.json", "pareto.png",
                 "reward.png", "controller.pt"):
        if (out / name).exists():
            print(f"  {out / name}")
    print(f"train it: {config.train_command(out / 'best.json')}")
    return 0



def make_evaluator(config: SearchConfig, data: DataSpec, cfg: TrainConfig, out: Path):
    """ACC(m) as a plain callable of picklable arguments: `training.proxy_train` (the paper's proxy:
    each child trained briefly), or a child scored with a supernet's shared weights (trained first,
    resumable; a finished checkpoint is loaded)."""
    if config.evaluator == "proxy":
        return partial(proxy_train, data=data, cfg=cfg)
    import supernet  # weight sharing is optional: only its runs load it

    checkpoint = Path(config.supernet or out / "supernet.pt")
    print(f"supernet: {checkpoint}, {config.supernet_steps} steps (resumes a partial one, "
          "loads a finished one)", flush=True)
    train_cfg = replace(supernet.TRAIN, steps=config.supernet_steps, seed=config.seed,
                        threads=cfg.threads, device=cfg.device)
    supernet.train_supernet(data, train_cfg, checkpoint)
    return partial(supernet.evaluate, checkpoint=str(checkpoint), data=data, device=cfg.device,
                   threads=cfg.threads)


def dask_client(address: str):
    """A client of an existing Dask cluster (requirements-dask.txt); client.get_executor() is a
    concurrent.futures.Executor, all the search needs."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install -r requirements-dask.txt") from None
    try:
        client = Client(address, timeout=10)
    except OSError as e:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    return client


# ----------------------------------------------------------------------------- final training


def run_train(args: argparse.Namespace) -> int:
    """`python train.py --arch NAME|JSON`: train an architecture to convergence (--epochs) and
    report test accuracy, latency, params and MACs."""
    arch = load_arch(args.arch)
    cfg = replace(FINAL, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                  threads=args.threads, device=pick_device(args.device), width_mult=args.width_mult)
    print(f"training {args.arch} on {args.dataset}: {args.epochs} epochs of batches of "
          f"{args.batch_size} on {cfg.device}")
    data = DataSpec(args.dataset, args.data_dir, args.val_size, args.seed, args.input_size)
    model, acc, _ = final_train(arch, data, cfg, args.epochs, True)
    size = args.input_size or 224  # the deployment network: 1000 classes, 224 px or --input-size
    deploy = build_model(arch, width_mult=args.width_mult)
    lat = latency.measure(deploy, size, backend=args.config.measured_on,
                          **backend_options(args.config))
    out = Path(args.out or f"runs/train-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    save_arch(arch, out / "arch.json", test_accuracy=acc, latency_ms=lat.median_ms)
    print(f"test_accuracy={acc:.4f} latency_ms={lat.median_ms:.2f} params={count_params(deploy)} "
          f"macs={count_macs(deploy, size)}  (weights: {out / 'model.pt'})")
    if args.export:  # then model.pte for ExecuTorch, run and timed as it ships
        import export

        print(export.export_trained(model, load_splits(data), out, args.export, acc))
    return 0


# ----------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, checked; `args.config` is the search's SearchConfig (with --search)."""
    p = Parser(description="MnasNet: platform-aware architecture search, and training its results.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--search", action="store_true", help="run the architecture search")
    mode.add_argument("--arch", metavar="NAME|JSON",
                      help="train this architecture (a reference name or best.json)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped search from its files")
    p.add_argument("--out", help="output directory (default runs/<timestamp>)")
    SearchConfig.add_options(p)
    t = p.add_argument_group("final training")
    t.add_argument("--epochs", type=at_least(1), default=10)
    t.add_argument("--batch-size", type=at_least(1), default=FINAL.batch_size)
    t.add_argument("--lr", type=float, default=FINAL.lr,
                   help=f"peak learning rate (default {FINAL.lr})")
    t.add_argument("--width-mult", type=float, default=1.0,
                   help="scale every layer's channels (Sec. 6.2)")
    t.add_argument("--input-size", type=at_least(8),
                   help="resize images to this many px (Sec. 6.2; default: the data's own, 224 for "
                        "an ImageFolder); the deployment network is timed at it")
    t.add_argument("--export", choices=["fp32", "int8"],
                   help="then write model.pte for ExecuTorch/XNNPACK, run it on the test set and "
                        "time it (export.py)")
    args = p.parse_args(argv)
    for name in ("lr", "width_mult"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, "
                             f"got {getattr(args, name)}")
    if args.export and importlib.util.find_spec("executorch") is None:  # before any training
        raise UsageError("--export needs ExecuTorch: pip install -r requirements-executorch.txt")
    if args.search and (args.export or args.input_size or args.width_mult != 1.0):
        raise UsageError("--export, --input-size and --width-mult are for --arch "
                         "(the training of a result)")
    if args.resume and not Path(args.resume).is_dir():
        raise UsageError(f"--resume {args.resume}: no such run directory")
    # the search's settings are checked in both modes, as they always were
    args.config = SearchConfig.from_args(args, args.resume if args.search else None)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        latency.keep_freed_memory()  # both commands time networks (docs/latency.md)
        if args.search:
            out = Path(args.resume or args.out or f"runs/{datetime.now():%Y%m%d-%H%M%S}")
            return run_search(args.config, out)
        return run_train(args)
    except (UsageError, ValueError, latency.LatencyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
