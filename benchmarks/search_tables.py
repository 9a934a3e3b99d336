"""The search experiments' tables: the learning rule alone (benchmarks/learning.py), and from
benchmarks/searches.py's summaries RL vs random and PPO, soft vs hard (Fig. 6), Table 5, FLOPs vs
measured latency, searched for one platform and run on another (Sec. 5), and the README's default
search; with them Table 6 (layer diversity: trained, not searched). Every verdict says whether a
difference is beyond the seeds' spread and the timing noise, or a tie. `benchmarks/tables.py` puts
them on the pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import mnas
import records
from models import arch_from_dict, network_key
from records import group, mean_range, provenance_line


def _search_time(rs: list[dict]) -> str:
    """For search runs, which may span sessions: their children's own time in all (a summary reused
    from another experiment, `same_as`, is counted there)."""
    if not all("children_seconds" in r for r in rs):
        return ""
    own, reused = [r for r in rs if not r.get("same_as")], sorted({r["same_as"] for r in rs if r.get("same_as")})
    counted = f" ({', '.join(reused)}: counted there)" if reused else ""
    return (f"*Children trained and scored for {sum(r['children_seconds'] for r in own) / 3600:.1f} h in all, "
            f"summed over every session the runs spanned{counted}.*\n")


def _settings(rs: list[dict]) -> dict[str, list[dict]]:
    """Search summaries grouped by setting: the run's name without its "-seedN"."""
    return group(rs, lambda r: records.setting(r["run"]))


def _searched(r: dict) -> dict[str, float]:
    """What a search summary says of its run on measured latency (its latency table's prediction when
    it had one), whatever its reward and LAT(m)."""
    return {"best_accuracy": r["best_accuracy"], "best_ratio": r["best_measured_ms"] / r["mobilenetv2_ms"],
            "above_t": 100 * r["measured_above_t"], "on_measured": r["best_reward_on_measured"]}


def _search_rows(groups: dict[str, list[dict]], order: list[str], label) -> list[str]:
    rows = ["| setting | seeds | children | best child's proxy accuracy | its latency / MobileNetV2 (CPU table) "
            "| children above T (CPU table) | best child's soft reward on the CPU table's latency |",
            "|---|---|---|---|---|---|---|"]
    for name in [n for n in order if n in groups]:
        got = [_searched(r) for r in groups[name]]
        col = lambda k, fmt=".4f": mean_range([g[k] for g in got], fmt)  # noqa: E731
        reused = " (reused)" if any(r.get("same_as") for r in groups[name]) else ""
        rows.append(f"| {label(name)}{reused} | {len(got)} | {groups[name][0]['children']} | {col('best_accuracy')} "
                    f"| {col('best_ratio', '.2f')}x | {col('above_t', '.0f')}% | {col('on_measured')} |")
    return rows


def learning_table(results: Path) -> str:
    """Sec. 4.2, the learning rule alone (benchmarks/learning.py): per run of the benchmark and per
    method, the noise-free score of the architecture each search found best, over its seeds."""
    rs = records.load(results / "learning.json")
    if not rs:
        return "*(no record yet: `python benchmarks/learning.py`)*\n"
    latest = {(r["command"], r["seed"], r["method"]): r for r in rs}.values()  # a re-run replaces its records
    rows = ["| objective | seeds | method | best architecture's score | exactly the optimum (1.0) | within 5% of it "
            "| beats random search's best, same seed |", "|---|---|---|---|---|---|---|"]
    for runs in group(list(latest), lambda r: r["command"]).values():
        seeds = sorted({r["seed"] for r in runs})
        random = {r["seed"]: r["best"] for r in runs if r["method"] == "random"}
        for method, got in group(runs, lambda r: r["method"]).items():
            best = [r["best"] for r in got]
            match = got[0]["objective"] == "match"  # Eq. 2's optimum is unknown: no share of it
            against = [r for r in got if r["seed"] in random]  # a run stopped mid-seed may lack random search's
            wins = "" if method == "random" else f"{sum(r['best'] > random[r['seed']] for r in against)}/{len(against)}"
            rows.append(f"| {got[0]['objective']} | {seeds[0]}-{seeds[-1]} | {method} | {mean_range(best, '.3f')} "
                        f"| {f'{sum(b >= 1.0 for b in best)}/{len(best)}' if match else ''} "
                        f"| {f'{sum(b >= 0.95 for b in best)}/{len(best)}' if match else ''} | {wins} |")
    return "\n".join(rows) + "\n" + provenance_line(list(latest))


