"""The search experiments' tables: the learning rule alone (benchmarks/learning.py), and from
benchmarks/searches.py's summaries RL vs random and PPO, soft vs hard (Fig. 6), Table 5, FLOPs vs
measured latency, searched for one platform and run on another (Sec. 5), and the README's default
search; with them Table 6 (layer diversity: trained, not searched).

Every verdict comes from benchmarks/verdicts.py's one rule, on the replicates that vary for its
question: search seeds for "setting X finds better networks", training seeds for "network A is
more accurate", timings together for "network A is faster". Each table function takes the page's
`verdicts.Page`, so that the page's verdicts are corrected together; `benchmarks/tables.py` puts
them on the pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import mnas
import records
from models import arch_from_dict, network_key
from records import group, mean_range, provenance_line
from verdicts import ACCURACY, LATENCY, REWARD, Page, Verdict, on_page, welch


TIMED_ON = ("cpu", "executorch", "executorch-int8")  # the platforms a timing run may hold


def machines_note(*sides: list[dict]) -> str:
    """Said beside a verdict whose replicates ran on more than one machine: the machine is then
    part of what varies (the same training gave 0.9202 on an AMD EPYC and 0.9226 on a Xeon)."""
    def short(m):
        return "Xeon" if "Xeon" in m else "EPYC" if "EPYC" in m else m.split(",")[0]

    got = [sorted({short(r.get("machine", "?")) for r in side}) for side in sides if side]
    if not got or all(g == got[0] for g in got) and len(got[0]) == 1:
        return ""
    return "machines: " + " against ".join("+".join(g) for g in got)


def committed(*sides: list[dict]) -> tuple[list[list[dict]], str]:
    """The sides' records that ran from committed code, and the note a verdict carries: the
    machines, and how many `+dirty` records (code not in the history) were left out. No verdict
    rests on a +dirty record; the tables still show them, marked in their provenance lines."""
    clean = [[r for r in side if not records.is_dirty(r)] for side in sides]
    dropped = sum(len(side) - len(c) for side, c in zip(sides, clean))
    notes = [machines_note(*clean)] + ([f"{dropped} +dirty record{'s' * (dropped > 1)} left out"]
                                       if dropped else [])
    return clean, "; ".join(n for n in notes if n)


def _run(record: dict) -> str:
    """A search summary's unit: its run (a +dirty summary gives way to the run searched again)."""
    return record["run"]


def _search_time(rs: list[dict]) -> str:
    """For search runs, which may span sessions: their children's own time in all (a summary
    reused from another experiment, `same_as`, is counted there)."""
    if not all("children_seconds" in r for r in rs):
        return ""
    own = [r for r in rs if not r.get("same_as")]
    reused = sorted({r["same_as"] for r in rs if r.get("same_as")})
    counted = f" ({', '.join(reused)}: counted there)" if reused else ""
    hours = sum(r["children_seconds"] for r in own) / 3600
    return (f"*Children trained and scored for {hours:.1f} h in all, summed over every session the "
            f"runs spanned{counted}.*\n")


def _settings(rs: list[dict]) -> dict[str, list[dict]]:
    """Search summaries grouped by setting: the run's name without its "-seedN"."""
    return group(rs, lambda r: records.setting(r["run"]))


def _searched(r: dict) -> dict[str, float]:
    """What a search summary says of its run on measured latency (its latency table's prediction
    when it had one), whatever its reward and LAT(m)."""
    return {"best_accuracy": r["best_accuracy"],
            "best_ratio": r["best_measured_ms"] / r["mobilenetv2_ms"],
            "above_t": 100 * r["measured_above_t"], "on_measured": r["best_reward_on_measured"]}


def _search_rows(groups: dict[str, list[dict]], order: list[str], label) -> list[str]:
    rows = ["| setting | seeds | children | best child's proxy accuracy "
            "| its latency / MobileNetV2 (CPU table) | children above T (CPU table) "
            "| best child's soft reward on the CPU table's latency |",
            "|---|---|---|---|---|---|---|"]
    for name in [n for n in order if n in groups]:
        got = [_searched(r) for r in groups[name]]
        col = lambda k, fmt=".4f": mean_range([g[k] for g in got], fmt)  # noqa: E731
        reused = " (reused)" if any(r.get("same_as") for r in groups[name]) else ""
        rows.append(f"| {label(name)}{reused} | {len(got)} | {groups[name][0]['children']} "
                    f"| {col('best_accuracy')} | {col('best_ratio', '.2f')}x "
                    f"| {col('above_t', '.0f')}% "
                    f"| {col('on_measured')} |")
    return rows


# ----------------------------------------------------------------------------- Sec. 4.2

