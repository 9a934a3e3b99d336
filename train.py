"""The command line: the search loop of the paper (Sec. 4.2, Fig. 1) and the final training of its result.

    python train.py --search                       # search on Fashion-MNIST, latency on this CPU
    python train.py --search --space cell --latency macs     # the alternatives MnasNet replaced
    python train.py --arch runs/<ts>/best.json --epochs 10   # train a result, report test accuracy
    python train.py --arch mnasnet-a1 --export int8          # and a .pte for ExecuTorch (export.py)

The search samples models from the controller (controller.py), trains each briefly on a proxy
task for ACC (`training.proxy_train`), measures LAT of its 224 px deployment network on the target
platform (latency.py) and rewards the controller with Eq. 2 (mnas.py). This module ties those
together; data and training live in training.py. The optional parts (supernet.py, figures.py,
Dask) are imported only when used.
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

import controller as controllers
from cli import Parser, UsageError, at_least
import latency
import latency_table
import mnas
from models import (REFERENCE_ARCHS, Arch, arch_from_dict, build_model, count_macs, count_params, load_arch,
                    save_arch)
from runner import InlineExecutor
from training import (DATASETS, FINAL, PROXY, DataSpec, TrainConfig, deployment_size, final_train,
                      fmt_time, load_splits, pick_device, proxy_train, time_steps)


# ----------------------------------------------------------------------------- latency


def make_latency(backend: str, table: latency_table.LatencyTable | None, reference_ms: float):
    """LAT(m) as a plain callable: a lookup table's prediction, or a measurement on the backend.

    A measured child is timed interleaved with MobileNetV2 in one run, and its latency reported as
    that ratio times MobileNetV2's latency at the start of the search: this machine's speed drifts
    by tens of percent over minutes, a ratio measured in one run does not. 20 rounds put the ratio
    within a few percent, which moves a soft reward (w = -0.07) by a few tenths of a percent."""
    if table:
        return table.predict
    return lambda arch: latency.relative_latency(arch, backend=backend, rounds=20) * reference_ms


def macs_latency(arch: Arch) -> float:
    """LAT(m) as FLOPs, the proxy MnasNet replaced with measurements (Sec. 1): the multiply-adds of
    the deployment network (224 px, 1000 classes), in millions."""
    return deployment_size(arch)["macs"] / 1e6


def measured_on(latency_flag: str) -> str:
    """Where latencies are measured: --latency's backend; with --latency macs, on this CPU."""
    return "cpu" if latency_flag == "macs" else latency_flag


def reference_latencies(backend: str, table: latency_table.LatencyTable | None) -> dict[str, float]:
    """LAT of the reference models: from the table where it knows their layers, or measured on the
    backend interleaved in one run, as MobileNetV2's median and the others' ratios to it."""
    if table:
        refs = {}
        for name, arch in REFERENCE_ARCHS.items():
            try:
                refs[name] = table.predict(arch)
            except ValueError:  # a table knows only the search space's layers; MnasNet-A1's are not all in it
                pass
        return refs
    got = latency.measure_interleaved({name: build_model(arch) for name, arch in REFERENCE_ARCHS.items()}, backend=backend)
    t_ref = got["mobilenetv2"].median_ms
    return {name: t_ref * latency.ratio(m, got["mobilenetv2"]) for name, m in got.items()}


def write_results(children: list[mnas.Child], run: dict, out: Path) -> mnas.Child | None:
    """best.json (an architecture file models.py and train.py accept), top5.json and the plots."""
    ok = sorted((c for c in children if c.status == "ok"), key=lambda c: -c.reward)
    if ok:
        best = ok[0]
        save_arch(arch_from_dict(best.arch), out / "best.json", **{k: v for k, v in asdict(best).items() if k != "arch"})
        (out / "top5.json").write_text(json.dumps([asdict(c) for c in ok[:5]], indent=1) + "\n")
    import figures  # matplotlib, only once there is something to draw

    figures.pareto(children, run["target_ms"], run["references"], out / "pareto.png")
    figures.reward_curve(children, out / "reward.png")
    return ok[0] if ok else None


