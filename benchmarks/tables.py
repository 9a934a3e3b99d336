"""The results pages' tables from the benchmark results files, so that no page disagrees \
with the data.

Each table is a function of benchmarks/results/*.json returning Markdown (the search experiments'
are in search_tables.py). A page (README.md, docs/*.md) marks where each one goes with a pair of
comments, and this script rewrites what is between them:

    <!-- table:panel -->
    ...generated...
    <!-- /table:panel -->

    python benchmarks/tables.py            # print every table
    python benchmarks/tables.py --write    # rewrite the marked tables of README.md and docs/*.md
    python benchmarks/tables.py --check    # exit 1, naming each table that differs from the files
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# flat modules live in the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402

import cli  # noqa: E402
import records  # noqa: E402
import deploy_tables  # noqa: E402
import search_tables  # noqa: E402
import verdicts  # noqa: E402
from models import REFERENCE_ARCHS  # noqa: E402
from records import group, provenance_line  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _by_name(rs: list[dict]) -> dict[str, list[dict]]:
    """A trained network's records (one per seed), by its name."""
    return group(rs, lambda r: r["name"])


def panel_table(results: Path, page: verdicts.Page | None = None) -> str:
    """The reference panel: one row per member, test accuracy per seed."""
    rs = [r for r in records.load(results / "panel.json") if r["recipe"] == "final"]
    if not rs:
        return "*(no panel results yet: `python benchmarks/panel.py`)*\n"
    by_name = _by_name(rs)
    rows = ["| member | test accuracy (seed 0 / 1) | params | MACs | CPU latency / MobileNetV2 "
            "| minutes |",
            "|---|---|---|---|---|---|"]
    for name, runs in sorted(by_name.items(),
                             key=lambda kv: -np.mean([r["test_accuracy"] for r in kv[1]])):
        accs = " / ".join(f"{r['test_accuracy']:.4f}"
                          for r in sorted(runs, key=lambda r: r["seed"]))
        r = runs[0]
        rows.append(f"| {name} | {accs} | {r['params'] / 1e6:.2f}M | {r['macs'] / 1e6:.0f}M "
                    f"| {r['latency_ratio']:.3f} "
                    f"| {np.mean([r['wall_seconds'] for r in runs]) / 60:.1f} |")
    gaps = [abs(a["test_accuracy"] - b["test_accuracy"])
            for runs in by_name.values() if len(runs) > 1
            for a, b in [sorted(runs, key=lambda r: r["seed"])[:2]]]
    noise = (f"\nSeed-to-seed difference of the {len(gaps)} members trained twice: "
             f"{', '.join(f'{100 * g:.2f}' for g in gaps)} points.\n") if gaps else ""
    return "\n".join(rows) + "\n" + noise + provenance_line(rs)


def recipe_table(results: Path, page: verdicts.Page | None = None) -> str:
    """The final recipe against the one it replaced, on the members trained with both."""
    rs = records.load(results / "panel.json")
    old = {r["name"]: r for r in rs if r["recipe"] == "v0" and r["seed"] == 0}
    new = {r["name"]: r for r in rs if r["recipe"] == "final" and r["seed"] == 0}
    both = [n for n in old if n in new]
    if not both:
        return "*(no member trained with both recipes yet)*\n"
    rows = ["| member | v0: test accuracy | v0: worst loss after warm-up | final: test accuracy "
            "| final: worst loss after warm-up |",
            "|---|---|---|---|---|"]
    rows += [f"| {n} | {old[n]['test_accuracy']:.4f} | {old[n]['max_loss_after_warmup']:.2f} "
             f"| {new[n]['test_accuracy']:.4f} | {new[n]['max_loss_after_warmup']:.2f} |"
             for n in both]
    return "\n".join(rows) + "\n" + provenance_line([old[n] for n in both] + [new[n] for n in both])