def learning_table(results: Path, page: Page | None = None) -> str:
    """Sec. 4.2, the learning rule alone (benchmarks/learning.py): per run of the benchmark and per
    method, the noise-free score of the architecture each search found best, over its seeds."""
    rs = records.load(results / "learning.json")
    if not rs:
        return "*(no record yet: `python benchmarks/learning.py`)*\n"
    latest = {(r["command"], r["seed"], r["method"]): r for r in rs}.values()  # a re-run replaces
    rows = ["| objective | seeds | method | best architecture's score | exactly the optimum (1.0) "
            "| within 5% of it | beats random search's best, same seed |",
            "|---|---|---|---|---|---|---|"]
    for runs in group(list(latest), lambda r: r["command"]).values():
        seeds = sorted({r["seed"] for r in runs})
        random = {r["seed"]: r["best"] for r in runs if r["method"] == "random"}
        for method, got in group(runs, lambda r: r["method"]).items():
            best = [r["best"] for r in got]
            match = got[0]["objective"] == "match"  # Eq. 2's optimum is unknown: no share of it
            against = [r for r in got if r["seed"] in random]  # a run stopped mid-seed may lack one
            won = sum(r["best"] > random[r["seed"]] for r in against)
            wins = "" if method == "random" else f"{won}/{len(against)}"
            exact = f"{sum(b >= 1.0 for b in best)}/{len(best)}" if match else ""
            near = f"{sum(b >= 0.95 for b in best)}/{len(best)}" if match else ""
            rows.append(f"| {got[0]['objective']} | {seeds[0]}-{seeds[-1]} | {method} "
                        f"| {mean_range(best, '.3f')} | {exact} | {near} | {wins} |")
    return "\n".join(rows) + "\n" + provenance_line(list(latest))


def rl_vs_random_table(results: Path, page: Page | None = None) -> str:
    """RL vs random search (Sec. 4.2), with PPO's runs (ppo.json) beside them: per run; then each
    learner against random search, and PPO against REINFORCE, over search seeds."""
    rs = records.load(results / "rl-vs-random.json") + records.load(results / "ppo.json")
    if not rs:
        return "*(no results yet: `python benchmarks/searches.py rl-vs-random`)*\n"
    rows = ["| method | seed | children | best reward | mean reward, last quarter "
            "| within 10% below T | greedy architecture's reward |",
            "|---|---|---|---|---|---|---|"]
    for r in sorted(rs, key=lambda r: (r["flags"][1], r["flags"][3])):
        greedy = f"{r['greedy_reward']:.4f}" if r["greedy_reward"] is not None else "(none)"
        rows.append(f"| {r['flags'][1]} | {r['flags'][3]} | {r['children']} "
                    f"| {r['best_reward']:.4f} | {r['last_quarter_mean_reward']:.4f} "
                    f"| {100 * r['within_10pct_below_t']:.0f}% | {greedy} |")
    by_method = group(rs, lambda r: r["flags"][1])
    # the paper's rule against the project's default on the same machine and latency table:
    # Table 5's multi-objective factorized runs are this search with REINFORCE (the same flags,
    # seeds, children)
    twins = [r for r in records.load(results / "table5.json")
             if records.setting(r["run"]) == "multi-factorized"]

    def text(page: Page) -> str:
        lines = []
        for learner, name in (("reinforce", "REINFORCE"), ("ppo", "PPO")):
            if learner in by_method and "random" in by_method:
                lines.append(f"- {name} against random search, last quarter's mean reward: "
                             + page.say(f"rl:{learner}>random:last_quarter_mean_reward",
                                        rl_test(by_method[learner], by_method["random"])))
        if "ppo" in by_method and twins:
            (ppo, reinforce), note = committed(by_method["ppo"], twins)
            for key, what in (("last_quarter_mean_reward", "last quarter's mean reward"),
                              ("best_reward", "best reward")):
                lines.append(f"- PPO against REINFORCE (Table 5's multi-objective factorized "
                             f"runs), {what}: " + page.say(f"rl:ppo>reinforce:{key}", welch(
                                 what, [r[key] for r in ppo], [r[key] for r in reinforce],
                                 REWARD, "search seeds", note)))
        return ("\n".join(rows) + "\n\n" + "\n".join(lines) + "\n" + provenance_line(rs)
                + _search_time(rs))

    return on_page(page, text)


def rl_test(learner: list[dict], random: list[dict]):
    """A learner's runs against random search's: the last quarter's mean reward, search seeds."""
    (learner, random), note = committed(learner, random)
    return welch("last quarter's mean reward", [r["last_quarter_mean_reward"] for r in learner],
                 [r["last_quarter_mean_reward"] for r in random], REWARD, "search seeds", note)


def fig6_table(results: Path, page: Page | None = None) -> str:
    """Soft vs hard constraint (Fig. 6): how the second half's samples crowd below T, for each
    pair of runs (fig6.json, and fig6-<name>.json for other settings such as another T). One run
    per constraint: a description, no verdict."""
    files = sorted(results.glob("fig6*.json"),
                   key=lambda path: (path.name != "fig6.json", path.name))
    rs = [r for path in files for r in records.standing(records.load(path), _run)]
    if not rs:
        return "*(no results yet: `python benchmarks/searches.py fig6`)*\n"
    rows = ["| constraint | children | T (ms) | second half within [0.8 T, T] "
            "| second half's latency IQR (ms) | second half's median latency / T "
            "| second half above T | best reward |", "|---|---|---|---|---|---|---|---|"]
    rows += [f"| {r['run']} | {r['children']} | {r['target_ms']:.2f} "
             f"| {100 * r['second_half_in_0.8t_t']:.0f}% | {r['second_half_latency_iqr_ms']:.2f} "
             f"| {r['second_half_median_over_t']:.2f} | {100 * r['second_half_above_t']:.0f}% "
             f"| {r['best_reward']:.4f} |" for r in rs]
    return "\n".join(rows) + "\n" + provenance_line(rs) + _search_time(rs)


