"""The deployment results' sections from their records: what int8 costs (benchmarks/int8.py) and
model scaling (Sec. 6.2, Fig. 5; benchmarks/scaling.py).

Each section is Markdown generated from benchmarks/results/*.json (a table, its provenance, a
reading), beside functions that return the raw numbers the readings rest on, so that the
project's verdict rule can be applied to them wherever it lives:

  int8_accuracy   per network: float and int8 test accuracy per training seed, paired on the
                  seed (the same trained weights, quantized); the difference in points, its 95%
                  interval and p from the paired t-test (scipy.stats.ttest_rel);
  int8_latency    per network: int8 / fp32 latency through ExecuTorch, one ratio per timing run,
                  its interval and p from a one-sample t-test on the log ratios;
  scaling_points  per network and width: test accuracies, params, MACs and latency ratios to
                  MobileNetV2 (width 1) on CPU and through ExecuTorch, from every timing run;
  a1_above        A1 against MobileNetV2's curve at A1's latency (interpolated in log latency).

`verdicts` applies a provisional rule to the comparisons of one page: "lower"/"higher" when p,
adjusted by Benjamini-Hochberg over the page (scipy.stats.false_discovery_control), is below
0.05; "equal within +-margin" when the 90% interval lies inside the margin (two one-sided
tests); else "undecided", with about how many seeds would decide a difference of the observed
size at 80% power (`pairs_needed`).

    python benchmarks/deploy_tables.py                       # print both sections
    python benchmarks/deploy_tables.py --figure docs/fig5.png  # and draw Fig. 5 from the records
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the flat modules of the root
import numpy as np  # noqa: E402

import cli  # noqa: E402
import records  # noqa: E402
from records import group, mean_range, provenance_line  # noqa: E402

NETWORKS = ("mnasnet-a1", "mobilenetv2")  # benchmarks/scaling.py's
ACCURACY_MARGIN = 0.5  # points: int8 "equal" to float within it
LATENCY_MARGIN = 0.05  # 5%: a latency ratio "equal" to 1 within it
ALPHA = 0.05
INT8_COMMANDS = ("python benchmarks/int8.py mnasnet-a1 mobilenetv2 reinforce-seed0/child-185 "
                 "reinforce-seed0/child-222 --epochs 5 --seeds 3 --threads 1", "... --time 3")
SCALING_COMMANDS = ("python benchmarks/scaling.py --epochs 5 --seeds 3 --widths 0.5 1.4 "
                    "--threads 1", "python benchmarks/scaling.py --time 3")


# ----------------------------------------------------------------------------- the tests


def paired(a: list[float], b: list[float], scale: float = 100.0) -> dict:
    """b - a paired on the replicate (a training seed), times `scale` (accuracy -> points): the
    differences, their mean, its 95% and 90% intervals and the paired t-test's p. With fewer
    than 2 pairs, the intervals and p are NaN."""
    from scipy import stats

    d = [scale * (y - x) for x, y in zip(a, b)]
    out = {"n": len(d), "differences": d, "mean": statistics.fmean(d) if d else math.nan}
    if len(d) < 2 or len(set(d)) == 1:  # no spread: t is undefined
        return out | {"ci95": (math.nan, math.nan), "ci90": (math.nan, math.nan), "p": math.nan,
                      "pairs_needed": None}
    test = stats.ttest_rel([scale * y for y in b], [scale * x for x in a])
    return out | {"ci95": tuple(map(float, test.confidence_interval(0.95))),
                  "ci90": tuple(map(float, test.confidence_interval(0.90))),
                  "p": float(test.pvalue),
                  "pairs_needed": pairs_needed(out["mean"], statistics.stdev(d))}


def pairs_needed(mean: float, sd: float, most: int = 200) -> int | None:
    """Pairs (seeds) for the paired t-test to find a difference of `mean` with differences of
    standard deviation `sd` at 80% power, two-sided 5%: the noncentral t's power, n by n."""
    from scipy import stats

    if not sd or not mean or not math.isfinite(sd):
        return None
    d = abs(mean) / sd
    for n in range(2, most + 1):
        t, nc = stats.t.ppf(1 - ALPHA / 2, n - 1), d * math.sqrt(n)
        if stats.nct.sf(t, n - 1, nc) + stats.nct.cdf(-t, n - 1, nc) >= 0.80:
            return n
    return None


