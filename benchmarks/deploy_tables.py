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
  a1_above        A1 against MobileNetV2's curve at A1's latency (interpolated in log latency),
                  with its test (`verdicts.against_curve`).

Each comparison is judged by the results pages' one rule (benchmarks/verdicts.py), paired:
float and int8 come from the same trained weights, fp32 and int8 latency from the same timing run
(`verdicts.paired`, the paired t-test), corrected with the page's other verdicts.

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
import verdicts  # noqa: E402
from models import REFERENCE_ARCHS, arch_to_dict  # noqa: E402
from records import group, mean_range, provenance_line  # noqa: E402
from search_tables import committed, machines_note  # noqa: E402

NETWORKS = ("mnasnet-a1", "mobilenetv2")  # benchmarks/scaling.py's
INT8_NETWORKS = "mnasnet-a1 mobilenetv2 reinforce-seed0/child-185 reinforce-seed0/child-222"
INT8_COMMANDS = (f"python benchmarks/int8.py {INT8_NETWORKS} --epochs 5 --seeds 3 --threads 1",
                 f"python benchmarks/int8.py {INT8_NETWORKS} --time 3")
SCALING_EPOCHS = 5.0  # the training length of every point on one curve
SCALING_COMMANDS = (f"python benchmarks/scaling.py --epochs {SCALING_EPOCHS:g} --seeds 3 --widths "
                    "0.5 1.4 --threads 1", "python benchmarks/scaling.py --time 3")


# ----------------------------------------------------------------------------- int8


def int8_accuracy(results: Path) -> list[dict]:
    """Per network (records' order): its seeds, float, fp32 .pte and int8 .pte test accuracies,
    and the paired test of int8 against float on the training seed (`test`)."""
    rows = []
    kept = committed(records.load(results / "int8.json"))[0][0]  # no verdict on +dirty records
    settings = group(kept, lambda r: (r["name"], r["epochs"], r["calibration"]))
    names = [name for name, _, _ in settings]
    for (name, epochs, calibration), rs in settings.items():
        # one record a seed: the last
        rs = list({r["seed"]: r for r in sorted(rs, key=lambda r: r["seed"])}.values())
        keys = ("float_accuracy", "fp32_accuracy", "int8_accuracy")
        fl, fp32, q = ([r[k] for r in rs] for k in keys)
        label = (name if names.count(name) == 1
                 else f"{name} ({epochs:g} epochs, {calibration} images)")
        rows.append({"name": label, "seeds": [r["seed"] for r in rs], "float": fl, "fp32_pte": fp32,
                     "int8": q, "calibration": [calibration],
                     "test": verdicts.paired("int8 - float test accuracy", q, fl, verdicts.ACCURACY,
                                             "training seeds", machines_note(rs))})
    return rows


def int8_latency(results: Path) -> list[dict]:
    """Per network: fp32 and int8 ms through ExecuTorch and int8 / fp32 per timing run, the paired
    test of int8 against fp32 on the timing run (on logs: a ratio), and the CPUs' int8
    features."""
    rs = committed(records.load(results / "int8-timing.json"))[0][0]
    rows = []
    for name in dict.fromkeys(n for r in rs for n in r["networks"]):
        runs = [r for r in rs if name in r["networks"]]
        ratios = [r["int8_over_fp32"][name] for r in runs]
        # the run's ratio is the median of its interleaved rounds (latency.ratio): as the pair
        test = verdicts.paired("int8 / fp32 latency", ratios, [1.0] * len(ratios),
                               verdicts.LATENCY, "timing runs", machines_note(runs))
        rows.append({"name": name, "fp32_ms": [r["median_ms"][f"{name}/fp32"] for r in runs],
                     "int8_ms": [r["median_ms"][f"{name}/int8"] for r in runs], "ratios": ratios,
                     "cpu_features": sorted({r["cpu_features"] for r in runs}),
                     "machines": sorted({r["machine"] for r in runs}), "test": test})
    return rows