# ----------------------------------------------------------------------------- Table 5, FLOPs

TABLE5_NAMES = {"single": "accuracy only", "multi": "multi-objective (soft)"}
TABLE5_STEPS = [("multi-cell", "single-cell",
                 "Cell space, accuracy only -> multi-objective (the paper's first step)"),
                ("multi-factorized", "multi-cell",
                 "Multi-objective, cell -> factorized space (its second step)"),
                ("single-factorized", "single-cell", "Accuracy only, cell -> factorized space")]
FLOPS_STEPS = [("macs", "measured", "LAT(m) measured -> MACs")]


def table5_label(name: str) -> str:
    return f"{TABLE5_NAMES[name.split('-')[0]]}, {name.split('-')[1]} space"


def flops_label(name: str) -> str:
    return {"macs": "LAT(m) = MACs, T = MobileNetV2's MACs",
            "measured": "LAT(m) = latency (CPU table)"}[name]


def table5_table(results: Path, page: Page | None = None) -> str:
    """Sec. 7.2, Table 5: the reward (accuracy alone or Eq. 2's) against the space (one stacked
    cell or factorized), each setting over its search seeds, on the CPU latency table's latency."""
    return _experiment_table(results, page, "table5", table5_label, TABLE5_STEPS,
                             ["single-cell", "multi-cell", "single-factorized", "multi-factorized"])


def flops_table(results: Path, page: Page | None = None) -> str:
    """Sec. 1: LAT(m) as multiply-adds against measured latency (the CPU latency table), each over
    its search seeds, compared on the table's latency."""
    return _experiment_table(results, page, "flops", flops_label, FLOPS_STEPS, ["macs", "measured"])


def _experiment_table(results: Path, page: Page | None, experiment: str, label, steps,
                      order) -> str:
    rs = records.load(results / f"{experiment}.json")
    if not rs:
        return (f"*(no record yet: `python benchmarks/searches.py {experiment} --samples 300 "
                "--seeds 0,1 --latency-table runs/latency_table_cpu.json`)*\n")
    groups = _settings(rs)

    def text(page: Page) -> str:
        verdicts = "".join(f"\n- {what}, over search seeds:" + search_verdicts(
            page, f"{experiment}:{new}>{old}", groups[new], groups[old])
            for new, old, what in steps if new in groups and old in groups)
        return ("\n".join(_search_rows(groups, order, label)) + "\n" + verdicts
                + ("\n" if verdicts else "") + provenance_line(rs) + _search_time(rs)
                + _trained(results, page, experiment, label, steps))

    return on_page(page, text)


# what a search found (its best child: the maximum of many noisy draws, a winner's curse) and
# what its policy learned (its last quarter's children, on average)
SEARCH_MEASURES = [("best_accuracy", "best child's proxy accuracy", ACCURACY),
                   ("best_ratio", "its latency / MobileNetV2 (CPU table)", LATENCY),
                   ("on_measured", "its soft reward on the table's latency", REWARD)]
POLICY_MEASURES = [("last_quarter_accuracy", "proxy accuracy", ACCURACY),
                   ("last_quarter_ratio", "latency / MobileNetV2", LATENCY),
                   ("last_quarter_reward_on_measured", "soft reward on the table's latency",
                    REWARD)]


def search_tests(new: list[dict], old: list[dict]) -> dict[str, tuple[str, object]]:
    """{measure: (its name, its test)} of two settings' searches: the best child's measures, and
    the last quarter's where every run of both recorded it."""
    (new, old), note = committed(new, old)
    a, b = [_searched(r) for r in new], [_searched(r) for r in old]
    tests = {key: (name, welch(name, [x[key] for x in a], [x[key] for x in b], scale,
                               "search seeds", note)) for key, name, scale in SEARCH_MEASURES}
    if all(key in r for r in new + old for key, _, _ in POLICY_MEASURES):
        tests |= {key: (f"last quarter's {name}", welch(name, [r[key] for r in new],
                                                         [r[key] for r in old], scale,
                                                         "search seeds", note))
                  for key, name, scale in POLICY_MEASURES}
    return tests


def search_verdicts(page: Page, key: str, new: list[dict], old: list[dict]) -> str:
    """Sub-bullets: each measure old -> new, and its verdict."""
    lines = []
    for measure, (name, test) in search_tests(new, old).items():
        x, y = test.a, test.b
        fmt = ((lambda v: f"{np.exp(np.mean(np.log(v))):.2f}x" if v else "-") if test.scale.log
               else (lambda v: f"{np.mean(v):.4f}" if v else "-"))
        lines.append(f"\n  - {name} {fmt(y)} -> {fmt(x)}: {page.say(f'{key}:{measure}', test)}")
    if not any(m.startswith("last_quarter") for m in search_tests(new, old)):
        lines.append("\n  - what the policy learned (the last quarter's means): not in these "
                     "records (summaries from before it was kept)")
    return "".join(lines)