def rl_vs_random_table(results: Path) -> str:
    """RL vs random search (Sec. 4.2), with PPO's runs (ppo.json) beside them: per run, and how
    often each learner's last quarter beats random search's in the same seed."""
    rs = records.load(results / "rl-vs-random.json") + records.load(results / "ppo.json")
    if not rs:
        return "*(no results yet: `python benchmarks/searches.py rl-vs-random`)*\n"
    rows = ["| method | seed | children | best reward | mean reward, last quarter | within 10% below T "
            "| greedy architecture's reward |", "|---|---|---|---|---|---|---|"]
    by_seed: dict[str, dict[str, float]] = {}
    for r in sorted(rs, key=lambda r: (r["flags"][1], r["flags"][3])):
        method, seed = r["flags"][1], r["flags"][3]
        by_seed.setdefault(seed, {})[method] = r["last_quarter_mean_reward"]
        greedy = f"{r['greedy_reward']:.4f}" if r["greedy_reward"] is not None else "(none)"
        rows.append(f"| {method} | {seed} | {r['children']} | {r['best_reward']:.4f} | {r['last_quarter_mean_reward']:.4f} "
                    f"| {100 * r['within_10pct_below_t']:.0f}% | {greedy} |")
    verdicts = []
    for learner, name in (("reinforce", "REINFORCE"), ("ppo", "PPO")):
        pairs = [v for v in by_seed.values() if {learner, "random"} <= set(v)]
        if pairs:
            wins = sum(v[learner] > v["random"] for v in pairs)
            verdicts.append(f"{name}'s last-quarter mean reward is above random search's in {wins} of {len(pairs)} seeds.")
    # The paper's learning rule against the project's default, on the same machine and latency table:
    # Table 5's multi-objective factorized runs are this search with REINFORCE (the same flags, seeds
    # and 300 children), run beside the PPO runs; the REINFORCE rows above ran on another machine.
    ppo = [r for r in rs if r["flags"][1] == "ppo"]
    twins = [r for r in records.load(results / "table5.json") if records.setting(r["run"]) == "multi-factorized"]
    if ppo and twins:
        verdicts += [f"PPO against REINFORCE on the same machine and latency table (Table 5's multi-objective factorized "
                     f"runs), {what}: {mean_range(a)} against {mean_range(b)}, {_beyond(a, b)}."
                     for key, what in (("last_quarter_mean_reward", "last-quarter mean reward"), ("best_reward", "best reward"))
                     for a, b in [([r[key] for r in ppo], [r[key] for r in twins])]]
    return "\n".join(rows) + "\n\n" + " ".join(verdicts) + "\n" + provenance_line(rs) + _search_time(rs)


def fig6_table(results: Path) -> str:
    """Soft vs hard constraint (Fig. 6): how the second half's samples crowd below T, for each pair of
    runs (fig6.json, and fig6-<name>.json for other settings such as another T)."""
    files = sorted(results.glob("fig6*.json"), key=lambda path: (path.name != "fig6.json", path.name))  # the main pair first
    rs = [r for path in files for r in records.load(path)]
    if not rs:
        return "*(no results yet: `python benchmarks/searches.py fig6`)*\n"
    rows = ["| constraint | children | T (ms) | second half within [0.8 T, T] | second half's latency IQR (ms) "
            "| second half's median latency / T | second half above T | best reward |", "|---|---|---|---|---|---|---|---|"]
    rows += [f"| {r['run']} | {r['children']} | {r['target_ms']:.2f} | {100 * r['second_half_in_0.8t_t']:.0f}% "
             f"| {r['second_half_latency_iqr_ms']:.2f} | {r['second_half_median_over_t']:.2f} "
             f"| {100 * r['second_half_above_t']:.0f}% | {r['best_reward']:.4f} |" for r in rs]
    return "\n".join(rows) + "\n" + provenance_line(rs) + _search_time(rs)


