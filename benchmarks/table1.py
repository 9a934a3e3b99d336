"""Table 1 at laptop scale (Sec. 6.1): searched architectures against the references, one recipe.

The paper's headline is a searched model more accurate than MobileNetV2 at lower latency on the
target platform. This command trains every architecture it is given with the final-training
recipe (`training.FINAL`), the same epochs and `--seeds` seeds each, scores them on the test set,
and times each deployment network (224 px, 1000 classes) against MobileNetV2, interleaved in one
run on this CPU, and through ExecuTorch with `--executorch`. An architecture is a reference name, a
JSON file (`best.json`), a search run directory, which stands for its `--top` children by reward,
or the name of a network the results file already holds (its architecture is recorded there).

The control (`--random-search FILE`): the best distinct network random search found over its runs
at the same budget, trained like the searched ones. Random search's proposals do not depend on the
rewards, so its run with seed s drew exactly the architectures `RandomSearch(seed=s)` draws, in
batches of the run's `--batch`; the run's record in FILE (benchmarks/results/rl-vs-random.json)
holds each child's reward, and the best reward picks the network. No run directory is needed.

Table 6 (`--table6`, Sec. 7.3): MnasNet-A1 and the same network with one layer type in every
block (`models.one_layer_type`: MBConv3 or MBConv6, 3x3 or 5x5), trained and timed the same way,
recorded in benchmarks/results/table6.json.

The winners of the search experiments (`--searches FILE`, a benchmarks/searches.py summary file
such as table5.json or flops.json): each setting's best distinct network over its seeds, by search
reward, named "<experiment>/<setting>" and recorded in <experiment>-final.json. A network the same
training already gave (same architecture, seed, epochs, data and device, in Table 1, Table 6 or
another experiment's final trainings) is not trained again: its record is copied under the new
name with "same_as".

`--retime R` trains nothing: it times every network of the table (those the command names, or with
none named, those recorded in the results file) and MobileNetV2 together, in
one interleaved run repeated R times (on this CPU, and through ExecuTorch with `--executorch`),
and appends the ratios to <out>-timing.json; the table pools every such run. A network timed in a
separate run beside each training drifts: the same one came out 0.958x and 1.021x MobileNetV2 in
two of them, twice the back-to-back noise, too much to tell A1 from its variants.

Every training is appended to benchmarks/results/table1.json as it finishes, with its provenance,
so the command resumes: a training cut short continues from its checkpoint, as the panel's do, and
one recorded from uncommitted code ("+dirty") counts as not done. `python benchmarks/tables.py
--write` turns the file into the table of docs/results.md. `--shard K/N` splits one table between N
processes (one per core), each training every N-th of the trainings.

    python benchmarks/table1.py runs/<search> mobilenetv2 mnasnet-a1 mnasnet-b1 --top 3 \
           --epochs 1 --seeds 2
    python benchmarks/table1.py --random-search benchmarks/results/rl-vs-random.json --top 1 \
           --epochs 5 --seeds 2
    python benchmarks/table1.py --table6 --epochs 5 --seeds 2 --executorch      # Sec. 7.3, Table 6
    python benchmarks/table1.py --searches benchmarks/results/table5.json --epochs 5 --seeds 2 \
           --executorch
    # and 2/2 beside it
    python benchmarks/table1.py --table6 --epochs 5 --seeds 2 --threads 1 --shard 1/2
    # A1, its variants, MobileNetV2 together -> table6-timing.json
    python benchmarks/table1.py --table6 --retime 5 --executorch
    python benchmarks/table1.py --retime 5 --executorch  # Table 1's networks -> table1-timing.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

# flat modules live in the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import cli  # noqa: E402
import controller  # noqa: E402
import latency  # noqa: E402
import mnas  # noqa: E402
import panel  # noqa: E402
import records  # noqa: E402
from run import open_run  # noqa: E402
import searches  # noqa: E402
import training  # noqa: E402
from models import (REFERENCE, REFERENCE_ARCHS, Arch, arch_from_dict, arch_to_dict, build_model,
                    load_arch, network_key, one_layer_type)  # noqa: E402

TABLE1 = records.RESULTS / "table1.json"
TABLE6 = records.RESULTS / "table6.json"
# Sec. 7.3, Table 6: MnasNet-A1 against itself with one layer type everywhere
LAYER_TYPES = {"mbconv3-k3": ("mbconv", 3, 3), "mbconv3-k5": ("mbconv", 3, 5),
               "mbconv6-k3": ("mbconv", 6, 3), "mbconv6-k5": ("mbconv", 6, 5)}


def table6_archs() -> dict[str, Arch]:
    """MnasNet-A1 and its four one-layer-type variants (`models.one_layer_type`), by name."""
    a1 = REFERENCE_ARCHS["mnasnet-a1"]
    return {"mnasnet-a1": a1} | {
        f"mnasnet-a1-all-{name}": one_layer_type(a1, *t) for name, t in LAYER_TYPES.items()
    }


def contenders(specs: list[str], top: int, recorded: dict[str, Arch] | None = None
               ) -> dict[str, Arch]:
    """{name: arch} for reference names, JSON files and search run directories (their `top` children
    by reward that build distinct networks: a search samples some networks under several
    descriptions), and names of networks the table already holds with their architecture
    (`recorded`), so that a table can be trained again where its run directories are gone."""
    archs = {}
    for spec in specs:
        if spec in (recorded or {}) and spec not in REFERENCE_ARCHS:
            archs[spec] = recorded[spec]
        elif Path(spec).is_dir():
            children = open_run(spec).children
            ok = sorted((c for c in children if c.status == "ok"), key=lambda c: c.reward,
                        reverse=True)
            if not ok:
                raise training.UsageError(f"{spec}: the run has no finished child yet")
            best = {}  # network -> (its best child, that child's arch)
            for c in ok:
                arch = arch_from_dict(c.arch)
                best.setdefault(network_key(arch), (c, arch))
            for c, arch in list(best.values())[:top]:
                archs[f"{Path(spec).name}/child-{c.step}"] = arch
        else:
            try:
                archs[Path(spec).stem if spec.endswith(".json") else spec] = load_arch(spec)
            except ValueError as e:
                raise training.UsageError(str(e)) from None
    return archs


def random_search_draws(seed: int, samples: int, batch: int,
                        space: mnas.SearchSpace) -> list[list[int]]:
    """The tokens of every child a random-search run with this seed proposed, in order: the same
    calls to `RandomSearch.propose` that `mnas.search` makes (batches of `batch`, the last cut)."""
    searcher, tokens = controller.RandomSearch(space.decisions, seed=seed), []
    while len(tokens) < samples:
        tokens += searcher.propose(min(batch, samples - len(tokens)))
    return tokens


def random_search_best(summaries: list[dict], top: int, batch: int = 6) -> dict[str, Arch]:
    """{"random-seedS/child-K": arch}: the `top` best distinct networks by reward over the random
    search runs among `summaries` (searches.py records: flags and one reward per child)."""
    space, children = mnas.SearchSpace(), []
    for r in summaries:
        flags = dict(zip(r["flags"][::2], r["flags"][1::2]))
        if flags.get("--controller") != "random":
            continue
        draws = random_search_draws(int(flags["--seed"]), len(r["rewards"]),
                                    int(flags.get("--batch", batch)), space)
        children += [(reward, r["run"], step,
                      space.decode(t)) for step, (t, reward) in enumerate(zip(draws, r["rewards"]))]
    if not children:
        raise training.UsageError("no random-search runs in the file (records with --controller "
                                  "random)")
    best: dict[tuple, str] = {}
    archs = {}
    for reward, run, step, arch in sorted(children, key=lambda c: -c[0]):
        if network_key(arch) not in best and len(best) < top:
            best[network_key(arch)] = name = f"{run}/child-{step}"
            archs[name] = arch
    return archs


def search_winners(summaries: list[dict], runs: Path | None = None,
                   per_search: bool = False) -> dict[str, Arch]:
    """{"<experiment>/<setting>": arch}: each setting's (a run's name less "-seedN") best network
    over its seeds by search reward; with `per_search`, {"<experiment>/<run>": arch}, every search's
    own best network (the search is then the unit of a comparison). From the summary's best_arch, or
    for a summary written before it was kept, from its run directory's best.json under `runs`; a
    search whose network is in neither is left out with a note (`per_search`) or an error."""
    best: dict[str, dict] = {}
    for r in summaries:
        name = f"{r['experiment']}/{r['run'] if per_search else records.setting(r['run'])}"
        if name not in best or r["best_reward"] > best[name]["best_reward"]:
            best[name] = r
    archs = {}
    for name, r in best.items():
        if r.get("best_arch"):
            archs[name] = arch_from_dict(r["best_arch"])
            continue
        run_dir = (runs or searches.RUNS) / (r.get("same_as") or f"{r['experiment']}/{r['run']}")
        if (run_dir / "best.json").is_file():
            archs[name] = load_arch(str(run_dir / "best.json"))
        elif per_search:  # that search's network is lost: the others are still each a search's
            print(f"{name}: left out: its summary has no best_arch and {run_dir} no best.json",
                  file=sys.stderr)
        else:
            raise training.UsageError(f"{name}: the summary of {r['run']} has no best_arch and "
                                      f"{run_dir} no best.json")
    return archs


def trained_already(files: list[str | Path]) -> dict[tuple, dict]:
    """Records of finished trainings in `files`, by (network, seed, epochs, dataset, device)."""
    return {(network_key(arch_from_dict(r["arch"])), r["seed"], r["epochs"], r["dataset"],
             r["device"]): r
            for path in files for r in records.finished(path) if r.get("arch")}


def time_together(archs: dict[str, Arch], backends: list[str], repeats: int,
                  options: dict[str, dict] | None = None) -> dict[str, dict[str, list[float]]]:
    """{backend: {name: [latency / MobileNetV2, one per repeat]}}: every network and the reference
    measured in one interleaved run (`latency.measure_interleaved`, with the backend's `options`:
    int8's calibration images), `repeats` times per backend, so that the networks are compared
    under the same conditions and the repeats show the noise."""
    nets = {name: build_model(arch) for name, arch in archs.items()} | {
        REFERENCE: build_model(REFERENCE)
    }
    ratios = {backend: {name: [] for name in archs} for backend in backends}
    for backend in backends:
        for _ in tqdm(range(repeats), desc=f"timing together ({backend})", unit="repeat"):
            got = latency.measure_interleaved(nets, backend=backend,
                                              **(options or {}).get(backend, {}))
            for name in archs:
                ratios[backend][name].append(round(latency.ratio(got[name], got[REFERENCE]), 4))
    return ratios


def retime(out: str | Path, archs: dict[str, Arch], backends: list[str], repeats: int,
           origin: dict, options: dict[str, dict] | None = None) -> Path:
    """`time_together`, appended to <out>-timing.json with each network's architecture (a table
    retrained under the same names does not pool with it), the machine's load before and after (the
    1-minute average: another process running beside the timing shows) and the provenance."""
    path = Path(out).with_name(f"{Path(out).stem}-timing.json")
    started, load = time.time(), os.getloadavg()[0]
    ratios = time_together(archs, backends, repeats, options)
    records.append(path, {"networks": list(archs),
                          "archs": {name: arch_to_dict(a) for name, a in archs.items()},
                          "repeats": repeats, "threads": 1, "load": round(load, 2),
                          "load_after": round(os.getloadavg()[0], 2), **ratios,
                          **records.provenance(started, origin)})
    return path


def shard(text: str) -> tuple[int, int]:
    """An argparse type: "K/N" with 1 <= K <= N, this process's share of the trainings."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N (e.g. 1/2), got '{text}'")
    return int(k), int(n)