def int8_section(results: Path, page: verdicts.Page | None = None) -> str:
    """Two tables (accuracy per network with its verdict; latency) and the reading."""
    acc, lat = int8_accuracy(results), int8_latency(results)
    if not acc and not lat:
        return f"*(no record yet: `{INT8_COMMANDS[0]}`, then `{INT8_COMMANDS[1]}`)*\n"

    def dirty_note(name: str) -> str:  # the records the table shows in provenance only
        n = sum(map(records.is_dirty, records.load(results / name)))
        return f"*{n} +dirty record{'s' * (n > 1)} in {name} left out of the table and its " \
               "verdicts.*\n" if n else ""

    def text(page: verdicts.Page) -> str:
        out = ""
        if acc:
            out += ("| network | seeds | float (eager) | fp32 .pte | int8 .pte "
                    "| int8 - float, points | verdict (paired on the seed) |\n"
                    + "|---" * 7 + "|\n")
            out += "".join(
                f"| {c['name']} | {len(c['seeds'])} | {mean_range(c['float'])} "
                f"| {mean_range(c['fp32_pte'])} | {mean_range(c['int8'])} "
                f"| {100 * c['test'].estimate:+.2f} "
                f"| {page.say('int8:' + c['name'] + ':acc', c['test'])} |\n"
                for c in acc)
            out += provenance_line(records.load(results / "int8.json")) + dirty_note("int8.json")
        if lat:
            out += ("\n| network (224 px, 1000 classes) | runs | fp32 ms | int8 ms | int8 / fp32 "
                    "| verdict (paired on the run) |\n|---|---|---|---|---|---|\n")
            out += "".join(
                f"| {c['name']} | {len(c['ratios'])} | {mean_range(c['fp32_ms'], '.2f')} "
                f"| {mean_range(c['int8_ms'], '.2f')} | {math.exp(c['test'].estimate):.3f}x "
                f"| {page.say('int8:' + c['name'] + ':latency', c['test'])} |\n" for c in lat)
            out += (provenance_line(records.load(results / "int8-timing.json"))
                    + dirty_note("int8-timing.json"))
        return out + "\n" + int8_reading(acc, lat) + "\n"

    return verdicts.on_page(page, text)


def int8_reading(acc: list[dict], lat: list[dict]) -> str:
    """What the tables show, in words (the verdicts are in the tables): the drop per network, any
    over 1 point, and int8's speed with the host's int8 instructions."""
    parts = []
    if acc:
        drop = {c["name"]: 100 * c["test"].estimate for c in acc}  # int8 - float, points
        worst = min(drop, key=drop.get)
        parts.append("int8 against float test accuracy, in points (mean over seeds): "
                     + ", ".join(f"{n} {d:+.2f}" for n, d in drop.items()) + ". "
                     + (f"The largest drop, {worst}'s {-drop[worst]:.2f} points, is over 1 point; "
                        "this benchmark does not say why (per-channel weights, the calibration's "
                        "size, `--calibration N`, or the SE gate are candidates)."
                        if drop[worst] < -1 else "No network's mean loses more than 1 point "
                        "(the verdicts above say which differences the seeds decide)."))
    if lat:
        ratios = ", ".join(f"{c['name']} {math.exp(c['test'].estimate):.2f}x" for c in lat)
        features = "; ".join(sorted({f for c in lat for f in c["cpu_features"]}))
        parts.append(f"int8 / fp32 latency through ExecuTorch: {ratios}, on a CPU with {features}; "
                     "these ratios hold for hosts with those int8 instructions. Without them, int8 "
                     "was reported slower than fp32 (MobileNetV2 12.1 ms against 11.4 ms on a host "
                     "with no AVX-512 and no VNNI); no such host was measured here.")
    return "**Reading.** " + " ".join(parts)


# ----------------------------------------------------------------------------- scaling (Sec. 6.2)


def scaling_points(results: Path, epochs: float = SCALING_EPOCHS) -> dict[tuple[str, float], dict]:
    """{(network, width): accuracies over seeds (trained for `epochs`: one curve, one training
    length), params, MACs, and its latency ratios to MobileNetV2 at width 1 and ms, one per timing
    run, per backend}."""
    points: dict[tuple[str, float], dict] = {}

    def point(name: str, width: float) -> dict:
        return points.setdefault((name, width), {"accuracy": [], "cpu": [], "executorch": [],
                                                 "cpu_ms": [], "executorch_ms": []})
    trained = scaling_trained(results, epochs)
    for r in trained:
        p = point(r["name"], r["width_mult"])
        p["accuracy"].append(r["test_accuracy"])
        p |= {"params": r["params"], "macs": r["macs"]}
    for name, accuracy, _ in width_one(results, trained):
        point(name, 1.0)["accuracy"].append(accuracy)
    for r in records.finished(results / "scaling-timing.json"):
        for key, ratio in r["over_mobilenetv2"].items():
            name, width = key.rsplit("@", 1)
            p = point(name, float(width))
            p[r["backend"]].append(ratio)
            p[f"{r['backend']}_ms"].append(r["median_ms"][key])
            p |= r["sizes"].get(key, {})
    return dict(sorted(points.items()))