def table5_table(results: Path) -> str:
    """Sec. 7.2, Table 5: the reward (accuracy alone or Eq. 2's) against the space (one stacked
    cell or factorized), each setting over its seeds, on the CPU latency table's latency."""
    rs = records.load(results / "table5.json")
    if not rs:
        return ("*(no record yet: `python benchmarks/searches.py table5 --samples 300 --seeds 0,1 "
                "--latency-table runs/latency_table_cpu.json`)*\n")
    names = {"single": "accuracy only", "multi": "multi-objective (soft)"}
    label = lambda n: f"{names[n.split('-')[0]]}, {n.split('-')[1]} space"  # noqa: E731
    groups = _settings(rs)
    rows = _search_rows(groups, ["single-cell", "multi-cell", "single-factorized", "multi-factorized"], label)
    comparisons = [("multi-cell", "single-cell", "Cell space, accuracy only -> multi-objective (the paper's first step)"),
                   ("multi-factorized", "multi-cell", "Multi-objective, cell -> factorized space (its second step)"),
                   ("single-factorized", "single-cell", "Accuracy only, cell -> factorized space")]
    return ("\n".join(rows) + "\n" + _verdicts(groups, comparisons) + provenance_line(rs) + _search_time(rs)
            + _trained(results, "table5", label, comparisons))


def flops_table(results: Path) -> str:
    """Sec. 1: LAT(m) as multiply-adds against measured latency (the CPU latency table), each over
    its seeds, compared on the table's latency."""
    rs = records.load(results / "flops.json")
    if not rs:
        return ("*(no record yet: `python benchmarks/searches.py flops --samples 300 --seeds 0,1 "
                "--latency-table runs/latency_table_cpu.json`)*\n")
    label = {"macs": "LAT(m) = MACs, T = MobileNetV2's MACs", "measured": "LAT(m) = latency (CPU table)"}.get
    groups, comparisons = _settings(rs), [("macs", "measured", "LAT(m) measured -> MACs")]
    rows = _search_rows(groups, ["macs", "measured"], label)
    return ("\n".join(rows) + "\n" + _verdicts(groups, comparisons) + provenance_line(rs) + _search_time(rs)
            + _trained(results, "flops", label, comparisons))


def _verdicts(groups: dict[str, list[dict]], comparisons: list[tuple[str, str, str]]) -> str:
    """A bullet per (new setting, old setting, what) whose two settings both have runs (`_versus`)."""
    lines = [_versus(groups, new, old, what) for new, old, what in comparisons if new in groups and old in groups]
    return "".join(f"\n- {v}" for v in lines) + ("\n" if lines else "")