# ----------------------------------------------------------------------------- trained winners

def _trained(results: Path, page: Page, experiment: str, label, steps) -> str:
    """The searches' winners trained with the final recipe (table1.py --searches): each search's
    own (--per-search, "<experiment>/<run>"), compared over search seeds; or, before those exist,
    each setting's best over its seeds, one network per side."""
    rs = records.load(results / f"{experiment}-final.json")
    if not rs:
        return (f"\n*(the winners not trained yet: `python benchmarks/table1.py --searches "
                f"benchmarks/results/{experiment}.json --per-search --epochs 5 --seeds 1 "
                "--executorch`)*\n")
    together = timed_together(results, f"{experiment}-final", rs)
    per_search = [r for r in rs if records.setting(r["name"]) != r["name"]]  # ".../<setting>-seedN"
    # the searches whose network the summaries keep: once each has its winner trained, they are
    # the comparison; until then the settings' best networks stay, and the count is said
    want = {f"{experiment}/{r['run']}" for r in records.load(results / f"{experiment}.json")
            if r.get("best_arch")}
    have = {r["name"] for r in per_search} & want
    if per_search and have == want:
        return _trained_per_search(results, page, experiment, label, steps, per_search, together)
    rs = [r for r in rs if records.setting(r["name"]) == r["name"]]
    pending = (f"\n*Every search's own winner, trained: {len(have)} of {len(want)} so far; the "
               "comparison moves to them, the search as the unit, when all are.*\n"
               if per_search else "")
    if not rs:
        return pending
    rows = ["| setting's best network, trained | seeds | test accuracy | params | MACs "
            "| CPU latency / MobileNetV2 | ExecuTorch |", "|---|---|---|---|---|---|---|"]
    trained = group(rs, lambda r: r["name"].split("/", 1)[1])
    for name, runs in trained.items():
        reused = f" (the same network as {runs[0]['same_as']})" if runs[0].get("same_as") else ""
        accs = [x["test_accuracy"] for x in runs]
        rows.append(f"| {label(name)}{reused} | {len(runs)} | {mean_range(accs)} "
                    + size_and_latency(runs[0], together))
    lines = [f"\n- Trained, {_lower(what)} (one network per side, the best of its setting's "
             "seeds: this compares two networks, not the settings): "
             + network_verdicts(page, f"{experiment}-final:{new}>{old}", trained[new], trained[old],
                                together, target=_target(results, experiment)) + "."
             for new, old, what in steps if new in trained and old in trained]
    return ("\n" + "\n".join(rows) + "\n" + "".join(lines) + ("\n" if lines else "")
            + provenance_line(rs) + together_line(results, f"{experiment}-final", together)
            + pending)


def _lower(what: str) -> str:
    return what if what[:2].isupper() else what[0].lower() + what[1:]  # "LAT(m) ..." stays


def _target(results: Path, experiment: str) -> float | None:
    """The searches' T as a ratio to MobileNetV2 (1.0 for all of them here)."""
    searched = records.load(results / f"{experiment}.json")
    targets = {round(r["target_ms"] / r["mobilenetv2_ms"], 3) for r in searched
               if r.get("lat_unit") == "ms"}
    return targets.pop() if len(targets) == 1 else None


def _trained_per_search(results: Path, page: Page, experiment: str, label, steps, rs, together):
    """Every search's winner trained: per setting, the winners' test accuracy (each the mean over
    its training seeds) and latency (each its median timing), compared over search seeds."""
    winners = group(rs, lambda r: r["name"])  # one network per search, its training seeds
    by_setting = group(list(winners.values()),
                       lambda runs: records.setting(runs[0]["name"]).split("/")[1])
    acc = lambda runs: float(np.mean([x["test_accuracy"] for x in runs]))  # noqa: E731
    lat = lambda runs, b: float(np.median(latencies(runs, together, b) or [np.nan]))  # noqa: E731
    rows = ["| setting: its searches' winners, trained | searches | test accuracy | CPU latency / "
            "MobileNetV2 | ExecuTorch |", "|---|---|---|---|---|"]
    for name, nets in by_setting.items():
        rows.append(f"| {label(name)} | {len(nets)} | {mean_range([acc(n) for n in nets])} "
                    f"| {mean_range([lat(n, 'cpu') for n in nets], '.3f')} "
                    f"| {mean_range([lat(n, 'executorch') for n in nets], '.3f')} |")
    target, lines = _target(results, experiment), []
    for new, old, what in steps:
        if new not in by_setting or old not in by_setting:
            continue
        flat = lambda nets: [x for n in nets for x in n]  # noqa: E731
        (ca, cb), note = committed(flat(by_setting[new]), flat(by_setting[old]))
        a, b = (list(group(ca, lambda r: r["name"]).values()),
                list(group(cb, lambda r: r["name"]).values()))
        parts = ["test accuracy " + page.say(f"{experiment}-winners:{new}>{old}:acc", welch(
            "test accuracy", [acc(n) for n in a], [acc(n) for n in b], ACCURACY, "search seeds",
            note))]
        for backend, name in (("cpu", "CPU latency"), ("executorch", "ExecuTorch latency")):
            x, y = [lat(n, backend) for n in a], [lat(n, backend) for n in b]
            if not np.isnan(x + y).any():
                parts.append(f"{name} " + page.say(
                    f"{experiment}-winners:{new}>{old}:{backend}",
                    welch(name, x, y, LATENCY, "search seeds", note)))
        if target and not any(np.isnan(lat(n, "cpu")) for n in a + b):
            def reward(nets):
                return [mnas.reward(acc(n), lat(n, "cpu"), target) for n in nets]

            parts.append("soft reward on the timed CPU latency " + page.say(
                f"{experiment}-winners:{new}>{old}:reward", welch(
                    "soft reward", reward(a), reward(b), REWARD, "search seeds", note)))
        lines.append(f"\n- Trained, {_lower(what)}, every search's winner: "
                     + "; ".join(parts) + ".")
    return ("\n" + "\n".join(rows) + "\n" + "".join(lines) + ("\n" if lines else "")
            + provenance_line(rs) + together_line(results, f"{experiment}-final", together))