def scaling_trained(results: Path, epochs: float = SCALING_EPOCHS) -> list[dict]:
    """scaling.json's trainings of `epochs`, from committed code only (no verdict rests on a
    +dirty record), one record a (network, width, seed): the last."""
    return list({(r["name"], r["width_mult"], r["seed"]): r
                 for r in records.finished(results / "scaling.json")
                 if r["epochs"] == epochs}.values())


def width_one(results: Path, trained: list[dict]) -> list[tuple[str, float, dict]]:
    """Each network at width 1 where scaling.json did not train it, as (network, test accuracy,
    record): the same training (final recipe, the same epochs and data, the reference
    architecture) recorded by the int8 benchmark (its float accuracy), Table 1 (MobileNetV2) or
    Table 6 (MnasNet-A1), from committed code, one record a seed. A network's seeds come from one
    file, the one with the most: a seed trained on another CPU is not the same training (its
    kernels round differently, and the runs part), nor quite another one (the same start and
    order of batches)."""
    have = {(r["name"], r["width_mult"]) for r in trained}
    setups = {(r["epochs"], r["dataset"], r["device"]) for r in trained}
    sources = {"mobilenetv2": (("int8.json", "float_accuracy"), ("table1.json", "test_accuracy")),
               "mnasnet-a1": (("int8.json", "float_accuracy"), ("table6.json", "test_accuracy"))}
    out = []
    for name, files in sources.items():
        if (name, 1.0) in have:
            continue
        found = []  # per file: {seed: (name, accuracy, record)}
        for file, field in files:
            found.append({r["seed"]: (name, r[field], r) for r in records.load(results / file)
                          if r["name"] == name and not records.is_dirty(r)
                          and r.get("recipe") == "final"
                          and (r["epochs"], r["dataset"], r["device"]) in setups
                          and r.get("arch") == arch_to_dict(REFERENCE_ARCHS[name])})
        seeds = max(found, key=len)  # the first of the largest
        out += [seeds[s] for s in sorted(seeds)]
    return out


def a1_above(points: dict[tuple[str, float], dict], backend: str = "executorch",
             a: str = "mnasnet-a1", b: str = "mobilenetv2") -> list[dict]:
    """For each width of `a` with accuracy and latency: `b`'s accuracy at the same latency,
    interpolated linearly in log latency between `b`'s two nearest widths (None outside `b`'s
    range), the difference in points (`a` above `b`'s curve where it is positive), and its test
    (`verdicts.against_curve`: `a`'s training seeds against the two widths' seeds, weighted as
    the interpolation weights them)."""
    def curve(name):
        return sorted((statistics.median(p[backend]), p["accuracy"], w)
                      for (n, w), p in points.items() if n == name and p[backend] and p["accuracy"])
    ref, out = curve(b), []
    for lat, accs, w in curve(a):
        below = [c for c in ref if c[0] <= lat]
        above = [c for c in ref if c[0] >= lat]
        at, test = None, None
        if below and above:
            (x0, y0, w0), (x1, y1, w1) = below[-1], above[0]
            t = 0.0 if x1 == x0 else (math.log(lat) - math.log(x0)) / (math.log(x1) - math.log(x0))
            at = (1 - t) * statistics.fmean(y0) + t * statistics.fmean(y1)
            test = verdicts.against_curve(
                f"{a} at width {w:g}, test accuracy against {b}'s curve at its {backend} latency "
                f"(widths {w0:g} and {w1:g}, weights {1 - t:.2f} and {t:.2f})", accs,
                [(1 - t, y0), (t, y1)], verdicts.ACCURACY, "training seeds")
        out.append({"width": w, "latency": lat, "accuracy": statistics.fmean(accs),
                    "reference_at_latency": at,
                    "points_above": None if at is None else 100 * (statistics.fmean(accs) - at),
                    "test": test})
    return out