def proxy_table(results: Path, page: verdicts.Page | None = None) -> str:
    """Rank fidelity of each proxy setting against the panel, and of MACs and params; under it, the
    panel's own noise and the tau a noiseless proxy could reach (`proxy.panel_noise`)."""
    import proxy  # scipy, for the rank correlations

    panel_records = records.load(results / "panel.json")
    truth = proxy.panel_truth(panel_records)
    rs, timing = proxy.standing(results / "proxy.json")
    scores = [s for s in (proxy.score(name, rs, truth, timing) for name in proxy.SETTINGS) if s]
    if not scores:
        return "*(no proxy results yet: `python benchmarks/proxy.py`)*\n"
    rows = ["| proxy setting | Kendall tau (95% interval) "
            f"| tau of seed {' / '.join(str(seed) for seed in proxy.SEEDS)} "
            "| p, no association (adjusted) "
            "| tau minus MACs' tau (95% interval) | Spearman (95% interval) | seed-to-seed tau "
            "| children at chance | seconds per child | members |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    from scipy.stats import false_discovery_control  # the verdicts' correction, over the settings

    # no test on a setting scored from +dirty records (until they are run again from a commit)
    dirty = {r["setting"] for r in rs if records.is_dirty(r)}
    tested = [s for s in scores if s["setting"] not in dirty]
    adjusted = dict(zip([s["setting"] for s in tested],
                        false_discovery_control([s["p_value"] for s in tested]) if tested else []))
    for s in scores:
        (tl, th), (sl, sh) = s["tau_interval"], s["spearman_interval"]
        ml, mh = s["vs_macs_interval"]
        seeds = " / ".join(f"{t:.3f}" for t in s["seed_taus"])
        p = (f"{s['p_value']:.3f} ({adjusted[s['setting']]:.3f})" if s["setting"] in adjusted
             else "no test: +dirty records")
        rows.append(f"| `{s['setting']}` | {s['kendall_tau']:.3f} ({tl:.2f} to {th:.2f}) "
                    f"| {seeds} | {p} "
                    f"| {s['vs_macs']:+.3f} ({ml:+.2f} to {mh:+.2f}) "
                    f"| {s['spearman']:.3f} ({sl:.2f} to {sh:.2f}) | {s['seed_tau']:.3f} "
                    f"| {100 * s['at_chance']:.0f}% | {s['seconds_per_child']:.1f} "
                    f"| {s['panel']} |")
    zero_cost = (("MACs", "macs_tau"), ("params", "params_tau"))
    rows += [f"| {label} (zero cost) | {scores[0][key]:.3f} | | | | | | | 0 "
             f"| {scores[0]['panel']} |" for label, key in zero_cost]
    legend = ("\nTau is the mean over the proxy's seeds of each seed's Kendall tau with the "
              "panel; its interval resamples the members and the seeds (bootstrap, 95%); p is a "
              "permutation test against no association (two-sided), in brackets after "
              "Benjamini-Hochberg over the settings (the results page's rule), none for a "
              "setting whose records ran from uncommitted code (`+dirty`: described, not tested, "
              "until the queue runs them again); the proxy's tau "
              "minus MACs' tau has a paired interval (the same resamples for both).\n")
    used = [r for r in rs + timing if r["setting"] in {s["setting"] for s in scores}]
    return ("\n".join(rows) + "\n" + legend + "\n"
            + proxy.noise_line(proxy.panel_noise(panel_records)) + "\n" + provenance_line(used))


def speed_table(results: Path, page: verdicts.Page | None = None) -> str:
    """Training images/s by network, layout and batch, on 1 and 2 threads, against the
    matrix-product peak."""
    rs = records.load(results / "speed.json")
    if not rs:
        return "*(no speed results yet: `python benchmarks/speed.py`)*\n"
    # the latest run
    last = [r for r in rs if (r["command"], r["commit"]) == (rs[-1]["command"], rs[-1]["commit"])]
    threads = sorted({r["threads"] for r in last})
    cells: dict[tuple, dict[int, dict]] = {}
    for r in last:
        cells.setdefault((r["arch"], r["channels_last"], r["batch_size"]), {})[r["threads"]] = r
    rows = ["| network | layout | batch | "
            + " | ".join(f"images/s, {t} thread{'s' if t > 1 else ''} (share of peak)"
                         for t in threads)
            + " |", "|---|---|---|" + "---|" * len(threads)]
    for (arch, channels_last, batch), by_threads in cells.items():
        rows.append(
            f"| {arch} | {'channels-last' if channels_last else 'contiguous'} | {batch} | "
            + " | ".join(
                f"{by_threads[t]['images_per_second']:.0f} "
                f"({100 * by_threads[t]['gflops'] / by_threads[t]['peak_gflops']:.0f}%)"
                if t in by_threads else "" for t in threads) + " |")
    peaks = ", ".join(f"{r['peak_gflops']:.0f} GFLOP/s on {r['threads']} thread(s)"
                      for r in {r["threads"]: r for r in last}.values())
    speed = {(r["arch"], r["channels_last"], r["batch_size"], r["threads"]): r["images_per_second"]
             for r in last}
    layout = [v / speed[(a, False, b, t)] for (a, cl, b, t), v in speed.items()
              if cl and (a, False, b, t) in speed]
    second = {}  # batch -> channels-last speed-ups of 2 threads over 1, one per network
    for (a, cl, b, t), v in speed.items():
        if cl and t == 2 and (a, cl, b, 1) in speed:
            second.setdefault(b, []).append(v / speed[(a, cl, b, 1)])
    lines = f"\n\nMatrix-product peak: {peaks}.\n"
    if layout:
        lines += (f"Channels-last against the default layout, same network, batch and threads: "
                  f"{min(layout):.2f}-{max(layout):.2f}x the images/s.\n")
    if second:
        lines += ("A second thread, channels-last (2 threads / 1, per network): " + "; ".join(
            f"batch {b}: " + ", ".join(f"{x:.2f}x" for x in xs)
            for b, xs in sorted(second.items())) + ".\n")
    return "\n".join(rows) + lines + provenance_line(last, one_run=True)


def table1_table(results: Path, page: verdicts.Page | None = None) -> str:
    """Table 1 at laptop scale, one table per training length: test accuracy over seeds (mean and
    range), size, latency vs MobileNetV2, and the paper's claim tested (`_headline`)."""
    # a +dirty training gives way to its re-run: the same network, seed and recipe
    rs = records.standing(records.load(results / "table1.json"), lambda r: (
        r["name"], r["seed"], r["epochs"], r.get("dataset"), r.get("device")))
    if not rs:
        return "*(no Table 1 results yet: `python benchmarks/table1.py`)*\n"
    # latency: the networks timed together, if they were
    together = search_tables.timed_together(results, "table1", rs)
    return search_tables.on_page(page, lambda page: "\n".join(
        _table1_one_length(epochs, [r for r in rs if r["epochs"] == epochs], together, page)
        for epochs in sorted({r["epochs"] for r in rs})) + search_tables.together_line(
            results, "table1", together))


def _table1_one_length(epochs: float, rs: list[dict], together: dict, page: verdicts.Page) -> str:
    by_name = _by_name(rs)
    base = by_name.get("mobilenetv2")
    base_acc = np.mean([r["test_accuracy"] for r in base]) if base else None
    rows = [f"**{epochs:g} {'epoch' if epochs == 1 else 'epochs'} of training**\n",
            "| architecture | test accuracy: mean (min-max), seeds | vs MobileNetV2 | params "
            "| MACs | CPU latency / MobileNetV2 | ExecuTorch latency / MobileNetV2 |",
            "|---|---|---|---|---|---|---|"]
    for name, runs in sorted(by_name.items(),
                             key=lambda kv: -np.mean([r["test_accuracy"] for r in kv[1]])):
        accs, r = [x["test_accuracy"] for x in runs], runs[0]
        vs = (f"{100 * (np.mean(accs) - base_acc):+.2f} points"
              if base_acc is not None and name != "mobilenetv2" else "")
        rows.append(f"| {name} | {np.mean(accs):.4f} ({min(accs):.4f}-{max(accs):.4f}), "
                    f"{len(accs)} | {vs} "
                    + search_tables.size_and_latency(r, together))
    headline = "\n" + _headline(by_name, together, page, epochs) + "\n" if base else ""
    return "\n".join(rows) + "\n" + headline + provenance_line(rs)


def _headline(by_name: dict[str, list[dict]], together: dict | None, page: verdicts.Page,
              epochs: float) -> str:
    """The paper's claim, tested: each searched network against MobileNetV2, test accuracy over
    training seeds and CPU latency over the timings together; then the controller's most accurate
    pick against random search's best network at the same budget (the control)."""
    controls = [name for name in by_name if name.startswith("random-")]
    searched = [name for name in by_name if name not in REFERENCE_ARCHS and name not in controls]
    lines, keys = [], {}  # network -> the keys of its accuracy and CPU latency verdicts
    base = by_name["mobilenetv2"]
    for name in searched:
        key, timing = f"table1:{epochs:g}:{name}>mobilenetv2", f"table1-timed:{name}>mobilenetv2"
        keys[name] = (f"{key}:acc", search_tables.timing_of(key, timing, by_name[name], base,
                                                            together, "cpu") + ":cpu")
        lines.append(f"- MobileNetV2 -> {name}: " + search_tables.network_verdicts(
            page, key, by_name[name], base, together, timing_key=timing) + ".")
    if controls and searched:  # the controller's pick against random search's at the same budget
        clean = {n: search_tables.committed(by_name[n])[0][0] for n in searched}
        top = max(searched, key=lambda n: np.mean([r["test_accuracy"] for r in clean[n]] or [0]))
        for control in controls:
            key, timing = f"table1:{epochs:g}:{top}>{control}", f"table1-timed:{top}>{control}"
            lines.append(f"- The control, random search's best ({control}) -> the most accurate "
                         f"searched network, {top}: " + search_tables.network_verdicts(
                             page, key, by_name[top], by_name[control], together,
                             timing_key=timing) + ".")
    claim = page.compose([k for pair in keys.values() for k in pair],
                         lambda got: _claim(got, keys))
    return claim + "\n\n" + "\n".join(lines)


def _claim(got: dict, keys: dict[str, tuple[str, str]]) -> str:
    """How many searched networks the tests find faster than MobileNetV2, and how accurate
    (`keys`: each network's accuracy and CPU latency verdicts)."""
    nets = sorted(keys)
    faster = [n for n in nets if (v := got.get(keys[n][1])) and v.outcome == "faster"]
    acc = {n: got[keys[n][0]].outcome for n in faster if got.get(keys[n][0])}
    counts = ", ".join(f"{sum(o == w for o in acc.values())} {w}"
                       for w in ("higher", "equal", "lower", "undecided"))
    return (f"Searched networks faster than MobileNetV2 on CPU by the test: {len(faster)} of "
            f"{len(nets)}; their accuracy against MobileNetV2's: {counts} (\"equal\": within ±0.5 "
            "points). The paper's claim, more accurate at lower latency, needs a \"higher\".")


def sharing_table(results: Path, page: verdicts.Page | None = None) -> str:
    """The supernet's training loss as more paths share its weights, and its children's accuracy;
    then each sampler of the cause (sub-spaces, the sandwich rule) with its gradient norms."""
    import sharing  # torch, for the supernet

    rs = records.standing(records.load(results / "sharing.json"), sharing.unit)
    if not rs:
        return "*(no results yet: `python benchmarks/sharing.py`)*\n"
    paths = [r for r in rs if "paths" in r]
    rows = ["| paths sharing the weights | steps | training loss, mean per tenth of the run "
            "| held-out accuracy of children |",
            "|---|---|---|---|"]
    for r in sorted(paths, key=lambda r: (r["steps"], r["paths"] or 10**9)):
        who = f"{r['paths']} fixed" if r["paths"] else "uniform (SPOS)"
        rows.append(f"| {who} | {r['steps']} | {' '.join(f'{x:.2f}' for x in r['loss_curve'])} "
                    f"| {', '.join(f'{a:.3f}' for a in r['child_accuracy'])} |")
    out = "\n".join(rows) + "\n" + provenance_line(paths)
    samplers = [r for r in rs if "sampler" in r]
    if samplers:
        rows = ["| sampler | steps, lr | training loss, mean per tenth "
                "| gradient norm before clipping, mean per tenth "
                "| steps clipped | held-out accuracy of its children "
                "| Kendall tau vs the panel (members) |",
                "|---|---|---|---|---|---|---|"]
        for r in samplers:
            extra = (f" (largest {r['largest_accuracy']:.3f}, "
                     f"smallest {r['smallest_accuracy']:.3f})"
                     if r.get("sandwich") else "")
            rows.append(f"| {r['sampler']} | {r['steps']}, {r['lr_schedule']} "
                        f"| {' '.join(f'{x:.2f}' for x in r['loss_curve'])} "
                        f"| {' '.join(f'{x:.0f}' for x in r['grad_norm_curve'])} "
                        f"| {100 * r['clipped_share']:.0f}% "
                        f"| {', '.join(f'{a:.3f}' for a in r['child_accuracy'])}{extra} "
                        f"| {_panel_tau(r)} |")
        norms = {}  # the gradient norms at initialization: one line per initialization
        for r in samplers:
            norms.setdefault(r["zero_init_residual_bn"], r["init_grad_norms"])
        lines = [f"Gradient norm at initialization, one batch"
                 f"{', last BatchNorm of residual bodies at zero' if zero else ''}: "
                 + "; ".join(f"{k} {v:,.1f}" for k, v in init.items()) + "."
                 for zero, init in norms.items()]
        out += ("\n" + "\n".join(rows) + "\n\n" + "\n\n".join(lines) + "\n"
                + provenance_line(samplers))
    return out


def _panel_tau(record: dict) -> str:
    """A supernet's Kendall tau against the panel members it can express, where it was measured."""
    got = record.get("panel") or {}
    if got.get("kendall_tau") is None:
        return f"(not measured: {len(got.get('accuracy', {}))} members inside)" if got else ""
    return f"{got['kendall_tau']:.3f} ({len(got['accuracy'])})"


def latency_tables_table(results: Path, page: verdicts.Page | None = None) -> str:
    """Each platform's latency table against whole networks measured there (benchmarks/timing.py
    --part table): every check, by platform and time."""
    rs = sorted(records.load(results / "latency_tables.json"),
                key=lambda r: (r["backend"], r["date"]))
    if not rs:
        return ("*(no record yet: `python benchmarks/timing.py --part table --table FILE "
                "--samples 40`)*\n")
    rows = ["| platform | table | calibration fitted | checked | networks | within +-10% "
            "| mean abs. error | Spearman | worst error |", "|---|---|---|---|---|---|---|---|---|"]
    rows += [f"| {r['backend']} | {r['entries']} layers, {r['input_size']} px, "
             f"{r['threads']} thread "
             f"| {(r.get('fitted') or 'at its build')[:16]} | {r['date'][:16]} "
             f"| {r['samples']} | {r['within10']:.1f}% | {r['mape']:.2f}% | {r['spearman']:.4f} "
             f"| {r['worst_error_pct']:+.1f}% |" for r in rs]
    return "\n".join(rows) + "\n" + provenance_line(rs)


def timing_table(results: Path, page: verdicts.Page | None = None) -> str:
    """Can this machine's timings be trusted (benchmarks/timing.py parts (a), (b) and (d))? Every
    run, with the 1-minute load average when it started."""
    parts = ("stability", "fidelity", "detector")
    rs = sorted(records.load(results / "timing.json"),
                key=lambda r: (parts.index(r["part"]), r["backend"], r["date"]))
    if not rs:
        return ("*(no record yet: `python benchmarks/timing.py --part stability`, `fidelity` "
                "or `detector`)*\n")
    rows = ["| report | platform | run | load | measured | target |", "|---|---|---|---|---|---|"]
    for r in rs:
        if r["part"] == "stability":
            ok = "" if r["spread_pct"] <= 3 else " (missed)"
            rows.append(f"| (a) stability: `{r['arch']}`, {len(r['medians_ms'])} back-to-back "
                        f"medians | {r['backend']} | {r['date'][:16]} | {r['load']:.1f} | "
                        + ", ".join(f"{m:.2f}" for m in r["medians_ms"])
                        + f" ms: spread **{r['spread_pct']:.1f}%{ok}**; as a ratio to MobileNetV2 "
                        f"in the same rounds: spread {r['ratio_spread_pct']:.1f}% | <= 3% |")
        elif r["part"] == "detector":
            (a1, a1_ms), (ref, ref_ms) = r["medians_ms"].items()
            rows.append(f"| (d) SSDLite detectors, 320 px: `{a1}` / `{ref}`, "
                        f"{len(r['ratios'])} interleaved runs "
                        f"| {r['backend']} | {r['date'][:16]} | {r['load']:.1f} "
                        f"| `{ref}` {min(ref_ms):.0f}-{max(ref_ms):.0f} ms, "
                        f"`{a1}` {min(a1_ms):.0f}-{max(a1_ms):.0f} ms: "
                        f"ratio {min(r['ratios']):.3f}-{max(r['ratios']):.3f} "
                        "| the paper's 203 / 200 ms = 1.015 |")
        else:
            got = "; ".join(f"`{pair.replace('/', '` / `')}` {x:.3f}"
                            for pair, x in r["ratios"].items())
            ok = "" if all(0.95 <= x <= 1.05 for x in r["ratios"].values()) else " (missed)"
            rows.append(f"| (b) fidelity: ours / torchvision, interleaved | {r['backend']} "
                        f"| {r['date'][:16]} "
                        f"| {r['load']:.1f} | {got}{ok} | 0.95-1.05 |")
    return "\n".join(rows) + "\n" + provenance_line(rs)


def platforms_table(results: Path, page: verdicts.Page | None = None) -> str:
    """Do the cost measures rank the space alike (benchmarks/platforms.py)? The newest record's
    agreement for every pair of measures, and each latency's equal-MACs pair."""
    rs = records.load(results / "platforms.json")
    if not rs:
        return ("*(no record yet: `python benchmarks/platforms.py --samples 500 --table "
                "runs/latency_table_cpu.json`)*\n")
    r = rs[-1]
    rows = [f"| measures ({r['samples']} networks, seed {r['seed']}) | Spearman | Kendall tau-b "
            "| fastest 10% shared |", "|---|---|---|---|"]
    rows += [f"| {pair.replace('/', ' vs ')} | {rho:+.3f} | {r['kendall'][pair]:+.3f} "
             f"| {100 * r['fastest_overlap'][pair]:.0f}% |" for pair, rho in r["spearman"].items()]
    timed = {t["backend"]: t for t in records.load(results / "equal-macs.json")
             if t["tokens"] == [r["tokens"][i]
                                for i in r["equal_macs"].get(t["backend"], {}).get("pair", [])]}
    pairs = [f"on {m}, {p['macs'][0]:.0f}M and {p['macs'][1]:.0f}M MACs run at "
             f"{p['latency'][0]:.2f}x and {p['latency'][1]:.2f}x MobileNetV2's latency by the "
             f"table ({p['latency_ratio']:.2f}x apart"
             + (f"; timed whole, interleaved: {timed[m]['timed_ratio']:.2f}x)"
                if m in timed else ")")
             for m, p in r["equal_macs"].items() if p]
    text = "\n".join(rows) + "\n"
    if pairs:
        text += ("\nThe two networks within 2% in MACs whose latencies differ most: "
                 + "; ".join(pairs) + ".\n")
    if r.get("decision_costs"):  # why they disagree: what each choice costs under each measure
        measures = r["measures"]
        text += (f"\nEach choice set in every block of {r['decision_archs']} of the networks, "
                 "its cost as the median "
                 "ratio to the decision's first choice:\n\n| decision | choice | "
                 + " | ".join(measures) + " |\n|---|---|"
                 + "---|" * len(measures) + "\n")
        text += "".join(f"| {decision} | {choice} | "
                        + " | ".join(f"{cost[m]:.2f}x" for m in measures) + " |\n"
                        for decision, by_choice in r["decision_costs"].items()
                        for choice, cost in by_choice.items())
    untimed = ("\n*(pairs not timed whole yet: the same command with `--time-pairs`)*\n"
               if pairs else "")
    return text + provenance_line([r]) + (provenance_line(list(timed.values())) if timed
                                          else untimed)


# ----------------------------------------------------------------------------- at a glance

# Each of MnasNet's ideas against the choice it replaced: (idea and its section, against, the
# paper's answer, [(what, the verdicts' keys on the results page)]). A key ending in "*" stands
# for every key with that prefix; a trained comparison is over every search's winner when those
# are trained (-winners), else over one network a side (-final).
GLANCE = [
    ("[measured latency](#sec-1-flops-are-not-latency-over-the-space) (Sec. 1)", "FLOPs (MACs)",
     "equal MACs, very different latency",
     [("searches", "flops:macs>measured:*"), ("trained winners", "flops-winners:macs>measured:*"),
      ("trained, one network a side", "flops-final:macs>measured:*")]),
    ("[RL controller](#sec-42-rl-vs-random-search-on-real-data) (Sec. 4.2)", "random search",
     "(not compared)", [("searches", "rl:reinforce>random:*")]),
    ("[PPO](#sec-42-rl-vs-random-search-on-real-data) (Sec. 4.2)", "REINFORCE",
     "(PPO used, not compared)", [("searches", "rl:ppo>reinforce:*")]),
    ("[search per platform](#sec-5-platforms-searched-for-one-run-on-another) (Sec. 5)",
     "a network searched for another platform", "(one platform)",
     [("on cpu", "platform:cpu:*"), ("on executorch", "platform:executorch:*"),
      ("on executorch-int8", "platform:executorch-int8:*")]),
    ("[multi-objective reward](#sec-72-table-5-the-reward-against-the-space) (Table 5)",
     "accuracy alone", "faster, a little less accurate",
     [("searches", "table5:multi-cell>single-cell:*"),
      ("trained winners", "table5-winners:multi-cell>single-cell:*"),
      ("trained, one network a side", "table5-final:multi-cell>single-cell:*")]),
    ("[factorized space](#sec-72-table-5-the-reward-against-the-space) (Table 5)",
     "one stacked cell", "more accurate and faster",
     [("searches", "table5:multi-factorized>multi-cell:*"),
      ("trained winners", "table5-winners:multi-factorized>multi-cell:*"),
      ("trained, one network a side", "table5-final:multi-factorized>multi-cell:*")]),
    ("[layer diversity](#sec-73-table-6-layer-diversity) (Table 6)", "one layer type everywhere",
     "A1 beats every one-type variant's trade-off",
     [(f"all-{v}", f"table6:mnasnet-a1-all-{v}>a1:*")
      for v in ("mbconv3-k3", "mbconv3-k5", "mbconv6-k3", "mbconv6-k5")]),
    ("[a searched network](#sec-61-table-1-at-laptop-scale) (Table 1)", "MobileNetV2",
     "more accurate at lower latency", [("5 epochs", "table1:5:*>mobilenetv2:*"),
                                        ("timed together", "table1-timed:*>mobilenetv2:*")]),
]
# what the evaluator behind each kind of replicate can resolve
RESOLUTION = {
    "searches": "ACC by the proxy "
                "([a weak ranker](evaluator.md#proxy-settings-against-the-panel)), "
                "LAT by the CPU latency table",
    "trained winners": "test accuracy after 5 epochs, latency timed whole",
    "trained, one network a side": "test accuracy after 5 epochs, latency timed whole",
}
WORDS = {"best_accuracy": "proxy accuracy", "best_ratio": "latency", "on_measured": "reward",
         "acc": "accuracy", "cpu": "CPU latency", "executorch": "ExecuTorch latency",
         "reward": "reward", "latency": "latency",
         "last_quarter_mean_reward": "last quarter's reward",
         "best_reward": "best reward"}


def _glance_cell(got: dict, items: list[tuple[str, str]]) -> tuple[str, str]:
    """(what the tests say, how sure) of one idea's row, from the page's corrected verdicts."""
    said, sure = [], []
    for label, pattern in items:
        found = [(k, v) for k, v in got.items() if v is not None
                 and re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), k)]
        if not found:
            continue
        by_comparison = records.group(found, lambda kv: kv[0].rsplit(":", 1)[0])
        parts = []
        for comparison, kvs in by_comparison.items():
            outcomes = ", ".join(
                f"{WORDS.get(k.rsplit(':', 1)[1], k.rsplit(':', 1)[1])} {v.outcome}"
                for k, v in kvs)
            new, _, old = comparison.rsplit(":", 1)[-1].partition(">")
            parts.append(f"{new.rsplit('/', 1)[-1]} vs {old}: {outcomes}"
                         if len(by_comparison) > 1 else outcomes)
        said.append(f"{label}: " + "; ".join(parts))
        resolution = f" ({RESOLUTION[label]})" if label in RESOLUTION else ""
        sure.append(f"{label}: " + "; ".join(sorted({v.sizes() for _, v in found})) + resolution)
    return "; ".join(said) or "no verdict (no record from committed code)", "; ".join(sure)