def _trained(results: Path, experiment: str, label, comparisons: list[tuple[str, str, str]] = ()) -> str:
    """Each setting's best network trained with the final recipe (table1.py --searches), over its
    training seeds: test accuracy, size, and latency / MobileNetV2 on this CPU and through ExecuTorch,
    each timed whole; then the same comparisons as the searches', on the trained networks."""
    rs = records.load(results / f"{experiment}-final.json")
    if not rs:
        return (f"\n*(each setting's best network not trained yet: `python benchmarks/table1.py --searches "
                f"benchmarks/results/{experiment}.json --epochs 5 --seeds 2 --executorch`)*\n")
    rows = ["| setting's best network, trained | seeds | test accuracy | params | MACs | CPU latency / MobileNetV2 "
            "| ExecuTorch |", "|---|---|---|---|---|---|---|"]
    trained = group(rs, lambda r: r["name"].split("/", 1)[1])
    together = timed_together(results, f"{experiment}-final", rs)
    for name, runs in trained.items():
        reused = f" (the same network as {runs[0]['same_as']})" if runs[0].get("same_as") else ""
        rows.append(f"| {label(name)}{reused} | {len(runs)} | {mean_range([x['test_accuracy'] for x in runs])} "
                    + size_and_latency(runs[0], together))
    noise, searched = _timing_noise(results), records.load(results / f"{experiment}.json")
    # the searches' T as a ratio to MobileNetV2 (1.0 for all of them here), to score the trained networks by
    targets = {round(r["target_ms"] / r["mobilenetv2_ms"], 3) for r in searched if r.get("lat_unit") == "ms"}
    target = targets.pop() if len(targets) == 1 else None
    lower = lambda what: what if what[:2].isupper() else what[0].lower() + what[1:]  # noqa: E731 ("LAT(m) ..." stays)
    lines = [f"\n- Trained, {lower(what)}: {_trained_versus(trained[new], trained[old], noise, target, together)}."
             for new, old, what in comparisons if new in trained and old in trained]
    return ("\n" + "\n".join(rows) + "\n" + "".join(lines) + ("\n" if lines else "") + provenance_line(rs)
            + together_line(results, f"{experiment}-final", together))


def size_and_latency(r: dict, together: dict | None = None) -> str:
    """A trained network's last columns: params, MACs, CPU and ExecuTorch latency / MobileNetV2 (the
    median and range of its timings together with the table's other networks, if there are)."""
    return (f"| {r['params'] / 1e6:.2f}M | {r['macs'] / 1e6:.0f}M | {_cell(latencies([r], together, 'cpu'))} "
            f"| {_cell(latencies([r], together, 'executorch'))} |")


def _cell(values: list[float]) -> str:
    """Latencies as "median (min-max)", one value as itself (the reference against itself: 1.000)."""
    if len(set(values)) > 1:
        return f"{np.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"
    return f"{values[0]:.3f}" if values else ""


def timed_together(results: Path, stem: str, trained: list[dict] = ()) -> dict[str, dict[str, list[float]]]:
    """{backend: {network: [latency / MobileNetV2, ...]}}: every timing of the runs that timed a
    table's networks together (table1.py --retime, <stem>-timing.json), pooled, so that a network's
    range also holds the drift between runs; {} where no run has. A run that timed another
    architecture under the name of one of the `trained` records is left out for it."""
    want = {r["name"]: network_key(arch_from_dict(r["arch"])) for r in trained if r.get("arch")}
    pooled: dict[str, dict[str, list[float]]] = {}
    for r in records.load(results / f"{stem}-timing.json"):
        timed = {name: network_key(arch_from_dict(a)) for name, a in r.get("archs", {}).items() if name in want}
        for backend in ("cpu", "executorch"):
            for name, values in r.get(backend, {}).items():
                if name in timed and timed[name] != want[name]:
                    continue
                pooled.setdefault(backend, {}).setdefault(name, []).extend(values)
    return pooled


def together_line(results: Path, stem: str, together: dict[str, dict[str, list[float]]]) -> str:
    """Where the latency columns come from when the networks were timed together (`together`:
    what `timed_together` pooled from those runs)."""
    rs = records.load(results / f"{stem}-timing.json")
    timed = {name: values for backend in together.values() for name, values in backend.items() if name != "mobilenetv2"}
    if not rs or not timed:
        return ""
    counts = sorted({len(values) for values in timed.values()})
    count = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    networks = "both" if len(timed) == 2 else f"all {len(timed)}"
    return (f"\nLatency: the median (min-max) of {count} timings per network and platform, from {len(rs)} "
            f"{'run' if len(rs) == 1 else 'runs'} of `--retime` timing {networks} networks and MobileNetV2 together, "
            f"interleaved ({' and '.join(together)}); a network's range is its timing noise, drift between runs "
            "included, and latencies whose ranges overlap are a tie." + provenance_line(rs))


