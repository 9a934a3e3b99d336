"""Sec. 1 and Sec. 5: do multiply-adds and the latency on each platform rank the space's networks
alike?

MnasNet measures latency on the target phone instead of counting multiply-adds, because networks
with the same MACs run at different speeds: "MobileNet and NASNet have similar FLOPS (575M vs.
564M), but their latencies are significantly different (113ms vs. 183ms)" (Sec. 1, Pixel 1). This
command asks the same of this search space: it samples `--samples` architectures (seeded), costs
each one under every measure it has, and records how well any two measures agree:

- `macs` and `params`: of the deployment network (224 px, 1000 classes), counted;
- one latency per `--table FILE` (`python latency_table.py --build-table FILE [--backend executorch|
  executorch-int8]`), named by the table's backend: the table's prediction as a ratio to
  MobileNetV2's on the same table, so platforms compare without their units;
- per pair of measures: Spearman's rho and Kendall's tau-b (scipy.stats), and the overlap of the
  fastest 10% under each; per latency, the pair of networks whose MACs differ by at most 2% and
  whose latencies differ most: the paper's MobileNet/NASNet example, found in this space;
- why they disagree: each decision's choices (ConvOp, kernel, SE, filters) set in every block of
  `--decision-archs` of the networks, each measure's median ratio to the decision's first choice.

One record per run is appended to benchmarks/results/platforms.json with provenance; a run with
the same samples, seed and measures is not repeated. `--plot FILE` draws MACs against each latency
from the record. `python benchmarks/tables.py --write` puts the agreement table on docs/results.md.
The equal-MACs pairs are the tables' predictions; `--time-pairs` times each pair whole on its
platform, the two networks interleaved, and appends one record per platform to equal-macs.json
beside the --out file (resumable), so the headline ratio does not rest on the tables.

Searched for one platform, run on another (`--searched FILE`, the summaries of
`benchmarks/searches.py cross-platform`): each search's best network (by its reward) timed whole on
every platform, interleaved with MobileNetV2 in one run per platform, as a ratio to MobileNetV2's
latency there; a network two searches found is timed once. One record per platform is appended to
benchmarks/results/cross-platform-latency.json as it finishes; the same command resumes.
One timing a network decides nothing (the same network's ratio drifts by a few percent between
runs): `--retime R` times every search's best network, from the summaries of committed code only,
and MobileNetV2 together in one interleaved run per platform, repeated R times (table1.py's
`retime`), and appends the run to <FILE's name>-timing.json (cross-platform-timing.json) with each
network's architecture; the table pools every such run, each search's network then has R timings
or more per platform, drift between runs included.

    python benchmarks/platforms.py --samples 500 --table runs/latency_table_cpu.json \
           --plot docs/macs_latency.png
    # the same record, its pairs timed whole
    python benchmarks/platforms.py --samples 500 --table ... --time-pairs
    python benchmarks/platforms.py --searched benchmarks/results/cross-platform.json
    python benchmarks/platforms.py --searched benchmarks/results/cross-platform.json --retime 5
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import itertools  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

# flat modules live in the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
from tqdm import tqdm  # noqa: E402

import cli  # noqa: E402
import latency  # noqa: E402
import latency_table  # noqa: E402
import mnas  # noqa: E402
import records  # noqa: E402
from models import REFERENCE_ARCHS  # noqa: E402
from training import deployment_size  # noqa: E402

PLATFORMS = records.RESULTS / "platforms.json"
RUN_ON = records.RESULTS / "cross-platform-latency.json"
PAIRS_TIMED = records.RESULTS / "equal-macs.json"
BACKENDS = ("cpu", "executorch", "executorch-int8")  # eager PyTorch here, ExecuTorch fp32 and int8
EQUAL_MACS = 0.02  # "similar FLOPS": within 2%
FASTEST = 0.10  # the share of networks compared by `fastest_overlap`


def costs(archs: list, tables: dict[str, latency_table.LatencyTable],
          progress: bool = True) -> dict[str, list[float]]:
    """{measure: one cost per architecture}: M MACs, M params, and each table's latency /
    MobileNetV2's."""
    sizes = [deployment_size(a) for a in tqdm(archs, desc="MACs", unit="net", disable=not progress)]
    out = {"macs": [s["macs"] / 1e6 for s in sizes], "params": [s["params"] / 1e6 for s in sizes]}
    for name, table in tables.items():
        reference = table.predict(REFERENCE_ARCHS["mobilenetv2"])
        out[name] = [table.predict(a) / reference for a in archs]
    return out