def network_verdicts(page: Page, key: str, new: list[dict], old: list[dict],
                     together: dict | None, target: float | None = None,
                     timing_key: str | None = None) -> str:
    """Two trained networks (their records, one per training seed), old -> new: test accuracy over
    training seeds; CPU (and ExecuTorch) latency / MobileNetV2 over their timings together (one
    timing each, beside its training, decides nothing); with the searches' T (/ MobileNetV2), the
    soft reward of Eq. 2 over training seeds at each network's median CPU latency."""
    (new, old), note = committed(new, old)
    if not (new and old):
        return f"no record from committed code on a side ({note}): no verdict"
    acc = [x["test_accuracy"] for x in new], [x["test_accuracy"] for x in old]
    text = (f"test accuracy {np.mean(acc[1]):.4f} -> {np.mean(acc[0]):.4f}, "
            + page.say(f"{key}:acc",
                       welch("test accuracy", *acc, ACCURACY, "training seeds", note)))
    cpu = _paired(new, old, together, "cpu")
    for lat, name, backend in ((cpu, "CPU latency / MobileNetV2", "cpu"),
                               (_paired(new, old, together, "executorch"), "ExecuTorch",
                                "executorch")):
        if all(lat):
            text += (f"; {name} {np.median(lat[1]):.3f} -> {np.median(lat[0]):.3f}, "
                     + page.say(f"{timing_of(key, timing_key, new, old, together, backend)}:"
                                f"{backend}", welch(name, *lat, LATENCY, "timings")))
    if target is None or not all(cpu):
        return text
    rewards = [[mnas.reward(x["test_accuracy"], float(np.median(lat)), target) for x in runs]
               for runs, lat in ((new, cpu[0]), (old, cpu[1]))]
    return (text + f"; soft reward at the median CPU latency (Eq. 2, T = {target:g}x MobileNetV2) "
            f"{np.mean(rewards[1]):.4f} -> {np.mean(rewards[0]):.4f}, "
            + page.say(f"{key}:reward",
                       welch("soft reward", *rewards, REWARD, "training seeds", note)))


def timing_of(key: str, timing_key: str | None, new: list[dict], old: list[dict],
              together: dict | None, backend: str) -> str:
    """The key of two networks' latency comparison: `timing_key` when both were timed together
    (the same timings, whatever else the comparison's records differ in, are one comparison on
    the page), else `key`."""
    return timing_key if timing_key and timed_both(new, old, together, backend) else key


def timed_both(new: list[dict], old: list[dict], together: dict | None, backend: str) -> bool:
    """Were both networks timed together (`together`, from table1.py --retime) on `backend`?"""
    timed = (together or {}).get(backend, {})
    return new[0]["name"] in timed and old[0]["name"] in timed


def size_and_latency(r: dict, together: dict | None = None) -> str:
    """A trained network's last columns: params, MACs, CPU and ExecuTorch latency / MobileNetV2
    (the median and range of its timings together with the table's other networks, if there are)."""
    return (f"| {r['params'] / 1e6:.2f}M | {r['macs'] / 1e6:.0f}M "
            f"| {_cell(latencies([r], together, 'cpu'))} "
            f"| {_cell(latencies([r], together, 'executorch'))} |")


def _cell(values: list[float]) -> str:
    """Latencies as "median (min-max)", one value as itself (the reference against itself:
    1.000)."""
    if len(set(values)) > 1:
        return f"{np.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"
    return f"{values[0]:.3f}" if values else ""