def latencies(runs: list[dict], together: dict | None, backend: str) -> list[float]:
    """A trained network's latency / MobileNetV2 on `backend` ("cpu" or "executorch"): its timings
    together with the table's other networks if there are, else the one taken beside its training."""
    name = runs[0]["name"]
    if name in (together or {}).get(backend, {}):
        return together[backend][name]
    value = runs[0].get("latency_ratio" if backend == "cpu" else "executorch_ratio")
    return [value] if value else []


def _paired(new: list[dict], old: list[dict], together: dict | None, backend: str) -> tuple[list[float], list[float]]:
    """Two trained networks' latencies on `backend` from one source: their timings together if both
    have them, else each one's timing beside its training (never one of each)."""
    timed = (together or {}).get(backend, {})
    both = new[0]["name"] in timed and old[0]["name"] in timed
    return latencies(new, together if both else None, backend), latencies(old, together if both else None, backend)


def _trained_versus(new: list[dict], old: list[dict], noise: float, target: float | None = None,
                    together: dict | None = None) -> str:
    """Two trained networks (their records, one per seed), old -> new: test accuracy against the seed
    spread; CPU (and ExecuTorch) latency / MobileNetV2 against the spread of their timings together,
    or, each timed once beside its training, against the timing noise (`_timed`). With the searches'
    `target` T (/ MobileNetV2), also the soft reward of Eq. 2 on the median CPU latency, the search's
    own measure of a better network; its latency factor carries the timing's spread scaled by
    |w| = 0.07."""
    acc = [x["test_accuracy"] for x in new], [x["test_accuracy"] for x in old]
    cpu = _paired(new, old, together, "cpu")
    text = (f"test accuracy {np.mean(acc[1]):.4f} -> {np.mean(acc[0]):.4f}, {_beyond(*acc)}; CPU latency / MobileNetV2 "
            f"{np.median(cpu[1]):.3f} -> {np.median(cpu[0]):.3f}, {_timed(*cpu, noise)}")
    et = _paired(new, old, together, "executorch")
    text += f"; ExecuTorch {np.median(et[1]):.3f} -> {np.median(et[0]):.3f}, {_timed(*et, noise)}" if all(et) else ""
    if target is None:
        return text
    rewards = [[mnas.reward(x["test_accuracy"], float(np.median(lat)), target) for x in runs]
               for runs, lat in ((new, cpu[0]), (old, cpu[1]))]
    w = abs(mnas.SOFT.beta)  # Eq. 2's reward moves by |w| times LAT's relative error
    if _repeated(*cpu):
        noise, name = max(_spread(lat) for lat in cpu), "the spread of the timings"
    else:
        name = "the timing noise"
    in_reward = f"{name} ({100 * noise:.0f}% in latency, {100 * w * noise:.1f}% in reward)"
    return (text + f"; soft reward on the timed CPU latency (Eq. 2, T = {target:g}x MobileNetV2) {np.mean(rewards[1]):.4f} "
            f"-> {np.mean(rewards[0]):.4f}, {_beyond(*rewards, noise=w * noise, noise_name=in_reward)}")


def _repeated(new: list[float], old: list[float]) -> bool:
    """Were both networks timed several times (together, table1.py --retime), not once each?"""
    return min(len(new), len(old)) > 1


def _spread(values: list[float]) -> float:
    """(max - min) / median of one network's repeated timings, as a fraction."""
    return (max(values) - min(values)) / float(np.median(values))


# Sec. 7.3, Table 6 (ImageNet top-1, Pixel 1 latency): the paper's row for each network
PAPER_TABLE6 = {"mnasnet-a1": "75.2% / 78 ms", "mnasnet-a1-all-mbconv3-k3": "71.8% / 63 ms",
                "mnasnet-a1-all-mbconv3-k5": "72.5% / 78 ms", "mnasnet-a1-all-mbconv6-k3": "74.9% / 116 ms",
                "mnasnet-a1-all-mbconv6-k5": "75.6% / 146 ms"}