def verdicts(comparisons: list[dict], margin: float, lower: str = "lower",
             higher: str = "higher") -> list[str]:
    """The provisional rule over one page's comparisons (`paired`'s dicts): BH-adjusted p below
    ALPHA -> `lower` or `higher` (by the sign of the mean); a 90% interval inside +-margin ->
    "equal within +-margin"; else "undecided"."""
    from scipy import stats

    ps = [c["p"] for c in comparisons]
    tested = [i for i, p in enumerate(ps) if not math.isnan(p)]
    adjusted = dict(zip(tested, stats.false_discovery_control([ps[i] for i in tested]))) \
        if tested else {}
    out = []
    for i, c in enumerate(comparisons):
        lo, hi = c["ci90"]
        if i in adjusted and adjusted[i] < ALPHA:
            out.append(lower if c["mean"] < 0 else higher)
        elif -margin < lo and hi < margin:
            out.append(f"equal within +-{margin:g}")
        else:
            need = c.get("pairs_needed")
            out.append(f"undecided (about {need} seeds would decide)" if need else "undecided")
    return out


# ----------------------------------------------------------------------------- int8


def int8_accuracy(results: Path) -> list[dict]:
    """Per network (records' order): its seeds, float, fp32 .pte and int8 .pte test accuracies,
    and `paired`(float, int8) in points."""
    rows = []
    for name, rs in group(records.load(results / "int8.json"), lambda r: r["name"]).items():
        rs = sorted(rs, key=lambda r: r["seed"])
        keys = ("float_accuracy", "fp32_accuracy", "int8_accuracy")
        fl, fp32, q = ([r[k] for r in rs] for k in keys)
        rows.append({"name": name, "seeds": [r["seed"] for r in rs], "float": fl, "fp32_pte": fp32,
                     "int8": q, "calibration": sorted({r["calibration"] for r in rs}),
                     **paired(fl, q)})
    return rows


def int8_latency(results: Path) -> list[dict]:
    """Per network: fp32 and int8 ms through ExecuTorch and int8 / fp32 per timing run, with
    `paired` on the log ratios (as a ratio: exp of the mean and of the interval's ends), and the
    CPUs' int8 features."""
    rs = records.load(results / "int8-timing.json")
    rows = []
    for name in dict.fromkeys(n for r in rs for n in r["networks"]):
        runs = [r for r in rs if name in r["networks"]]
        ratios = [r["int8_over_fp32"][name] for r in runs]
        test = paired([0.0] * len(ratios), [math.log(x) for x in ratios], scale=1.0)
        rows.append({"name": name, "fp32_ms": [r["median_ms"][f"{name}/fp32"] for r in runs],
                     "int8_ms": [r["median_ms"][f"{name}/int8"] for r in runs], "ratios": ratios,
                     "cpu_features": sorted({r["cpu_features"] for r in runs}),
                     "machines": sorted({r["machine"] for r in runs}), **test})
    return rows


def _interval(c: dict, fmt: str = "+.2f", exp: bool = False) -> str:
    f = math.exp if exp else (lambda v: v)
    lo, hi = c["ci95"]
    return "n/a" if math.isnan(lo) else f"[{format(f(lo), fmt)}, {format(f(hi), fmt)}]"


def int8_section(results: Path) -> str:
    """Two tables (accuracy per network with its verdict; latency) and the reading."""
    acc, lat = int8_accuracy(results), int8_latency(results)
    if not acc and not lat:
        return f"*(no record yet: `{INT8_COMMANDS[0]}`, then `{INT8_COMMANDS[1]}`)*\n"
    text = ""
    if acc:
        says = verdicts(acc, ACCURACY_MARGIN, "int8 lower", "int8 higher")
        text += ("| network | seeds | float (eager) | fp32 .pte | int8 .pte | int8 - float, points "
                 "| 95% interval | p (paired t) | verdict |\n" + "|---" * 9 + "|\n")
        text += "".join(
            f"| {c['name']} | {c['n']} | {mean_range(c['float'])} | {mean_range(c['fp32_pte'])} "
            f"| {mean_range(c['int8'])} | {c['mean']:+.2f} | {_interval(c)} | {c['p']:.3g} "
            f"| {v} |\n" for c, v in zip(acc, says))
        text += provenance_line(records.load(results / "int8.json"))
    if lat:
        says = verdicts(lat, math.log(1 + LATENCY_MARGIN), "int8 faster", "int8 slower")
        text += ("\n| network (224 px, 1000 classes) | runs | fp32 ms | int8 ms | int8 / fp32 "
                 "| 95% interval | p | verdict |\n|---|---|---|---|---|---|---|---|\n")
        text += "".join(
            f"| {c['name']} | {c['n']} | {mean_range(c['fp32_ms'], '.2f')} "
            f"| {mean_range(c['int8_ms'], '.2f')} | {math.exp(c['mean']):.3f}x "
            f"| {_interval(c, '.3f', exp=True)} | {c['p']:.3g} | {v} |\n"
            for c, v in zip(lat, says))
        text += provenance_line(records.load(results / "int8-timing.json"))
    return text + "\n" + int8_reading(acc, lat) + "\n"