def fastest_overlap(a: list[float], b: list[float], share: float = FASTEST) -> float:
    """The share of the cheapest `share` of networks under `a` that are also among the cheapest
    under `b`."""
    k = max(1, round(share * len(a)))
    return len(set(np.argsort(a)[:k]) & set(np.argsort(b)[:k])) / k


def equal_macs_pair(macs: list[float], lat: list[float], tolerance: float = EQUAL_MACS) -> dict:
    """The two networks whose MACs differ by at most `tolerance` (relative to the smaller) and whose
    latencies differ most: {"pair": [fast, slow], "macs": [...], "latency": [...],
    "latency_ratio"}."""
    order = np.argsort(macs)
    best = (1.0, None)
    for lo, i in enumerate(order):  # a window over the networks sorted by MACs
        for j in order[lo + 1:]:
            if macs[j] > macs[i] * (1 + tolerance):
                break
            fast, slow = (i, j) if lat[i] <= lat[j] else (j, i)
            if lat[slow] / lat[fast] > best[0]:
                best = (lat[slow] / lat[fast], (int(fast), int(slow)))
    if best[1] is None:
        return {}
    fast, slow = best[1]
    return {"pair": [fast, slow], "macs": [round(macs[fast], 1), round(macs[slow], 1)],
            "latency": [round(lat[fast], 4), round(lat[slow], 4)],
            "latency_ratio": round(best[0], 3)}


def agreement(cost: dict[str, list[float]]) -> dict:
    """Spearman, Kendall and the fastest-10% overlap for every pair of measures, and per latency
    measure its equal-MACs pair."""
    pairs = list(itertools.combinations(cost, 2))
    return {
        "spearman": {
            f"{a}/{b}": round(float(stats.spearmanr(cost[a], cost[b])[0]), 4) for a, b in pairs
        },
        "kendall": {
            f"{a}/{b}": round(float(stats.kendalltau(cost[a], cost[b])[0]), 4) for a, b in pairs
        },
        "fastest_overlap": {
            f"{a}/{b}": round(fastest_overlap(cost[a], cost[b]), 3) for a, b in pairs
        },
        "equal_macs": {
            m: equal_macs_pair(cost["macs"], cost[m]) for m in cost if m not in ("macs", "params")
        },
    }


def label(choice) -> str:
    """A choice as the paper names it: ("mbconv", 6) -> "mbconv6", ("conv", 1) -> "conv", 0.25 ->
    "0.25"."""
    if isinstance(choice, tuple):
        op, expansion = choice
        return f"{op}{expansion}" if op == "mbconv" else op
    return str(choice)


def decision_costs(space: mnas.SearchSpace, tokens: list[list[int]],
                   tables: dict[str, latency_table.LatencyTable],
                   decisions: tuple[str, ...] = ("conv_op", "kernel", "se_ratio",
                                                 "filters")) -> dict:
    """Why the measures disagree: for each decision and each of its choices, the networks of
    `tokens` with that choice in every block, costed under every measure, as the median ratio to
    the same networks with the decision's first choice: {decision: {choice: {measure: ratio}}}."""
    names = list(mnas.BLOCK_CHOICES)
    out = {}
    for decision in decisions:
        d, choices = names.index(decision), mnas.BLOCK_CHOICES[decision]
        per_choice = []  # the costs of the networks with choice v in every block, for each v
        for v in range(len(choices)):
            with_v = [
                space.join([six[:d] + [v] + six[d + 1 :] for six in space.split(t)]) for t in tokens
            ]
            per_choice.append(costs([space.decode(t) for t in with_v], tables, progress=False))
        first = per_choice[0]
        out[decision] = {
            label(choice): {
                m: round(float(np.median(np.array(c[m]) / np.array(first[m]))), 3) for m in c
            }
            for choice, c in zip(choices, per_choice)
        }
    return out


