"""The paper's search claims at laptop scale: RL vs random search and PPO (Sec. 4.2), soft vs hard (Fig. 6).

Each experiment is a set of `python train.py --search` runs on real Fashion-MNIST with the same
budget, evaluator and latency table, started (or resumed) as subprocesses, one after another or
`--parallel N` side by side (each then on one thread: `--extra="--threads 1"`). Their directories
live under benchmarks/results/searches/ (ignored by git); when a run finishes, its summary is
appended, with provenance, to benchmarks/results/<experiment>.json, from which
`benchmarks/tables.py` draws the README's tables. Stopped (Ctrl-C, or a session's end), the same
command resumes each run where its log ends.

  rl-vs-random  REINFORCE and random search, --seeds each. Per run: best reward, mean reward of the
                last quarter of the children, share of children within 10% below T, and the reward of
                the controller's greedy architecture at the end (greedy.json; random search has none).
  ppo           PPO, the paper's learning rule, --seeds each, with the same settings and summary as
                rl-vs-random (its rows join that table).
  fig6          the soft and the hard constraint (Eq. 3 presets), the same T. Per run: the share of
                the second half's children with latency in [0.8 T, T], the interquartile range of
                their latency, and, in the paper's words ("hard focuses on fast models; soft samples
                around T"), their median latency over T and the share above T.

`--plot` redraws docs/fig6.png from the two fig6 runs, or docs/rl_vs_random.png (reward per child,
running mean, per method and seed) from the rl-vs-random summaries (named after `--out`'s file).

    python latency.py --build-table runs/latency_table_cpu.json           # once, about 6 minutes
    python benchmarks/searches.py rl-vs-random --samples 300 --seeds 0,1,2 --latency-table runs/latency_table_cpu.json
    python benchmarks/searches.py fig6 --samples 300 --latency-table runs/latency_table_cpu.json --plot \
           --parallel 2 --extra="--threads 1"
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # flat modules live in the repo root
import numpy as np  # noqa: E402

import figures  # noqa: E402
import records  # noqa: E402

RUNS = records.RESULTS / "searches"


def runs(experiment: str, seeds: list[int]) -> dict[str, list[str]]:
    """{run name: train.py flags} of an experiment."""
    if experiment in ("rl-vs-random", "ppo"):
        methods = ("reinforce", "random") if experiment == "rl-vs-random" else ("ppo",)
        return {f"{c}-seed{s}": ["--controller", c, "--seed", str(s)] for s in seeds for c in methods}
    return {c: ["--constraint", c] for c in ("soft", "hard")}


def summarize(run_dir: Path) -> dict:
    """What the experiments report of one finished run (see the module's docstring)."""
    children, run = figures.read_run(run_dir)
    ok = [c for c in children if c.status == "ok"]
    target, rewards = run["target_ms"], [c.reward for c in children]
    second = [c.latency_ms for c in ok[len(children) // 2:]]
    q1, q3 = np.percentile(second, [25, 75])
    greedy = run_dir / "greedy.json"
    return {"children": len(children), "failed": len(children) - len(ok), "target_ms": target,
            "best_reward": max(rewards), "last_quarter_mean_reward": float(np.mean(rewards[-max(1, len(rewards) // 4):])),
            "within_10pct_below_t": float(np.mean([0.9 * target <= c.latency_ms <= target for c in ok])),
            "second_half_in_0.8t_t": float(np.mean([0.8 * target <= x <= target for x in second])),
            "second_half_latency_iqr_ms": float(q3 - q1),
            "second_half_median_over_t": float(np.median(second) / target),
            "second_half_above_t": float(np.mean([x > target for x in second])),
            "greedy_reward": json.loads(greedy.read_text())["reward"] if greedy.exists() else None,
            # the children's own time, over every session the run spanned (wall_seconds is this command's only)
            "children_seconds": round(sum(c.seconds for c in children), 1),
            "rewards": [round(r, 4) for r in rewards]}


def _train(name: str, cmd: list[str]) -> tuple[int, float]:
    """Run `python train.py *cmd`, its output lines prefixed with the run's name (runs may go side by
    side); its exit status and when it started."""
    print(f"{name}: python train.py {' '.join(cmd)}", flush=True)
    started = time.time()
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *cmd], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        print(f"{name}: {line}", end="", flush=True)
    return proc.wait(), started


def main(argv: list[str] | None = None) -> int:
    p = records.Parser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", choices=["rl-vs-random", "ppo", "fig6"])
    p.add_argument("--samples", type=int, default=300, help="children per run (default 300)")
    p.add_argument("--seeds", default="0,1,2", help="rl-vs-random, ppo: comma-separated seeds (default 0,1,2)")
    p.add_argument("--latency-table", help="predict LAT(m) from this table (latency.py --build-table), as every run should")
    p.add_argument("--plot", action="store_true", help="redraw the experiment's figure in docs/")
    p.add_argument("--runs", default=str(RUNS), help="where the run directories live")
    p.add_argument("--out", help="the summary file (default benchmarks/results/<experiment>.json)")
    p.add_argument("--parallel", type=int, default=1,
                   help="runs side by side (default 1); give each --extra=\"--threads 1\" on 2 cores")
    p.add_argument("--extra", default="", help="more train.py flags for every new run: --extra=\"--proxy-steps 40\"")
    args = p.parse_args(argv)
    origin = records.origin(__file__, argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if args.samples < 1 or args.parallel < 1:
        p.error("--samples and --parallel must be at least 1")
    if args.latency_table and not Path(args.latency_table).is_file():
        p.error(f"--latency-table {args.latency_table}: no such file (build one: python latency.py --build-table FILE)")
    out = Path(args.out or records.RESULTS / f"{args.experiment}.json")
    done = {r["run"] for r in records.load(out) if r["children"] >= args.samples}
    plan, todo = runs(args.experiment, seeds), {}  # todo: run name -> (its directory, its train.py arguments)
    for name, flags in plan.items():
        if name in done:
            continue
        run_dir = Path(args.runs) / args.experiment / name
        if (run_dir / "config.json").exists():
            todo[name] = run_dir, ["--search", "--resume", str(run_dir), "--samples", str(args.samples)]
        else:
            cmd = ["--search", "--out", str(run_dir), "--samples", str(args.samples), *flags, *args.extra.split()]
            todo[name] = run_dir, cmd + (["--latency-table", args.latency_table] if args.latency_table else [])
    stopped = 0
    with ThreadPoolExecutor(args.parallel) as pool:
        running = {pool.submit(_train, name, cmd): name for name, (_, cmd) in todo.items()}
        try:
            for future in as_completed(running):
                name, (code, began) = running[future], future.result()
                if code != 0:  # stopped (130: Ctrl-C, everything saved) or failed: train.py said why
                    stopped = stopped or code
                    for f in running:  # start nothing new; the runs already going finish or stop by themselves
                        f.cancel()
                    continue
                summary = {"experiment": args.experiment, "run": name, "flags": plan[name],
                           **summarize(todo[name][0]), **records.provenance(began, origin)}
                records.append(out, summary)
                print(f"{name}: best reward {summary['best_reward']:.4f}, "
                      f"last quarter {summary['last_quarter_mean_reward']:.4f}", flush=True)
        except KeyboardInterrupt:  # each train.py got the Ctrl-C too: let them save their children
            stopped = 130
            for f in running:
                f.cancel()
    if stopped:
        print(f"{args.experiment}: stopped; the same command resumes", file=sys.stderr)
        return stopped
    figure = ROOT / "docs" / f"{out.stem.replace('-', '_')}.png"  # fig6.json -> docs/fig6.png
    if args.plot and args.experiment == "fig6":
        figures.fig6(Path(args.runs) / "fig6" / "soft", Path(args.runs) / "fig6" / "hard", figure)
    elif args.plot:
        by_method: dict[str, list[list[float]]] = {}
        for r in records.load(out):
            by_method.setdefault(r["flags"][1], []).append(r["rewards"])
        figures.rl_vs_random(by_method, figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