def table6_table(results: Path) -> str:
    """Sec. 7.3, Table 6: MnasNet-A1 against itself with one layer type everywhere, beside the
    paper's ImageNet row; test accuracy over seeds (mean and range) and latency vs MobileNetV2; then
    each variant against A1 (with the soft reward that scores a trade-off), and whether A1's mix is
    beaten on both counts (the paper: it is not)."""
    rs = records.load(results / "table6.json")
    if not rs:
        return "*(no record yet: `python benchmarks/table1.py --table6 --epochs 5 --seeds 2 --executorch`)*\n"
    by_name = group(rs, lambda r: r["name"])
    together = timed_together(results, "table6", rs)
    rows = ["| network | paper (ImageNet, Pixel 1) | test accuracy: mean (min-max), seeds | params | MACs "
            "| CPU latency / MobileNetV2 | ExecuTorch latency / MobileNetV2 |", "|---|---|---|---|---|---|---|"]
    for name in sorted(by_name):  # alphabetical is the paper's order: A1, then MBConv3 3x3 ... MBConv6 5x5
        accs = [x["test_accuracy"] for x in by_name[name]]
        rows.append(f"| {name} | {PAPER_TABLE6.get(name, '')} | {mean_range(accs)}, {len(accs)} "
                    + size_and_latency(by_name[name][0], together))
    a1, noise, lines = by_name.get("mnasnet-a1"), _timing_noise(results), []
    for name in sorted(set(by_name) - {"mnasnet-a1"}) if a1 else []:
        # T = MobileNetV2's latency, as the searches'
        versus = _trained_versus(by_name[name], a1, noise, target=1.0, together=together)
        lines.append(f"\n- A1 -> {name.removeprefix('mnasnet-a1-')}: {versus}"
                     f"{_against_a1(by_name[name], a1, noise, together)}.")
    return ("\n".join(rows) + "\n" + "".join(lines) + ("\n" if lines else "") + provenance_line(rs)
            + together_line(results, "table6", together))


def _against_a1(variant: list[dict], a1: list[dict], noise: float, together: dict | None = None) -> str:
    """The trade-off on each platform timed: is the variant better than A1 on a count and worse on
    none, worse on a count and better on none, or one of each? A count within the seed spread or
    the timing noise is a tie; with one seed on a side nothing is judged."""
    if min(len(variant), len(a1)) < 2:
        return ""
    acc = _sign([x["test_accuracy"] for x in variant], [x["test_accuracy"] for x in a1])
    verdicts = []
    for backend, where in (("cpu", "on CPU"), ("executorch", "through ExecuTorch")):
        new, old = _paired(variant, a1, together, backend)
        if not (new and old):
            continue
        lat = -_timed_sign(new, old, noise)  # +1: faster, better
        verdict = ("a tie with A1" if acc == lat == 0 else "a trade-off" if acc * lat < 0 else
                   "better than A1 (the paper's claim fails here)" if max(acc, lat) > 0 else "A1 is better (as in the paper)")
        verdicts.append(f"{where} { {1: 'faster', 0: 'as fast (a tie)', -1: 'slower'}[lat]}: {verdict}")
    if not verdicts:
        return ""
    accuracy = {1: "more accurate", 0: "as accurate (a tie)", -1: "less accurate"}[acc]
    return f" — against A1 it is {accuracy}; " + "; ".join(verdicts)


def _sign(a: list[float], b: list[float], noise: float = 0.0) -> int:
    """+1 if `a` lies above `b` beyond the seeds' spread and `noise` (relative), -1 below, 0 a tie."""
    return 1 if min(a) > max(b) * (1 + noise) else -1 if max(a) < min(b) * (1 - noise) else 0


