"""Does the proxy rank architectures as real training does? Rank fidelity of proxy settings.

The search's ACC(m) comes from a short proxy training run (Sec. 4.2; `training.proxy_train`). Each
candidate setting below trains every member of the reference panel (benchmarks/panel.py) the
way the search trains a child, with two seeds on the same held-out split, and is scored by:

  kendall_tau  Kendall's tau-b between the proxy's held-out accuracy (one seed: what the search
               sees) and the panel's test accuracy (mean over the panel's seeds), averaged over the
               two proxy seeds, with each seed's own tau beside it (seed_taus); its 95% bootstrap
               interval resamples the members (the same ones for both seeds and the panel) and the
               seeds, recomputing the mean every time (`bootstrap`); p_value: a permutation test
               of it against no association (`permutation_p`)
  vs_macs      kendall_tau minus the tau of MACs, with a paired interval (the same resamples)
  spearman     Spearman's rho, likewise
  seed_tau     tau between the proxy's two seeds: the proxy's own noise ceiling
  at_chance    the share of children left at chance level (held-out accuracy < 0.15): a proxy
               whose children mostly stay there ranks ties and noise, so it is never chosen
  seconds      wall seconds per child (training and held-out evaluation) as a search pays them:
               from `--time N` runs (N members, every core, nothing else running) where they exist,
               else from the fidelity runs at --threads; for the supernet settings, scoring a child
               (BatchNorm re-estimation and evaluation), the supernet's own training apart

and beside them the zero-cost baselines: the tau of MACs and of parameter count with the panel.
Under them, the panel's own noise (`panel_noise`): its reliability, from the members trained with
more than one seed, and the noise ceiling, the tau a noiseless proxy could expect against it.
Every (setting, member, seed) is appended to benchmarks/results/proxy.json as it finishes, so the
command resumes. It ends with one line for the best setting within the time budget:

    proxy=<setting> kendall_tau=<t> seconds_per_child=<s> macs_tau=<m> panel=<n>

    python benchmarks/proxy.py [--settings NAME,...] [--budget 15] [--threads 0] [--report]
    python benchmarks/proxy.py --time 4       # seconds per child on the whole, quiet machine
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402

# flat modules live in the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402
from tqdm import tqdm  # noqa: E402

import cli  # noqa: E402
import mnas  # noqa: E402
import panel  # noqa: E402
import records  # noqa: E402
import supernet  # noqa: E402
import training  # noqa: E402

PROXY = records.RESULTS / "proxy.json"
TIMING = records.RESULTS / "proxy_timing.json"

# Candidate proxies: TrainConfig fields on top of the search's defaults (training.TrainConfig).
# "guards" are the final recipe's label smoothing and gradient clipping; "w0.5" trains the child
# at half width (the ranking is of the full-width architectures).
GUARDS = {"label_smoothing": 0.1, "clip_grad_norm": 5.0}
SETTINGS = {  # in the order they are trained
    # the search's proxy before this benchmark
    "s70-b64-lr0.01": {"steps": 70, "batch_size": 64, "lr": 0.01},
    "s35-b64-lr0.05": {"steps": 35, "batch_size": 64, "lr": 0.05, **GUARDS},
    "s70-b64-lr0.05-w0.5": {"steps": 70, "batch_size": 64, "lr": 0.05, "width_mult": 0.5, **GUARDS},
    "s70-b64-lr0.05": {"steps": 70, "batch_size": 64, "lr": 0.05, **GUARDS},
    "s35-b128-lr0.1": {"steps": 35, "batch_size": 128, "lr": 0.1, **GUARDS},
    "s140-b64-lr0.05-w0.5": {"steps": 140, "batch_size": 64, "lr": 0.05, "width_mult": 0.5,
                             **GUARDS},
    # Weight sharing (supernet.py): one supernet per seed trained for this many steps, then each
    # member that the search space can express scored with the shared weights.
    "supernet-1000": {"supernet_steps": 1000},
    "supernet-3000": {"supernet_steps": 3000},
}
SEEDS = (0, 1)
CHANCE = 0.15  # held-out accuracy below this counts as chance level (10 classes: 0.10)


def kendall(a, b) -> float:
    """Kendall's tau-b of two score lists (ties counted as scipy does)."""
    return float(stats.kendalltau(a, b).statistic)


