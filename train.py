"""The command line: the search loop of the paper (Sec. 4.2, Fig. 1) and the final training of its result.

    python train.py --search                       # search on Fashion-MNIST, latency on this CPU
    python train.py --arch runs/<ts>/best.json --epochs 10   # train a result, report test accuracy

The search samples models from the controller (controller.py), trains each briefly on a proxy
task for ACC (`training.proxy_train`), measures LAT of its 224 px deployment network on the target
platform (latency.py) and rewards the controller with Eq. 2 (mnas.py). This module ties those
together; data and training live in training.py.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting make training 5-10x slower when another process shares
# the cores (measured here: 3.7 vs 33 img/s with 2 threads on a busy 2-core machine). Set before
# torch loads OpenMP; spawned worker processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402 (after the environment is set)
import json
import random
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
import figures
import latency
import mnas
import supernet
from models import REFERENCE_ARCHS, arch_from_dict, build_model, count_macs, count_params, load_arch, save_arch
from training import (DATASETS, FINAL, PROXY, DataSpec, TrainConfig, UsageError, final_train, fmt_time, load_splits,
                      pick_device, proxy_train, time_steps)


# ----------------------------------------------------------------------------- latency


def make_latency(backend: str, table: latency.LatencyTable | None, reference_ms: float):
    """LAT(m) as a plain callable: a lookup table's prediction, or a measurement on the backend.

    A measured child is timed interleaved with MobileNetV2 in one run, and its latency reported as
    that ratio times MobileNetV2's latency at the start of the search: this machine's speed drifts
    by tens of percent over minutes, a ratio measured in one run does not. 20 rounds put the ratio
    within a few percent, which moves a soft reward (w = -0.07) by a few tenths of a percent."""
    if table:
        return table.predict
    return lambda arch: latency.relative_latency(arch, backend=backend, rounds=20) * reference_ms


def reference_latencies(backend: str, table: latency.LatencyTable | None) -> dict[str, float]:
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
    figures.pareto(children, run["target_ms"], run["references"], out / "pareto.png")
    figures.reward_curve(children, out / "reward.png")
    return ok[0] if ok else None


def write_greedy(ctrl, space: mnas.SearchSpace, evaluate, measure, run: dict, constraint: mnas.Constraint,
                 out: Path) -> dict | None:
    """greedy.json: the controller's most likely architecture (what its policy has learned), evaluated
    as a child is. Random search has no policy: None."""
    if not hasattr(ctrl, "controller"):
        return None
    tokens = ctrl.controller.greedy()
    arch = space.decode(tokens)
    got = {**evaluate(arch), "latency_ms": measure(arch)}
    got["reward"] = mnas.reward(got["accuracy"], got["latency_ms"], run["target_ms"], constraint.alpha, constraint.beta)
    save_arch(arch, out / "greedy.json", tokens=tokens, **got)
    return got


# ----------------------------------------------------------------------------- the search command


def _search_config(args: argparse.Namespace) -> dict:
    """The run's settings, saved as config.json; --resume reads them back (only --samples, --workers,
    --scheduler and --device may change on resume: the rest defines the search)."""
    keys = ["dataset", "data_dir", "val_size", "seed", "proxy_steps", "proxy_batch", "proxy_lr", "proxy_width", "controller", "batch",
            "samples", "latency", "latency_table", "threads", "alpha", "beta", "target_ms", "target_ratio", "workers",
            "scheduler", "device", "evaluator", "supernet", "supernet_steps"]
    config = {k: getattr(args, k) for k in keys}
    if args.resume:
        path = Path(args.resume) / "config.json"
        if not path.exists():
            raise UsageError(f"--resume {args.resume}: no config.json there (not a search run directory)")
        saved = json.loads(path.read_text())
        saved.setdefault("proxy_width", 1.0)  # runs from before the proxy trained at half width
        config = {**saved, **{k: config[k] for k in ("samples", "workers", "scheduler", "device") if config[k] is not None}}
    return {**config, "samples": config["samples"] or 100, "workers": config["workers"] or 1}


def run_search(args: argparse.Namespace) -> int:
    # Ctrl-C (SIGINT) stops the search cleanly, also when a shell started it in the background with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config = _search_config(args)
    workers, scheduler = config["workers"], config["scheduler"]
    if (workers > 1 or scheduler) and not config["latency_table"] and config["latency"] != "adb":
        raise UsageError("children training in parallel on this machine would disturb its latency measurements: "
                         "pass --latency-table FILE or --latency adb")
    space = mnas.SearchSpace()
    data = DataSpec(config["dataset"], config["data_dir"], config["val_size"], config["seed"])
    splits = load_splits(data)  # fail early, in the driver, if the data is missing
    out = Path(args.resume or args.out or f"runs/{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    threads = config["threads"] or max(1, (os.cpu_count() or 1) // max(1, workers))
    cfg = replace(PROXY, steps=config["proxy_steps"], batch_size=config["proxy_batch"], lr=config["proxy_lr"],
                  width_mult=config["proxy_width"], seed=config["seed"], threads=threads, device=pick_device(config["device"]))

    evaluate = make_evaluator(config, data, cfg, out)
    table = latency.LatencyTable.load(config["latency_table"]) if config["latency_table"] else None
    run_path = out / "run.json"  # the target and the reference latencies, measured once per run
    if run_path.exists():
        run = json.loads(run_path.read_text())
        if table:
            table.scale = run.get("table_scale", 1.0)
    else:
        print(f"measuring reference latencies ({config['latency_table'] or config['latency']}, 224 px, batch 1)...", flush=True)
        t0 = time.time()
        run = {}
        if table:  # a table is in the milliseconds of its build; re-timing MobileNetV2 puts it in today's, as --target-ms is
            run["table_scale"] = table.retime_reference()
        run["references"] = {k: round(v, 3) for k, v in reference_latencies(config["latency"], table).items()}
        t_lat = (time.time() - t0) / len(REFERENCE_ARCHS)
        # The paper's T was "similar to MobileNetV2": by default, MobileNetV2's latency on the same platform.
        # A multiple of it (--target-ratio) stays in the run's own milliseconds, whatever the table's scale today.
        run["target_ms"] = config["target_ms"] or (config.get("target_ratio") or 1.0) * run["references"]["mobilenetv2"]
        if config["evaluator"] == "supernet":  # one child scored
            t0 = time.time()
            evaluate(space.decode(space.sample(random.Random(config["seed"]))))
            t_eval = time.time() - t0
        else:  # a few training steps of MobileNetV2, +20% for the held-out evaluation
            t_eval = time_steps(REFERENCE_ARCHS["mobilenetv2"], splits, cfg, steps=3) / 3 * cfg.steps * 1.2
        run["seconds_per_child"] = round(t_eval / max(1, workers) + t_lat, 1)
        run_path.write_text(json.dumps(run, indent=1) + "\n")
    measure = make_latency(config["latency"], table, run["references"]["mobilenetv2"])
    constraint = mnas.Constraint(config["alpha"], config["beta"])
    print(f"target T = {run['target_ms']:.2f} ms (alpha={constraint.alpha}, beta={constraint.beta}); references: "
          + ", ".join(f"{k} {v:.1f} ms" for k, v in run["references"].items()))
    samples = config["samples"]
    log_path = out / "search.jsonl"
    logged = mnas.SearchLog(log_path).children if log_path.exists() else []
    already = len(logged)
    print(f"search: {samples} children ({already} done), {config['controller']}, batch {config['batch']}, "
          + (f"{config['proxy_steps']} proxy steps" if config["evaluator"] == "proxy" else "scored by the supernet")
          + f" on {config['dataset']}; expected about "
          f"{fmt_time((samples - already) * run['seconds_per_child'])} (h:m:s) -> {out}", flush=True)

    started, count = time.time(), [0]
    best = [max((c for c in logged if c.status == "ok"), key=lambda c: c.reward, default=None)]  # a resumed run's too

    def on_child(child: mnas.Child) -> None:
        count[0] += 1
        if child.status == "ok" and (best[0] is None or child.reward > best[0].reward):
            best[0] = child
        eta = (time.time() - started) / count[0] * (samples - already - count[0])
        what = (f"acc {child.accuracy:.4f}  lat {child.latency_ms:7.2f} ms  reward {child.reward:.4f}"
                if child.status == "ok" else child.status)
        print(f"child {child.step + 1:>4}/{samples}  {what}  best {best[0].reward if best[0] else 0:.4f}  "
              f"({child.seconds:.0f} s, ETA {fmt_time(eta)})", flush=True)

    ctrl = controllers.make_controller(config["controller"], space.decisions, seed=config["seed"])
    if scheduler:  # as many children in flight as the cluster has worker threads; each uses its machine's cores
        client = _dask_client(scheduler)
        make_executor, in_flight, cfg = client.get_executor, sum(client.nthreads().values()), replace(cfg, threads=0)
    elif workers > 1:
        make_executor = partial(ProcessPoolExecutor, workers, mp_context=torch.multiprocessing.get_context("spawn"))
        in_flight = workers
    else:
        make_executor, in_flight = mnas.InlineExecutor, 1
    try:
        children = mnas.search(space, ctrl, evaluate, measure, run["target_ms"], constraint, samples, config["batch"],
                               out, make_executor, in_flight, on_child)
    except KeyboardInterrupt:
        children = mnas.SearchLog(log_path).children
        write_results(children, run, out)
        print(f"\ninterrupted: {len(children)} children saved; continue with: python train.py --search --resume {out}")
        return 130
    best_child = write_results(children, run, out)
    print(f"\ndone: {len(children)} children in {fmt_time(time.time() - started)}; "
          f"{sum(c.status != 'ok' for c in children)} failed")
    try:
        greedy = write_greedy(ctrl, space, evaluate, measure, run, constraint, out)
    except KeyboardInterrupt:
        print(f"\ninterrupted: all {len(children)} children are saved; only greedy.json was not written")
        return 130
    if greedy:
        print(f"greedy (the controller's most likely architecture): reward {greedy['reward']:.4f}, "
              f"accuracy {greedy['accuracy']:.4f}, latency {greedy['latency_ms']:.2f} ms")
    if best_child:
        ref = run["references"]["mobilenetv2"]
        print(f"best: child {best_child.step + 1}, reward {best_child.reward:.4f}, accuracy {best_child.accuracy:.4f}, "
              f"latency {best_child.latency_ms:.2f} ms ({best_child.latency_ms / ref:.2f}x MobileNetV2)")
    for name in ("search.jsonl", "best.json", "top5.json", "greedy.json", "pareto.png", "reward.png", "controller.pt"):
        if (out / name).exists():
            print(f"  {out / name}")
    print(f"train it: python train.py --arch {out / 'best.json'} --dataset {config['dataset']} --epochs 3")
    return 0


def make_evaluator(config: dict, data: DataSpec, cfg: TrainConfig, out: Path):
    """ACC(m) as a plain callable of picklable arguments: `training.proxy_train` (the paper's proxy:
    each child trained briefly), or a child scored with a supernet's shared weights (trained first,
    resumable; a finished checkpoint is loaded)."""
    if config["evaluator"] == "proxy":
        return partial(proxy_train, data=data, cfg=cfg)
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
                  device=pick_device(args.device))
    print(f"training {args.arch} on {args.dataset}: {args.epochs} epochs of batches of {args.batch_size} on {cfg.device}")
    model, acc, _ = final_train(arch, DataSpec(args.dataset, args.data_dir, args.val_size, args.seed), cfg, args.epochs, True)
    deploy = build_model(arch)
    lat = latency.measure_arch(arch, backend=args.latency)
    out = Path(args.out or f"runs/train-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    save_arch(arch, out / "arch.json", test_accuracy=acc, latency_ms=lat.median_ms)
    print(f"test_accuracy={acc:.4f} latency_ms={lat.median_ms:.2f} params={count_params(deploy)} "
          f"macs={count_macs(deploy)}  (weights: {out / 'model.pt'})")
    return 0


# ----------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="MnasNet: platform-aware architecture search, and training its results.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--search", action="store_true", help="run the architecture search")
    mode.add_argument("--arch", metavar="NAME|JSON", help="train this architecture (a reference name or best.json)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped search from its files")
    p.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--val-size", type=int, help="training images held out for the search's accuracy (default 2000; synthetic 500)")
    p.add_argument("--out", help="output directory (default runs/<timestamp>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads for training (default: cores / workers)")
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
    s.add_argument("--latency", default="cpu", choices=["cpu", "executorch", "adb"], help="where LAT(m) is measured")
    s.add_argument("--latency-table", metavar="FILE", help="predict LAT(m) from a per-layer table (latency.py --build-table)")
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
    args = p.parse_args(argv)
    preset = mnas.HARD if args.constraint == "hard" else mnas.SOFT
    args.alpha = preset.alpha if args.alpha is None else args.alpha
    args.beta = preset.beta if args.beta is None else args.beta
    for name in ("samples", "batch", "proxy_steps", "proxy_batch", "val_size", "workers", "epochs", "batch_size", "supernet_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.target_ms and args.target_ratio:
        raise UsageError("give T as --target-ms or as --target-ratio, not both")
    for name in ("target_ms", "target_ratio", "proxy_lr", "proxy_width", "lr"):
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
