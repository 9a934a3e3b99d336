"""The reference panel and the proxy benchmark (resuming, growing, rank correlations on known
rankings), provenance and the pages' tables."""

import functools
import json
import subprocess

import pytest

import models
# autouse fixtures; the import puts benchmarks/ on the path
from benchmark_helpers import committed_tree, with_provenance  # noqa: F401
import panel
import proxy
import records

GIT_COMMIT = records.git_commit  # the real one, for the test of "+dirty"


def test_van_der_corput_spreads_members_and_keeps_earlier_ones():
    assert [panel.van_der_corput(k) for k in range(1, 8)] == [0.5, 0.25, 0.75, 0.125, 0.625, 0.375,
                                                              0.875]


def test_sampled_members_are_spread_over_macs_and_grow_as_a_prefix(monkeypatch):
    monkeypatch.setattr(panel, "POOL", 16)
    four, six = panel.sampled_archs(4), panel.sampled_archs(6)
    assert list(six) == [f"sampled-{k:02d}" for k in range(6)]
    # growing the panel keeps its members
    assert all(six[name] == arch for name, arch in four.items())
    assert len(set(six.values())) == 6


def test_second_seeds_go_to_mobilenetv2_and_the_first_sampled_members():
    names = ["mobilenetv2", "mnasnet-a1", "sampled-00", "sampled-01", "sampled-02"]
    got = [(j["name"], j["seed"]) for j in panel.jobs(names, repeat=3, recipe="final", epochs=1)]
    assert got == [(n, 0) for n in names] + [("mobilenetv2", 1), ("sampled-00", 1),
                                             ("sampled-01", 1)]
    every = [(j["name"], j["seed"]) for j in panel.jobs(names, repeat=5, recipe="final", epochs=1)]
    assert every[len(names):] == [("mobilenetv2", 1), ("sampled-00", 1), ("sampled-01", 1),
                                  ("sampled-02", 1),
                                  # then the other reference networks: the whole panel
                                  ("mnasnet-a1", 1)]


def test_panel_appends_each_member_with_provenance_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(panel, "POOL", 8)
    out = tmp_path / "panel.json"
    argv = ["--dataset", "synthetic", "--epochs", "0.1", "--sampled", "1", "--threads", "1",
            "--only", "mnasnet-small,sampled-00", "--out", str(out), "--repeat"]
    assert panel.main(argv + ["0"]) == 0
    first = records.load(out)
    assert [(r["name"], r["seed"]) for r in first] == [("mnasnet-small", 0), ("sampled-00", 0)]
    for r in first:
        # 0.1 epochs of 1,500 synthetic images in batches of 128, rounded up
        assert r["recipe_config"]["steps"] == 2
        assert r["params"] > 0 and r["macs"] > 0 and 0 <= r["test_accuracy"] <= 1
        assert {"command", "commit", "date", "machine", "wall_seconds"} <= set(r) 
        assert r["command"].startswith("python benchmarks/panel.py --dataset synthetic")
    assert first[0]["latency_ratio"] < 0.8  # mnasnet-small runs in about half MobileNetV2's time
    assert "expect about" in capsys.readouterr().out

    assert panel.main(argv + ["0"]) == 0  # resumes: nothing left to do
    assert records.load(out) == first
    assert panel.main(argv + ["1"]) == 0
    grown = records.load(out)  # grows: the second seed of the first sampled member, nothing else
    assert grown[:2] == first and [(r["name"], r["seed"]) for r in grown[2:]] == [("sampled-00", 1)]
    assert grown[2]["latency_ratio"] == first[1]["latency_ratio"]  # a member is timed once