def int8_images(backend: str) -> dict:
    """int8 networks calibrate on Fashion-MNIST images, as a search's do (train.py)."""
    from training import calibration_images

    return {"images": calibration_images()} if backend == "executorch-int8" else {}


def run_on(summaries: list[dict], backend: str, rounds: int | None = None) -> dict:
    """Searched for one platform, run on another (Sec. 5): each search's best network and
    MobileNetV2 timed whole on `backend`, interleaved: {"ratios": {run: latency / MobileNetV2's},
    ...}."""
    from models import arch_from_dict, build_model, network_key

    archs = {r["run"]: arch_from_dict(r["best_arch"]) for r in summaries}
    first = {}  # network -> the first run that found it: timed once
    for run, arch in archs.items():
        first.setdefault(network_key(arch), run)
    nets = {run: build_model(archs[run]) for run in first.values()}
    got = latency.measure_interleaved({**nets,
                                       "mobilenetv2": build_model(REFERENCE_ARCHS["mobilenetv2"])},
                                      backend=backend, rounds=rounds, **int8_images(backend))
    ratios = {run: latency.ratio(got[run], got["mobilenetv2"]) for run in nets}
    return {"backend": backend, "mobilenetv2_ms": round(got["mobilenetv2"].median_ms, 3),
            "ratios": {run: round(ratios[first[network_key(a)]], 4) for run, a in archs.items()}}


def time_pairs(record: dict, out: Path, origin: dict, rounds: int | None = None) -> None:
    """`--time-pairs`: each latency's equal-MACs pair of `record` timed whole on its platform, the
    two networks interleaved; one record per platform appended to `out`, unless there already."""
    from models import build_model

    space = mnas.SearchSpace()
    for backend, pair in record["equal_macs"].items():
        tokens = [record["tokens"][i] for i in pair.get("pair", [])]
        if not tokens or any(
            r["backend"] == backend and r["tokens"] == tokens for r in records.load(out)
        ):
            continue
        started = time.time()
        print(f"{backend}: timing its equal-MACs pair whole", flush=True)
        fast, slow = (build_model(space.decode(t)) for t in tokens)
        got = latency.measure_interleaved({"fast": fast, "slow": slow}, backend=backend,
                                          rounds=rounds,
                                          **int8_images(backend))
        records.append(out, {"backend": backend, "tokens": tokens, "macs": pair["macs"],
                             "table_ratio": pair["latency_ratio"],
                             "timed_ms": [round(got["fast"].median_ms, 3),
                                          round(got["slow"].median_ms, 3)],
                             "timed_ratio": round(latency.ratio(got["slow"], got["fast"]), 3),
                             **records.provenance(started, origin)})


def searched(path: Path, out: Path, argv: list[str] | None, backends: tuple[str, ...] = BACKENDS,
             rounds: int | None = None) -> int:
    """`--searched`: run_on for every platform not yet recorded for these networks, each
    appended."""
    summaries = [r for r in records.load(path) if r.get("best_arch")]
    if not summaries:
        print(f"error: --searched {path}: no search summary with its best network (best_arch)",
              file=sys.stderr)
        return 2
    origin = records.origin(__file__, argv)
    networks = {r["run"]: r["best_arch"] for r in summaries}
    done = {r["backend"] for r in records.load(out) if r["networks"] == networks}
    for backend in backends:
        if backend not in done:
            started = time.time()
            print(f"{backend}: timing {len(networks)} searches' best networks and MobileNetV2",
                  flush=True)
            records.append(out, {"searched": str(path), "networks": networks,
                                 **run_on(summaries, backend, rounds),
                                 **records.provenance(started, origin)})
    for r in records.load(out):
        if r["networks"] == networks:
            print(
                f"run on {r['backend']:<16}"
                + "  ".join(f"{run} x{x:.2f}" for run, x in r["ratios"].items())
            )
    return 0


