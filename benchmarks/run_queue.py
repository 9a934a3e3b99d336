"""The long runs' queue: the CPU hours the open experiments need, one command per unit of work, in
the order they are wanted, so that any session on any machine resumes from what has landed.

Each job is a command of the benchmarks that appends its records to benchmarks/results/ and resumes
where it stopped. A job is done when the committed results files say so (the latency table, a
machine's own prerequisite, when its file is built), so the queue keeps no state of its own: a
fresh clone runs the next unfinished job. With `--commit` each new record is committed as soon as
it lands (polled every minute), so a session that ends loses at most the unit in flight.

Run it from a worktree of its own, so that code edited beside it never enters a run (its records
would carry "+dirty"), then merge its branch:

    git worktree add -b queue ../queue && cd ../queue
    python benchmarks/run_queue.py                                  # what is done, what runs next
    python benchmarks/run_queue.py --run --parallel 2 --commit      # two at a time, one core each
    cd ../main && git merge queue                               # the records, into main

The order follows the issues that asked for the runs: Table 5's and the MACs search's seeds, then
their winners trained and timed together; then what int8 costs and model scaling (Sec. 6.2),
measurements the project has never made, before Table 6's further training seeds, more of one it
has; then the records made from uncommitted code, run again from a commit (`rerun_jobs`); and last
Sec. 5's cross-platform searches (the ExecuTorch platforms' latency tables, the +dirty searches
again from a commit, 2 more seeds) and their networks timed together on every platform.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # flat modules: the root's, benchmarks'
import cli  # noqa: E402
import records  # noqa: E402
RESULTS = ROOT / "benchmarks" / "results"
TABLE = "runs/latency_table_cpu.json"  # the CPU latency table every search predicts LAT(m) from
SEARCH_SEEDS = (2, 3, 4)  # seeds 0 and 1 of every setting are recorded
SAMPLES = 300
TABLE5 = ("multi-factorized", "single-cell", "multi-cell", "single-factorized")
TABLE6 = ("mnasnet-a1", "mnasnet-a1-all-mbconv3-k3", "mnasnet-a1-all-mbconv3-k5",
          "mnasnet-a1-all-mbconv6-k3", "mnasnet-a1-all-mbconv6-k5")
TRAIN_SEEDS = 5  # Table 6's training seeds per network
# what int8 costs (benchmarks/int8.py): the references and Table 1's two searched winners
INT8 = ("mnasnet-a1", "mobilenetv2", "reinforce-seed0/child-185", "reinforce-seed0/child-222")
SCALING_WIDTHS = ("0.5", "1.4")  # Sec. 6.2: trained at these (every width is timed)
# the +dirty records' own commands (rerun_jobs): Table 1's searched networks by their recorded names
T1_RERUN = ("reinforce-seed0/child-185", "reinforce-seed0/child-222", "mobilenetv2")
PROXY_SETTINGS = ("s70-b64-lr0.01", "s35-b64-lr0.05", "s70-b64-lr0.05-w0.5", "s70-b64-lr0.05",
                  "s35-b128-lr0.1", "s140-b64-lr0.05-w0.5")  # the proxy's recorded settings
SAMPLERS = ("uniform", "identity", "identity-mbconv", "sandwich")


@dataclass(frozen=True)
class Job:
    name: str
    argv: list[str]  # run with this Python from the repository root
    done: Callable[[], bool]
    needs: tuple[str, ...] = ()  # jobs that must be done first
    alone: bool = False  # a timing: nothing else runs beside it


def _load(name: str) -> list[dict]:
    """The records of <name>.json that count as done: those from committed code (a benchmark
    resuming redoes a +dirty one, so the queue must not count it)."""
    return records.finished(RESULTS / f"{name}.json")


def searched(experiment: str, run: str) -> Callable[[], bool]:
    return lambda: any(r["run"] == run and r["children"] >= SAMPLES for r in _load(experiment))


def kept(experiment: str) -> list[str]:
    """"<experiment>/<run>" of every search whose summary keeps its best network (best_arch):
    those whose winner can be trained (one summary from before best_arch was kept has lost it)."""
    return [f"{experiment}/{r['run']}" for r in _load(experiment) if r.get("best_arch")]


def winners_trained(experiment: str) -> Callable[[], bool]:
    """Every search in <experiment>.json has its own best network trained (5 epochs, seed 0)."""
    def done() -> bool:
        trained = {r["name"] for r in _load(f"{experiment}-final")
                   if r["epochs"] == 5 and r["seed"] == 0}
        return all(name in trained for name in kept(experiment))
    return done


def winners_timed(experiment: str) -> Callable[[], bool]:
    """One timing run holds every search's trained winner."""
    def done() -> bool:
        want = set(kept(experiment))
        return any(want <= set(r["networks"]) for r in _load(f"{experiment}-final-timing"))
    return done