def write_greedy(ctrl, space: mnas.SearchSpace, evaluate, lat, measured, run: dict,
                 constraint: mnas.Constraint, out: Path) -> mnas.Child | None:
    """greedy.json: the controller's most likely architecture (what its policy has learned), trained
    and scored as a child is. Random search has no policy: None."""
    if not hasattr(ctrl, "controller"):
        return None
    tokens = ctrl.controller.greedy()
    arch, started = space.decode(tokens), time.time()
    trained = InlineExecutor().submit(evaluate, arch)  # trains it now, here
    child = mnas.score(-1, tokens, arch, trained, time.time() - started, lat, run["target"], constraint, measured)
    save_arch(arch, out / "greedy.json", **{k: v for k, v in asdict(child).items() if k not in ("step", "arch")})
    return child


# ----------------------------------------------------------------------------- the search command


def _search_config(args: argparse.Namespace) -> dict:
    """The run's settings, saved as config.json; --resume reads them back (only --samples, --workers,
    --scheduler and --device may change on resume: the rest defines the search)."""
    keys = ["dataset", "data_dir", "val_size", "seed", "proxy_steps", "proxy_batch", "proxy_lr", "proxy_width", "controller", "batch",
            "samples", "latency", "latency_table", "threads", "alpha", "beta", "target_ms", "target_ratio", "workers",
            "scheduler", "device", "evaluator", "supernet", "supernet_steps", "space"]
    config = {k: getattr(args, k) for k in keys}
    if args.resume:
        path = Path(args.resume) / "config.json"
        if not path.exists():
            raise UsageError(f"--resume {args.resume}: no config.json there (not a search run directory)")
        saved = json.loads(path.read_text())
        saved.setdefault("proxy_width", 1.0)  # runs from before the proxy trained at half width
        saved.setdefault("space", "factorized")  # runs from before the cell space
        config = {**saved, **{k: config[k] for k in ("samples", "workers", "scheduler", "device") if config[k] is not None}}
    return {**config, "samples": config["samples"] or 100, "workers": config["workers"] or 1}