def glance_table(results: Path, page: verdicts.Page | None = None) -> str:
    """What each of MnasNet's ideas buys here against the choice it replaced, as the results page's
    tests say it (the same verdicts, corrected over the whole page), and how sure they are."""
    def text(page: verdicts.Page) -> str:
        for name in RESULTS_PAGE:  # the results page's verdicts, so this table has its family
            TABLES[name](results, page)
        rows = ["| idea (paper) | against | the paper (ImageNet, Pixel 1) | here, by the test "
                "| how sure: replicates a side (what measured them) |", "|---|---|---|---|---|"]
        for idea, against, paper, items in GLANCE:
            keys = [k for k in page.tests if any(
                re.fullmatch(re.escape(p).replace(r"\*", ".*"), k) for _, p in items)]
            cell = page.compose(keys, lambda got, items=items: " | ".join(_glance_cell(got, items)))
            rows.append(f"| {idea} | {against} | {paper} | {cell} |")
        return ("\n".join(rows) + "\n\n" + page.compose(list(page.tests), _rule_line) + "\n")

    return search_tables.on_page(page, text)


def _rule_line(got: dict) -> str:
    counts: dict[str, int] = {}
    for v in got.values():
        counts[v.outcome] = counts.get(v.outcome, 0) + 1
    return ("Every verdict: Welch's t on the replicates that vary (search seeds, training seeds "
            "or timings; the paired t where both sides are the same replicates measured twice), "
            f"Benjamini-Hochberg over the page's {len(got)} verdicts "
            f"({', '.join(f'{n} {o}' for o, n in sorted(counts.items()))}); \"equal\" only within "
            "a margin (±0.5 accuracy points, ±0.005 reward, ±5% latency) by TOST, each at 5% "
            "(not corrected); otherwise undecided "
            "([the rule](results.md#how-a-verdict-is-reached)).")