def spearman(a, b) -> float:
    return float(stats.spearmanr(a, b).statistic)


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of x with y along their last axis, for every row at once (nan where a row
    is constant): scipy.stats.kendalltau takes one pair of lists a call, too slow for thousands of
    resamples. Its sign-of-differences form: sum of sign(x_i - x_j) sign(y_i - y_j) over the
    pairs, over the root of the product of the pairs untied in x and in y (checked against scipy
    in the tests)."""
    i, j = np.triu_indices(np.shape(x)[-1], 1)
    x, y = np.asarray(x), np.asarray(y)
    dx, dy = np.sign(x[..., i] - x[..., j]), np.sign(y[..., i] - y[..., j])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (dx * dy).sum(-1) / np.sqrt((dx != 0).sum(-1) * (dy != 0).sum(-1))


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of x with y along their last axis, for every row at once (nan where a row is
    constant): Pearson's r of the ranks, both from scipy.stats."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        x, y = np.broadcast_arrays(stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1))
        return stats.pearsonr(x, y, axis=-1).statistic


def interval(values: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap replicates, leaving out the undefined ones (nan:
    a resample whose members all tie, which ranks nothing)."""
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap(per_seed, target, baseline, n: int = 2000, seed: int = 0) -> dict[str, tuple]:
    """95% intervals of the reported statistics, recomputed on every resample: "tau" and "spearman"
    (the mean over the proxy seeds of each seed's correlation with `target`) and "tau_minus_macs"
    (tau minus the tau of `baseline`, the zero-cost ranker, with `target`: paired, on the same
    resample). `per_seed` holds one row of scores per proxy seed, one column per member.

    Each replicate resamples the members once, with replacement, and applies the same members to
    every seed's row, to `target` and to `baseline`; it also resamples the seeds (as many as there
    are, with replacement), so that the interval covers the proxy's seed-to-seed noise as well as
    the choice of members. Members alone would not: two seeds whose errors cancel out (one
    perfectly concordant, one anti-concordant) give a mean of 0 on every resample of the members,
    an interval of zero width, while a search sees one seed's ranking, +1 or -1. With two seeds
    the seed half is coarse (it takes their two taus for the whole seed distribution): the
    interval then reaches about from the lower seed's tau to the higher's, widened by the members.
    """
    per_seed, target, baseline = (np.asarray(v, dtype=float) for v in (per_seed, target, baseline))
    rng = np.random.default_rng(seed)
    members = rng.integers(0, len(target), (n, len(target)))  # member indices, a row a replicate
    seeds = rng.integers(0, len(per_seed), (n, len(per_seed)))  # and of seed indices
    target_b = target[members]
    taus = kendall_rows(per_seed[:, members], target_b).T  # (replicate, seed)
    rhos = spearman_rows(per_seed[:, members], target_b).T
    tau = np.take_along_axis(taus, seeds, 1).mean(1)
    rho = np.take_along_axis(rhos, seeds, 1).mean(1)
    macs = kendall_rows(baseline[members], target_b)
    return {"tau": interval(tau), "spearman": interval(rho), "tau_minus_macs": interval(tau - macs)}