def _beyond(a: list[float], b: list[float], above: str = "higher", below: str = "lower", noise: float = 0.0,
            noise_name: str = "") -> str:
    """Whether values `a` (one per seed) lie above or below `b` beyond the spread of their seeds and,
    for timed values, beyond `noise`: the relative run-to-run spread of one timing, which a
    single timing of each network does not show (`noise_name`: how to name it, if not so)."""
    one = len(a) == len(b) == 1
    lone = "one seed each" if one else "one seed on one side" if min(len(a), len(b)) == 1 else ""
    noise_name = noise_name or f"the {100 * noise:.0f}% timing noise"
    spread = ("" if one else "the seed spread") + (" and " if noise and not one else "") + (noise_name if noise else "")
    if sign := _sign(a, b, noise):
        word = above if sign > 0 else below
        return f"{word}, {lone}: no spread to judge by" if lone else f"{word} beyond {spread}"
    if noise and not lone and (sign := _sign(a, b)):  # apart by the seeds, together by the timing
        return f"{above if sign > 0 else below} beyond the seed spread, but within {noise_name} (a tie)"
    return f"one seed each, within {spread} (a tie)" if one and noise else f"within {spread or 'the seed spread'} (a tie)"


def _faster(a: list[float], b: list[float], noise: float = 0.0) -> str:
    """Whether latencies `a` (one per seed) are below `b` beyond the spread of their seeds (and `noise`)."""
    return _beyond(a, b, above="slower", below="faster", noise=noise)


def _timed(new: list[float], old: list[float], noise: float) -> str:
    """Whether one network's latencies `new` lie below another's `old`: timed together several
    times, beyond the spread of those timings; timed once each, beyond the timing noise; or a tie."""
    faster = "faster" if np.median(new) < np.median(old) else "slower" if np.median(new) > np.median(old) else "as fast"
    if _repeated(new, old):
        n = min(len(new), len(old))
        return (f"{faster} beyond the spread of {n} timings together" if _timed_sign(new, old, noise)
                else f"within the spread of {n} timings together (a tie)")
    if not noise:
        return f"{faster}, one timing each: no timing noise on record to judge by"
    if _timed_sign(new, old, noise):
        return f"{faster} beyond the {100 * noise:.0f}% timing noise"
    return f"within the {100 * noise:.0f}% timing noise (a tie)"


def _timed_sign(new: list[float], old: list[float], noise: float) -> int:
    """`_sign` for latencies: timed together several times, their ranges are the noise; timed once
    each, `noise` (timing.json's) stands for it."""
    return _sign(new, old, 0.0 if _repeated(new, old) else noise)


def _timing_noise(results: Path) -> float:
    """The largest run-to-run spread of a latency ratio measured here (benchmarks/timing.py's
    stability part: the same two networks timed five times, interleaved), as a fraction; taken for
    every platform, also those without a stability run of their own."""
    spreads = [r["ratio_spread_pct"] for r in records.load(results / "timing.json") if r["part"] == "stability"]
    return max(spreads, default=0.0) / 100


def _noise_line(results: Path) -> str:
    """Where `_timing_noise` comes from, for the line under a table that uses it."""
    runs = [r for r in records.load(results / "timing.json") if r["part"] == "stability"]
    if not runs:
        return ""
    return (f"\nTiming noise: {max(r['ratio_spread_pct'] for r in runs):.1f}%, the largest spread of a latency ratio over "
            f"back-to-back timings in {len(runs)} stability runs ({', '.join(sorted({r['backend'] for r in runs}))}; "
            "`python benchmarks/timing.py --part stability`), taken for every platform.\n")