RESULTS_PAGE = ("platforms", "flops", "learning", "rl_vs_random", "cross_platform", "table1",
                "fig6", "table5", "table6", "int8")

TABLES = {"panel": panel_table, "recipe": recipe_table, "proxy": proxy_table, "speed": speed_table,
          "sharing": sharing_table, "table1": table1_table, "platforms": platforms_table,
          "latency_tables": latency_tables_table, "timing": timing_table,
          # the search experiments' (search_tables.py)
          "learning": search_tables.learning_table,
          "rl_vs_random": search_tables.rl_vs_random_table, "fig6": search_tables.fig6_table,
          "table5": search_tables.table5_table, "table6": search_tables.table6_table,
          "flops": search_tables.flops_table,
          "cross_platform": search_tables.cross_platform_table,
          "default_search": search_tables.default_search_table,
          "glance": glance_table,
          # deployment (deploy_tables.py): what int8 costs, model scaling (Sec. 6.2)
          "int8": deploy_tables.int8_section, "scaling": deploy_tables.scaling_section}


def fill(text: str, results: Path) -> str:
    """`text` (a Markdown page) with every marked table regenerated, and the page's verdicts
    corrected together (`verdicts.Page`)."""
    page = verdicts.Page()

    def table(match: re.Match) -> str:
        name = match[1]
        if name not in TABLES:
            raise ValueError(f"unknown table '{name}' (tables: {', '.join(TABLES)})")
        return f"<!-- table:{name} -->\n{TABLES[name](results, page)}<!-- /table:{name} -->"

    return page.render(re.sub(r"<!-- table:(\w+) -->\n.*?<!-- /table:\1 -->", table, text,
                              flags=re.S))