def int8_reading(acc: list[dict], lat: list[dict]) -> str:
    """What the tables say, in words: the drop per network, any over 1 point, and int8's speed
    with the host's int8 instructions."""
    parts = []
    if acc:
        drops = ", ".join(f"{c['name']} {c['mean']:+.2f}" for c in acc)
        worst = min(acc, key=lambda c: c["mean"])
        parts.append(f"int8 against float test accuracy, in points (mean over seeds): {drops}. "
                     + (f"The largest drop, {worst['name']}'s {-worst['mean']:.2f} points, is over "
                        "1 point; this benchmark does not say why (per-channel weights, the "
                        "calibration's size, `--calibration N`, or the SE gate are candidates)."
                        if worst["mean"] < -1 else "No network loses more than 1 point."))
    if lat:
        ratios = ", ".join(f"{c['name']} {math.exp(c['mean']):.2f}x" for c in lat)
        features = "; ".join(sorted({f for c in lat for f in c["cpu_features"]}))
        parts.append(f"int8 / fp32 latency through ExecuTorch: {ratios}, on a CPU with {features}. "
                     "This holds on such hosts: without AVX-512 VNNI or AVX-VNNI, int8 can be "
                     "slower than fp32.")
    return "**Reading.** " + " ".join(parts)


# ----------------------------------------------------------------------------- scaling (Sec. 6.2)


def scaling_points(results: Path) -> dict[tuple[str, float], dict]:
    """{(network, width): accuracies over seeds, params, MACs, and its latency ratios to
    MobileNetV2 at width 1 and ms, one per timing run, per backend}."""
    points: dict[tuple[str, float], dict] = {}

    def point(name: str, width: float) -> dict:
        return points.setdefault((name, width), {"accuracy": [], "cpu": [], "executorch": [],
                                                 "cpu_ms": [], "executorch_ms": []})
    for r in records.load(results / "scaling.json"):
        p = point(r["name"], r["width_mult"])
        p["accuracy"].append(r["test_accuracy"])
        p |= {"params": r["params"], "macs": r["macs"]}
    for r in records.load(results / "scaling-timing.json"):
        for key, ratio in r["over_mobilenetv2"].items():
            name, width = key.rsplit("@", 1)
            p = point(name, float(width))
            p[r["backend"]].append(ratio)
            p[f"{r['backend']}_ms"].append(r["median_ms"][key])
            p |= r["sizes"].get(key, {})
    return dict(sorted(points.items()))


def a1_above(points: dict[tuple[str, float], dict], backend: str = "executorch",
             a: str = "mnasnet-a1", b: str = "mobilenetv2") -> list[dict]:
    """For each width of `a` with accuracy and latency: `b`'s accuracy at the same latency,
    interpolated linearly in log latency between `b`'s two nearest widths (None outside `b`'s
    range), and the difference in points (`a` above `b`'s curve where it is positive)."""
    def curve(name):
        return sorted((statistics.median(p[backend]), statistics.fmean(p["accuracy"]), w)
                      for (n, w), p in points.items() if n == name and p[backend] and p["accuracy"])
    ref, out = curve(b), []
    for lat, acc, w in curve(a):
        below = [c for c in ref if c[0] <= lat]
        above = [c for c in ref if c[0] >= lat]
        at = None
        if below and above:
            (x0, y0, _), (x1, y1, _) = below[-1], above[0]
            t = 0.0 if x1 == x0 else (math.log(lat) - math.log(x0)) / (math.log(x1) - math.log(x0))
            at = y0 + t * (y1 - y0)
        out.append({"width": w, "latency": lat, "accuracy": acc, "reference_at_latency": at,
                    "points_above": None if at is None else 100 * (acc - at)})
    return out