def permutation_p(per_seed, target, n: int = 9999, seed: int = 0) -> float:
    """Two-sided permutation p-value of the mean over the proxy seeds of Kendall's tau against no
    association: the panel's accuracies shuffled across the members (the same shuffle for every
    seed), the statistic recomputed (scipy.stats.permutation_test; exact for small panels)."""
    per_seed = np.asarray(per_seed, dtype=float)

    def statistic(t: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = per_seed.reshape(len(per_seed), *(1,) * (t.ndim - 1), per_seed.shape[-1])
        return kendall_rows(rows, t).mean(0)

    result = stats.permutation_test((np.asarray(target, dtype=float),), statistic, vectorized=True,
                                    permutation_type="pairings", n_resamples=n, rng=seed)
    return float(result.pvalue)


def final_runs(panel_records: list[dict], epochs: float = 1.0) -> dict[str, list[dict]]:
    """{member: its records} of the final recipe's panel (Fashion-MNIST, `epochs`): one a seed."""
    by_name: dict[str, list[dict]] = {}
    for r in panel_records:
        if (r["recipe"], r["epochs"], r["dataset"]) == ("final", epochs, "fashion-mnist"):
            by_name.setdefault(r["name"], []).append(r)
    return by_name


def panel_truth(panel_records: list[dict], epochs: float = 1.0) -> dict[str, dict]:
    """{member: {"accuracy": mean test accuracy over seeds, "macs", "params"}} of the final
    recipe's panel."""
    return {name: {"accuracy": float(np.mean([r["test_accuracy"] for r in rs])),
                   "macs": rs[0]["macs"], "params": rs[0]["params"]}
            for name, rs in final_runs(panel_records, epochs).items()}


def panel_noise(panel_records: list[dict], epochs: float = 1.0) -> dict | None:
    """How much of the panel's ranking is its own seed noise, from the members trained with more
    than one seed (None while none is): a one-way random-effects model, accuracy of member i with
    seed j = true accuracy of i + seed noise, estimated by the method of moments:

      within_sd      the seed noise's standard deviation: pooled over the repeated members
                     (sum of squared deviations from each member's mean over sum(seeds - 1))
      between_sd     the spread of the members' true accuracies: the variance of the members'
                     mean accuracies less the part their seed noise adds (within_sd^2 times the
                     mean of 1/seeds), floored at 0
      reliability    of one seed's accuracy (intraclass correlation, ICC(1)):
                     between^2 / (between^2 + within^2)
      seeds          seeds per member in the panel's truth, the harmonic mean (a member's mean
                     over k seeds carries noise variance within^2 / k)
      truth_reliability  of the panel's truth, the mean over each member's seeds: Spearman-Brown,
                     k R / (1 + (k - 1) R) with k = seeds
      ceiling        the Kendall tau a noiseless proxy (one that ranks by true accuracy) can expect
                     against the panel's truth: analytic, Greiner's relation tau = (2/pi) arcsin(r)
                     for normal variables, with r = sqrt(truth_reliability), the correlation of the
                     truth with the true accuracy (no simulation; the tests check it by one)

    Accuracies are in [0, 1]; the standard deviations are too (x 100: points)."""
    runs = [[r["test_accuracy"] for r in rs] for rs in final_runs(panel_records, epochs).values()]
    repeated = [accs for accs in runs if len(accs) > 1]
    if not repeated or len(runs) < 2:
        return None
    df = sum(len(accs) - 1 for accs in repeated)
    within = sum(float(np.sum((np.asarray(a) - np.mean(a)) ** 2)) for a in repeated) / df
    inverse_k = float(np.mean([1 / len(accs) for accs in runs]))
    between = max(0.0, float(np.var([np.mean(a) for a in runs], ddof=1)) - within * inverse_k)
    total = between + within
    reliability = between / total if total > 0 else float("nan")
    k = 1 / inverse_k
    truth_reliability = k * reliability / (1 + (k - 1) * reliability)
    low, high = reliability_interval(runs)

    def ceiling(r: float) -> float:  # Greiner's tau for the truth's reliability (Spearman-Brown)
        return float(2 / np.pi * np.arcsin(np.sqrt(k * r / (1 + (k - 1) * r))))

    seconds = [rs for rs in final_runs(panel_records, epochs).values() if len(rs) > 1]
    moved = sum(len({r.get("machine") for r in rs}) > 1 for rs in seconds)
    return {"members": len(runs), "repeated": len(repeated), "df": df,
            "within_sd": within ** 0.5, "between_sd": between ** 0.5, "reliability": reliability,
            "reliability_interval": (low, high), "seeds": k, "truth_reliability": truth_reliability,
            "ceiling": ceiling(reliability), "ceiling_interval": (ceiling(low), ceiling(high)),
            "other_machine": moved}


def reliability_interval(runs: list[list[float]], level: float = 0.95) -> tuple[float, float]:
    """The 95% interval of one seed's reliability, ICC(1), by the F-test of the one-way ANOVA
    (Shrout and Fleiss 1979): F = MS between members / MS within; with k seeds a member (their
    mean when unequal) and n members, F_low = F / F(1 - a/2; n - 1, N - n), F_high = F *
    F(1 - a/2; N - n, n - 1), and each bound is (F_b - 1) / (F_b + k - 1), floored at 0."""
    n, total = len(runs), sum(len(r) for r in runs)
    grand = np.mean([a for r in runs for a in r])
    ms_between = sum(len(r) * (np.mean(r) - grand) ** 2 for r in runs) / (n - 1)
    ms_within = sum(float(np.sum((np.asarray(r) - np.mean(r)) ** 2)) for r in runs) / (total - n)
    if ms_within == 0:
        return float("nan"), float("nan")
    f, k, q = ms_between / ms_within, total / n, 1 - (1 - level) / 2
    low = f / stats.f.ppf(q, n - 1, total - n)
    high = f * stats.f.ppf(q, total - n, n - 1)
    return max(0.0, (low - 1) / (low + k - 1)), max(0.0, (high - 1) / (high + k - 1))


def noise_line(noise: dict | None) -> str:
    """The panel's noise in one sentence (for the report and the README table)."""
    if noise is None:
        return ("Panel noise: unknown until some member is trained with a second seed "
                "(python benchmarks/panel.py --repeat N).")
    return (f"Panel noise: seed-to-seed SD {100 * noise['within_sd']:.2f} points within a member "
            f"({noise['repeated']} of {noise['members']} members trained more than once, "
            f"{noise['df']} df) vs {100 * noise['between_sd']:.2f} between members' true "
            f"accuracies; reliability {noise['reliability']:.2f} for one seed (95% interval "
            f"{noise['reliability_interval'][0]:.2f} to {noise['reliability_interval'][1]:.2f}, "
            f"F-test), {noise['truth_reliability']:.2f} for the panel's mean over its "
            f"{noise['seeds']:.2f} seeds a member; a noiseless proxy's expected tau against it "
            f"(noise ceiling) {noise['ceiling']:.2f} ({noise['ceiling_interval'][0]:.2f} to "
            f"{noise['ceiling_interval'][1]:.2f}). {noise['other_machine']} of the "
            f"{noise['repeated']} repeated members' trainings ran on more than one machine, so "
            "the seed-to-seed SD holds the machines' difference too.")


def standing(out: Path) -> tuple[list[dict], list[dict]]:
    """The records a report scores, from `out` and the quiet timings beside it: a +dirty one gives
    way to its re-run from a commit (`records.standing`): a member's score by (setting, member,
    seed), a setting's timings by setting."""
    return (records.standing(records.load(out), lambda r: (r["setting"], r["name"], r["seed"])),
            records.standing(records.load(out.with_name(TIMING.name)), lambda r: r["setting"]))


def score(setting: str, proxy_records: list[dict], truth: dict[str, dict],
          timing: list[dict] = ()) -> dict | None:
    """The fidelity of one setting over the members it and the panel both have (both proxy seeds),
    and its seconds per child: from the quiet `timing` records where the setting has some."""
    acc = {(r["name"], r["seed"]): r["accuracy"] for r in proxy_records if r["setting"] == setting}
    names = [n for n in truth if all((n, s) in acc for s in SEEDS)]
    if len(names) < 4:
        return None
    target = [truth[n]["accuracy"] for n in names]
    macs = [truth[n]["macs"] for n in names]
    per_seed = [[acc[n, s] for n in names] for s in SEEDS]
    seconds = [r["seconds"] for r in timing if r["setting"] == setting] or \
        [r["seconds"] for r in proxy_records if r["setting"] == setting and r["name"] in names]
    at_chance = np.mean([a < CHANCE for accs in per_seed for a in accs])
    intervals = bootstrap(per_seed, target, macs)
    seed_taus = [kendall(p, target) for p in per_seed]
    macs_tau = kendall(macs, target)
    return {"setting": setting, "panel": len(names), "at_chance": float(at_chance),
            "kendall_tau": float(np.mean(seed_taus)), "seed_taus": seed_taus,
            "tau_interval": intervals["tau"], "p_value": permutation_p(per_seed, target),
            "spearman": float(np.mean([spearman(p, target) for p in per_seed])),
            "spearman_interval": intervals["spearman"],
            "vs_macs": float(np.mean(seed_taus)) - macs_tau,
            "vs_macs_interval": intervals["tau_minus_macs"],
            "seed_tau": kendall(*per_seed), "seconds_per_child": float(np.mean(seconds)),
            "macs_tau": macs_tau,
            "params_tau": kendall([truth[n]["params"] for n in names], target)}


def _span(lo: float, hi: float, sign: str = "") -> str:
    return f"[{lo:{sign}.2f}, {hi:{sign}.2f}]"


def report(scores: list[dict], noise: dict | None) -> str:
    """The settings' scores as a plain-text table, the zero-cost rankers under it, then the panel's
    noise: what `--report` prints."""
    lines = [f"{'setting':<22} {'tau':>6} {'95% interval':>14} {'seed 0 / 1':>13} {'p':>6} "
             f"{'vs MACs':>10} {'95% interval':>14} {'spearman':>8} {'seed tau':>8} "
             f"{'chance':>6} {'s/child':>7} {'members':>7}"]
    for s in scores:
        seeds = " / ".join(f"{t:.2f}" for t in s["seed_taus"])
        lines.append(f"{s['setting']:<22} {s['kendall_tau']:6.3f} {_span(*s['tau_interval']):>14} "
                     f"{seeds:>13} {s['p_value']:6.3f} {s['vs_macs']:+10.3f} "
                     f"{_span(*s['vs_macs_interval'], '+'):>14} {s['spearman']:8.3f} "
                     f"{s['seed_tau']:8.3f} {100 * s['at_chance']:5.0f}% "
                     f"{s['seconds_per_child']:7.1f} {s['panel']:7d}")
    lines += [f"{'MACs':<22} {scores[0]['macs_tau']:6.3f}",
              f"{'params':<22} {scores[0]['params_tau']:6.3f}", ""]
    legend = ("tau: the mean over the proxy's seeds of each seed's Kendall tau with the panel; its "
              "95% interval resamples the members and the seeds (bootstrap). p: permutation test "
              "of tau against no association (two-sided). vs MACs: tau minus MACs' tau, with its "
              "paired interval (the same resamples for both).")
    return "\n".join(lines + [textwrap.fill(legend, 100), textwrap.fill(noise_line(noise), 100)])
    return "\n".join(lines)


def best(scores: list[dict], budget: float) -> dict | None:
    """The setting with the highest tau among those within `budget` seconds per child whose children
    mostly learn: where most sit at chance, the ranking is of ties and noise, whatever its tau."""
    within = [s for s in scores if s["seconds_per_child"] <= budget and s["at_chance"] <= 0.25]
    return max(within, key=lambda s: s["kendall_tau"]) if within else None


def run_setting(setting: str, archs: dict, data: training.DataSpec, threads: int, device: str,
                out: Path, have: set,
                origin: dict) -> None:
    if "supernet_steps" in SETTINGS[setting]:
        return run_supernet(setting, archs, data, threads, device, out, have, origin)
    cfg = replace(training.TrainConfig(), **SETTINGS[setting], threads=threads, device=device)
    todo = [(n, s) for s in SEEDS for n in archs if (setting, n, s) not in have]
    for name, seed in tqdm(todo, desc=setting, unit="child"):
        started = time.time()
        got = training.proxy_train(archs[name], data, replace(cfg, seed=seed))
        records.append(out, {"setting": setting, "name": name, "seed": seed,
                             "accuracy": got["accuracy"],
                             "seconds": round(time.time() - started, 2),
                             "threads": torch.get_num_threads(),
                             "config": asdict(replace(cfg, seed=seed)),
                             **records.provenance(started, origin, device)})


def expressible(archs: dict) -> dict:
    """The members a supernet over mnas.SearchSpace has a path for."""
    space, members = mnas.SearchSpace(), {}
    for name, arch in archs.items():
        try:
            space.encode(arch)
            members[name] = arch
        # e.g. MnasNet-A1's 112-wide block 5 is not one of the space's filter choices
        except ValueError:
            pass
    return members


def run_supernet(setting: str, archs: dict, data: training.DataSpec, threads: int, device: str,
                 out: Path, have: set,
                 origin: dict) -> None:
    """A supernet setting: train (or resume) one supernet per seed, then score the members it can
    express. `seconds` is the scoring time of a child; the supernet's training time is
    `supernet_seconds`."""
    members = expressible(archs)
    splits = training.load_splits(data)
    for seed in SEEDS:
        todo = [n for n in members if (setting, n, seed) not in have]
        if not todo:
            continue
        started = time.time()
        cfg = replace(supernet.TRAIN, steps=SETTINGS[setting]["supernet_steps"], seed=seed,
                      threads=threads, device=device)
        checkpoint = out.parent / "supernets" / f"{setting}-seed{seed}.pt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        net = supernet.train_supernet(data, cfg, checkpoint).eval()
        trained = round(time.time() - started, 1)
        batches = supernet.calibration_batches(splits["train"], seed=seed, device=device)
        for name in tqdm(todo, desc=f"{setting} seed {seed}", unit="child"):
            t0 = time.time()
            got = supernet.score(net, members[name], splits["val"], batches)
            records.append(out, {"setting": setting, "name": name, "seed": seed,
                                 "accuracy": got["accuracy"],
                                 "seconds": round(time.time() - t0, 2), "supernet_seconds": trained,
                                 "threads": torch.get_num_threads(), "config": asdict(cfg),
                                 **records.provenance(t0, origin, device)})


def time_setting(setting: str, archs: dict, data: training.DataSpec, count: int, device: str,
                 out: Path,
                 origin: dict) -> None:
    """Seconds per child as a search pays them: `count` members spread over the panel, each trained
    (or, for a supernet setting, scored with the seed-0 supernet) on every core. Run it with nothing
    else on the machine: these are the figures the time budget is checked against. It resumes: a
    member the file holds a timing of, from committed code, is not timed again."""
    names = list(archs)[::max(1, len(archs) // count)][:count]
    timed = {r["name"] for r in records.finished(out) if r["setting"] == setting}
    names = [n for n in names if n not in timed]
    if "supernet_steps" in SETTINGS[setting]:
        checkpoint = out.parent / "supernets" / f"{setting}-seed0.pt"
        if not checkpoint.exists():
            print(f"{setting}: no trained supernet yet ({checkpoint}); run the setting first")
            return
        net, splits = supernet.load(checkpoint, data, device), training.load_splits(data)
        batches = supernet.calibration_batches(splits["train"], device=device)
        members = expressible(archs)
        names = [n for n in names if n in members]

        def child(name: str) -> dict:
            return supernet.score(net, archs[name], splits["val"], batches)
    else:
        cfg = replace(training.TrainConfig(), **SETTINGS[setting], device=device)

        def child(name: str) -> dict:
            return training.proxy_train(archs[name], data, cfg)
    if not names:
        return
    child(names[0])  # warm-up: first-call costs (data loading, thread pools) are not a child's
    for name in tqdm(names, desc=f"timing {setting}", unit="child"):
        started = time.time()
        child(name)
        records.append(out, {"setting": setting, "name": name,
                             "seconds": round(time.time() - started, 2),
                             "threads": torch.get_num_threads(),
                             **records.provenance(started, origin, device)})


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", default=",".join(SETTINGS),
                   help=f"comma-separated (default all: {', '.join(SETTINGS)})")
    p.add_argument("--sampled", type=int, default=12,
                   help="the panel's sampled members to train (default 12)")
    p.add_argument("--budget", type=float, default=15.0,
                   help="seconds per child the chosen setting may take (default 15)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads (default: all cores, as the search)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--report", action="store_true",
                   help="train nothing: score what the results files hold")
    p.add_argument("--time", type=int, default=0, metavar="N",
                   help="time N members per setting on every core (run on a quiet machine), then "
                   "report")
    p.add_argument("--panel", default=str(panel.PANEL))
    p.add_argument("--out", default=str(PROXY))
    args = p.parse_args(argv)
    settings = args.settings.split(",")
    try:
        unknown = [s for s in settings if s not in SETTINGS]
        if unknown:
            raise training.UsageError(f"--settings: unknown {', '.join(unknown)} (choose from "
                                      f"{', '.join(SETTINGS)})")
        device = training.pick_device(args.device)
        # the search's default: Fashion-MNIST, 2,000 training images held out
        data = training.DataSpec()
        if args.time < 0:
            raise training.UsageError("--time must be >= 1 members")
        if not args.report:
            training.load_splits(data)
    except training.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    writes = bool(args.time) or not args.report  # --report alone reads the results files only
    origin = records.origin(__file__, argv) if writes else {}  # after the checks: one error line
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.time:
        archs = panel.panel_archs(args.sampled)
        for setting in settings:
            time_setting(setting, archs, data, args.time, device,
                         Path(args.out).with_name(TIMING.name), origin)
    elif not args.report:
        archs = panel.panel_archs(args.sampled)
        for setting in settings:
            have = {(r["setting"], r["name"], r["seed"]) for r in records.finished(args.out)}
            run_setting(setting, archs, data, args.threads, device, Path(args.out), have, origin)

    truth = panel_truth(records.load(args.panel))
    proxy_records, timing = standing(Path(args.out))
    if not truth:
        print(f"error: {args.panel} holds no panel yet: train it first (python "
              "benchmarks/panel.py)", file=sys.stderr)
        return 2
    scores = [s for s in (score(name, proxy_records, truth, timing) for name in settings) if s]
    if not scores:
        print("no setting has results for 4 or more panel members yet")
        return 1
    print(report(scores, panel_noise(records.load(args.panel))))
    chosen = best(scores, args.budget)
    if chosen is None:
        print(f"no setting within {args.budget:g} s per child")
        return 1
    print(f"proxy={chosen['setting']} kendall_tau={chosen['kendall_tau']:.3f} seconds_per_child="
          f"{chosen['seconds_per_child']:.1f} macs_tau={chosen['macs_tau']:.3f} "
          f"panel={chosen['panel']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