def timed_together(results: Path, stem: str,
                   trained: list[dict] = ()) -> dict[str, dict[str, list[float]]]:
    """{backend: {network: [latency / MobileNetV2, ...]}}: every timing of the runs that timed a
    table's networks together (table1.py --retime, <stem>-timing.json), pooled, so that a network's
    timings also hold the drift between runs; {} where no run has. A run that timed another
    architecture under the name of one of the `trained` records is left out for it."""
    want = {r["name"]: network_key(arch_from_dict(r["arch"])) for r in trained if r.get("arch")}
    pooled: dict[str, dict[str, list[float]]] = {}
    for r in committed(records.load(results / f"{stem}-timing.json"))[0][0]:  # no +dirty timing
        timed = {name: network_key(arch_from_dict(a)) for name, a in r.get("archs", {}).items()
                 if name in want}
        for backend in TIMED_ON:
            for name, values in r.get(backend, {}).items():
                if name in timed and timed[name] != want[name]:
                    continue
                pooled.setdefault(backend, {}).setdefault(name, []).extend(values)
    return pooled


def together_line(results: Path, stem: str, together: dict[str, dict[str, list[float]]]) -> str:
    """Where the latency columns come from when the networks were timed together (`together`:
    what `timed_together` pooled from those runs)."""
    rs = records.load(results / f"{stem}-timing.json")
    timed = {name: values for backend in together.values() for name, values in backend.items()
             if name != "mobilenetv2"}
    if not rs or not timed:
        return ""
    counts = sorted({len(values) for values in timed.values()})
    count = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    networks = "both" if len(timed) == 2 else f"all {len(timed)}"
    return (f"\nLatency: the median (min-max) of {count} timings per network and platform, from "
            f"{len(rs)} {'run' if len(rs) == 1 else 'runs'} "
            f"of `--retime` timing {networks} networks "
            f"and MobileNetV2 together, interleaved ({' and '.join(together)}); the timings of a "
            "network, drift between runs included, are the replicates of its latency verdicts."
            + provenance_line(rs))


def latencies(runs: list[dict], together: dict | None, backend: str) -> list[float]:
    """A trained network's latency / MobileNetV2 on `backend` ("cpu" or "executorch"): its timings
    together with the table's other networks if there are, else the one taken beside its
    training."""
    name = runs[0]["name"]
    if name in (together or {}).get(backend, {}):
        return together[backend][name]
    value = runs[0].get("latency_ratio" if backend == "cpu" else "executorch_ratio")
    return [value] if value else []


def _paired(new: list[dict], old: list[dict], together: dict | None, backend: str):
    """Two trained networks' latencies on `backend` from one source: their timings together if both
    have them, else each one's timing beside its training (never one of each)."""
    both = timed_both(new, old, together, backend)
    return (latencies(new, together if both else None, backend),
            latencies(old, together if both else None, backend))


# ----------------------------------------------------------------------------- Table 6

# Sec. 7.3, Table 6 (ImageNet top-1, Pixel 1 latency): the paper's row for each network
PAPER_TABLE6 = {"mnasnet-a1": "75.2% / 78 ms", "mnasnet-a1-all-mbconv3-k3": "71.8% / 63 ms",
                "mnasnet-a1-all-mbconv3-k5": "72.5% / 78 ms",
                "mnasnet-a1-all-mbconv6-k3": "74.9% / 116 ms",
                "mnasnet-a1-all-mbconv6-k5": "75.6% / 146 ms"}


def table6_table(results: Path, page: Page | None = None) -> str:
    """Sec. 7.3, Table 6: MnasNet-A1 against itself with one layer type everywhere, beside the
    paper's ImageNet row; test accuracy over seeds (mean and range) and latency vs MobileNetV2; then
    each variant against A1 (with the soft reward that scores a trade-off), and whether A1's mix is
    beaten on both counts (the paper: it is not)."""
    rs = records.load(results / "table6.json")
    if not rs:
        return ("*(no record yet: `python benchmarks/table1.py --table6 --epochs 5 --seeds 2 "
                "--executorch`)*\n")
    by_name = group(rs, lambda r: r["name"])
    together = timed_together(results, "table6", rs)
    rows = ["| network | paper (ImageNet, Pixel 1) | test accuracy: mean (min-max), seeds | params "
            "| MACs | CPU latency / MobileNetV2 | ExecuTorch latency / MobileNetV2 |",
            "|---|---|---|---|---|---|---|"]
    # alphabetical is the paper's order: A1, MBConv3 3x3 ... MBConv6 5x5
    for name in sorted(by_name):
        accs = [x["test_accuracy"] for x in by_name[name]]
        rows.append(f"| {name} | {PAPER_TABLE6.get(name, '')} | {mean_range(accs)}, {len(accs)} "
                    + size_and_latency(by_name[name][0], together))
    a1 = by_name.get("mnasnet-a1")

    def text(page: Page) -> str:
        lines = []
        for name in sorted(set(by_name) - {"mnasnet-a1"}) if a1 else []:
            key = f"table6:{name}>a1"
            versus = network_verdicts(page, key, by_name[name], a1, together, target=1.0)
            lines.append(f"\n- A1 -> {name.removeprefix('mnasnet-a1-')}: {versus}"
                         + page.compose([f"{key}:acc", f"{key}:cpu", f"{key}:executorch"],
                                        against_a1) + ".")
        return ("\n".join(rows) + "\n" + "".join(lines) + ("\n" if lines else "")
                + provenance_line(rs) + together_line(results, "table6", together))

    return on_page(page, text)


