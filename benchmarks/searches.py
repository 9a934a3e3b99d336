"""The paper's search claims at laptop scale: RL vs random search and PPO (Sec. 4.2), soft vs hard
(Fig. 6), and what makes MnasNet work: each idea against the alternative it replaced (Table 5,
Sec. 1).

Each experiment is a set of `python train.py --search` runs on real Fashion-MNIST with the same
budget, evaluator and latency table, started (or resumed) as subprocesses, one after another or
`--parallel N` side by side (each then on one thread: `--extra="--threads 1"`). Their directories
live under benchmarks/results/searches/ (ignored by git); when a run finishes, its summary is
appended, with provenance, to benchmarks/results/<experiment>.json, from which
`benchmarks/tables.py` draws the README's tables. Stopped (Ctrl-C, or a session's end), the same
command resumes each run where its log ends.

  rl-vs-random  REINFORCE and random search, --seeds each. Per run: best reward, mean reward of the
                last quarter of the children, share of children within 10% below T, and the reward
                of the controller's greedy architecture at the end (greedy.json; random search has
                none).
  ppo           PPO, the paper's learning rule, --seeds each, with the same settings and summary as
                rl-vs-random (its rows join that table).
  fig6          the soft and the hard constraint (Eq. 3 presets), the same T. Per run: the share of
                the second half's children with latency in [0.8 T, T], the interquartile range of
                their latency, and, in the paper's words ("hard focuses on fast models; soft samples
                around T"), their median latency over T and the share above T.
  table5        Table 5: the single-objective reward (--alpha 0 --beta 0: ACC alone) and the
                multi-objective one (soft, the default), each on the cell space (--space cell: one
                set of decisions stacked in all seven blocks, as NASNet's cell) and on the
                factorized space, --seeds each: single-cell-seedN, multi-cell-seedN,
                single-factorized-seedN, multi-factorized-seedN.
  flops         Sec. 1, FLOPs vs real latency: the default soft search with LAT(m) = the
                multiply-adds (--latency macs, T = MobileNetV2's MACs), macs-seedN, against the same
                with measured latency (the latency table), measured-seedN.
  cross-platform  Sec. 5, searched for one platform, run on another: the default soft search with
                LAT(m) from each platform's latency table (--latency-table once per platform: eager
                PyTorch on this CPU, ExecuTorch/XNNPACK fp32 and int8; T = MobileNetV2 on the same
                platform), cpu-seedN, executorch-seedN, executorch-int8-seedN. Each run's best
                network is then timed on all three by `benchmarks/platforms.py --searched`.
  default-search  the README's `python train.py --search` as it is (100 children, latency
                measured on this CPU per child): children, time, failures, the best, the mean reward
                per quarter of the run (`--samples 100`, no table).

Every run logs each child's measured latency, whatever its LAT(m), so the summaries of table5
and flops compare runs on it: per run, the share of children above T in measured ms
(`measured_above_t`, T = the run's target_ms: MobileNetV2's measured latency), the best child's
measured latency, accuracy and MACs, and the reward it would get on measured latency with the
soft exponents (`best_reward_on_measured`).

One search belongs to four experiments: REINFORCE with the soft reward on the factorized space
and measured CPU latency is rl-vs-random's reinforce-seedN, table5's multi-factorized-seedN,
flops's measured-seedN and cross-platform's cpu-seedN (SAME_SEARCH). A run of one of them is not
trained again when another's results file (beside --out) holds it finished, with as many children
and the same settings (its config.json less how it ran: `settings`): its summary is appended under
the new name, with "same_as": "<experiment>/<run>" and the original's provenance. That shared search
runs first in each of its experiments, so that the others find it sooner. Summaries from before the
run's config was kept in them (rl-vs-random's first records) cannot be matched, nor summarized again
without their run directories: those runs are trained.

`--plot` redraws docs/fig6.png from the two fig6 runs, or docs/rl_vs_random.png (reward per child,
running mean, per method and seed) from the rl-vs-random summaries (named after `--out`'s file).

    python latency_table.py --build-table runs/latency_table_cpu.json  # once, 15-20 minutes here
    python benchmarks/searches.py rl-vs-random --samples 300 --seeds 0,1,2 \
           --latency-table runs/latency_table_cpu.json
    python benchmarks/searches.py fig6 --samples 300 --latency-table runs/latency_table_cpu.json \
           --plot \
           --parallel 2 --extra="--threads 1"
    python benchmarks/searches.py table5 --samples 300 --seeds 0,1 \
           --latency-table runs/latency_table_cpu.json --parallel 2 --extra="--threads 1"
    python benchmarks/searches.py flops --samples 300 --seeds 0,1 \
           --latency-table runs/latency_table_cpu.json --parallel 2 --extra="--threads 1"
    python benchmarks/searches.py cross-platform --samples 300 --seeds 0,1 --parallel 2 \
           --extra="--threads 1" \
           --latency-table runs/latency_table_cpu.json --latency-table runs/latency_table_et.json \
           --latency-table runs/latency_table_int8.json
    python benchmarks/searches.py default-search --samples 100
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # flat modules live in the repo root
import numpy as np  # noqa: E402

import cli  # noqa: E402
import figures  # noqa: E402
import latency_table  # noqa: E402
import mnas  # noqa: E402
import records  # noqa: E402
from run import SearchConfig, open_run  # noqa: E402

RUNS = records.RESULTS / "searches"
# The same search (REINFORCE, soft, factorized space, measured latency) under each experiment's name
SAME_SEARCH = {"rl-vs-random": "reinforce-seed", "table5": "multi-factorized-seed",
               "flops": "measured-seed", "cross-platform": "cpu-seed"}
PLATFORMS = ("cpu", "executorch", "executorch-int8")  # cross-platform's: where LAT(m) is measured
HOW_IT_RAN = SearchConfig.HOW_IT_RAN  # config.json's keys that say how a run ran, not what


def runs(experiment: str, seeds: list[int]) -> dict[str, list[str]]:
    """{run name: train.py flags} of an experiment."""
    if experiment in ("rl-vs-random", "ppo"):
        methods = ("reinforce", "random") if experiment == "rl-vs-random" else ("ppo",)
        return {f"{c}-seed{s}": ["--controller", c, "--seed",
                                 str(s)] for s in seeds for c in methods}
    if experiment == "table5":  # search space x reward (the paper's Table 5)
        rewards = {"single": ["--alpha", "0", "--beta", "0"], "multi": []}  # ACC(m); Eq. 2, soft
        return {f"{r}-{space}-seed{s}": ["--space", space, *rewards[r], "--seed", str(s)]
                for s in seeds for r in rewards for space in ("cell", "factorized")}
    if experiment == "default-search":  # the README's `python train.py --search`, as it is
        return {"default": []}
    if experiment == "flops":  # LAT(m) as multiply-adds vs measured (Sec. 1)
        lats = {"macs": ["--latency", "macs"], "measured": []}
        return {f"{lat}-seed{s}": [*lats[lat], "--seed", str(s)] for s in seeds for lat in lats}
    if experiment == "cross-platform":  # LAT(m) on each platform (Sec. 5)
        return {f"{p}-seed{s}": ["--latency", p, "--seed",
                                 str(s)] for s in seeds for p in PLATFORMS}
    return {c: ["--constraint", c] for c in ("soft", "hard")}


def platform(flags: list[str]) -> str:
    """Where a run with these train.py flags measures latency: its --latency (macs: on this CPU)."""
    lat = flags[flags.index("--latency") + 1] if "--latency" in flags else "cpu"
    return "cpu" if lat == "macs" else lat


def settings(train_argv: list[str]) -> dict | None:
    """What a `train.py --search` with these arguments would search: its config.json less how it
    ran (HOW_IT_RAN); None if train.py rejects them (the run itself then says why)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # argparse's own complaints
            return SearchConfig.parse(train_argv).search_settings()
    except (ValueError, SystemExit):
        return None