def run_search(args: argparse.Namespace) -> int:
    """`python train.py --search`: set the search up from the command line (or a run to resume),
    run `mnas.search`, and write and print its results."""
    # Ctrl-C (SIGINT) stops the search cleanly, also when a shell started it in the background with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config = _search_config(args)
    if (config["workers"] > 1 or config["scheduler"]) and not config["latency_table"] and config["latency"] != "adb":
        raise UsageError("children training in parallel on this machine would disturb its latency measurements: "
                         "pass --latency-table FILE or --latency adb")
    space = mnas.CellSpace() if config["space"] == "cell" else mnas.SearchSpace()
    data = DataSpec(config["dataset"], config["data_dir"], config["val_size"], config["seed"])
    splits = load_splits(data)  # fail early, in the driver, if the data is missing
    table = latency_table.LatencyTable.load(config["latency_table"]) if config["latency_table"] else None
    if table and config["latency"] not in ("macs", table.backend):  # a table is one platform's
        raise UsageError(f"--latency-table {config['latency_table']} was built for {table.backend}: "
                         f"pass --latency {table.backend} (or macs)")
    out = Path(args.resume or args.out or f"runs/{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    make_executor, in_flight, cfg = _executor(config, _proxy_config(config))
    evaluate = make_evaluator(config, data, cfg, out)
    run = _run_constants(out / "run.json", config, table, lambda: _seconds_per_child(config, space, evaluate, splits, cfg))
    # ms on the platform, and LAT(m) of Eq. 2: the measured latency, or (--latency macs) the MACs,
    # each child's measured ms then logged beside them
    measure = make_latency(measured_on(config["latency"]), table, run["references"]["mobilenetv2"])
    lat, measured = (macs_latency, measure) if config["latency"] == "macs" else (measure, None)
    constraint = mnas.Constraint(config["alpha"], config["beta"])
    logged = mnas.SearchLog(out / "search.jsonl").children
    progress = Progress(config["samples"], logged, run["lat_unit"])
    _announce(config, run, constraint, len(logged), out)
    ctrl = controllers.make_controller(config["controller"], space.decisions, seed=config["seed"])
    try:
        children = mnas.search(space, ctrl, evaluate, lat, run["target"], constraint, config["samples"],
                               config["batch"], out, make_executor, in_flight, progress, measured)
    except KeyboardInterrupt:
        saved = mnas.SearchLog(out / "search.jsonl").children  # the log, not the progress bar: a child
        write_results(saved, run, out)                          # logged as Ctrl-C came is counted
        resume = shlex.join(["python", "train.py", "--search", "--resume", str(out)])  # as printed
        print(f"\ninterrupted: {len(saved)} children saved; continue with: {resume}")
        return 130
    return _report(children, progress, ctrl, space, evaluate, (lat, measured), run, constraint, out,
                   config)


def _announce(config: dict, run: dict, constraint: mnas.Constraint, logged: int, out: Path) -> None:
    """What the search is about to do: T, the references, the budget and the expected time."""
    print(f"target T = {run['target']:.2f} {run['lat_unit']} "
          f"(alpha={constraint.alpha}, beta={constraint.beta}); "
          + (f"measured against {run['target_ms']:.2f} ms; " if run["lat_unit"] != "ms" else "")
          + f"{config['space']} space; references: "
          + ", ".join(f"{k} {v:.1f} ms" for k, v in run["references"].items()))
    print(f"search: {config['samples']} children ({logged} done), {config['controller']}, batch {config['batch']}, "
          + (f"{config['proxy_steps']} proxy steps" if config["evaluator"] == "proxy" else "scored by the supernet")
          + f" on {config['dataset']}; expected about "
          f"{fmt_time((config['samples'] - logged) * run['seconds_per_child'])} (h:m:s) -> {out}", flush=True)


def _proxy_config(config: dict) -> TrainConfig:
    """How each child trains on the proxy task (training.PROXY with the run's settings)."""
    threads = config["threads"] or max(1, (os.cpu_count() or 1) // max(1, config["workers"]))
    return replace(PROXY, steps=config["proxy_steps"], batch_size=config["proxy_batch"], lr=config["proxy_lr"],
                   width_mult=config["proxy_width"], seed=config["seed"], threads=threads,
                   device=pick_device(config["device"]))


def _run_constants(path: Path, config: dict, table: latency_table.LatencyTable | None, seconds_per_child) -> dict:
    """run.json: the target T, the reference latencies and the table's scale, measured once per run
    and read back on resume (a resumed search keeps its T).

    With a latency table, `table_fit` is the calibration it predicted with. `lat_unit` is LAT(m)'s
    unit ("ms", or "M MACs" for --latency macs) and `target` the T of Eq. 2 in it. `references` are
    the measured latencies in ms, whatever LAT is, and `target_ms` is T in measured ms (for a MACs
    run: the same multiple of MobileNetV2's measured latency), so any two runs compare on real
    latency; `reference_macs` are the references' M MACs."""
    if path.exists():
        run = json.loads(path.read_text())
        if table:
            table.scale = run.get("table_scale", 1.0)
        return {"lat_unit": "ms", "target": run["target_ms"], **run}  # runs from before MACs as LAT
    where = config["latency_table"] or measured_on(config["latency"])
    print(f"measuring reference latencies ({where}, 224 px, batch 1)...", flush=True)
    t0, run = time.time(), {}
    if table:  # a table is in the milliseconds of its build; re-timing MobileNetV2 puts it in today's, as --target-ms is
        run["table_scale"] = table.retime_reference()
        # which calibration predicted every child (a table is re-fitted with latency_table.py --recalibrate)
        run["table_fit"] = {"fit": table.fit, "calibrated": table.info.get("calibrated", table.info.get("created"))}
    refs = reference_latencies(measured_on(config["latency"]), table)
    run["references"] = {k: round(v, 3) for k, v in refs.items()}
    seconds_latency = (time.time() - t0) / len(REFERENCE_ARCHS)
    # The paper's T was "similar to MobileNetV2": by default, MobileNetV2's latency on the same platform.
    # A multiple of it (--target-ratio) stays in the run's own milliseconds, whatever the table's scale today.
    ratio = config.get("target_ratio") or 1.0
    run["target_ms"] = config["target_ms"] or ratio * run["references"]["mobilenetv2"]
    run["reference_macs"] = {name: macs_latency(arch) for name, arch in REFERENCE_ARCHS.items()}
    run["lat_unit"] = "M MACs" if config["latency"] == "macs" else "ms"
    # T of Eq. 2 in LAT's units: with MACs as LAT, MobileNetV2's MACs (times --target-ratio)
    macs_t = ratio * run["reference_macs"]["mobilenetv2"]
    run["target"] = macs_t if config["latency"] == "macs" else run["target_ms"]
    run["seconds_per_child"] = round(seconds_per_child() / max(1, config["workers"]) + seconds_latency, 1)
    path.write_text(json.dumps(run, indent=1) + "\n")
    return run


def _seconds_per_child(config: dict, space: mnas.SearchSpace, evaluate, splits, cfg: TrainConfig) -> float:
    """An estimate of one child's training time, for the expected duration printed at the start."""
    t0 = time.time()
    if config["evaluator"] == "supernet":  # one child scored
        evaluate(space.decode(space.sample(random.Random(config["seed"]))))
        return time.time() - t0
    # a few training steps of MobileNetV2, +20% for the held-out evaluation
    return time_steps(REFERENCE_ARCHS["mobilenetv2"], splits, cfg, steps=3) / 3 * cfg.steps * 1.2


def _executor(config: dict, cfg: TrainConfig) -> tuple:
    """Where children train: in this process, in local worker processes, or on a Dask cluster
    (as many in flight as it has worker threads, each using its machine's cores: threads=0).
    Returns (a function making the executor, children in flight, the proxy config to train with)."""
    if config["scheduler"]:
        client = _dask_client(config["scheduler"])
        return client.get_executor, sum(client.nthreads().values()), replace(cfg, threads=0)
    if config["workers"] > 1:
        spawn = torch.multiprocessing.get_context("spawn")
        return partial(ProcessPoolExecutor, config["workers"], mp_context=spawn), config["workers"], cfg
    return InlineExecutor, 1, cfg


class Progress:
    """The line printed as each child finishes: its accuracy, latency and reward, the best so far
    (over a resumed run's earlier children too) and the time left."""

    def __init__(self, samples: int, logged: list[mnas.Child], lat_unit: str = "ms"):
        self.samples, self.earlier, self.count, self.started = samples, len(logged), 0, time.time()
        self.lat_unit = lat_unit
        self.best = max((c for c in logged if c.status == "ok"), key=lambda c: c.reward, default=None)

    def logged(self) -> int:
        return self.earlier + self.count

    def __call__(self, child: mnas.Child) -> None:
        self.count += 1
        if child.status == "ok" and (self.best is None or child.reward > self.best.reward):
            self.best = child
        eta = (time.time() - self.started) / self.count * (self.samples - self.logged())
        what = child.status
        if child.status == "ok":
            cost = f"  LAT {child.lat:.1f} {self.lat_unit}" if self.lat_unit != "ms" else ""
            what = (f"acc {child.accuracy:.4f}  lat {child.latency_ms:7.2f} ms{cost}  "
                    f"reward {child.reward:.4f}")
        print(f"child {child.step + 1:>4}/{self.samples}  {what}  best {self.best.reward if self.best else 0:.4f}  "
              f"({child.seconds:.0f} s, ETA {fmt_time(eta)})", flush=True)


def _report(children: list[mnas.Child], progress: Progress, ctrl, space: mnas.SearchSpace, evaluate,
            latencies, run: dict, constraint: mnas.Constraint, out: Path, config: dict) -> int:
    """A finished search: best.json, top5.json, the plots, greedy.json, and what to do next.
    `latencies`: (LAT(m), the measured latency in ms or None when LAT is it)."""
    best_child = write_results(children, run, out)
    print(f"\ndone: {len(children)} children in {fmt_time(time.time() - progress.started)}; "
          f"{sum(c.status != 'ok' for c in children)} failed")
    try:
        greedy = write_greedy(ctrl, space, evaluate, *latencies, run, constraint, out)
    except KeyboardInterrupt:
        print(f"\ninterrupted: all {len(children)} children are saved; only greedy.json was not written")
        return 130
    if greedy:
        print("greedy (the controller's most likely architecture): " + (
            f"reward {greedy.reward:.4f}, accuracy {greedy.accuracy:.4f}, latency {greedy.latency_ms:.2f} ms"
            if greedy.status == "ok" else greedy.status))
    if best_child:
        ref = run["references"]["mobilenetv2"]
        print(f"best: child {best_child.step + 1}, reward {best_child.reward:.4f}, accuracy {best_child.accuracy:.4f}, "
              f"latency {best_child.latency_ms:.2f} ms ({best_child.latency_ms / ref:.2f}x MobileNetV2)")
    for name in ("search.jsonl", "best.json", "top5.json", "greedy.json", "pareto.png", "reward.png", "controller.pt"):
        if (out / name).exists():
            print(f"  {out / name}")
    print(f"train it: {train_command(out / 'best.json', config)}")
    return 0


def train_command(best: Path, config: dict) -> str:
    """The command that trains a search's best network on the search's data, as printed."""
    data = ["--dataset", config["dataset"]]
    data += ["--data-dir", config["data_dir"]] if config["data_dir"] != "data" else []
    data += ["--val-size", str(config["val_size"])] if config["val_size"] else []  # it must fit
    return shlex.join(["python", "train.py", "--arch", str(best), *data, "--epochs", "3"])


def make_evaluator(config: dict, data: DataSpec, cfg: TrainConfig, out: Path):
    """ACC(m) as a plain callable of picklable arguments: `training.proxy_train` (the paper's proxy:
    each child trained briefly), or a child scored with a supernet's shared weights (trained first,
    resumable; a finished checkpoint is loaded)."""
    if config["evaluator"] == "proxy":
        return partial(proxy_train, data=data, cfg=cfg)
    import supernet  # weight sharing is optional: only its runs load it

    checkpoint = Path(config["supernet"] or out / "supernet.pt")
    print(f"supernet: {checkpoint}, {config['supernet_steps']} steps (resumes a partial one, loads a finished one)", flush=True)
    supernet.train_supernet(data, replace(supernet.TRAIN, steps=config["supernet_steps"], seed=config["seed"],
                                          threads=cfg.threads, device=cfg.device), checkpoint)
    return partial(supernet.evaluate, checkpoint=str(checkpoint), data=data, device=cfg.device, threads=cfg.threads)


def _dask_client(address: str):
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
    """Train an architecture to convergence (--epochs) and report test accuracy, latency, params, MACs."""
    arch = load_arch(args.arch)
    cfg = replace(FINAL, batch_size=args.batch_size, lr=args.lr, seed=args.seed, threads=args.threads,
                  device=pick_device(args.device), width_mult=args.width_mult)
    print(f"training {args.arch} on {args.dataset}: {args.epochs} epochs of batches of {args.batch_size} on {cfg.device}")
    data = DataSpec(args.dataset, args.data_dir, args.val_size, args.seed, args.input_size)
    model, acc, _ = final_train(arch, data, cfg, args.epochs, True)
    size = args.input_size or 224  # the deployment network: 1000 classes, 224 px or --input-size
    deploy = build_model(arch, width_mult=args.width_mult)
    lat = latency.measure(deploy, size, backend=measured_on(args.latency))
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
    p = Parser(description="MnasNet: platform-aware architecture search, and training its results.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--search", action="store_true", help="run the architecture search")
    mode.add_argument("--arch", metavar="NAME|JSON", help="train this architecture (a reference name or best.json)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped search from its files")
    p.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--val-size", type=int, help="training images held out for the search's accuracy (default 2000; synthetic 500)")
    p.add_argument("--out", help="output directory (default runs/<timestamp>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=at_least(0), default=0, help="torch threads for training (default: cores / workers)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to train (default: the GPU if any)")
    s = p.add_argument_group("search")
    s.add_argument("--samples", type=int, help="children to sample in total (default 100)")
    s.add_argument("--batch", type=int, default=6, help="children per controller update")
    s.add_argument("--controller", default="reinforce", choices=["reinforce", "ppo", "random"])
    s.add_argument("--evaluator", choices=["proxy", "supernet"], default="proxy",
                   help="ACC(m): train each child briefly (the paper's proxy) or score it with a supernet's shared weights")
    s.add_argument("--supernet", metavar="FILE", help="the supernet checkpoint to train or load (default RUN_DIR/supernet.pt)")
    s.add_argument("--supernet-steps", type=int, default=2000, help="training steps of the supernet (default 2000)")
    s.add_argument("--proxy-steps", type=int, default=PROXY.steps, help=f"training steps per child (default {PROXY.steps})")
    s.add_argument("--proxy-batch", type=int, default=PROXY.batch_size)
    s.add_argument("--proxy-lr", type=float, default=PROXY.lr)
    s.add_argument("--proxy-width", type=float, default=PROXY.width_mult,
                   help=f"width multiplier of the child while it trains (default {PROXY.width_mult:g})")
    s.add_argument("--latency", default="cpu", choices=[*latency.BACKENDS, "macs"],
                   help="where LAT(m) is measured; macs: LAT(m) is the multiply-adds (FLOPs as the "
                        "proxy), each child's latency still measured (this CPU or --latency-table)")
    s.add_argument("--space", default="factorized", choices=["factorized", "cell"],
                   help="factorized: six decisions per block (the paper's); cell: one set for all "
                        "seven blocks, as a stacked cell (NASNet)")
    s.add_argument("--latency-table", metavar="FILE", help="predict LAT(m) from a per-layer table (latency_table.py --build-table)")
    s.add_argument("--target-ms", type=float, help="T of Eq. 2 (default: MobileNetV2's latency on the same backend)")
    s.add_argument("--target-ratio", type=float,
                   help="T as a multiple of MobileNetV2's latency on the same backend (default 1; or --target-ms)")
    s.add_argument("--constraint", choices=["soft", "hard"], default="soft", help="Eq. 3 presets: soft (-0.07, -0.07), hard (0, -1)")
    s.add_argument("--alpha", type=float, help="exponent below T (overrides --constraint)")
    s.add_argument("--beta", type=float, help="exponent above T (overrides --constraint)")
    s.add_argument("--workers", type=int, help="local worker processes training children (default 1)")
    s.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://10.0.0.1:8786")
    t = p.add_argument_group("final training")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=FINAL.batch_size)
    t.add_argument("--lr", type=float, default=FINAL.lr, help=f"peak learning rate (default {FINAL.lr})")
    t.add_argument("--width-mult", type=float, default=1.0,
                   help="scale every layer's channels (Sec. 6.2)")
    t.add_argument("--input-size", type=at_least(8),
                   help="resize images to this many px (Sec. 6.2; default: the data's own, 224 for "
                        "an ImageFolder); the deployment network is timed at it")
    t.add_argument("--export", choices=["fp32", "int8"],
                   help="then write model.pte for ExecuTorch/XNNPACK, run it on the test set and "
                        "time it (export.py)")
    args = p.parse_args(argv)
    preset = mnas.HARD if args.constraint == "hard" else mnas.SOFT
    args.alpha = preset.alpha if args.alpha is None else args.alpha
    args.beta = preset.beta if args.beta is None else args.beta
    for name in ("samples", "batch", "proxy_steps", "proxy_batch", "val_size", "workers", "epochs", "batch_size", "supernet_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.target_ms and args.target_ratio:
        raise UsageError("give T as --target-ms or as --target-ratio, not both")
    if args.latency == "macs" and args.target_ms:
        raise UsageError("--latency macs: T is in MACs, give it as --target-ratio "
                         "(a multiple of MobileNetV2's MACs), not --target-ms")
    if args.space == "cell" and args.evaluator == "supernet":
        raise UsageError("--space cell: the supernet is over the factorized space; "
                         "use --evaluator proxy")
    if args.export and importlib.util.find_spec("executorch") is None:  # before any training
        raise UsageError("--export needs ExecuTorch: pip install -r requirements-executorch.txt")
    if args.search and (args.export or args.input_size or args.width_mult != 1.0):
        raise UsageError("--export, --input-size and --width-mult are for --arch "
                         "(the training of a result)")
    for name in ("target_ms", "target_ratio", "proxy_lr", "proxy_width", "lr", "width_mult"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    pick_device(args.device)  # fail now, in one line, if there is no GPU for --device cuda
    if args.resume and not Path(args.resume).is_dir():
        raise UsageError(f"--resume {args.resume}: no such run directory")
    if args.latency_table and not Path(args.latency_table).is_file():
        raise UsageError(f"--latency-table {args.latency_table}: no such file")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        return run_search(args) if args.search else run_train(args)
    except (UsageError, ValueError, latency.LatencyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