def trade_off(accuracy: str, latency: str) -> str:
    """A variant against A1 from two verdicts' outcomes (accuracy: higher/lower/equal/undecided;
    latency: faster/slower/equal/undecided): better on one count and no worse on the other, worse
    on one and no better on the other, a trade-off, equal on both; else undecided."""
    score = {"higher": 1, "faster": 1, "equal": 0, "lower": -1, "slower": -1}
    if accuracy not in score or latency not in score:
        return "undecided"
    a, b = score[accuracy], score[latency]
    if a == b == 0:
        return "equal to A1 on both"
    if a * b < 0:
        return "a trade-off"
    return ("better than A1 (the paper's claim fails here)" if a + b > 0
            else "A1 is better (as in the paper)")


def against_a1(got: dict[str, Verdict | None]) -> str:
    """The trade-off on each platform timed (`trade_off`), from the page's corrected verdicts."""
    acc = got.get(next(k for k in got if k.endswith(":acc")))
    words = {"higher": "more accurate", "lower": "less accurate",
             "equal": "as accurate (within ±0.5 points)", "undecided": "undecided in accuracy"}
    parts = []
    for suffix, where in ((":cpu", "on CPU"), (":executorch", "through ExecuTorch")):
        lat = got.get(next(k for k in got if k.endswith(suffix)))
        if lat is not None and acc is not None:
            speed = {"equal": "as fast (within ±5%)"}.get(lat.outcome, lat.outcome)
            parts.append(f"{where} {speed}: {trade_off(acc.outcome, lat.outcome)}")
    if not parts:
        return ""
    return f" — against A1 it is {words[acc.outcome]}; " + "; ".join(parts)


# ----------------------------------------------------------------------------- Sec. 5