def same_search(experiment: str, name: str, train_argv: list[str], samples: int,
                results: Path) -> dict | None:
    """A finished summary, in another experiment's results file in `results`, of the search this
    run (`train.py --search *train_argv`) would repeat (SAME_SEARCH), with `samples` children and
    the same settings; or None."""
    prefix = SAME_SEARCH.get(experiment)
    if not prefix or not name.startswith(prefix) or not (want := settings(train_argv)):
        return None
    for other, other_prefix in SAME_SEARCH.items():
        for r in records.finished(results / f"{other}.json") if other != experiment else []:
            config = {k: v for k, v in r.get("config", {}).items() if k not in HOW_IT_RAN}
            same_name = r["run"] == other_prefix + name[len(prefix):]
            if same_name and r["children"] == samples and config == want:
                return {**r, "same_as": r.get("same_as") or f"{other}/{r['run']}"}
    return None


def summarize(run_dir: Path) -> dict:
    """What the experiments report of one finished run (see the module's docstring)."""
    run = open_run(run_dir)
    children, constants = run.children, run.constants
    config_file = Path(run_dir) / "config.json"  # as the run wrote it: records compare on it
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    ok = [c for c in children if c.status == "ok"]
    target, rewards = constants.target_ms, [c.reward for c in children]  # T in measured ms
    best = max(ok, key=lambda c: c.reward, default=mnas.Child(-1, [], {}))  # by the run's reward
    second = [c.latency_ms for c in ok[len(children) // 2:]]
    q1, q3 = np.percentile(second, [25, 75])
    greedy = (
        json.loads((run_dir / "greedy.json").read_text())
        if (run_dir / "greedy.json").exists()
        else {}
    )
    return {
        "children": len(children),
        "failed": len(children) - len(ok),
        "target_ms": target,
        "best_reward": max(rewards),
        "last_quarter_mean_reward": float(np.mean(rewards[-max(1, len(rewards) // 4) :])),
        "within_10pct_below_t": float(
            np.mean([0.9 * target <= c.latency_ms <= target for c in ok])
        ),
        "second_half_in_0.8t_t": float(np.mean([0.8 * target <= x <= target for x in second])),
        "second_half_latency_iqr_ms": float(q3 - q1),
        "second_half_median_over_t": float(np.median(second) / target),
        "second_half_above_t": float(np.mean([x > target for x in second])),
        # none if it failed
        "greedy_reward": greedy.get("reward") if greedy.get("status", "ok") == "ok" else None,
        # what the run searched, and how it fares on measured latency whatever its LAT(m) was
        "space": config.get("space", "factorized"),
        "latency": config.get("latency"),
        "lat_unit": constants.lat_unit,
        "target": constants.target,
        "mobilenetv2_ms": constants.references.get("mobilenetv2"),
        "table_fit": constants.table_fit,
        "measured_above_t": float(np.mean([c.latency_ms > target for c in ok])),
        "best_measured_ms": best.latency_ms,
        "best_accuracy": best.accuracy,
        "best_macs": best.macs,
        # Eq. 2 with the soft exponents on measured latency: comparable across rewards and LATs
        "best_reward_on_measured": (
            mnas.reward(best.accuracy, best.latency_ms, target, mnas.SOFT.alpha, mnas.SOFT.beta)
            if ok
            else None
        ),
        "config": config,
        # the children's own time, over every session the run spanned (wall_seconds is this
        # command's only)
        "children_seconds": round(sum(c.seconds for c in children), 1),
        "quarter_mean_rewards": [
            round(float(np.mean(q)), 4) for q in np.array_split(rewards, 4) if len(q)
        ],
        "best_child": best.step,
        "best_arch": best.arch,
        # what the policy learned, not the luckiest draw: its last quarter's children, on average
        **last_quarter(ok[-max(1, len(children) // 4):], target,
                       constants.references.get("mobilenetv2")),
        "rewards": [round(r, 4) for r in rewards],
    }


def last_quarter(children: list, target: float, mobilenetv2_ms: float | None) -> dict:
    """The mean proxy accuracy, latency / MobileNetV2 (measured, or the table's) and soft reward on
    that latency of a run's last quarter of children: where the policy ended up. The best child is a
    winner's-curse statistic (the maximum of many noisy draws); these are means."""
    if not children or not mobilenetv2_ms:
        return {}
    soft = [mnas.reward(c.accuracy, c.latency_ms, target, mnas.SOFT.alpha, mnas.SOFT.beta)
            for c in children]
    return {"last_quarter_accuracy": float(np.mean([c.accuracy for c in children])),
            "last_quarter_ratio": float(np.mean([c.latency_ms / mobilenetv2_ms for c in children])),
            "last_quarter_reward_on_measured": float(np.mean(soft))}


class Runs:
    """`python train.py` subprocesses, side by side, each line of their output prefixed with the
    run's name. Once one stops or fails, none starts any more (a free worker would otherwise take
    the next run at once), and `interrupt()` passes a Ctrl-C on to those going."""

    def __init__(self):
        self.stop, self.procs = threading.Event(), {}

    def train(self, name: str, cmd: list[str]) -> tuple[int, float]:
        """Run `python train.py *cmd`: its exit status (130 if not started) and when it started."""
        if self.stop.is_set():
            return 130, time.time()
        print(f"{name}: python train.py {' '.join(cmd)}", flush=True)
        started = time.time()
        proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *cmd], cwd=ROOT,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs[name] = proc
        for line in proc.stdout:
            print(f"{name}: {line}", end="", flush=True)
        if proc.wait() != 0:  # stopped or failed: set here, before this worker takes the next run
            self.stop.set()
        return proc.returncode, started

    def interrupt(self) -> None:
        self.stop.set()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # train.py saves its children and exits with 130


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("experiment",
                   choices=["rl-vs-random", "ppo", "fig6", "table5", "flops", "cross-platform",
                            "default-search"])
    p.add_argument("--samples", type=int, default=300, help="children per run (default 300)")
    p.add_argument("--seeds", default="0,1,2",
                   help="all but fig6: comma-separated seeds (default 0,1,2)")
    p.add_argument("--latency-table", action="append", default=[],
                   help="predict LAT(m) from this table (latency_table.py --build-table), as "
                   "every run should; "
                        "once per platform (cross-platform)")
    p.add_argument("--plot", action="store_true", help="redraw the experiment's figure in docs/")
    p.add_argument("--runs", default=str(RUNS), help="where the run directories live")
    p.add_argument("--out", help="the summary file (default benchmarks/results/<experiment>.json)")
    p.add_argument("--parallel", type=int, default=1,
                   help="runs side by side (default 1); give each --extra=\"--threads 1\" on 2 "
                   "cores")
    p.add_argument("--extra", default="",
                   help="more train.py flags for every new run: --extra=\"--proxy-steps 40\"")
    p.add_argument("--only", metavar="RUN[,RUN]",
                   help="run only these runs of the experiment (e.g. multi-cell-seed2): "
                   "benchmarks/run_queue.py's unit")
    args = p.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if args.samples < 1 or args.parallel < 1:
        p.error("--samples and --parallel must be at least 1")
    if args.plot and args.experiment in ("table5", "flops", "cross-platform", "default-search"):
        p.error(f"--plot: {args.experiment} has a table (benchmarks/tables.py), no figure")
    tables = {}  # platform -> its table's path
    for path in args.latency_table:
        if not Path(path).is_file():
            p.error(f"--latency-table {path}: no such file (build one: python latency_table.py "
                    "--build-table FILE)")
        try:
            tables[latency_table.LatencyTable.load(path).backend] = path
        except ValueError as e:
            p.error(f"--latency-table {e}")
    plan = runs(args.experiment, seeds)
    if args.only:
        unknown = sorted(set(args.only.split(",")) - set(plan))
        if unknown:
            p.error(f"--only: {', '.join(unknown)} not among {args.experiment}'s runs "
                    f"({', '.join(plan)})")
        plan = {name: flags for name, flags in plan.items() if name in args.only.split(",")}
    # the search other experiments reuse goes first, so they can
    shared = SAME_SEARCH.get(args.experiment)
    plan = dict(sorted(plan.items(), key=lambda run: not (shared and run[0].startswith(shared))))
    if tables and (missing := sorted({platform(f) for f in plan.values()} - set(tables))):
        p.error(f"--latency-table: none for {', '.join(missing)} (python latency_table.py "
                "--build-table FILE "
                f"--backend {missing[0]})")
    origin = records.origin(__file__, argv)  # after the checks: a rejected command prints one line
    # Ctrl-C stops every run cleanly, also when a shell started this in the background (SIGINT
    # ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out = Path(args.out or records.RESULTS / f"{args.experiment}.json")
    done = {r["run"] for r in records.finished(out) if r["children"] >= args.samples}
    # a run recorded from uncommitted code is searched again, in a directory of its own: its
    # children, in the old one, came from code that is not in the history
    rerun = {r["run"] for r in records.load(out) if records.is_dirty(r)}

    def run_dir_of(name: str) -> Path:
        return Path(args.runs) / args.experiment / (f"rerun-{name}" if name in rerun else name)

    todo = {}  # run name -> (its directory, its train.py arguments)
    for name, flags in plan.items():
        if name in done:
            continue
        table = ["--latency-table", tables[platform(flags)]] if tables else []
        train_argv = [*flags, *args.extra.split(), *table]
        same = same_search(args.experiment, name, train_argv, args.samples, out.parent)
        if same:  # trained already, under another experiment's name: its summary, not a new run
            same.update(experiment=args.experiment, run=name, flags=flags)
            records.append(out, same)
            print(f"{name}: the same search as {same['same_as']}: its summary reused", flush=True)
            continue
        run_dir = run_dir_of(name)
        if (run_dir / "config.json").exists():
            todo[name] = run_dir, ["--search", "--resume", str(run_dir), "--samples",
                                   str(args.samples)]
        else:
            cmd = ["--search", "--out", str(run_dir), "--samples", str(args.samples), *flags,
                   *args.extra.split()]
            todo[name] = run_dir, cmd + table
    stopped, trainer = 0, Runs()
    with ThreadPoolExecutor(args.parallel) as pool:
        running = {pool.submit(trainer.train, name, cmd): name for name, (_, cmd) in todo.items()}
        try:
            for future in as_completed(running):
                name, (code, began) = running[future], future.result()
                # stopped (130: Ctrl-C, everything saved) or failed: train.py said why
                if code != 0:
                    stopped = stopped or code
                    # nothing new starts (Runs.stop); the runs going finish or stop by themselves
                    continue
                summary = {"experiment": args.experiment, "run": name, "flags": plan[name],
                           **summarize(todo[name][0]), **records.provenance(began, origin)}
                records.append(out, summary)
                print(f"{name}: best reward {summary['best_reward']:.4f}, "
                      f"last quarter {summary['last_quarter_mean_reward']:.4f}", flush=True)
        except KeyboardInterrupt:  # each train.py gets the Ctrl-C too: let them save their children
            stopped = 130
            trainer.interrupt()
    if stopped:
        print(f"{args.experiment}: stopped; the same command resumes", file=sys.stderr)
        return stopped
    figure = ROOT / "docs" / f"{out.stem.replace('-', '_')}.png"  # fig6.json -> docs/fig6.png
    if args.plot and args.experiment == "fig6":
        try:
            figures.fig6(run_dir_of("soft"), run_dir_of("hard"), figure)
        except ValueError as e:  # a run not searched (again) yet
            print(f"error: --plot: {e}", file=sys.stderr)
            return 2
    elif args.plot:  # rl-vs-random, ppo
        by_method: dict[str, list[list[float]]] = {}
        for r in records.standing(records.load(out), lambda r: r["run"]):
            by_method.setdefault(r["flags"][1], []).append(r["rewards"])
        figures.rl_vs_random(by_method, figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
