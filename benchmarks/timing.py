"""How far can latency on this machine be trusted? (MnasNet Sec. 5: real latency instead of FLOPs.)

Four reports, each a figure with its target on this project's shared 2-core machine:
  (a) stability  the same network measured `--repeats` times back to back: the spread of the
                 reported medians, (max - min) / median. Target <= 3%. Also shown: the spread of the
                 same network's ratio to the reference (MobileNetV2) timed interleaved with it,
                 which is what the table and every comparison rely on.
  (b) fidelity   our mnasnet-b1 vs torchvision's mnasnet1_0 and our mobilenetv2 vs torchvision's
                 mobilenet_v2 (the same networks), all four timed interleaved. Target: ratios in
                 0.95-1.05.
  (c) table      a per-layer table's prediction vs whole-network measurement on `--samples` random
                 architectures of the search space (both in the table's build-time units, the drift
                 cancelled by the reference timed alongside). Targets: >= 95% within +-10% and
                 Spearman >= 0.95 (nn-Meter reports 99.0% within +-10% on a Pixel 4 CPU).
  (d) detector   Sec. 6.3's SSDLite detectors (backbone + head, 320 px, 91 classes) on MnasNet-A1
                 and MobileNetV2, timed interleaved `--repeats` times: their ratio (the paper:
                 203/200 ms).
A benchmark reports; it is not a test. Parts (a), (b) and (d) are appended, with provenance and the
machine's load (1-minute load average at the start), to benchmarks/results/timing.json, part (c) to
benchmarks/results/latency_tables.json (the latency page's tables); (c) needs a table, built once
(tens of minutes; hours through ExecuTorch), and checks it on the table's own platform:

    nohup python latency_table.py --build-table runs/latency_table_cpu.json >
    runs/build_table_cpu.log 2>&1 &
    python benchmarks/timing.py [--part all|stability|fidelity|table|detector] \
           [--table runs/latency_table_cpu.json]
                                 [--samples 100] [--repeats 5] [--rounds N] [--backend
                                 cpu|executorch]
    python benchmarks/timing.py --part table --table runs/latency_table_et.json --samples 40
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

# flat modules live in the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import cli  # noqa: E402
import latency  # noqa: E402
import latency_table  # noqa: E402
import records  # noqa: E402
from models import REFERENCE, REFERENCE_ARCHS, build_model  # noqa: E402

TABLES = records.RESULTS / "latency_tables.json"
TIMING = records.RESULTS / "timing.json"


def spread(values: list[float]) -> float:
    """(max - min) / median, in %."""
    return 100 * (max(values) - min(values)) / sorted(values)[len(values) // 2]


def stability(backend: str, threads: int, repeats: int, rounds: int | None,
              arch: str) -> tuple[str, dict]:
    model, ref = build_model(arch), build_model(REFERENCE)
    medians = []
    for i in range(repeats):
        m = latency.measure(model, 224, threads, backend, rounds=rounds)
        medians.append(m.median_ms)
        print(f"  repeat {i + 1}: median {m.median_ms:.2f} ms  iqr {m.iqr_ms:.2f} ms  "
              f"({len(m.samples)} samples)")
    ratios = []
    for i in range(repeats):
        got = latency.measure_interleaved({"model": model, "reference": ref}, 224, threads, backend,
                                          rounds=rounds)
        ratios.append(latency.ratio(got["model"], got["reference"]))
        print(f"  repeat {i + 1}, interleaved: {arch} {got['model'].median_ms:.2f} ms  {REFERENCE} "
              f"{got['reference'].median_ms:.2f} ms  ratio {ratios[-1]:.4f}")
    record = {"arch": arch, "medians_ms": [round(m, 3) for m in medians],
              "spread_pct": round(spread(medians), 2),
              "ratios": [round(r, 4) for r in ratios], "ratio_spread_pct": round(spread(ratios), 2)}
    ok = "PASS" if record["spread_pct"] <= 3 else "MISS"
    return (f"stability: {arch} {repeats} repeats, spread of medians {record['spread_pct']:.1f}% "
            f"(target <= 3%) {ok}; "
            f"spread of its ratio to {REFERENCE} {record['ratio_spread_pct']:.1f}%"), record


def fidelity(backend: str, threads: int, rounds: int | None) -> tuple[str, dict]:
    import torchvision

    models = {"ours mnasnet-b1": build_model("mnasnet-b1"),
              "torchvision mnasnet1_0": torchvision.models.mnasnet1_0(),
              "ours mobilenetv2": build_model("mobilenetv2"),
              "torchvision mobilenet_v2": torchvision.models.mobilenet_v2()}
    got = latency.measure_interleaved(models, 224, threads, backend, rounds=rounds or 60)
    for name, m in got.items():
        print(f"  {name:<26} median {m.median_ms:.2f} ms  iqr {m.iqr_ms:.2f} ms  "
              f"({len(m.samples)} samples)")
    # per-round ratios' median
    r1 = latency.ratio(got["ours mnasnet-b1"], got["torchvision mnasnet1_0"])
    r2 = latency.ratio(got["ours mobilenetv2"], got["torchvision mobilenet_v2"])
    ok = "PASS" if all(0.95 <= r <= 1.05 for r in (r1, r2)) else "MISS"
    record = {"medians_ms": {name: round(m.median_ms, 3) for name, m in got.items()},
              "ratios": {"mnasnet-b1/mnasnet1_0": round(r1, 4),
                         "mobilenetv2/mobilenet_v2": round(r2, 4)}}
    return (
        (
            f"fidelity: mnasnet-b1/mnasnet1_0 = {r1:.3f}, mobilenetv2/mobilenet_v2 = {r2:.3f}"
            f" (target 0.95-1.05) {ok}"
        ),
        record,
    )


def detector(backend: str, threads: int, repeats: int, rounds: int | None) -> tuple[str, dict]:
    from detection import DetectorCore, build_detector

    cores = {arch: DetectorCore(build_detector(arch, input_size=320)) for arch in ("mnasnet-a1",
                                                                                   REFERENCE)}
    medians, ratios = {arch: [] for arch in cores}, []
    for i in range(repeats):
        got = latency.measure_interleaved(cores, 320, threads, backend, rounds=rounds)
        for arch, m in got.items():
            medians[arch].append(round(m.median_ms, 3))
        ratios.append(round(latency.ratio(got["mnasnet-a1"], got[REFERENCE]), 4))
        print(
            f"  repeat {i + 1}: "
            + "  ".join(f"{a} + ssdlite {m.median_ms:.2f} ms" for a, m in got.items())
            + f"  ratio {ratios[-1]:.4f}"
        )
    return (f"detector: mnasnet-a1 / {REFERENCE} with SSDLite, 320 px: ratio "
            f"{min(ratios):.3f}-{max(ratios):.3f} "
            f"(the paper: 203/200 = 1.015)"), {"medians_ms": medians, "ratios": ratios}


def table_accuracy(path: str, samples: int, rounds: int | None, seed: int) -> tuple[str, dict]:
    """A table's predictions against whole networks measured on its platform: the summary line and
    the record."""
    from mnas import SearchSpace

    table = latency_table.LatencyTable.load(path)
    print(f"  {path}: {table.backend}, {table.threads} thread(s), {table.input_size} px, "
          f"{len(table.layers)} entries, "
          f"reference {table.reference_ms:.2f} ms, fit a={table.fit[0]:.4f} b={table.fit[1]:.3f} "
          f"ms, built {table.info.get('created')}")
    space, rng = SearchSpace(), random.Random(seed)
    archs = [space.decode(space.sample(rng)) for _ in range(samples)]
    r = latency_table.check_table(table, archs, rounds)
    err = sorted((p / m - 1 for p, m in zip(r["predicted"], r["measured"])), key=abs)
    print(f"  measured {min(r['measured']):.1f}-{max(r['measured']):.1f} ms; error median "
          f"{100 * abs(err[len(err) // 2]):.1f}%, "
          f"95th percentile {100 * abs(err[int(0.95 * (len(err) - 1))]):.1f}%, worst "
          f"{100 * err[-1]:+.1f}%")
    ok = "PASS" if r["within10"] >= 95 and r["spearman"] >= 0.95 else "MISS"
    record = {"table": path, "backend": table.backend, "threads": table.threads,
              "input_size": table.input_size,
              "entries": len(table.layers), "samples": samples, "seed": seed,
              # when a and b were re-fitted (None: at the build's end)
              "fitted": table.info.get("calibrated"),
              **{k: round(r[k], 4) for k in ("within10", "mape", "spearman")},
              "worst_error_pct": round(100 * err[-1], 2),
              "predicted_ms": [round(x, 3) for x in r["predicted"]],
              "measured_ms": [round(x, 3) for x in r["measured"]]}
    return (f"table: within10={r['within10']:.1f}% mape={r['mape']:.2f}% "
            f"spearman={r['spearman']:.4f} on {samples} "
            f"architectures (targets >= 95%, >= 0.95) {ok}"), record


def main(argv: list[str] | None = None) -> int:
    latency.keep_freed_memory()  # as every program that times networks
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("all", "stability", "fidelity", "table", "detector"),
                   default="all")
    p.add_argument("--backend", choices=("cpu", "executorch"), default="cpu")
    p.add_argument("--threads", type=cli.at_least(1), default=1)
    p.add_argument("--rounds", type=cli.at_least(1), default=None,
                   help="samples per network (default: latency.py's)")
    p.add_argument("--repeats", type=cli.at_least(2), default=5)
    p.add_argument("--arch", default="mnasnet-b1", choices=REFERENCE_ARCHS,
                   help="the network of the stability report")
    p.add_argument("--table", default="runs/latency_table_cpu.json")
    p.add_argument("--samples", type=cli.at_least(3), default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(TABLES), help="where part (c) appends its record")
    p.add_argument("--timing-out", default=str(TIMING),
                   help="where parts (a), (b) and (d) append theirs")
    args = p.parse_args(argv)
    if args.part in ("all", "table") and not Path(args.table).exists():
        p.error(f"{args.table} does not exist: build it with python latency_table.py "
                f"--build-table {args.table}")
    origin = records.origin(__file__, argv)
    summary = []
    for part in ("stability", "fidelity", "table", "detector"):
        if args.part not in ("all", part):
            continue
        print(f"({'abcd'['stability fidelity table detector'.split().index(part)]}) {part}")
        start, started, load = time.perf_counter(), time.time(), os.getloadavg()[0]
        if part == "table":
            line, record = table_accuracy(args.table, args.samples, args.rounds, args.seed)
            records.append(args.out, {**record, **records.provenance(started, origin)})
        else:
            line, record = (stability(args.backend, args.threads, args.repeats, args.rounds,
                                      args.arch)
                            if part == "stability" else fidelity(args.backend, args.threads,
                                                                 args.rounds)
                            if part == "fidelity" else detector(args.backend, args.threads,
                                                                args.repeats, args.rounds))
            records.append(args.timing_out,
                           {"part": part, "backend": args.backend, "threads": args.threads,
                            "load": round(load, 2), **record,
                            **records.provenance(started, origin)})
        summary.append(f"{line} [{time.perf_counter() - start:.0f} s]")
    print("\n".join(["", "summary:"] + summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