def cross_platform_table(results: Path, page: Page | None = None) -> str:
    """Sec. 5, searched for one platform, run on another: rows the platform a search measured,
    columns where its best network runs (latency / MobileNetV2's there, over seeds); under it, for
    each platform, the search for it against the others, over search seeds, and what would decide
    the comparisons left undecided. A search's latency on a platform is the geometric mean of its
    network's timings together (`platforms.py --searched FILE --retime R`,
    cross-platform-timing.json) where there are, else its one timing (cross-platform-latency.json,
    `platforms.py --searched FILE`)."""
    # a +dirty summary gives way to its re-run from a commit
    rs = records.standing(records.load(results / "cross-platform.json"), lambda r: r["run"])
    if not rs:
        return ("*(no record yet: `python benchmarks/searches.py cross-platform --samples 300 "
                "--seeds 0,1 --latency-table FILE` once per platform)*\n")
    groups = _settings(rs)
    searched_for = [g for g in TIMED_ON if g in groups]
    clean_runs = {r["run"] for r in committed(rs)[0][0]}
    together = searches_timed_together(results, rs)
    if together:  # each search's network, timed R times or more: the geometric mean of its timings
        run_on = [b for b in TIMED_ON if b in together]
        ratios = {b: {g: [_geomean(together[b][r["run"]]) for r in groups[g]
                          if r["run"] in together[b]] for g in groups} for b in run_on}
        kept = {b: {g: [_geomean(together[b][r["run"]]) for r in groups[g]
                        if r["run"] in together[b] and r["run"] in clean_runs] for g in groups}
                for b in run_on}
        timed = records.load(results / "cross-platform-timing.json")
        counts = sorted({len(v) for b in run_on for v in together[b].values()})
        how = (f"each search's network: the geometric mean of its {_span(counts)} timings "
               "together")
        left_out = len(rs) - len(clean_runs) + sum(map(records.is_dirty, timed))
        untimed = [r["run"] for r in rs if r.get("best_arch") and r["run"] in clean_runs
                   and any(r["run"] not in together[b] for b in run_on)]
        source = together_note(timed, together, run_on)
    else:  # the old records: one timing of each search's network per platform
        run_on, ratios, kept, timed, how, left_out, untimed, source = _timed_once(results, rs,
                                                                                  groups,
                                                                                  clean_runs)
    header = ["searched for", "seeds", "best child's proxy accuracy",
              *(f"run on {b}" for b in run_on)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows += ["| " + " | ".join([g, str(len(groups[g])),
                                mean_range([r["best_accuracy"] for r in groups[g]]),
                                *(f"{mean_range(ratios[b][g], '.2f')}x" if ratios[b][g] else ""
                                  for b in run_on)]) + " |"
             for g in searched_for]
    retime = ("`python benchmarks/platforms.py --searched benchmarks/results/cross-platform.json "
              "--retime 5`")
    later = (f"\n*(not timed on every platform yet: {', '.join(untimed)}; {retime})*\n"
             if untimed else "")

    def text(page: Page) -> str:
        lines, keys = [], []
        note = how + (f"; {left_out} +dirty records left out" if left_out else "")
        for b in (b for b in run_on if b in groups):  # on each platform, its own search's network
            if b not in kept:
                lines.append(f"- on {b}: no verdict: its timings are a +dirty record")
                continue
            for other in (g for g in searched_for if g != b):
                test = welch(f"latency on {b}", kept[b][b], kept[b][other], LATENCY,
                             "search seeds", note)
                keys.append(f"platform:{b}:{b}>{other}:latency")
                lines.append(f"- on {b}, the network searched for {b} against the one searched for "
                             f"{other}: " + page.say(keys[-1], test))
        if keys:
            lines.append(page.compose(keys, still_open))
        return ("\n".join(rows) + "\n\n" + "\n".join(line for line in lines if line)
                + ("\n" if lines else "") + later + provenance_line(rs) + _search_time(rs)
                + source)

    return on_page(page, text)


def searches_timed_together(results: Path, rs: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{platform: {run: [latency / MobileNetV2, ...]}}: the timings together of the searches'
    (`rs`) best networks, every committed `--retime` run pooled (`timed_together`); a run that
    timed another network under a search's name (the search since run again) is left out."""
    searched = [{"name": r["run"], "arch": r["best_arch"]} for r in rs if r.get("best_arch")]
    want = {r["name"] for r in searched}
    pooled = timed_together(results, "cross-platform", searched)
    return {b: got for b, got in ((b, {run: v for run, v in pooled[b].items() if run in want})
                                  for b in pooled) if got}


def _timed_once(results: Path, rs: list[dict], groups: dict[str, list[dict]],
                clean_runs: set[str]) -> tuple:
    """The table's columns from the old records (`platforms.py --searched FILE` without --retime):
    one timing of every search's network per platform, in one record per platform that names
    exactly these searches' networks."""
    networks = {r["run"]: r.get("best_arch") for r in rs}
    timed = [t for t in records.load(results / "cross-platform-latency.json")
             if t["networks"] == networks]  # timings of exactly these searches'
    run_on = [t["backend"] for t in timed]
    ratios = {t["backend"]: {g: [t["ratios"][r["run"]] for r in groups[g]] for g in groups}
              for t in timed}
    clean = committed(timed)[0][0]  # the timing runs from committed code, pooled per platform
    kept = {b: {g: [_geomean([t["ratios"][r["run"]] for t in clean if t["backend"] == b])
                    for r in groups[g] if r["run"] in clean_runs] for g in groups}
            for b in {t["backend"] for t in clean}}
    left_out = len(rs) - len(clean_runs) + len(timed) - len(clean)
    untimed = [] if timed else ["every search"]
    source = provenance_line(timed) if timed else ""
    return (run_on, ratios, kept, timed, "one timing of each search's network", left_out,
            untimed, source)


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def _span(counts: list[int]) -> str:
    return f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def together_note(timed: list[dict], together: dict, run_on: list[str]) -> str:
    """Where Sec. 5's latencies come from when the searches' networks were timed together."""
    counts = sorted({len(v) for b in run_on for v in together[b].values()})
    runs = len(committed(timed)[0][0])
    return (f"\nLatency: each search's network timed {_span(counts)} times per platform together "
            f"with the others and MobileNetV2, interleaved, in {runs} "
            f"{'run' if runs == 1 else 'runs'} of `platforms.py --searched ... --retime` "
            f"({', '.join(run_on)}); a search's latency is the geometric mean of its network's "
            "timings, and the replicates of a verdict are the search seeds."
            + provenance_line(timed))


def still_open(got: dict[str, Verdict | None]) -> str:
    """The Sec. 5 comparisons left undecided, and what would decide each: about how many search
    seeds a side (a difference of the observed size, 80% power, before the page's correction)."""
    parts = []
    for key, v in got.items():
        if v is None or v.outcome != "undecided":
            continue
        _, platform, pair, _ = key.split(":")
        mine, other = pair.split(">")
        n = v.replicates_to_decide()
        need = ("a second search seed on a side first: no variance to test"
                if np.isnan(v.test.p) else
                "as many seeds decide it before the page's correction, not after" if n == 0 else
                f"about {n} search seeds a side" if n else
                "more than 200 search seeds a side: the difference is too small to matter")
        parts.append(f"on {platform}, the search for {mine} against the one for {other}: {need}")
    if not parts:
        return ""
    return "- Undecided, and what would decide it: " + "; ".join(parts) + "."


def default_search_table(results: Path, page: Page | None = None) -> str:
    """The README's `python train.py --search` as it is: what it took and what it found."""
    rs = records.standing(records.load(results / "default-search.json"), _run)
    if not rs:
        return "*(no record yet: `python benchmarks/searches.py default-search --samples 100`)*\n"
    rows = ["| children | failed | children's time | best child: reward, accuracy, latency / "
            "MobileNetV2 | mean reward per quarter of the run |", "|---|---|---|---|---|"]
    for r in rs:
        ratio = (f"{r['best_measured_ms'] / r['mobilenetv2_ms']:.2f}x"
                 if r["best_measured_ms"] and r["mobilenetv2_ms"] else "")
        rows.append(f"| {r['children']} | {r['failed']} | {r['children_seconds'] / 60:.0f} min "
                    f"| child {r['best_child'] + 1}: "
                    f"{r['best_reward']:.4f}, {r['best_accuracy']:.4f}, "
                    f"{ratio} | {', '.join(f'{q:.3f}' for q in r['quarter_mean_rewards'])} |")
    return "\n".join(rows) + "\n" + provenance_line(rs)