def scaling_section(results: Path) -> str:
    """The table (each network at each width: params, MACs, latency on CPU and through
    ExecuTorch, accuracy) and the reading."""
    points = scaling_points(results)
    if not points:
        return f"*(no record yet: `{SCALING_COMMANDS[0]}`, then `{SCALING_COMMANDS[1]}`)*\n"

    def cell(values, fmt=".3f", unit=""):
        return f"{mean_range(values, fmt)}{unit}" if values else "-"
    text = ("| network | width | params | MACs | CPU latency / MobileNetV2 | ExecuTorch fp32 / "
            "MobileNetV2 | ExecuTorch ms | test accuracy (seeds) |\n" + "|---" * 8 + "|\n")
    text += "".join(
        f"| {n} | {w:g} | {p.get('params', 0) / 1e6:.2f}M | {p.get('macs', 0) / 1e6:.0f}M "
        f"| {cell(p['cpu'], unit='x')} | {cell(p['executorch'], unit='x')} "
        f"| {cell(p['executorch_ms'], '.2f')} "
        f"| {cell(p['accuracy'], '.4f')} ({len(p['accuracy'])}) |\n"
        for (n, w), p in points.items())
    for name in ("scaling.json", "scaling-timing.json"):
        if records.load(results / name):
            text += provenance_line(records.load(results / name))
    timings = records.load(results / "scaling-timing.json")
    hosts = "; ".join(sorted({f"{r['machine']} ({r.get('cpu_features', 'features not recorded')})"
                              for r in timings}))
    return (text + "\n" + scaling_reading(a1_above(points))
            + (f" Timed on {hosts}; the curves' latencies hold for such hosts." if hosts else "")
            + "\n")


def scaling_reading(above: list[dict]) -> str:
    """Whether A1's curve lies above MobileNetV2's, width by width."""
    judged = [c for c in above if c["points_above"] is not None]
    if not judged:
        return ("**Reading.** Not enough points yet to compare the curves: A1's latencies must "
                "fall within MobileNetV2's, both trained.")
    each = "; ".join(f"width {c['width']:g}: {c['points_above']:+.2f} points" for c in judged)
    where = sum(c["points_above"] > 0 for c in judged)
    whole = ("above MobileNetV2's curve at every width compared" if where == len(judged) else
             "below it at every width compared" if where == 0 else
             f"above it at {where} of {len(judged)} widths")
    return (f"**Reading.** At the same ExecuTorch latency, A1 against MobileNetV2's curve "
            f"(interpolated in log latency): {each}. A1's curve lies {whole} (mean accuracies; "
            "the seeds' spread is in the table).")


def scaling_figure(results: Path, out: Path) -> Path:
    """Fig. 5's kind: test accuracy against ExecuTorch latency (ratio to MobileNetV2 at width
    1), one curve per network, each point a width (the mean and the range of its seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = scaling_points(results)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name in dict.fromkeys(n for n, _ in points):
        got = [(statistics.median(p["executorch"]), p["accuracy"], w)
               for (n, w), p in points.items() if n == name and p["executorch"] and p["accuracy"]]
        if not got:
            continue
        x = [g[0] for g in got]
        y = np.array([statistics.fmean(g[1]) for g in got])
        err = [y - [min(g[1]) for g in got], [max(g[1]) for g in got] - y]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        for xi, yi, (_, _, w) in zip(x, y, got):
            ax.annotate(f"{w:g}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set(xscale="log", xlabel="ExecuTorch fp32 latency / MobileNetV2 (224 px, 1 thread)",
           ylabel="test accuracy", title="Model scaling (Fig. 5): width multipliers")
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(records.RESULTS))
    p.add_argument("--figure", metavar="PNG", help="also draw the scaling figure (Fig. 5) there")
    args = p.parse_args(argv)
    results = Path(args.results)
    print(f"## int8\n\n{int8_section(results)}\n## scaling\n\n{scaling_section(results)}")
    if args.figure:
        print(f"figure: {scaling_figure(results, Path(args.figure))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