def retime_searched(path: Path, repeats: int, argv: list[str] | None,
                    backends: tuple[str, ...] = BACKENDS) -> int:
    """`--searched FILE --retime R`: the best network of every search in FILE that ran from
    committed code (a +dirty summary is left out: no claim rests on it), all timed together with
    MobileNetV2, R interleaved runs per platform (`table1.retime`), appended to
    <FILE's name>-timing.json."""
    import table1
    from models import arch_from_dict

    summaries = {r["run"]: r for r in records.finished(path) if r.get("run") and r.get("best_arch")}
    dirty = sorted({r.get("run") for r in records.load(path) if records.is_dirty(r)}
                   - set(summaries) - {None})
    if dirty:
        print(f"left out, +dirty until run again from a commit: {', '.join(dirty)}")
    if not summaries:
        print(f"error: --searched {path}: no search summary from committed code with its best "
              "network (best_arch)", file=sys.stderr)
        return 2
    archs = {run: arch_from_dict(r["best_arch"]) for run, r in summaries.items()}
    origin = records.origin(__file__, argv)
    print(f"timing {len(archs)} searches' best networks and MobileNetV2 together, {repeats} "
          f"times on each of {', '.join(backends)}", flush=True)
    out = table1.retime(path, archs, list(backends), repeats, origin,
                        {b: int8_images(b) for b in backends})
    got = records.load(out)[-1]
    for backend in backends:
        print(f"run on {backend:<16}" + "  ".join(
            f"{run} x{np.exp(np.mean(np.log(x))):.2f}" for run, x in got[backend].items()))
    print(f"-> {out}")
    return 0