def scaling_section(results: Path, page: verdicts.Page | None = None) -> str:
    """The table (each network at each width: params, MACs, latency on CPU and through
    ExecuTorch, accuracy) and the reading: at each A1 width, A1 against MobileNetV2's curve,
    tested and corrected with the rest of `page`."""
    points = scaling_points(results)
    if not points:
        return f"*(no record yet: `{SCALING_COMMANDS[0]}`, then `{SCALING_COMMANDS[1]}`)*\n"

    def cell(values, fmt=".3f", unit=""):
        return f"{mean_range(values, fmt)}{unit}" if values else "-"

    def size(p, key, fmt):  # params or MACs, in millions; "-" until a record gives them
        return f"{p[key] / 1e6:{fmt}}M" if key in p else "-"
    text = ("| network | width | params | MACs | CPU latency / MobileNetV2 | ExecuTorch fp32 / "
            "MobileNetV2 | ExecuTorch ms | test accuracy (seeds) |\n" + "|---" * 8 + "|\n")
    text += "".join(
        f"| {n} | {w:g} | {size(p, 'params', '.2f')} | {size(p, 'macs', '.0f')} "
        f"| {cell(p['cpu'], unit='x')} | {cell(p['executorch'], unit='x')} "
        f"| {cell(p['executorch_ms'], '.2f')} "
        f"| {cell(p['accuracy'], '.4f')} ({len(p['accuracy'])}) |\n"
        for (n, w), p in points.items())
    for name in ("scaling.json", "scaling-timing.json"):
        if records.load(results / name):
            text += provenance_line(records.load(results / name))
    borrowed = [r for _, _, r in width_one(results, scaling_trained(results))]
    if borrowed:
        text += ("\nWidth 1's accuracies, where scaling.json has none: the same trainings recorded "
                 "elsewhere (`width_one`): " + provenance_line(borrowed))
    timings = records.load(results / "scaling-timing.json")
    hosts = "; ".join(sorted({f"{r['machine']} ({r.get('cpu_features', 'features not recorded')})"
                              for r in timings}))
    return (text + "\n" + verdicts.on_page(page, lambda pg: scaling_reading(a1_above(points), pg))
            + (f" Timed on {hosts}; the curves' latencies hold for such hosts." if hosts else "")
            + "\n")


def scaling_reading(above: list[dict], page: verdicts.Page) -> str:
    """Whether A1's curve lies above MobileNetV2's, width by width, each by the page's rule."""
    judged = [c for c in above if c["test"] is not None]
    if not judged:
        return ("**Reading.** Not enough points yet to compare the curves: A1's latencies must "
                "fall within MobileNetV2's, both trained.")
    keys = [f"scaling:a1@{c['width']:g}:above-mobilenetv2" for c in judged]
    each = "; ".join(f"at width {c['width']:g}, {c['points_above']:+.2f} points: "
                     + page.say(key, c["test"]) for c, key in zip(judged, keys))

    def whole(got: dict[str, verdicts.Verdict | None]) -> str:
        outcomes = [v.outcome for v in got.values() if v]
        words = {"higher": "above MobileNetV2's curve", "lower": "below MobileNetV2's curve",
                 "equal": "on MobileNetV2's curve (within ±0.5 points)",
                 "undecided": "undecided"}
        if len(set(outcomes)) == 1:
            where = "at the one width compared" if len(outcomes) == 1 else "at every width compared"
            return f"{words[outcomes[0]]} {where}" if outcomes[0] != "undecided" else (
                f"neither above nor below it by the rule {where}")
        return "; ".join(f"{words[o]} at {outcomes.count(o)} of {len(outcomes)} widths compared"
                         for o in words if o in outcomes)
    return (f"**Reading.** At the same ExecuTorch latency, A1 against MobileNetV2's curve "
            f"(its accuracy interpolated in log latency between its two nearest widths): {each}. "
            f"A1's curve lies {page.compose(keys, whole)}, by the page's rule on training seeds "
            "(the latencies that place the points are taken as known).")


def scaling_figure(results: Path, out: Path) -> Path:
    """Fig. 5's kind: test accuracy against ExecuTorch latency (ratio to MobileNetV2 at width
    1), one curve per network, each point a width (the mean and the range of its seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {}  # network: [(latency, accuracies, width)], the points both trained and timed
    for (name, w), p in scaling_points(results).items():
        if p["executorch"] and p["accuracy"]:
            latency = statistics.median(p["executorch"])
            curves.setdefault(name, []).append((latency, p["accuracy"], w))
    if not curves:
        raise ValueError(f"no point is both trained and timed yet in {results}: run "
                         f"`{SCALING_COMMANDS[0]}`, then `{SCALING_COMMANDS[1]}`")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, got in curves.items():
        x = [g[0] for g in got]
        y = np.array([statistics.fmean(g[1]) for g in got])
        err = [y - [min(g[1]) for g in got], [max(g[1]) for g in got] - y]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        for xi, yi, (_, _, w) in zip(x, y, got):
            ax.annotate(f"{w:g}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set(xscale="log", xlabel="ExecuTorch fp32 latency / MobileNetV2 (224 px, 1 thread)",
           ylabel="test accuracy", title="Model scaling (Fig. 5): width multipliers")
    ratio = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x")  # 0.5x, not 5 x 10^-1
    ax.xaxis.set_major_formatter(ratio)
    ax.xaxis.set_minor_formatter(ratio)
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
        try:
            print(f"figure: {scaling_figure(results, Path(args.figure))}")
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