def stale(text: str, results: Path) -> list[str]:
    """The names of the marked tables in `text` that differ from what the result files give."""
    blocks = r"<!-- table:(\w+) -->\n(.*?)<!-- /table:\1 -->"
    fresh = dict(re.findall(blocks, fill(text, results), flags=re.S))
    return [name for name, body in re.findall(blocks, text, flags=re.S) if fresh[name] != body]


def pages() -> list[Path]:
    """The pages that hold generated tables: the README and the results pages in docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("pages", nargs="*", help="Markdown files (default: README.md and docs/*.md)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true",
                      help="rewrite the marked tables of the pages in place")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 if a marked table differs from the result files")
    p.add_argument("--results", default=str(records.RESULTS))
    args = p.parse_args(argv)
    results = Path(args.results)
    if not (args.write or args.check):
        for name, fn in TABLES.items():
            print(f"## {name}\n\n{fn(results)}")
        return 0
    out_of_date = []
    for path in [Path(f) for f in args.pages] or pages():
        try:
            text = path.read_text()
            if args.write:
                path.write_text(fill(text, results))
            else:
                out_of_date += [f"{path}: {name}" for name in stale(text, results)]
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if out_of_date:
        print("stale tables (python benchmarks/tables.py --write):\n  " + "\n  ".join(out_of_date),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