def plot(record: dict, path: Path) -> None:
    """MACs against each latency, one panel per platform, the equal-MACs pair marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lats = [m for m in record["costs"] if m not in ("macs", "params")]
    fig, axes = plt.subplots(1, len(lats), figsize=(5 * len(lats), 4), squeeze=False)
    macs = record["costs"]["macs"]
    for ax, m in zip(axes[0], lats):
        lat = record["costs"][m]
        ax.scatter(macs, lat, s=6, alpha=0.5, label=f"{len(lat)} sampled networks")
        pair = record["equal_macs"].get(m)
        if pair:
            i, j = pair["pair"]
            ax.scatter([macs[i], macs[j]], [lat[i], lat[j]], s=40, color="C3",
                       label=f"MACs within 2%, latency x{pair['latency_ratio']:.2f}")
        ax.scatter([deployment_size(REFERENCE_ARCHS["mobilenetv2"])["macs"] / 1e6], [1.0],
                   marker="*", s=120,
                   color="k", label="MobileNetV2")
        rho = record["spearman"][f"macs/{m}"]
        ax.set(xlabel="M MACs (224 px)", ylabel=f"{m} latency / MobileNetV2's",
               title=f"{m}: Spearman {rho:.2f}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    latency.keep_freed_memory()  # as every program that times networks
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=500,
                   help="architectures sampled from the space (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", action="append", default=[],
                   help="a latency table (repeat: one per platform)")
    p.add_argument("--decision-archs", type=int, default=50,
                   help="networks (the first sampled) behind each decision's relative cost "
                   "(default 50)")
    p.add_argument("--plot", help="draw MACs against each latency into this image")
    p.add_argument("--time-pairs", action="store_true",
                   help="time each equal-MACs pair whole on its platform "
                   "(benchmarks/results/equal-macs.json)")
    p.add_argument("--searched",
                   help="time each search's best network in this summary file on every platform")
    p.add_argument("--retime", type=cli.at_least(2), metavar="R",
                   help="with --searched: time the committed searches' best networks together, R "
                   "interleaved runs per platform -> <FILE's name>-timing.json")
    p.add_argument("--out", help="default benchmarks/results/platforms.json, or with --searched "
                                  "benchmarks/results/cross-platform-latency.json")
    args = p.parse_args(argv)
    if args.retime and not args.searched:
        p.error("--retime times the best networks of --searched FILE: give it")
    if args.retime and args.out:
        p.error("--out: --retime appends to <FILE's name>-timing.json beside --searched FILE")
    if args.searched:
        if not Path(args.searched).is_file():
            p.error(f"--searched {args.searched}: no such file (python benchmarks/searches.py "
                    "cross-platform ...)")
        if args.retime:
            return retime_searched(Path(args.searched), args.retime, argv)
        return searched(Path(args.searched), Path(args.out or RUN_ON), argv)
    args.out = args.out or str(PLATFORMS)
    try:
        if args.samples < 20 or not 1 <= args.decision_archs <= args.samples:
            raise ValueError("--samples must be at least 20 (the fastest 10% needs a few "
                             "networks), "
                             "--decision-archs between 1 and --samples")
        tables = {}
        for path in args.table:
            try:
                table = latency_table.LatencyTable.load(path)
            except (OSError, ValueError, KeyError) as e:
                raise ValueError(f"--table {path}: cannot read a latency table ({e})") from None
            if table.backend in tables:
                raise ValueError(f"--table {path}: a second {table.backend} table")
            tables[table.backend] = table
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    origin, started = records.origin(__file__, argv), time.time()
    measures = ["macs", "params", *tables]
    done = next((r for r in records.load(args.out) if (r["samples"], r["seed"], r["measures"],
                                                       r.get("decision_archs")) ==
                 (args.samples, args.seed, measures, args.decision_archs)), None)
    if done is None:
        space, rng = mnas.SearchSpace(), random.Random(args.seed)
        tokens = [space.sample(rng) for _ in range(args.samples)]
        try:
            cost = costs([space.decode(t) for t in tokens], tables)
        except ValueError as e:  # a table built for another space or resolution
            print(f"error: {e}", file=sys.stderr)
            return 2
        done = {"samples": args.samples, "seed": args.seed, "measures": measures,
                "tables": {name: {"path": str(path), "reference_ms": t.reference_ms,
                                  **{k: v for k, v in t.info.items() if k != "calibration"}}
                           for (name, t), path in zip(tables.items(), args.table)},
                "tokens": tokens, "costs": {m: [round(x, 4) for x in c] for m, c in cost.items()},
                **agreement(cost),
                "decision_archs": args.decision_archs,
                "decision_costs": decision_costs(space, tokens[:args.decision_archs], tables),
                **records.provenance(started, origin)}
        records.append(args.out, done)
    else:
        print(f"{args.out}: these {args.samples} networks (seed {args.seed}) are recorded already")
    for pair, rho in done["spearman"].items():
        print(f"{pair:<28} Spearman {rho:+.3f}  Kendall {done['kendall'][pair]:+.3f}  "
              f"fastest 10% shared {done['fastest_overlap'][pair]:.0%}")
    for decision, by_choice in done.get("decision_costs", {}).items():
        print(
            f"{decision:<9}"
            + "  ".join(
                f"{choice}: " + " ".join(f"{m} x{r:.2f}" for m, r in cost.items())
                for choice, cost in by_choice.items()
            )
        )
    for m, pair in done["equal_macs"].items():
        if pair:
            print(f"{m}: MACs {pair['macs'][0]:.0f}M and {pair['macs'][1]:.0f}M, latency "
                  f"x{pair['latency_ratio']:.2f}")
    if args.time_pairs:
        # beside the record whose pairs it times
        pairs_out = Path(args.out).with_name(PAIRS_TIMED.name)
        time_pairs(done, pairs_out, origin)
        for r in records.load(pairs_out):
            print(f"{r['backend']}: the pair timed whole runs x{r['timed_ratio']:.2f} apart "
                  f"(table: x{r['table_ratio']:.2f})")
    if args.plot:
        plot(done, Path(args.plot))
        print(f"figure: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