def test_panel_training_cut_short_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "panel.json"
    argv = ["--dataset", "synthetic", "--epochs", "0.2", "--threads", "1", "--only",
            "mnasnet-small", "--repeat", "0", "--sampled", "0",
            "--out", str(out)]
    monkeypatch.setattr(panel.training, "train_steps",
                        functools.partial(panel.training.train_steps, every=1))
    # neither the sampled members, the expected duration nor the
    monkeypatch.setattr(panel, "POOL", 8)
    # latency are what is tested
    monkeypatch.setattr(panel.training, "time_steps", lambda *args, **kw: 1.0)
    monkeypatch.setattr(panel.latency, "relative_latency", lambda *args, **kw: 0.5)
    loss, calls = panel.training.classification_loss, [0]

    def stopped_at_step_3(model, batch, **kw):
        calls[0] += 1
        if calls[0] == 3:  # of 3 (0.2 epochs of 1,500 images in batches of 128); saved at 2
            raise KeyboardInterrupt
        return loss(model, batch, **kw)

    monkeypatch.setattr(panel.training, "classification_loss", stopped_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        panel.main(argv)
    assert records.load(out) == [] and len(list((tmp_path / "checkpoints").iterdir())) == 1
    monkeypatch.setattr(panel.training, "classification_loss", loss)
    assert panel.main(argv) == 0
    [record] = records.load(out)
    assert record["resumed_at_step"] == 2 and record["recipe_config"]["steps"] == 3
    assert len(record["loss_curve"]) == 3  # every step's loss, those before the cut too
    # the record is in: its checkpoint is gone
    assert list((tmp_path / "checkpoints").iterdir()) == []
    job, (a1, b1) = {**record, "name": "table5/best"}, (
        models.REFERENCE_ARCHS[n] for n in ("mnasnet-a1", "mnasnet-b1")
    )
    # one name, two networks
    assert panel.checkpoint_path(out, job, a1, "cpu") != panel.checkpoint_path(out, job, b1, "cpu")


def test_panel_rejects_unknown_members_in_one_line(tmp_path, capsys):
    assert panel.main(["--only", "mobilenetv3", "--out", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --only: unknown member(s) mobilenetv3") and err.count("\n") == 1


def test_records_append_keeps_earlier_records(tmp_path):
    path = tmp_path / "r.json"
    records.append(path, {"a": 1})
    records.append(path, {"a": 2})
    assert json.loads(path.read_text()) == {"records": [{"a": 1}, {"a": 2}]}


def test_a_dirty_record_is_not_finished_and_gives_way_to_its_rerun(tmp_path):
    path = tmp_path / "r.json"
    records.append(path, {"unit": "a", "v": 1, "commit": "abc+dirty"})
    records.append(path, {"unit": "b", "v": 2, "commit": "abc+dirty"})
    records.append(path, {"unit": "c", "v": 3, "commit": "abc"})
    assert [r["unit"] for r in records.finished(path)] == ["c"]  # a resume redoes a and b
    records.append(path, {"unit": "a", "v": 4, "commit": "def"})
    shown = records.standing(records.load(path), lambda r: r["unit"])
    # a's re-run replaces it; b, not yet re-run, stays (marked +dirty where it is shown)
    assert [(r["unit"], r["v"]) for r in shown] == [("b", 2), ("c", 3), ("a", 4)]


# ----------------------------------------------------------------------------- rank correlations

def panel_record(name, acc, seed=0, macs=100, params=10, recipe="final"):
    return {"name": name, "seed": seed, "recipe": recipe, "epochs": 1.0, "dataset": "fashion-mnist",
            "test_accuracy": acc, "macs": macs, "params": params}


def proxy_record(setting, name, seed, acc, seconds=10.0):
    return {"setting": setting, "name": name, "seed": seed, "accuracy": acc, "seconds": seconds}


def test_kendall_and_spearman_on_known_rankings():
    assert proxy.kendall([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert proxy.kendall([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # 5 concordant pairs, 1 discordant
    assert proxy.kendall([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    # 1 - 6 sum(d^2) / n(n^2-1)
    assert proxy.spearman([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(1 - 6 * 2 / (4 * 15))


def test_panel_truth_averages_seeds_and_ignores_other_recipes():
    truth = proxy.panel_truth([panel_record("a", 0.80), panel_record("a", 0.90, seed=1),
                               panel_record("a", 0.10, recipe="v0"), panel_record("b", 0.70)])
    assert truth["a"]["accuracy"] == pytest.approx(0.85) and truth["b"]["accuracy"] == 0.70


def test_score_pairs_each_member_with_its_own_panel_accuracy():
    names = ["m0", "m1", "m2", "m3", "m4"]
    panel_acc = [0.90, 0.80, 0.85, 0.70, 0.75]  # ranks: m0 > m2 > m1 > m4 > m3
    truth = proxy.panel_truth([
        panel_record(n, a, macs=1000 - 100 * i, params=i)
        for i, (n, a) in enumerate(zip(names, panel_acc))
    ])
    # Seed 0 ranks exactly as the panel; seed 1 swaps m1 and m2 (one discordant pair of 10).
    recs = [proxy_record("p", n, 0, a / 2) for n, a in zip(names, panel_acc)]
    recs += [proxy_record("p", n, 1, a) for n, a in zip(names, [0.90, 0.86, 0.85, 0.70, 0.75])]
    recs = list(reversed(recs))  # the order of the results file does not matter
    recs += [
        proxy_record("q", n, s, -a, seconds=99)
        for n, a in zip(names, panel_acc)
        for s in proxy.SEEDS
    ]  # another setting
    s = proxy.score("p", recs, truth)
    assert s["panel"] == 5
    assert s["kendall_tau"] == pytest.approx((1.0 + 0.8) / 2)
    assert s["seed_tau"] == pytest.approx(0.8)
    assert s["macs_tau"] == pytest.approx(proxy.kendall([5, 4, 3, 2, 1], panel_acc))
    assert s["params_tau"] == pytest.approx(-s["macs_tau"])
    assert s["seconds_per_child"] == 10.0 and s["at_chance"] == 0.0
    lo, hi = s["tau_interval"]
    assert -1 <= lo <= 1.0 <= hi + 1e-9
    assert s["seed_taus"] == pytest.approx([1.0, 0.8])  # each seed's own tau, beside the mean
    # The interval is the mean's, and reaches the lower seed's tau (a quarter of the resamples draw
    # seed 1 twice).
    assert lo <= s["kendall_tau"] <= hi and lo <= min(s["seed_taus"])
    assert s["p_value"] == pytest.approx(4 / 120)  # exact: 2 of 5! orders reach 0.9, and 2 -0.9
    assert s["vs_macs"] == pytest.approx(s["kendall_tau"] - s["macs_tau"])
    ml, mh = s["vs_macs_interval"]
    assert ml <= s["vs_macs"] <= mh


def test_seconds_per_child_come_from_the_quiet_timing_runs_when_there_are_some(monkeypatch):
    intervals = dict.fromkeys(("tau", "spearman", "tau_minus_macs"), (0.0, 0.0))
    monkeypatch.setattr(proxy, "bootstrap", lambda *args: intervals)  # not what this test is about
    truth = proxy.panel_truth([panel_record(f"m{i}", 0.5 + i / 10) for i in range(5)])
    recs = [proxy_record("p", f"m{i}", s, 0.5 + i / 10,
                         seconds=30) for i in range(5) for s in proxy.SEEDS]
    # no timing runs: the fidelity runs' own
    assert proxy.score("p", recs, truth)["seconds_per_child"] == 30
    timing = [{"setting": "p", "name": "m0", "seconds": 11},
              {"setting": "p", "name": "m3", "seconds": 13},
              {"setting": "q", "name": "m0", "seconds": 99}]
    assert proxy.score("p", recs, truth, timing)["seconds_per_child"] == 12


def test_score_needs_both_seeds_of_a_member():
    truth = proxy.panel_truth([panel_record(f"m{i}", 0.5 + i / 10) for i in range(5)])
    recs = [proxy_record("p", f"m{i}", 0, 0.5) for i in range(5)] + [
        proxy_record("p", f"m{i}", 1, 0.5) for i in range(3)
    ]
    assert proxy.score("p", recs, truth) is None  # only 3 members have both seeds


def test_kendall_and_spearman_rows_are_scipys_on_every_row():
    import warnings

    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (50, 7)).astype(float)  # many ties
    y = rng.integers(0, 4, (50, 7)).astype(float)
    x[0] = 1.0  # a constant row ranks nothing
    pairs = [(proxy.kendall_rows, stats.kendalltau), (proxy.spearman_rows, stats.spearmanr)]
    for rows, one in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's warning for the constant row, if it gives one
            expected = [one(a, b).statistic for a, b in zip(x, y)]
        assert rows(x, y) == pytest.approx(expected, nan_ok=True)
        assert np.isnan(rows(x, y)[0]) and rows(x[1], y[1]) == pytest.approx(expected[1])


def test_the_interval_is_the_means_and_widens_when_the_seeds_disagree():
    target = [0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.87]
    noisy = [0.82, 0.80, 0.81, 0.85, 0.83, 0.84, 0.87, 0.86]  # the panel's order, some swapped
    macs = list(range(8))
    agree = proxy.bootstrap([noisy, noisy], target, macs)["tau"]
    # One seed ranks exactly as the panel, the other exactly backwards: a mean tau of 0. Resampling
    # the members alone gives 0 on every resample (an interval of no width); seed 0 alone, [1, 1].
    mean = (proxy.kendall(target, target) + proxy.kendall(target[::-1], target)) / 2
    disagree = proxy.bootstrap([target, target[::-1]], target, macs)["tau"]
    assert agree[0] <= proxy.kendall(noisy, target) <= agree[1]
    assert disagree[0] <= mean == 0.0 <= disagree[1]
    assert disagree == pytest.approx((-1.0, 1.0))  # it reaches each seed's own tau
    assert disagree[1] - disagree[0] > agree[1] - agree[0]


def test_the_proxy_minus_macs_interval_is_paired():
    target = [0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.87]
    noisy = [0.82, 0.80, 0.81, 0.85, 0.83, 0.84, 0.87, 0.86]
    got = proxy.bootstrap([noisy, noisy], target, noisy)  # MACs rank exactly as the proxy: on every
    assert got["tau"][1] - got["tau"][0] > 0.2  # resample both taus move together, so their
    assert got["tau_minus_macs"] == (0.0, 0.0)  # difference is 0 (resampled apart, it would spread)


def test_permutation_p_against_no_association():
    target = [0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86]  # 7! = 5,040 orders: exact
    # Only the panel's own order (and, two-sided, its reverse) reaches |tau| = 1.
    assert proxy.permutation_p([target, target], target) == pytest.approx(2 / 5040)
    assert proxy.permutation_p([target, target[::-1]], target) == 1.0  # seeds cancel: mean tau 0
    scrambled = [0.83, 0.80, 0.86, 0.81, 0.85, 0.82, 0.84]
    assert 0.2 < proxy.permutation_p([scrambled, scrambled], target) <= 1.0


def repeated_panel(rng, members, seeds, between, within, mean=0.88):
    """Panel records for `members` members with true accuracies N(mean, between^2), each trained
    `seeds(i)` times with seed noise N(0, within^2); and the true accuracies."""
    true = rng.normal(mean, between, members)
    return [panel_record(f"m{i}", float(true[i] + rng.normal(0, within)), seed=s)
            for i in range(members) for s in range(seeds(i))], true


def test_panel_noise_of_a_small_panel_by_hand():
    import math

    recs = [panel_record("a", 0.80), panel_record("a", 0.82, seed=1), panel_record("b", 0.90),
            panel_record("c", 0.86), panel_record("c", 0.84, seed=1),
            panel_record("c", 0.5, recipe="v0")]
    noise = proxy.panel_noise(recs)
    within = (2 * 0.01 ** 2 + 2 * 0.01 ** 2) / 2  # squared deviations from a's and c's means, 2 df
    means = [0.81, 0.90, 0.85]
    between = (sum((m - sum(means) / 3) ** 2 for m in means) / 2
               - within * (1 / 2 + 1 + 1 / 2) / 3)
    reliability = between / (between + within)
    k = 3 / (1 / 2 + 1 + 1 / 2)  # the harmonic mean of the seeds a member: 1.5
    truth = k * reliability / (1 + (k - 1) * reliability)  # Spearman-Brown
    assert (noise["members"], noise["repeated"], noise["df"]) == (3, 2, 2)
    assert noise["within_sd"] == pytest.approx(within ** 0.5)
    assert noise["between_sd"] == pytest.approx(between ** 0.5)
    assert noise["reliability"] == pytest.approx(reliability)
    assert noise["seeds"] == pytest.approx(1.5)
    assert noise["truth_reliability"] == pytest.approx(truth) and truth > reliability
    assert noise["ceiling"] == pytest.approx(2 / math.pi * math.asin(truth ** 0.5))
    assert proxy.panel_noise([panel_record("a", 0.8), panel_record("b", 0.9)]) is None  # no repeats
    assert "unknown until some member is trained with a second seed" in proxy.noise_line(None)


def test_the_reliability_interval_by_the_f_test_by_hand():
    # 3 members x 2 seeds: deviations +-0.01 -> MS within 0.0006 / 3 = 0.0002; means 0.81 0.91
    # 0.86 -> MS between 2 * 0.005 / 2 = 0.005; F = 25. Printed F tables: F(.975; 2, 3) = 16.04,
    # F(.975; 3, 2) = 39.17 -> bounds (25/16.04 - 1) / (25/16.04 + 1),
    # (25*39.17 - 1) / (25*39.17 + 1)
    low, high = proxy.reliability_interval([[0.80, 0.82], [0.90, 0.92], [0.85, 0.87]])
    assert low == pytest.approx((25 / 16.04 - 1) / (25 / 16.04 + 1), abs=2e-3)  # 0.218
    assert high == pytest.approx((25 * 39.17 - 1) / (25 * 39.17 + 1), abs=1e-4)  # 0.998
    accs_of = {"a": (0.80, 0.82), "b": (0.90, 0.92), "c": (0.85, 0.87)}
    recs = [panel_record(m, a, seed=s) for m, accs in accs_of.items() for s, a in enumerate(accs)]
    recs[1]["machine"] = "another"  # a's second seed ran elsewhere
    noise = proxy.panel_noise(recs)
    assert noise["reliability_interval"] == pytest.approx((low, high))
    assert noise["other_machine"] == 1 and "1 of the 3 repeated members" in proxy.noise_line(noise)


def test_panel_noise_recovers_known_variance_components_and_its_ceiling_is_a_noiseless_proxys():
    import numpy as np

    rng = np.random.default_rng(0)
    # Between-member SD 0.8 points, seed noise 0.4: reliability 0.64 / 0.80 = 0.8 for one seed. Any
    # number of repeated members and of seeds: here a third of the members have 1 seed, 2 or 3.
    recs, _ = repeated_panel(rng, 600, lambda i: 1 + i % 3, between=0.008, within=0.004)
    noise = proxy.panel_noise(recs)
    assert noise["within_sd"] == pytest.approx(0.004, rel=0.08)
    assert noise["between_sd"] == pytest.approx(0.008, rel=0.08)
    assert noise["reliability"] == pytest.approx(0.8, abs=0.04)
    assert noise["seeds"] == pytest.approx(3 / (1 + 1 / 2 + 1 / 3)) and noise["repeated"] == 400
    # The ceiling, analytic (Greiner), against a simulation: panels of 16 members with 2 seeds
    # each, the tau of their true accuracies (a noiseless proxy) with the mean over the seeds.
    taus = []
    for _ in range(2000):
        recs, true = repeated_panel(rng, 16, lambda i: 2, between=0.008, within=0.004)
        panel_acc = [t["accuracy"] for t in proxy.panel_truth(recs).values()]
        taus.append(proxy.kendall(true, panel_acc))
    recs, _ = repeated_panel(rng, 600, lambda i: 2, between=0.008, within=0.004)
    expected = proxy.panel_noise(recs)
    reliability = 0.64 / (0.64 + 0.16 / 2)  # of a mean over 2 seeds
    assert expected["truth_reliability"] == pytest.approx(reliability, abs=0.03)
    assert np.mean(taus) == pytest.approx(2 / np.pi * np.arcsin(reliability ** 0.5), abs=0.01)
    assert np.mean(taus) == pytest.approx(expected["ceiling"], abs=0.03)


def test_the_report_shows_each_seed_the_p_value_and_the_panels_noise(tmp_path, capsys):
    for i, name in enumerate(f"m{i}" for i in range(6)):
        records.append(tmp_path / "panel.json", panel_record(name, 0.80 + i / 100, macs=100 - i))
        if i < 2:
            records.append(tmp_path / "panel.json",
                           panel_record(name, 0.805 + i / 100, seed=1, macs=100 - i))
        for seed, acc in [(0, 0.5 + i / 100), (1, 0.6 - i / 100)]:  # seed 1 ranks backwards
            records.append(tmp_path / "proxy.json", proxy_record("s70-b64-lr0.01", name, seed, acc))
    argv = ["--report", "--settings", "s70-b64-lr0.01", "--panel", str(tmp_path / "panel.json"),
            "--out", str(tmp_path / "proxy.json")]
    assert proxy.main(argv) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("s70-b64-lr0.01")).split()
    assert row[:6] == ["s70-b64-lr0.01", "0.000", "[-1.00,", "1.00]", "1.00", "/"]  # seeds +1, -1
    assert row[6:8] == ["-1.00", "1.000"]  # seed 1's tau, then p: nothing to tell from chance
    words = " ".join(out.split())
    assert "Panel noise: seed-to-seed SD 0.35 points within a member (2 of 6 members" in words
    assert "noise ceiling" in out and "resamples the members and the seeds" in words


def test_best_setting_is_the_highest_tau_within_the_budget():
    scores = [{"setting": "slow", "kendall_tau": 0.9, "seconds_per_child": 40, "at_chance": 0.0},
              # ranks ties
              {"setting": "stuck", "kendall_tau": 0.8, "seconds_per_child": 5, "at_chance": 0.75},
              {"setting": "a", "kendall_tau": 0.5, "seconds_per_child": 10, "at_chance": 0.0},
              {"setting": "b", "kendall_tau": 0.6, "seconds_per_child": 14, "at_chance": 0.1}]
    assert proxy.best(scores, 15)["setting"] == "b"
    assert proxy.best(scores, 5) is None


# ----------------------------------------------------------------------------- README tables

def test_tables_fill_only_the_marked_regions(tmp_path):
    import tables

    for i, (name, acc) in enumerate([("mobilenetv2", 0.88), ("sampled-00", 0.86),
                                     ("sampled-01", 0.90), ("sampled-02", 0.80)]):
        records.append(tmp_path / "panel.json",
                       with_provenance({**panel_record(name, acc, macs=100 + i),
                                        "latency_ratio": 1.0,
                                        "max_loss_after_warmup": 1.5}))
    records.append(tmp_path / "panel.json",
                   with_provenance({**panel_record("mobilenetv2", 0.87, seed=1),
                                    "latency_ratio": 1.0,
                                    "max_loss_after_warmup": 1.2}))
    records.append(tmp_path / "panel.json",
                   with_provenance({**panel_record("mobilenetv2", 0.85, recipe="v0"),
                                    "latency_ratio": 1.0,
                                    "max_loss_after_warmup": 6.5}))
    for seed in proxy.SEEDS:
        for name, acc in [("mobilenetv2", 0.7), ("sampled-00", 0.6), ("sampled-01", 0.8),
                          ("sampled-02", 0.5)]:
            records.append(tmp_path / "proxy.json",
                           with_provenance(proxy_record("s70-b64-lr0.01", name, seed, acc)))
    readme = ("# Title\n\nkept\n<!-- table:panel -->\nstale\n<!-- /table:panel -->\nkept too\n"
              "<!-- table:recipe -->\n<!-- /table:recipe -->\n<!-- table:proxy -->\n<!-- "
              "/table:proxy -->\nend\n")
    out = tables.fill(readme, tmp_path)
    assert out.startswith("# Title\n\nkept\n<!-- table:panel -->\n| member |") and out.endswith(
        "<!-- /table:proxy -->\nend\n"
    )
    assert "stale" not in out and "kept too" in out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| sampled-01 | 0.9000 |")  # best first (rows[0] is the header)
    # both seeds, and their gap
    assert "| mobilenetv2 | 0.8800 / 0.8700 |" in out and "1.00 points" in out
    assert "| mobilenetv2 | 0.8500 | 6.50 | 0.8800 | 1.50 |" in out  # v0 beside final
    assert "| `s70-b64-lr0.01` | 1.000 (" in out  # ranks exactly as the panel
    assert "`python benchmarks/x.py`" in out and "test cpu" in out
    assert tables.fill(out, tmp_path) == out  # regenerating changes nothing


def test_provenance_keeps_the_mark_of_a_dirty_tree():
    rs = [with_provenance({}), {**with_provenance({}), "commit": "1810816aaaabbbb+dirty"},
          {**with_provenance({}), "commit": "unknown"}]
    line = records.provenance_line(rs)
    assert "; commit 1810816+dirty, abcdef0, unknown; `python benchmarks/x.py`*" in line


def test_dirty_means_changed_code_not_appended_records(tmp_path):
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True,
                                    capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "mnas.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "results" / "panel.json").write_text("{}\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "fig6.png").write_bytes(b"png")
    (tmp_path / "docs" / "results.md").write_text("text\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    clean = GIT_COMMIT(tmp_path)
    assert len(clean) == 40 and "+" not in clean
    # a run appended
    (tmp_path / "benchmarks" / "results" / "panel.json").write_text('{"records": [1]}\n')
    (tmp_path / "docs" / "fig6.png").write_bytes(b"png, redrawn")  # and redrew its figure
    assert GIT_COMMIT(tmp_path) == clean
    (tmp_path / "docs" / "results.md").write_text("other text\n")  # a page changed: not data
    assert GIT_COMMIT(tmp_path) == clean + "+dirty"
    git("checkout", "--", "docs/results.md")
    (tmp_path / "mnas.py").write_text("x = 2\n")  # the code changed
    assert GIT_COMMIT(tmp_path) == clean + "+dirty"


def test_a_benchmark_from_a_dirty_tree_says_so_when_it_starts(monkeypatch, capsys):
    monkeypatch.setattr(records, "git_commit", lambda: "abc123+dirty")
    got = records.origin(proxy.__file__, ["--report"])
    assert got == {"command": "python benchmarks/proxy.py --report", "commit": "abc123+dirty"}
    err = capsys.readouterr().err
    assert err == "warning: uncommitted changes; records will carry commit abc123+dirty\n"
    monkeypatch.setattr(records, "git_commit", lambda: "abc123")
    assert records.origin(proxy.__file__, [])["commit"] == "abc123"
    assert capsys.readouterr().err == ""


def test_proxy_table_shows_each_seed_the_evidence_and_the_panels_noise(tmp_path):
    import tables

    seed1 = [0.90, 0.86, 0.85, 0.70, 0.75]  # the panel's order but for m1 and m2
    for i, acc in enumerate([0.90, 0.80, 0.85, 0.70, 0.75]):
        name = f"m{i}"
        records.append(tmp_path / "panel.json",
                       with_provenance(panel_record(name, acc, macs=1000 - 100 * i)))
        dirty = {**with_provenance(proxy_record("s70-b64-lr0.01", name, 0, acc / 2)),
                 "commit": "fedcba9876+dirty"}
        records.append(tmp_path / "proxy.json", dirty)
        records.append(tmp_path / "proxy.json",
                       with_provenance(proxy_record("s70-b64-lr0.01", name, 1, seed1[i])))
    out = tables.proxy_table(tmp_path)
    assert "Panel noise: unknown until some member is trained with a second seed" in out
    records.append(tmp_path / "panel.json",
                   with_provenance(panel_record("m0", 0.91, seed=1, macs=1000)))
    out = tables.proxy_table(tmp_path)
    row = next(line for line in out.splitlines() if line.startswith("| `s70-b64-lr0.01`"))
    cells = row.split(" | ")
    assert cells[1].startswith("0.900 (")
    # each seed's tau, then no p: seed 0's records ran from uncommitted code
    assert cells[2:4] == ["1.000 / 0.800", "no test: +dirty records"]
    assert cells[4].startswith("+0.300 (")  # tau minus MACs' tau (0.6: MACs swap m1/m2, m3/m4)
    assert ("seed-to-seed SD 0.71 points within a member (1 of 5 members trained more than once, "
            "1 df)") in out
    assert "noise ceiling" in out and "commit abcdef0, fedcba9+dirty;" in out
    for i, acc in enumerate([0.90, 0.80, 0.85, 0.70, 0.75]):  # seed 0 run again from a commit
        records.append(tmp_path / "proxy.json",
                       with_provenance(proxy_record("s70-b64-lr0.01", f"m{i}", 0, acc / 2)))
    out = tables.proxy_table(tmp_path)
    row = next(line for line in out.splitlines() if line.startswith("| `s70-b64-lr0.01`"))
    # p now (one setting: the adjusted p is p), and the +dirty records gone from the table
    assert row.split(" | ")[3] == "0.033 (0.033)" and "+dirty;" not in out


def test_tables_command_rejects_an_unknown_table(tmp_path, capsys):
    import tables

    readme = tmp_path / "README.md"
    readme.write_text("<!-- table:nonsense -->\n<!-- /table:nonsense -->\n")
    assert tables.main(["--write", str(readme), "--results", str(tmp_path)]) == 2
    assert "unknown table 'nonsense'" in capsys.readouterr().err


def test_supernet_setting_scores_the_members_the_space_can_express(tmp_path, monkeypatch):
    from models import REFERENCE_ARCHS

    monkeypatch.setitem(proxy.SETTINGS, "supernet-2", {"supernet_steps": 2})
    archs = {name: REFERENCE_ARCHS[name] for name in ("mobilenetv2", "mnasnet-a1")}
    out = tmp_path / "proxy.json"
    origin = {"command": "test", "commit": "abc"}
    proxy.run_setting("supernet-2", archs, proxy.training.DataSpec("synthetic"), 1, "cpu", out,
                      set(), origin)
    got = records.load(out)
    # A1 is outside the space
    assert [(r["name"], r["seed"]) for r in got] == [("mobilenetv2", 0), ("mobilenetv2", 1)]
    assert all(
        0 <= r["accuracy"] <= 1 and r["supernet_seconds"] > 0 and r["config"]["steps"] == 2
        for r in got
    )
    assert (tmp_path / "supernets" / "supernet-2-seed1.pt").exists()


def test_learning_latency_is_the_decoded_architectures_macs():
    import random
    from dataclasses import replace

    import learning
    from models import build_model, count_macs_by_module

    rng = random.Random(0)
    for tokens in [learning.SPACE.sample(rng) for _ in range(3)]:
        arch = learning.SPACE.decode(tokens)
        # the benchmark leaves SE out
        arch = replace(arch, blocks=tuple(replace(b, se_ratio=0.0) for b in arch.blocks))
        tokens = learning.SPACE.encode(arch)
        per_module = count_macs_by_module(build_model(arch))
        assert learning.macs(tokens) == sum(
            v for k, v in per_module.items() if k.count(".") == 2 and ".blocks." in k
        )


def test_learning_records_each_search_and_its_table_counts_wins_per_seed(tmp_path):
    import learning
    import search_tables

    out = tmp_path / "learning.json"
    assert learning.main(["--seeds", "2", "--budget", "20", "--batch", "5", "--out", str(out)]) == 0
    rs = records.load(out)
    assert [(r["seed"], r["method"]) for r in rs] == [
        (s, m) for s in (0, 1) for m in ("reinforce", "ppo", "random")
    ]
    assert all(
        0 < r["best"] <= 1
        and 0 < r["last50"] <= 1
        and r["budget"] == 20
        and r["objective"] == "match"
        and r["command"].startswith("python benchmarks/learning.py")
        for r in rs
    )
    assert learning.main(["--seeds", "2", "--budget", "20", "--batch", "5", "--out",
                          str(tmp_path / "again.json")]) == 0
    # seeded: the same searches
    assert [r["best"] for r in records.load(tmp_path / "again.json")] == [r["best"] for r in rs]
    # The table, from made-up records: per method over seeds, wins against random search's best of
    # the same seed.
    made = [with_provenance({"objective": "match", "seed": seed, "method": method,
                             "best": best}) for seed, method, best in (
        (0, "reinforce", 1.0), (0, "random", 0.6), (1, "reinforce", 0.5), (1, "random", 0.62),
        (2, "reinforce", 0.96), (2, "random", 0.97))]
    for r in made:
        records.append(tmp_path / "made" / "learning.json", r)
    rows = search_tables.learning_table(tmp_path / "made").splitlines()
    # seed 2: 0.96 < 0.97
    assert rows[2] == "| match | 0-2 | reinforce | 0.820 (0.500-1.000) | 1/3 | 2/3 | 1/3 |"
    assert rows[3] == "| match | 0-2 | random | 0.730 (0.600-0.970) | 0/3 | 1/3 |  |"
    records.append(tmp_path / "made" / "learning.json",
                   with_provenance({"objective": "match", "seed": 3, "method": "reinforce",
                                                                        # stopped before seed 3's
                                                                        # random search
                                    "best": 1.0}))
    assert (
        search_tables.learning_table(tmp_path / "made")
        .splitlines()[2]
        .endswith("| 2/4 | 3/4 | 1/3 |")
    )  # won of those it can