def main(argv: list[str] | None = None) -> int:
    latency.keep_freed_memory()  # as every program that times networks
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("archs", nargs="*", metavar="NAME|JSON|RUN_DIR")
    p.add_argument("--random-search", metavar="FILE",
                   help="add random search's `--top` best networks from its runs' records (the "
                   "control)")
    p.add_argument("--top", type=int, default=3,
                   help="children of each run directory, by reward (default 3)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--executorch", action="store_true",
                   help="also time each network through ExecuTorch")
    p.add_argument("--table6", action="store_true",
                   help="add MnasNet-A1 and its one-layer-type variants (Sec. 7.3); records go to "
                   "table6.json")
    panel.add_training_options(p)
    p.add_argument("--searches", metavar="FILE",
                   help="train each setting's best network in this searches.py summary file "
                   "(table5.json, flops.json)")
    p.add_argument("--per-search", action="store_true",
                   help="with --searches: train every search's best network (<experiment>/<run>), "
                   "not each setting's")
    p.add_argument("--out",
                   help="the results file (default benchmarks/results/table1.json; table6.json "
                   "with --table6, "
                                 "<experiment>-final.json with --searches)")
    p.add_argument("--shard", type=shard, default=(1, 1), metavar="K/N",
                   help="train only the K-th of every N trainings (architectures x seeds, in "
                   "order), so N processes "
                        "split one table: e.g. --shard 1/2 and --shard 2/2 on two cores (default "
                        "1/1: all)")
    p.add_argument("--retime", type=cli.at_least(2), metavar="R",
                   help="train nothing: time the table's networks (those given, else those in "
                   "--out) together, R interleaved "
                        "repeats -> <out>-timing.json")
    args = p.parse_args(argv)
    try:
        if args.top < 1 or args.seeds < 1 or args.epochs <= 0:
            raise training.UsageError("--top and --seeds must be >= 1 and --epochs positive")
        if (
            not args.archs
            and not args.random_search
            and not args.table6
            and not args.searches
            and not args.retime
        ):
            raise training.UsageError("give architectures (NAME, JSON or RUN_DIR), "
                                      "--random-search FILE, --table6 "
                                      "or --searches FILE")
        out = TABLE6 if args.table6 else TABLE1
        if args.searches:
            out = Path(args.searches).with_name(f"{Path(args.searches).stem}-final.json")
        args.out = args.out or str(out)
        recorded = {r["name"]: arch_from_dict(r["arch"]) for r in records.load(args.out)
                    if r.get("arch")}
        archs = (contenders(args.archs, args.top, recorded)
                 | (table6_archs() if args.table6 else {}))
        if args.searches:
            if not Path(args.searches).is_file():
                raise training.UsageError(f"--searches {args.searches}: no such file")
            archs |= search_winners(records.load(args.searches), per_search=args.per_search)
        if args.random_search:
            if not Path(args.random_search).is_file():
                raise training.UsageError(f"--random-search {args.random_search}: no such file")
            archs |= random_search_best(records.load(args.random_search), args.top)
        if args.retime and not archs:  # the networks the table holds
            archs = {
                r["name"]: arch_from_dict(r["arch"])
                for r in records.load(args.out)
                if r.get("arch")
            }
            if not archs:
                raise training.UsageError(f"--retime: {args.out} holds no trained network to time")
        if args.retime:
            origin = records.origin(__file__, argv)
            path = retime(args.out, archs, ["cpu"] + ["executorch"] * args.executorch, args.retime,
                          origin)
            print(f"timed {len(archs)} networks together, {args.retime} times -> {path}")
            return 0
        device = training.pick_device(args.device)
        data = training.DataSpec(args.dataset, args.data_dir)
        training.load_splits(data)  # fail early, in one line, if the data is missing
    except training.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    origin = records.origin(__file__, argv)  # after the checks: a rejected command prints one line
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = replace(training.FINAL, threads=args.threads, device=device)
    done = records.finished(args.out)  # a +dirty training is done again, from this commit
    have = {(r["name"], r["seed"], r["epochs"], r["dataset"], r["device"]) for r in done}
    ratios = {(r["name"], "cpu"): r["latency_ratio"] for r in done}
    ratios |= {(r["name"],
                "executorch"): r["executorch_ratio"] for r in done if r.get("executorch_ratio")}
    k, n_shards = args.shard
    # this shard's, whatever is done
    jobs = [(n, s) for s in range(args.seeds) for n in archs][k - 1::n_shards]
    todo = [(n, s) for n, s in jobs if (n, s, args.epochs, args.dataset, device) not in have]
    print(f"table 1: {len(archs)} architectures x {args.seeds} seeds, {len(todo)} trainings to do, "
          f"{args.epochs:g} epoch(s) each on {device} -> {args.out}", flush=True)
    # the same training under another name, in Table 1, Table 6 or a search's final trainings: not
    # again
    beside = [
        f
        for f in Path(args.out).parent.glob("*.json")
        if f.name == "table6.json" or f.name.endswith("-final.json")
    ]
    trained = trained_already([TABLE1, *beside, args.out])
    for name, seed in tqdm(todo, desc="table 1", unit="net"):
        job = {"name": name, "seed": seed, "recipe": "final", "epochs": args.epochs,
               "dataset": args.dataset}
        same = trained.get((network_key(archs[name]), seed, args.epochs, args.dataset, device))
        if same:
            records.append(args.out,
                           {**same, **job, "same_as": same.get("same_as") or same["name"]})
            tqdm.write(f"{name:<28} seed {seed}  the same network as {same['name']}: its record "
                       "reused")
            continue
        if args.executorch and (name, "executorch") not in ratios:
            ratios[name, "executorch"] = round(latency.relative_latency(build_model(archs[name]),
                                                                        build_model(REFERENCE),
                                                                        backend="executorch",
                                                                        rounds=20), 4)
        record = panel.train_and_append(args.out, job, archs[name], data, cfg,
                                        ratios.get((name, "cpu")), origin, device,
                                        {"executorch_ratio": ratios.get((name, "executorch"))})
        ratios[name, "cpu"] = record["latency_ratio"]
        trained[network_key(archs[name]), seed, args.epochs, args.dataset, device] = record
        tqdm.write(f"{name:<28} seed {seed}  test accuracy {record['test_accuracy']:.4f}  "
                   f"latency {record['latency_ratio']:.3f}x MobileNetV2  "
                   f"{record['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