def _versus(groups: dict[str, list[dict]], new: str, old: str, what: str) -> str:
    """One verdict: setting `new` against `old` on the best child's proxy accuracy, its latency by the
    CPU table and its soft reward on that latency, each within or beyond the seeds' spread."""
    a, b = [_searched(r) for r in groups[new]], [_searched(r) for r in groups[old]]
    parts = []
    for key, name, fmt, judge in (("best_accuracy", "best child's proxy accuracy", ".4f", _beyond),
                                  ("best_ratio", "its latency / MobileNetV2 (CPU table)", ".2f", _faster),
                                  ("on_measured", "its soft reward on the table's latency", ".4f", _beyond)):
        x, y = [g[key] for g in a], [g[key] for g in b]
        unit = "x" if key == "best_ratio" else ""
        parts.append(f"{name} {np.mean(y):{fmt}}{unit} -> {np.mean(x):{fmt}}{unit}, {judge(x, y)}")
    return f"{what}: " + "; ".join(parts) + "."


def cross_platform_table(results: Path) -> str:
    """Sec. 5, searched for one platform, run on another: rows the platform a search measured,
    columns where its best network runs (latency / MobileNetV2's there, over seeds); under it, for
    each platform, whether the search for it found the fastest network there."""
    rs, timed = records.load(results / "cross-platform.json"), records.load(results / "cross-platform-latency.json")
    if not rs:
        return ("*(no record yet: `python benchmarks/searches.py cross-platform --samples 300 --seeds 0,1 "
                "--latency-table FILE` once per platform)*\n")
    networks = {r["run"]: r.get("best_arch") for r in rs}
    timed = [t for t in timed if t["networks"] == networks]  # timings of exactly these searches' best
    groups, run_on = _settings(rs), [t["backend"] for t in timed]
    searched_for = [g for g in ("cpu", "executorch", "executorch-int8") if g in groups]
    ratios = {t["backend"]: {g: [t["ratios"][r["run"]] for r in groups[g]] for g in groups} for t in timed}
    header = ["searched for", "seeds", "best child's proxy accuracy", *(f"run on {b}" for b in run_on)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows += ["| " + " | ".join([g, str(len(groups[g])), mean_range([r["best_accuracy"] for r in groups[g]]),
                                *(f"{mean_range(ratios[b][g], '.2f')}x" for b in run_on)]) + " |"
             for g in searched_for]
    verdicts, noise = [], _timing_noise(results)
    for b in (b for b in run_on if b in groups):  # on each platform, its own search's network against the others'
        own = ratios[b][b]
        for other in (g for g in searched_for if g != b):
            theirs = ratios[b][other]
            verdicts.append(f"on {b}, the network searched for {b} runs {np.mean(theirs) / np.mean(own):.2f}x as "
                            f"fast as the one searched for {other}: {_faster(own, theirs, noise)}")
    text = "\n".join(rows) + "\n" + "".join(f"\n- {v}" for v in verdicts) + ("\n" if verdicts else "") + (
        _noise_line(results) if verdicts and noise else "")
    untimed = ("\n*(best networks not timed on every platform yet: `python benchmarks/platforms.py --searched "
               "benchmarks/results/cross-platform.json`)*\n")
    return text + provenance_line(rs) + _search_time(rs) + (provenance_line(timed) if timed else untimed)


def default_search_table(results: Path) -> str:
    """The README's `python train.py --search` as it is: what it took and what it found."""
    rs = records.load(results / "default-search.json")
    if not rs:
        return "*(no record yet: `python benchmarks/searches.py default-search --samples 100`)*\n"
    rows = ["| children | failed | children's time | best child: reward, accuracy, latency / MobileNetV2 "
            "| mean reward per quarter of the run |", "|---|---|---|---|---|"]
    for r in rs:
        ratio = f"{r['best_measured_ms'] / r['mobilenetv2_ms']:.2f}x" if r["best_measured_ms"] and r["mobilenetv2_ms"] else ""
        rows.append(f"| {r['children']} | {r['failed']} | {r['children_seconds'] / 60:.0f} min "
                    f"| child {r['best_child'] + 1}: {r['best_reward']:.4f}, {r['best_accuracy']:.4f}, {ratio} "
                    f"| {', '.join(f'{q:.3f}' for q in r['quarter_mean_rewards'])} |")
    return "\n".join(rows) + "\n" + provenance_line(rs)