def table6_trained() -> bool:
    have = {(r["name"], r["seed"]) for r in _load("table6") if r["epochs"] == 5}
    return all((n, s) in have for n in TABLE6 for s in range(TRAIN_SEEDS))


def int8_trained() -> bool:
    have = {(r["name"], r["seed"]) for r in _load("int8") if r["epochs"] == 5}
    return all((n, s) in have for n in INT8 for s in range(3))


def scaling_trained() -> bool:
    have = {(r["name"], r["width_mult"], r["seed"]) for r in _load("scaling") if r["epochs"] == 5}
    return all((n, float(w), s) in have for n in ("mnasnet-a1", "mobilenetv2")
               for w in SCALING_WIDTHS for s in range(3))


def rerun(name: str, key: tuple[str, ...], covers: Callable[[dict], bool] = lambda r: True
          ) -> Callable[[], bool]:
    """Every unit (the `key` fields) of a +dirty record of <name>.json that the job's command
    `covers` has a record from committed code."""
    def done() -> bool:
        units: dict[bool, set] = {True: set(), False: set()}
        for r in records.load(RESULTS / f"{name}.json"):
            if covers(r):
                units[records.is_dirty(r)].add(tuple(r.get(k) for k in key))
        return units[True] <= units[False]
    return done


def drawn_after(figure: str, data: str) -> Callable[[], bool]:
    """The committed figure was drawn after the last committed change to its data: the data's last
    commit is an ancestor of (or is) the figure's."""
    def last(path: str) -> str:
        return subprocess.run(["git", "log", "-1", "--format=%H", "--", path], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()

    def done() -> bool:
        drawn, changed = last(figure), last(data)
        return bool(drawn) and bool(changed) and subprocess.run(
            ["git", "merge-base", "--is-ancestor", changed, drawn], cwd=ROOT).returncode == 0
    return done


def timed_runs(name: str, backend: str | None = None, runs: int = 3) -> Callable[[], bool]:
    """At least `runs` timing runs recorded in <name>.json (of `backend`, where it says one)."""
    return lambda: sum(backend in (None, r.get("backend")) for r in _load(name)) >= runs


def table_built(table: str = TABLE) -> bool:
    path = ROOT / table
    if not path.exists():
        return False
    import latency_table  # torch: only once the file is there

    # calibrated: the build's last step
    return latency_table.LatencyTable.load(path).fit is not None


def jobs() -> list[Job]:
    py = [sys.executable]
    out = [Job("latency table (CPU)", [*py, "latency_table.py", "--build-table", TABLE],
               table_built)]
    search = [*py, "benchmarks/searches.py"]
    common = ["--samples", str(SAMPLES), "--latency-table", TABLE, "--extra=--threads 1"]
    names = {"table5": [], "flops": []}
    for seed in SEARCH_SEEDS:  # seed by seed, so that a short queue still adds to every setting
        for experiment, run in ([("table5", f"{s}-seed{seed}") for s in TABLE5]
                                + [("flops", f"macs-seed{seed}")]):
            out.append(Job(f"{experiment} {run}",
                           [*search, experiment, "--seeds", str(seed), "--only", run, *common],
                           searched(experiment, run), needs=("latency table (CPU)",)))
            names[experiment].append(out[-1].name)
        # table5's multi-factorized search, reused under its flops name
        run = f"measured-seed{seed}"
        out.append(Job(f"flops {run}",
                       [*search, "flops", "--seeds", str(seed), "--only", run, *common],
                       searched("flops", run), needs=(f"table5 multi-factorized-seed{seed}",)))
        names["flops"].append(out[-1].name)
    # single-cell-seed0's summary predates best_arch and its run directory is gone: its winner
    # cannot be trained, so a sixth seed gives that setting five trained winners too
    run = "single-cell-seed5"
    out.append(Job(f"table5 {run}", [*search, "table5", "--seeds", "5", "--only", run, *common],
                   searched("table5", run), needs=("latency table (CPU)",)))
    names["table5"].append(out[-1].name)
    table1 = [*py, "benchmarks/table1.py", "--epochs", "5", "--threads", "1", "--executorch"]
    for experiment in ("table5", "flops"):
        searches = ["--searches", f"benchmarks/results/{experiment}.json", "--per-search"]
        for k in (1, 2):
            out.append(Job(f"{experiment} winners {k}/2",
                           [*table1, *searches, "--seeds", "1", "--shard", f"{k}/2"],
                           winners_trained(experiment), needs=tuple(names[experiment])))
        out.append(Job(f"{experiment} winners timed",
                       [*py, "benchmarks/table1.py", *searches, "--retime", "5", "--executorch"],
                       winners_timed(experiment),
                       needs=(f"{experiment} winners 1/2", f"{experiment} winners 2/2"),
                       alone=True))
    # the deployment benchmarks (export.py): what int8 costs, and model scaling (Sec. 6.2)
    winners = tuple(f"{e} winners timed" for e in ("table5", "flops"))
    int8 = [*py, "benchmarks/int8.py", *INT8]
    scaling = [*py, "benchmarks/scaling.py"]
    for k in (1, 2):
        out.append(Job(f"int8 {k}/2", [*int8, "--epochs", "5", "--seeds", "3", "--threads", "1",
                                       "--shard", f"{k}/2"], int8_trained, needs=winners))
    out.append(Job("int8 timed", [*int8, "--time", "3"], timed_runs("int8-timing"),
                   needs=("int8 1/2", "int8 2/2"), alone=True))
    # The trainings after a timing wait for it: one started beside the timing's last shard would
    # hold the timing (alone) back, and a core idle, for as long as that training runs.
    for k in (1, 2):
        out.append(Job(f"scaling {k}/2", [*scaling, "--epochs", "5", "--seeds", "3", "--widths",
                                          *SCALING_WIDTHS, "--threads", "1", "--shard", f"{k}/2"],
                       scaling_trained, needs=("int8 timed",)))
    out.append(Job("scaling timed", [*scaling, "--time", "3"],
                   timed_runs("scaling-timing", "executorch"),
                   needs=("scaling 1/2", "scaling 2/2"), alone=True))
    for k in (1, 2):
        out.append(Job(f"table6 {k}/2",
                       [*table1, "--table6", "--seeds", str(TRAIN_SEEDS), "--shard", f"{k}/2"],
                       table6_trained, needs=("scaling timed",)))
    reruns = rerun_jobs(py, after=("table6 1/2", "table6 2/2"))
    data = tuple(j.name for j in reruns if not j.name.endswith("figure"))  # not the drawing
    return out + reruns + sec5_jobs(py, after=data)


def rerun_jobs(py: list[str], after: tuple[str, ...]) -> list[Job]:
    """The records made from uncommitted code ("+dirty"), run again from a commit by the command
    that made them: each benchmark resumes from committed records only, so it redoes exactly those.
    A job is done when every unit its +dirty records hold has a committed record."""
    sharing, fig6 = [*py, "benchmarks/sharing.py", "--threads", "1"], [
        *py, "benchmarks/searches.py", "fig6", "--samples", str(SAMPLES), "--latency-table", TABLE,
        "--runs", "runs/fig6-half", "--out", "benchmarks/results/fig6-half.json",
        "--extra=--target-ratio 0.5 --threads 1"]
    table1_unit = ("name", "seed", "epochs", "dataset", "device")
    sharing_unit = ("paths", "sampler", "steps", "dataset")  # sharing.unit's fields
    out = [
        Job("rerun table1", [*py, "benchmarks/table1.py", *T1_RERUN, "--epochs", "5", "--seeds",
                             "3", "--threads", "1"],
            rerun("table1", table1_unit, lambda r: r["name"] in T1_RERUN and r["epochs"] == 5),
            needs=after),
        Job("rerun proxy", [*py, "benchmarks/proxy.py", "--threads", "1", "--settings",
                            ",".join(PROXY_SETTINGS)],
            rerun("proxy", ("setting", "name", "seed"), lambda r: r["setting"] in PROXY_SETTINGS),
            needs=after),
        Job("rerun proxy timing", [*py, "benchmarks/proxy.py", "--time", "4", "--settings",
                                   ",".join(PROXY_SETTINGS)],
            rerun("proxy_timing", ("setting",), lambda r: r["setting"] in PROXY_SETTINGS),
            needs=("rerun proxy",), alone=True),
        Job("rerun sharing paths", [*sharing, "--steps", "200"],
            rerun("sharing", sharing_unit,
                  lambda r: r["steps"] == 200 and r.get("paths") in (1, 2, 8, 0)), needs=after),
        Job("rerun sharing samplers", [*sharing, "--samplers", ",".join(SAMPLERS), "--steps",
                                       "400"],
            rerun("sharing", sharing_unit,
                  lambda r: r["steps"] == 400 and r.get("sampler") in SAMPLERS), needs=after),
        *(Job(f"rerun fig6-half {c}", [*fig6, "--only", c],
              rerun("fig6-half", ("run",), lambda r, c=c: r["run"] == c), needs=after)
          for c in ("soft", "hard")),
        # the figure, from the two runs' directories, once both are searched again
        Job("rerun fig6-half figure", [*fig6, "--plot"],
            lambda: (rerun("fig6-half", ("run",))()
                     and drawn_after("docs/fig6_half.png", "benchmarks/results/fig6-half.json")()),
            needs=("rerun fig6-half soft", "rerun fig6-half hard")),
        # the README's command as a user runs it (every core, its own time): nothing beside it
        Job("rerun default search", [*py, "benchmarks/searches.py", "default-search",
                                     "--samples", "100"], rerun("default-search", ("run",)),
            needs=after, alone=True),
    ]
    return out


# ----------------------------------------------------------------------------- Sec. 5, last

# each ExecuTorch platform's latency table, for the searches that measure LAT(m) there
PLATFORM_TABLES = {"cpu": TABLE, "executorch": "runs/latency_table_et.json",
                   "executorch-int8": "runs/latency_table_int8.json"}
SEC5_SEEDS = (0, 1, 2, 3)  # 0 and 1 again where their records are +dirty, then 2 more seeds


def sec5_timed() -> bool:
    """One timing run together, from committed code, holds the best network of every committed
    cross-platform search (the same architecture: a search run again has a new one)."""
    want = {r["run"]: r["best_arch"] for r in records.finished(RESULTS / "cross-platform.json")
            if r.get("best_arch")}
    return bool(want) and any(
        all(t.get("archs", {}).get(run) == arch for run, arch in want.items())
        for t in records.finished(RESULTS / "cross-platform-timing.json"))


def sec5_jobs(py: list[str], after: tuple[str, ...]) -> list[Job]:
    """Sec. 5, searched for one platform and run on another: each ExecuTorch platform's latency
    table, the searches whose records are +dirty run again from a commit, 2 more seeds a platform
    (cpu's is Table 5's multi-factorized search, reused: SAME_SEARCH), then every search's best
    network timed together on every platform, 5 interleaved runs each (platforms.py --retime).
    The latency tables are timings: each waits for the jobs `after` and runs alone."""
    out = [Job(f"latency table ({platform})", [*py, "latency_table.py", "--build-table", table,
                                               "--backend", platform],
               lambda table=table: table_built(table), needs=after, alone=True)
           for platform, table in PLATFORM_TABLES.items() if platform != "cpu"]
    search = [*py, "benchmarks/searches.py", "cross-platform", "--samples", str(SAMPLES),
              "--extra=--threads 1"]
    for seed in SEC5_SEEDS:
        for platform, table in PLATFORM_TABLES.items():
            run = f"{platform}-seed{seed}"
            needs = f"latency table ({'CPU' if platform == 'cpu' else platform})"
            if platform == "cpu" and seed in SEARCH_SEEDS:  # Table 5's search, reused
                needs = f"table5 multi-factorized-seed{seed}"
            out.append(Job(f"cross-platform {run}", [*search, "--seeds", str(seed), "--only", run,
                                                     "--latency-table", table],
                           searched("cross-platform", run), needs=(needs,)))
    out.append(Job("cross-platform timed", [*py, "benchmarks/platforms.py", "--searched",
                                            "benchmarks/results/cross-platform.json",
                                            "--retime", "5"],
                   sec5_timed, needs=tuple(j.name for j in out), alone=True))
    return out


def changed_results() -> list[str]:
    """Results files that differ from the last commit (new records), and figures the runs drew."""
    got = subprocess.run(["git", "status", "--porcelain", "--", "benchmarks/results/*.json",
                          "docs/*.png"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return [line[3:] for line in got.splitlines()]


def commit(files: list[str]) -> None:
    """Commit these results files alone (whatever else the tree holds), retrying a busy index."""
    message = "queue: new results in " + ", ".join(Path(f).name for f in files)
    for _ in range(10):
        add = subprocess.run(["git", "add", "--", *files], cwd=ROOT, capture_output=True)
        if add.returncode == 0 and subprocess.run(
                ["git", "commit", "-q", "-m", message, "--", *files],
                cwd=ROOT, capture_output=True).returncode == 0:
            print(f"[queue] committed {', '.join(files)}", flush=True)
            return
        time.sleep(5)
    print(f"[queue] could not commit {', '.join(files)}; they stay in the tree", flush=True)


def run(todo: list[Job], parallel: int, commit_records: bool, logs: Path, poll: float = 60,
        grace: float = 120) -> int:
    """Start the next job whose needs are done, `parallel` at a time, each once, until none is
    left. On Ctrl-C each job gets it once, and `grace` seconds to save and exit; one that is still
    running then (a library that swallowed the KeyboardInterrupt) is terminated: every unit resumes
    from what it saved."""
    logs.mkdir(parents=True, exist_ok=True)
    running: dict[str, subprocess.Popen] = {}
    try:
        return _run(todo, parallel, commit_records, logs, poll, running)
    except KeyboardInterrupt:
        for proc in running.values():
            proc.send_signal(signal.SIGINT)  # each job saves what it has and exits
        deadline = time.time() + grace
        for name, proc in running.items():
            try:
                proc.wait(timeout=max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                print(f"[queue] {name} did not stop on Ctrl-C: terminated", flush=True)
                proc.terminate()
                proc.wait()
        if commit_records and (files := changed_results()):
            commit(files)
        print("[queue] stopped; the same command resumes", flush=True)
        return 130


def _run(todo: list[Job], parallel: int, commit_records: bool, logs: Path, poll: float,
         running: dict[str, subprocess.Popen]) -> int:
    tried, finished = set(), {j.name for j in todo if j.done()}
    by_name = {j.name: j for j in todo}
    while True:
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                ok = by_name[name].done()
                print(f"[queue] {name}: exit {proc.returncode}, {'done' if ok else 'not done'}",
                      flush=True)
        # a shard is done when its sibling finishes too (they share one `done`): look again
        finished |= {n for n in tried - finished - running.keys() if by_name[n].done()}
        if commit_records and (files := changed_results()):
            commit(files)
        ready = [j for j in todo
                 if j.name not in finished | tried and all(n in finished for n in j.needs)]
        busy_alone = any(by_name[n].alone for n in running)
        while ready and len(running) < parallel and not busy_alone:
            job = ready.pop(0)
            if job.alone and running:
                break  # a timing waits for the cores to be free
            tried.add(job.name)
            log = open(logs / (job.name.replace(" ", "_").replace("/", "of") + ".log"), "a")
            print(f"[queue] start {job.name}: {' '.join(job.argv[1:])}  (log: {log.name})",
                  flush=True)
            # a session of its own: a Ctrl-C at the terminal reaches the job once, through run()
            running[job.name] = subprocess.Popen(job.argv, cwd=ROOT, stdout=log,
                                                 stderr=subprocess.STDOUT, start_new_session=True)
            busy_alone = job.alone
        if not running:
            left = [j.name for j in todo if j.name not in finished]
            print(f"[queue] nothing left to start; not done: {', '.join(left) or 'none'}",
                  flush=True)
            return 0
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="store_true",
                   help="run the unfinished jobs (default: list them)")
    p.add_argument("--parallel", type=int, default=2,
                   help="jobs at a time (default 2, one per core)")
    p.add_argument("--commit", action="store_true", help="commit each results file as records land")
    p.add_argument("--logs", default=str(ROOT / "runs" / "queue"),
                   help="one log per job (default runs/queue)")
    args = p.parse_args(argv)
    if args.parallel < 1:
        p.error("--parallel must be at least 1")
    todo = jobs()
    if not args.run:
        for j in todo:
            print(f"{'done' if j.done() else '    '}  {j.name}")
        return 0
    # Ctrl-C (or `kill -INT`, also when a shell started this in the background with SIGINT
    # ignored) reaches every job, which saves its work and stops; the same command resumes.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return run(todo, args.parallel, args.commit, Path(args.logs))


if __name__ == "__main__":
    sys.exit(main())
