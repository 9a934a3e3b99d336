"""The reference panel and the proxy benchmark: resuming, growing, and rank correlations on known rankings."""

import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import models

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import panel  # noqa: E402
import proxy  # noqa: E402
import records  # noqa: E402

GIT_COMMIT = records.git_commit  # the real one, for the test of "+dirty"


def benchmark_module(name: str):
    """benchmarks/<name>.py loaded under another name: controller.py and latency.py share their
    names with the top-level modules, which `import` would find first."""
    import importlib.util

    path = Path(panel.__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def committed_tree(monkeypatch):
    """The tests run as from a committed tree, whatever state the working tree is in: a dirty one
    would add its warning line (records.origin) to the stderr of every benchmark they start."""
    monkeypatch.setattr(records, "git_commit", lambda: "0123456789abcdef0123456789abcdef01234567")


def test_van_der_corput_spreads_members_and_keeps_earlier_ones():
    assert [panel.van_der_corput(k) for k in range(1, 8)] == [0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]


def test_sampled_members_are_spread_over_macs_and_grow_as_a_prefix(monkeypatch):
    monkeypatch.setattr(panel, "POOL", 16)
    four, six = panel.sampled_archs(4), panel.sampled_archs(6)
    assert list(six) == [f"sampled-{k:02d}" for k in range(6)]
    assert all(six[name] == arch for name, arch in four.items())  # growing the panel keeps its members
    assert len(set(six.values())) == 6


def test_second_seeds_go_to_mobilenetv2_and_the_first_sampled_members():
    names = ["mobilenetv2", "mnasnet-a1", "sampled-00", "sampled-01", "sampled-02"]
    got = [(j["name"], j["seed"]) for j in panel.jobs(names, repeat=3, recipe="final", epochs=1)]
    assert got == [(n, 0) for n in names] + [("mobilenetv2", 1), ("sampled-00", 1), ("sampled-01", 1)]
    every = [(j["name"], j["seed"]) for j in panel.jobs(names, repeat=5, recipe="final", epochs=1)]
    assert every[len(names):] == [("mobilenetv2", 1), ("sampled-00", 1), ("sampled-01", 1), ("sampled-02", 1),
                                  ("mnasnet-a1", 1)]  # then the other reference networks: the whole panel


def test_panel_appends_each_member_with_provenance_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(panel, "POOL", 8)
    out = tmp_path / "panel.json"
    argv = ["--dataset", "synthetic", "--epochs", "0.1", "--sampled", "1", "--threads", "1",
            "--only", "mnasnet-small,sampled-00", "--out", str(out), "--repeat"]
    assert panel.main(argv + ["0"]) == 0
    first = records.load(out)
    assert [(r["name"], r["seed"]) for r in first] == [("mnasnet-small", 0), ("sampled-00", 0)]
    for r in first:
        assert r["recipe_config"]["steps"] == 2  # 0.1 epochs of 1,500 synthetic images in batches of 128, rounded up
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
    argv = ["--dataset", "synthetic", "--epochs", "0.2", "--threads", "1", "--only", "mnasnet-small", "--repeat", "0", "--sampled", "0",
            "--out", str(out)]
    monkeypatch.setattr(panel.training, "train_steps", functools.partial(panel.training.train_steps, every=1))
    monkeypatch.setattr(panel, "POOL", 8)  # neither the sampled members, the expected duration nor the
    monkeypatch.setattr(panel.training, "time_steps", lambda *args, **kw: 1.0)  # latency are what is tested
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
    assert list((tmp_path / "checkpoints").iterdir()) == []  # the record is in: its checkpoint is gone
    job, (a1, b1) = {**record, "name": "table5/best"}, (models.REFERENCE_ARCHS[n] for n in ("mnasnet-a1", "mnasnet-b1"))
    assert panel.checkpoint_path(out, job, a1, "cpu") != panel.checkpoint_path(out, job, b1, "cpu")  # one name, two networks


def test_panel_rejects_unknown_members_in_one_line(tmp_path, capsys):
    assert panel.main(["--only", "mobilenetv3", "--out", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --only: unknown member(s) mobilenetv3") and err.count("\n") == 1


def test_records_append_keeps_earlier_records(tmp_path):
    path = tmp_path / "r.json"
    records.append(path, {"a": 1})
    records.append(path, {"a": 2})
    assert json.loads(path.read_text()) == {"records": [{"a": 1}, {"a": 2}]}


# ----------------------------------------------------------------------------- rank correlations

def panel_record(name, acc, seed=0, macs=100, params=10, recipe="final"):
    return {"name": name, "seed": seed, "recipe": recipe, "epochs": 1.0, "dataset": "fashion-mnist",
            "test_accuracy": acc, "macs": macs, "params": params}


def proxy_record(setting, name, seed, acc, seconds=10.0):
    return {"setting": setting, "name": name, "seed": seed, "accuracy": acc, "seconds": seconds}


def test_kendall_and_spearman_on_known_rankings():
    assert proxy.kendall([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert proxy.kendall([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    assert proxy.kendall([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)  # 5 concordant pairs, 1 discordant
    assert proxy.spearman([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(1 - 6 * 2 / (4 * 15))  # 1 - 6 sum(d^2) / n(n^2-1)


def test_panel_truth_averages_seeds_and_ignores_other_recipes():
    truth = proxy.panel_truth([panel_record("a", 0.80), panel_record("a", 0.90, seed=1),
                               panel_record("a", 0.10, recipe="v0"), panel_record("b", 0.70)])
    assert truth["a"]["accuracy"] == pytest.approx(0.85) and truth["b"]["accuracy"] == 0.70


def test_score_pairs_each_member_with_its_own_panel_accuracy():
    names = ["m0", "m1", "m2", "m3", "m4"]
    panel_acc = [0.90, 0.80, 0.85, 0.70, 0.75]  # ranks: m0 > m2 > m1 > m4 > m3
    truth = proxy.panel_truth([panel_record(n, a, macs=1000 - 100 * i, params=i) for i, (n, a) in enumerate(zip(names, panel_acc))])
    # Seed 0 ranks exactly as the panel; seed 1 swaps m1 and m2 (one discordant pair of 10).
    recs = [proxy_record("p", n, 0, a / 2) for n, a in zip(names, panel_acc)]
    recs += [proxy_record("p", n, 1, a) for n, a in zip(names, [0.90, 0.86, 0.85, 0.70, 0.75])]
    recs = list(reversed(recs))  # the order of the results file does not matter
    recs += [proxy_record("q", n, s, -a, seconds=99) for n, a in zip(names, panel_acc) for s in proxy.SEEDS]  # another setting
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
    recs = [proxy_record("p", f"m{i}", s, 0.5 + i / 10, seconds=30) for i in range(5) for s in proxy.SEEDS]
    assert proxy.score("p", recs, truth)["seconds_per_child"] == 30  # no timing runs: the fidelity runs' own
    timing = [{"setting": "p", "name": "m0", "seconds": 11}, {"setting": "p", "name": "m3", "seconds": 13},
              {"setting": "q", "name": "m0", "seconds": 99}]
    assert proxy.score("p", recs, truth, timing)["seconds_per_child"] == 12


def test_score_needs_both_seeds_of_a_member():
    truth = proxy.panel_truth([panel_record(f"m{i}", 0.5 + i / 10) for i in range(5)])
    recs = [proxy_record("p", f"m{i}", 0, 0.5) for i in range(5)] + [proxy_record("p", f"m{i}", 1, 0.5) for i in range(3)]
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
              {"setting": "stuck", "kendall_tau": 0.8, "seconds_per_child": 5, "at_chance": 0.75},  # ranks ties
              {"setting": "a", "kendall_tau": 0.5, "seconds_per_child": 10, "at_chance": 0.0},
              {"setting": "b", "kendall_tau": 0.6, "seconds_per_child": 14, "at_chance": 0.1}]
    assert proxy.best(scores, 15)["setting"] == "b"
    assert proxy.best(scores, 5) is None


# ----------------------------------------------------------------------------- README tables

def with_provenance(record, date="2026-11-29 01:00:00 UTC"):
    return {**record, "command": "python benchmarks/x.py", "commit": "abcdef0123", "date": date, "machine": "test cpu",
            "wall_seconds": 60.0}


def test_tables_fill_only_the_marked_regions(tmp_path):
    import tables

    for i, (name, acc) in enumerate([("mobilenetv2", 0.88), ("sampled-00", 0.86), ("sampled-01", 0.90), ("sampled-02", 0.80)]):
        records.append(tmp_path / "panel.json", with_provenance({**panel_record(name, acc, macs=100 + i), "latency_ratio": 1.0,
                                                                 "max_loss_after_warmup": 1.5}))
    records.append(tmp_path / "panel.json", with_provenance({**panel_record("mobilenetv2", 0.87, seed=1), "latency_ratio": 1.0,
                                                             "max_loss_after_warmup": 1.2}))
    records.append(tmp_path / "panel.json", with_provenance({**panel_record("mobilenetv2", 0.85, recipe="v0"), "latency_ratio": 1.0,
                                                             "max_loss_after_warmup": 6.5}))
    for seed in proxy.SEEDS:
        for name, acc in [("mobilenetv2", 0.7), ("sampled-00", 0.6), ("sampled-01", 0.8), ("sampled-02", 0.5)]:
            records.append(tmp_path / "proxy.json", with_provenance(proxy_record("s70-b64-lr0.01", name, seed, acc)))
    readme = ("# Title\n\nkept\n<!-- table:panel -->\nstale\n<!-- /table:panel -->\nkept too\n"
              "<!-- table:recipe -->\n<!-- /table:recipe -->\n<!-- table:proxy -->\n<!-- /table:proxy -->\nend\n")
    out = tables.fill(readme, tmp_path)
    assert out.startswith("# Title\n\nkept\n<!-- table:panel -->\n| member |") and out.endswith("<!-- /table:proxy -->\nend\n")
    assert "stale" not in out and "kept too" in out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| sampled-01 | 0.9000 |")  # best first (rows[0] is the header)
    assert "| mobilenetv2 | 0.8800 / 0.8700 |" in out and "1.00 points" in out  # both seeds, and their gap
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
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
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
    (tmp_path / "benchmarks" / "results" / "panel.json").write_text('{"records": [1]}\n')  # a run appended
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
    assert cells[2:4] == ["1.000 / 0.800", "0.033"]  # each seed's tau, then p
    assert cells[4].startswith("+0.300 (")  # tau minus MACs' tau (0.6: MACs swap m1/m2, m3/m4)
    assert ("seed-to-seed SD 0.71 points within a member (1 of 5 members trained more than once, "
            "1 df)") in out
    assert "noise ceiling" in out and "commit abcdef0, fedcba9+dirty;" in out


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
    proxy.run_setting("supernet-2", archs, proxy.training.DataSpec("synthetic"), 1, "cpu", out, set(), origin)
    got = records.load(out)
    assert [(r["name"], r["seed"]) for r in got] == [("mobilenetv2", 0), ("mobilenetv2", 1)]  # A1 is outside the space
    assert all(0 <= r["accuracy"] <= 1 and r["supernet_seconds"] > 0 and r["config"]["steps"] == 2 for r in got)
    assert (tmp_path / "supernets" / "supernet-2-seed1.pt").exists()


def test_controller_benchmark_latency_is_the_decoded_architectures_macs():
    import random

    from dataclasses import replace

    from models import build_model, count_macs

    controller_benchmark = benchmark_module("controller")

    rng = random.Random(0)
    for tokens in [controller_benchmark.SPACE.sample(rng) for _ in range(3)]:
        arch = controller_benchmark.SPACE.decode(tokens)
        arch = replace(arch, blocks=tuple(replace(b, se_ratio=0.0) for b in arch.blocks))  # the benchmark leaves SE out
        tokens = controller_benchmark.SPACE.encode(arch)
        _, per_module = count_macs(build_model(arch), by_module=True)
        assert controller_benchmark.macs(tokens) == sum(v for k, v in per_module.items() if k.count(".") == 2 and ".blocks." in k)


# ----------------------------------------------------------------------------- Table 1 (Sec. 6.1)

def test_table1_trains_a_runs_best_children_beside_references_and_resumes(tmp_path, capsys):
    import mnas
    import table1

    run = tmp_path / "search-a"
    run.mkdir()
    log, space = mnas.SearchLog(run / "search.jsonl"), mnas.SearchSpace()
    for step, reward in enumerate([0.5, 0.9, 0.7, 0.0]):
        tokens = [step % 2] * len(space.decisions)
        log.append(mnas.Child(step, tokens, models.arch_to_dict(space.decode(tokens)), reward=reward,
                              status="ok" if reward else "failed: x"))
    out = tmp_path / "table1.json"
    argv = [str(run), "mnasnet-small", "--top", "2", "--seeds", "2", "--epochs", "0.05", "--dataset", "synthetic",
            "--threads", "1", "--out", str(out)]
    assert table1.main(argv) == 0
    got = records.load(out)
    assert [(r["name"], r["seed"]) for r in got] == [(n, s) for s in (0, 1) for n in ("search-a/child-1", "search-a/child-2",
                                                                                      "mnasnet-small")]
    assert got[0]["arch"] == log.children[1].arch and got[1]["arch"] == log.children[2].arch  # best reward first
    assert {"command", "commit", "date", "machine", "wall_seconds", "latency_ratio", "test_accuracy"} <= set(got[0])
    assert got[3]["latency_ratio"] == got[0]["latency_ratio"]  # each network is timed once
    assert table1.main(argv) == 0 and records.load(out) == got  # resumes: nothing left to do
    capsys.readouterr()
    assert table1.main(["no-such-net", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: unknown architecture 'no-such-net'")


def test_each_settings_best_network_is_trained_once_and_table1s_training_reused(tmp_path, monkeypatch):
    import searches
    import table1

    a1, b1, small = (models.REFERENCE_ARCHS[n] for n in ("mnasnet-a1", "mnasnet-b1", "mnasnet-small"))
    summaries = tmp_path / "table5.json"
    for run, reward, arch in [("single-cell-seed0", 0.80, a1), ("single-cell-seed1", 0.85, b1),
                              ("multi-cell-seed0", 0.70, None),  # a summary from before best_arch was kept
                              ("multi-factorized-seed0", 0.90, b1)]:  # single-cell's network again
        records.append(summaries, {"experiment": "table5", "run": run, "best_reward": reward,
                                   **({"best_arch": models.arch_to_dict(arch)} if arch else {})})
    (tmp_path / "runs" / "table5" / "multi-cell-seed0").mkdir(parents=True)
    models.save_arch(small, tmp_path / "runs" / "table5" / "multi-cell-seed0" / "best.json")
    monkeypatch.setattr(searches, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(table1, "TABLE1", tmp_path / "table1.json")  # Table 1 trained mnasnet-small already
    records.append(table1.TABLE1, {"name": "mnasnet-small", "seed": 0, "epochs": 0.05, "dataset": "synthetic",
                                   "device": "cpu", "arch": models.arch_to_dict(small), "test_accuracy": 0.5,
                                   "latency_ratio": 0.9})
    trained = []

    def train_member(job, arch, data, cfg, ratio, origin, checkpoint=None):
        trained.append((job["name"], arch))
        return {**job, "arch": models.arch_to_dict(arch), "test_accuracy": 0.6, "latency_ratio": 1.0, "wall_seconds": 1.0}
    monkeypatch.setattr(table1.panel, "train_member", train_member)
    argv = ["--searches", str(summaries), "--seeds", "1", "--epochs", "0.05", "--dataset", "synthetic", "--device", "cpu"]
    assert table1.main(argv) == 0
    assert trained == [("table5/single-cell", b1)]  # the better seed's network
    got = {r["name"]: r for r in records.load(tmp_path / "table5-final.json")}  # beside the summaries
    assert set(got) == {"table5/single-cell", "table5/multi-cell", "table5/multi-factorized"}
    assert got["table5/multi-factorized"]["same_as"] == "table5/single-cell"  # trained once in this run
    reused = got["table5/multi-cell"]
    assert (reused["same_as"], reused["test_accuracy"], reused["seed"]) == ("mnasnet-small", 0.5, 0)
    assert table1.main(argv) == 0 and len(trained) == 1  # resumes: nothing left to do
    (tmp_path / "runs" / "table5" / "multi-cell-seed0" / "best.json").unlink()
    (tmp_path / "table5-final.json").unlink()
    assert table1.main(argv) == 2  # no best network to be found: one line, status 2


def test_table1_takes_a_runs_best_distinct_networks(tmp_path):
    import mnas
    import table1

    v2 = models.REFERENCE_ARCHS["mobilenetv2"]
    same = models.replace_block(models.replace_block(v2, 0, repeats=0), 0, kernel=5)  # differ only in a block of depth 0
    (tmp_path / "run").mkdir()
    log = mnas.SearchLog(tmp_path / "run" / "search.jsonl")
    for step, (arch, reward) in enumerate([(models.replace_block(v2, 0, repeats=0), 0.9), (same, 0.8), (v2, 0.7)]):
        log.append(mnas.Child(step, [0], models.arch_to_dict(arch), reward=reward))
    assert list(table1.contenders([str(tmp_path / "run")], top=2)) == ["run/child-0", "run/child-2"]


def test_table1_table_reports_mean_range_and_gap_to_mobilenetv2(tmp_path):
    import tables

    for name, accs, ratio in [("mobilenetv2", (0.88, 0.86), 1.0), ("run/child-3", (0.90, 0.89), 0.7)]:
        for seed, acc in enumerate(accs):
            records.append(tmp_path / "table1.json", with_provenance({
                "name": name, "seed": seed, "epochs": 1, "test_accuracy": acc, "params": 3_500_000,
                "macs": 300_000_000, "latency_ratio": ratio, "executorch_ratio": None}))
    out = tables.table1_table(tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert rows[1] == "| run/child-3 | 0.8950 (0.8900-0.9000), 2 | +2.50 points | 3.50M | 300M | 0.700 |  |"
    assert rows[2].startswith("| mobilenetv2 | 0.8700 (0.8600-0.8800), 2 |  |")
    assert ("at lower CPU latency: 1 of 1; the most accurate, run/child-3, by 2.50 points at 0.70x MobileNetV2's "
            "latency, beyond the seed spread: its worst seed is above MobileNetV2's best.") in out
    records.append(tmp_path / "table1.json", with_provenance({  # a third seed of MobileNetV2 reaches into its range
        "name": "mobilenetv2", "seed": 2, "epochs": 1, "test_accuracy": 0.8925, "params": 1, "macs": 1, "latency_ratio": 1.0}))
    assert "by 1.75 points at 0.70x MobileNetV2's latency, within the seed spread" in tables.table1_table(tmp_path)
    records.append(tmp_path / "table1.json", with_provenance({  # slower than MobileNetV2: no longer counts
        "name": "run/child-4", "seed": 0, "epochs": 1, "test_accuracy": 0.99, "params": 1, "macs": 1, "latency_ratio": 1.2}))
    assert "at lower CPU latency: 1 of 2; the most accurate, run/child-3," in tables.table1_table(tmp_path)
    for name, acc in [("mobilenetv2", 0.93), ("run/child-3", 0.91)]:  # longer training: its own table and verdict
        records.append(tmp_path / "table1.json", with_provenance({
            "name": name, "seed": 0, "epochs": 5, "test_accuracy": acc, "params": 1, "macs": 1, "latency_ratio": 0.7}))
    one, five = tables.table1_table(tmp_path).split("**5 epochs of training**")
    assert "**1 epoch of training**" in one and "| run/child-3 | 0.8950 (0.8900-0.9000), 2 |" in one
    assert "| run/child-3 | 0.9100 (0.9100-0.9100), 1 | -2.00 points |" in five
    assert "at lower CPU latency: 0 of 1." in five


def test_sharing_records_each_regime_once(tmp_path):
    import sharing

    out = tmp_path / "sharing.json"
    argv = ["--paths", "2", "--steps", "10", "--threads", "1", "--dataset", "synthetic", "--out", str(out)]
    assert sharing.main(argv) == 0
    (r,) = records.load(out)
    assert r["paths"] == 2 and len(r["loss_curve"]) == 10 and len(r["child_accuracy"]) == 2
    assert all(0 <= a <= 1 for a in r["child_accuracy"]) and r["command"].startswith("python benchmarks/sharing.py")
    assert sharing.main(argv) == 0 and records.load(out) == [r]  # resumes: nothing left to do
    assert sharing.main(["--paths", "two", "--out", str(out)]) == 2


# ----------------------------------------------------------------------------- the search claims (Sec. 4.2, Fig. 6)

def write_run(run_dir, latencies, rewards, target_ms=10.0):
    """A finished search run directory with the given children (what train.py --search leaves)."""
    import mnas

    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"target_ms": target_ms, "references": {}}))
    log = mnas.SearchLog(run_dir / "search.jsonl")
    for step, (lat, r) in enumerate(zip(latencies, rewards)):
        log.append(mnas.Child(step, [0], {"child": step}, accuracy=0.5, latency_ms=lat, reward=r, seconds=900.0))


def test_search_summary_measures_what_the_paper_claims(tmp_path):
    import searches

    # 8 children, T = 10 ms. Second half: 8.5, 9.5, 12, 20 ms -> 2 of 4 in [0.8 T, T]; IQR of the four.
    write_run(tmp_path / "run", [5, 9.2, 11, 7, 8.5, 9.5, 12, 20], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    s = searches.summarize(tmp_path / "run")
    assert s["best_reward"] == 0.8 and s["last_quarter_mean_reward"] == pytest.approx(0.75)  # children 7 and 8
    assert s["within_10pct_below_t"] == pytest.approx(2 / 8)  # 9.2 and 9.5 ms
    assert s["second_half_in_0.8t_t"] == pytest.approx(0.5)
    assert s["second_half_latency_iqr_ms"] == pytest.approx(14.0 - 9.25)  # numpy's linear quartiles of 8.5 9.5 12 20
    assert s["second_half_median_over_t"] == pytest.approx(1.075) and s["second_half_above_t"] == 0.5  # (9.5+12)/2/10
    assert s["greedy_reward"] is None  # no greedy.json: random search
    assert s["best_child"] == 7 and s["best_arch"] == {"child": 7}  # the network to time on every platform
    assert s["children_seconds"] == 8 * 900.0  # the log's own time, whatever sessions the run spanned
    (tmp_path / "run" / "greedy.json").write_text(json.dumps({"reward": 0.77}))
    assert searches.summarize(tmp_path / "run")["greedy_reward"] == 0.77


def test_a_claims_runs_get_their_flags_go_side_by_side_and_are_summarized_once(tmp_path, stand_in_table, monkeypatch,
                                                                                capsys):
    import searches

    drawn = []
    monkeypatch.setattr(searches.figures, "fig6", lambda soft, hard, out: drawn.append((soft.name, hard.name, out.name)))
    out = tmp_path / "fig6-t8.json"
    argv = ["fig6", "--samples", "2", "--runs", str(tmp_path / "runs"), "--out", str(out), "--latency-table",
            str(stand_in_table), "--parallel", "2", "--plot",
            "--extra=--dataset synthetic --proxy-steps 2 --threads 1 --batch 2 --target-ms 8"]
    started = time.time()
    assert searches.main(argv) == 0
    elapsed, got = time.time() - started, records.load(out)
    assert sorted((r["run"], r["children"]) for r in got) == [("hard", 2), ("soft", 2)]
    for r in got:
        config = json.loads((tmp_path / "runs" / "fig6" / r["run"] / "config.json").read_text())
        beta = {"soft": -0.07, "hard": -1.0}[r["run"]]  # Eq. 3's presets
        assert (config["beta"], config["dataset"]) == (beta, "synthetic")  # the flags reached train.py
        assert r["target_ms"] == 8 and {"command", "commit", "wall_seconds", "children_seconds"} <= set(r)
    hard = next(r for r in got if r["run"] == "hard")
    assert hard["greedy_reward"] is not None and hard["flags"] == ["--constraint", "hard"]
    assert elapsed < sum(r["wall_seconds"] for r in got)  # side by side, not one after the other
    printed = capsys.readouterr().out.splitlines()  # so each run's lines carry its name
    assert any(line.startswith("soft: child") for line in printed) and any(line.startswith("hard: child") for line in printed)
    assert drawn == [("soft", "hard", "fig6_t8.png")]  # the figure is named after the summary file
    assert searches.main(argv) == 0 and records.load(out) == got  # a finished run is not run again
    with pytest.raises(SystemExit) as stop:  # one line on stderr, status 2, as argparse does
        searches.main(["fig6", "--latency-table", str(tmp_path / "missing.json")])
    assert stop.value.code == 2


def test_a_failing_run_stops_the_experiment_with_its_status_and_records_nothing(tmp_path, capsys):
    import searches

    out = tmp_path / "fig6.json"
    argv = ["fig6", "--samples", "2", "--runs", str(tmp_path / "runs"), "--out", str(out), "--parallel", "2",
            "--extra=--proxy-steps 0"]
    assert searches.main(argv) == 2 and records.load(out) == []  # train.py's own status for bad input
    captured = capsys.readouterr()
    one_at_a_time = argv[:argv.index("--parallel")] + ["--parallel", "1", "--extra=--proxy-steps 0"]
    assert searches.main(one_at_a_time) == 2  # the failed run stops the experiment: the next never starts
    assert [line for line in capsys.readouterr().out.splitlines() if ": python train.py" in line] == [
        f"soft: python train.py --search --out {tmp_path / 'runs' / 'fig6' / 'soft'} --samples 2 --constraint soft "
        "--proxy-steps 0"]
    assert {"soft: error: --proxy-steps must be at least 1, got 0", "hard: error: --proxy-steps must be at least 1, got 0"} \
        <= set(captured.out.splitlines())  # each run's one-line error, under its name
    assert captured.err.strip() == "fig6: stopped; the same command resumes"


def test_fig6_table_shows_each_pair_of_runs_with_its_t(tmp_path):
    import search_tables

    for file, target in [("fig6.json", 16.4), ("fig6-t8.json", 8.0)]:
        for run, share, iqr in [("soft", 0.01, 0.75), ("hard", 0.40, 0.5)]:
            records.append(tmp_path / file, with_provenance({
                "run": run, "children": 300, "target_ms": target, "second_half_in_0.8t_t": share,
                "second_half_latency_iqr_ms": iqr, "second_half_median_over_t": 0.9, "second_half_above_t": 0.05,
                "best_reward": 0.8, "children_seconds": 1800.0}))
    rows = [line for line in search_tables.fig6_table(tmp_path).splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[:3] for row in rows[1:]] == [["| soft", "300", "16.40"], ["| hard", "300", "16.40"],
                                                          ["| soft", "300", "8.00"], ["| hard", "300", "8.00"]]
    assert rows[2] == "| hard | 300 | 16.40 | 40% | 0.50 | 0.90 | 5% | 0.8000 |"
    assert "Children trained and scored for 2.0 h in all" in search_tables.fig6_table(tmp_path)


def test_the_experiments_are_the_papers_comparisons():
    import searches

    assert searches.runs("fig6", [0]) == {"soft": ["--constraint", "soft"], "hard": ["--constraint", "hard"]}
    assert list(searches.runs("rl-vs-random", [0, 1])) == ["reinforce-seed0", "random-seed0", "reinforce-seed1", "random-seed1"]
    assert searches.runs("rl-vs-random", [1])["random-seed1"] == ["--controller", "random", "--seed", "1"]
    assert searches.runs("ppo", [0, 1]) == {"ppo-seed0": ["--controller", "ppo", "--seed", "0"],
                                            "ppo-seed1": ["--controller", "ppo", "--seed", "1"]}


def test_rl_vs_random_table_counts_the_seeds_where_the_controller_wins(tmp_path):
    import search_tables

    for method, seed, last in [("reinforce", 0, 0.80), ("random", 0, 0.75), ("reinforce", 1, 0.70), ("random", 1, 0.72)]:
        records.append(tmp_path / "rl-vs-random.json", with_provenance({
            "run": f"{method}-seed{seed}", "flags": ["--controller", method, "--seed", str(seed)], "children": 300,
            "best_reward": 0.9, "last_quarter_mean_reward": last, "within_10pct_below_t": 0.25,
            "greedy_reward": 0.85 if method == "reinforce" else None, "children_seconds": 2700.0}))
    out = search_tables.rl_vs_random_table(tmp_path)
    assert "Children trained and scored for 3.0 h in all" in out  # 4 runs of 0.75 h, not the commands' wall time
    assert "above random search's in 1 of 2 seeds" in out
    assert "| reinforce | 0 | 300 | 0.9000 | 0.8000 | 25% | 0.8500 |" in out and "| random | 1 | 300 | 0.9000 | 0.7200 | 25% | (none) |" in out
    first = records.load(tmp_path / "rl-vs-random.json")[0]  # a summary reused from another experiment
    records.append(tmp_path / "rl-vs-random.json", {**first, "run": "reinforce-seed2", "same_as": "ppo/x-seed2"})
    assert ("Children trained and scored for 3.0 h in all, summed over every session the runs spanned "
            "(ppo/x-seed2: counted there)." in search_tables.rl_vs_random_table(tmp_path))



# ----------------------------------------------------------------------------- what it replaced


def test_a_summary_judges_a_run_on_measured_latency_whatever_its_lat(tmp_path):
    import mnas
    import searches

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # A MACs run: T = 300 M MACs in Eq. 2; MobileNetV2 measured 10 ms, so T in measured ms is 10.
    run = {"target_ms": 10.0, "target": 300.0, "lat_unit": "M MACs",
           "references": {"mobilenetv2": 10.0}}
    (run_dir / "run.json").write_text(json.dumps(run))
    config = {"space": "cell", "latency": "macs", "seed": 0}
    (run_dir / "config.json").write_text(json.dumps(config))
    log = mnas.SearchLog(run_dir / "search.jsonl")
    children = [(0.80, 8.0, 320.0), (0.82, 14.0, 250.0), (0.70, 11.0, 200.0), (0.50, 5.0, 150.0)]
    for step, (acc, ms, mmacs) in enumerate(children):  # (accuracy, measured ms, M MACs)
        log.append(mnas.Child(step, [0], {}, accuracy=acc, latency_ms=ms, lat=mmacs,
                              macs=int(mmacs * 1e6), reward=acc * (mmacs / 300.0) ** -0.07))
    log.append(mnas.Child(4, [0], {}, status="failed: FloatingPointError: loss became nan"))
    s = searches.summarize(run_dir)
    assert (s["space"], s["latency"], s["lat_unit"]) == ("cell", "macs", "M MACs")
    assert (s["target"], s["target_ms"], s["mobilenetv2_ms"]) == (300.0, 10.0, 10.0)
    assert s["config"]["space"] == "cell"
    assert s["measured_above_t"] == 0.5  # 14 and 11 ms of the 4 that trained
    # the best by its MACs reward (0.82 at 250 M MACs) takes 14 ms
    assert (s["best_measured_ms"], s["best_accuracy"], s["best_macs"]) == (14.0, 0.82, 250_000_000)
    assert s["best_reward_on_measured"] == pytest.approx(0.82 * 1.4 ** -0.07)  # soft, T = 10 ms
    write_run(tmp_path / "old", [5, 12], [0.4, 0.3])  # a run from before: factorized, LAT in ms
    old = searches.summarize(tmp_path / "old")
    assert (old["space"], old["lat_unit"], old["target"]) == ("factorized", "ms", 10.0)
    assert old["measured_above_t"] == 0.5 and old["best_measured_ms"] == 5
    assert old["best_reward_on_measured"] == pytest.approx(0.5 * 0.5 ** -0.07)


def test_table5_and_flops_set_each_idea_against_what_it_replaced():
    import searches

    assert list(searches.runs("table5", [0])) == ["single-cell-seed0", "single-factorized-seed0",
                                                  "multi-cell-seed0", "multi-factorized-seed0"]
    single = ["--space", "cell", "--alpha", "0", "--beta", "0", "--seed", "1"]
    assert searches.runs("table5", [1])["single-cell-seed1"] == single
    assert searches.runs("flops", [0]) == {"macs-seed0": ["--latency", "macs", "--seed", "0"],
                                           "measured-seed0": ["--seed", "0"]}
    # one search, three names: rl-vs-random's reinforce-seedN, table5's multi-factorized-seedN and
    # flops's measured-seedN
    names = [("rl-vs-random", "reinforce-seed0"), ("table5", "multi-factorized-seed0"),
             ("flops", "measured-seed0"), ("cross-platform", "cpu-seed0")]
    same = [searches.settings(searches.runs(e, [0])[n]) for e, n in names]
    assert same[0] == same[1] == same[2] == same[3] and same[0]["space"] == "factorized"
    assert list(searches.runs("cross-platform", [0])) == ["cpu-seed0", "executorch-seed0", "executorch-int8-seed0"]
    assert searches.settings(searches.runs("cross-platform", [0])["executorch-seed0"]) != same[0]
    assert searches.settings(searches.runs("table5", [0])["multi-cell-seed0"]) != same[0]


def test_a_search_another_experiment_finished_is_reused_not_trained_again(tmp_path, stand_in_table,
                                                                          monkeypatch, capsys):
    import figures
    import searches

    extra = ["--dataset", "synthetic", "--proxy-steps", "1", "--threads", "1", "--batch", "2"]
    common = ["--samples", "2", "--seeds", "0", "--runs", str(tmp_path / "runs"), "--latency-table",
              str(stand_in_table), "--parallel", "2", "--extra=" + " ".join(extra)]
    assert searches.main(["flops", *common, "--out", str(tmp_path / "flops.json")]) == 0
    flops = {r["run"]: r for r in records.load(tmp_path / "flops.json")}
    macs, measured = flops["macs-seed0"], flops["measured-seed0"]
    assert (macs["latency"], macs["lat_unit"], measured["latency"], measured["lat_unit"]) == (
        "macs", "M MACs", "cpu", "ms")
    for name, r in flops.items():  # both judged on the table's milliseconds against MobileNetV2's
        children, run = figures.read_run(tmp_path / "runs" / "flops" / name)
        best, t = max(children, key=lambda c: c.reward), run["references"]["mobilenetv2"]
        assert r["mobilenetv2_ms"] == t == pytest.approx(run["target_ms"])
        assert r["measured_above_t"] == sum(c.latency_ms > t for c in children) / len(children)
        assert r["best_measured_ms"] == best.latency_ms
        on_measured = best.accuracy * (best.latency_ms / t) ** -0.07
        assert r["best_reward_on_measured"] == pytest.approx(on_measured)
    assert measured["best_reward_on_measured"] == pytest.approx(measured["best_reward"])

    # table5's multi-factorized-seed0 is flops's measured-seed0: its summary, not a new run
    table5 = searches.runs("table5", [0])
    only = {"multi-factorized-seed0": table5["multi-factorized-seed0"]}
    monkeypatch.setattr(searches, "runs", lambda experiment, seeds: only)
    assert searches.main(["table5", *common, "--out", str(tmp_path / "table5.json")]) == 0
    (reused,) = records.load(tmp_path / "table5.json")
    assert (reused["experiment"], reused["run"]) == ("table5", "multi-factorized-seed0")
    assert reused["same_as"] == "flops/measured-seed0"
    mine = ("experiment", "run", "flags", "same_as")
    assert {k: v for k, v in reused.items() if k not in mine} == {
        k: v for k, v in measured.items() if k not in mine}  # its provenance too
    assert not (tmp_path / "runs" / "table5").exists()
    printed = capsys.readouterr().out
    assert "multi-factorized-seed0: the same search as flops/measured-seed0" in printed

    # only the same search: how a run ran may differ, not what it searched, its budget or name
    argv = [*table5["multi-factorized-seed0"], *extra, "--latency-table", str(stand_in_table)]
    name = "multi-factorized-seed0"
    assert searches.same_search("table5", name, [*argv, "--threads", "2"], 2, tmp_path)
    assert not searches.same_search("table5", name, [*argv, "--proxy-steps", "2"], 2, tmp_path)
    assert not searches.same_search("table5", name, argv, 3, tmp_path)
    assert not searches.same_search("table5", "multi-cell-seed0", argv, 2, tmp_path)
    old = tmp_path / "old"  # a summary from before the settings were kept in it
    records.append(old / "rl-vs-random.json", {**measured, "run": "reinforce-seed0", "config": {}})
    assert not searches.same_search("flops", "measured-seed0", argv, 2, old)
    records.append(old / "rl-vs-random.json", {**measured, "run": "reinforce-seed0"})
    found = searches.same_search("flops", "measured-seed0", argv, 2, old)
    assert found["same_as"] == "rl-vs-random/reinforce-seed0"


def test_the_default_search_is_recorded_with_its_quarters_and_tabled(tmp_path, stand_in_table):
    import searches
    import search_tables

    argv = ["default-search", "--samples", "4", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "default-search.json"),
            "--latency-table", str(stand_in_table),
            "--extra=--dataset synthetic --batch 2 --proxy-steps 2 --threads 1"]
    assert searches.main(argv) == 0
    (r,) = records.load(tmp_path / "default-search.json")
    rewards = r["rewards"]
    assert r["quarter_mean_rewards"] == [round(x, 4) for x in rewards]  # 4 children: a quarter each
    assert r["best_child"] == rewards.index(max(rewards)) and r["run"] == "default" and r["flags"] == []
    row = next(line for line in search_tables.default_search_table(tmp_path).splitlines() if line.startswith("| 4 |"))
    assert f"| child {r['best_child'] + 1}: {max(rewards):.4f}," in row
    assert row.endswith(f"{r['best_measured_ms'] / r['mobilenetv2_ms']:.2f}x | "
                        + ", ".join(f"{q:.3f}" for q in r["quarter_mean_rewards"]) + " |")  # latency / MobileNetV2


def test_each_platforms_search_gets_that_platforms_table(tmp_path, stand_in_table, monkeypatch, capsys):
    import latency_table
    import searches

    tables = {"cpu": stand_in_table}
    for backend in ("executorch", "executorch-int8"):  # the stand-in, as if built on the other platforms
        table = latency_table.LatencyTable.load(stand_in_table)
        table.backend = backend
        tables[backend] = tmp_path / f"{backend}.json"
        table.save(tables[backend])
    started = []
    monkeypatch.setattr(searches.Runs, "train", lambda self, name, cmd: (started.append((name, cmd)), (130, 0.0))[1])
    common = ["cross-platform", "--samples", "2", "--seeds", "0", "--runs", str(tmp_path / "runs"),
              "--out", str(tmp_path / "cross-platform.json")]
    assert searches.main([*common, *(f"--latency-table={t}" for t in tables.values())]) == 130
    assert sorted(name for name, _ in started) == ["cpu-seed0", "executorch-int8-seed0", "executorch-seed0"]
    for name, cmd in started:
        platform = name.removesuffix("-seed0")
        assert cmd[cmd.index("--latency") + 1] == platform
        assert cmd[cmd.index("--latency-table") + 1] == str(tables[platform])
    started.clear()  # the search that table5 shares with the other experiments runs first
    assert searches.main(["table5", "--seeds", "0,1", "--runs", str(tmp_path / "runs"),
                          "--out", str(tmp_path / "table5.json")]) == 130
    assert [name for name, _ in started] == ["multi-factorized-seed0", "multi-factorized-seed1", "single-cell-seed0",
                                             "single-factorized-seed0", "multi-cell-seed0", "single-cell-seed1",
                                             "single-factorized-seed1", "multi-cell-seed1"]
    with pytest.raises(SystemExit) as stop:  # a platform without its table: one line, status 2
        searches.main([*common, f"--latency-table={tables['cpu']}", f"--latency-table={tables['executorch']}"])
    assert stop.value.code == 2
    assert "--latency-table: none for executorch-int8" in capsys.readouterr().err


def test_best_networks_are_timed_on_every_platform_once_each_and_resume(tmp_path, monkeypatch, capsys):
    import latency
    import platforms
    import search_tables

    a1, v2 = (models.arch_to_dict(models.REFERENCE_ARCHS[n]) for n in ("mnasnet-a1", "mobilenetv2"))
    summaries = tmp_path / "cross-platform.json"
    for run, arch, acc in [("cpu-seed0", a1, 0.80), ("executorch-seed0", v2, 0.81), ("executorch-seed1", v2, 0.79)]:
        records.append(summaries, {"run": run, "best_arch": arch, "best_accuracy": acc, "children": 2,
                                   "command": "python benchmarks/searches.py cross-platform", "commit": "0" * 40,
                                   "date": "2026-11-30T00:00:00", "machine": "m", "wall_seconds": 1.0})
    timed = []

    def measure_interleaved(nets, backend, rounds):  # A1 at 5 ms on cpu and 20 ms elsewhere, MobileNetV2 at 10
        timed.append((backend, sorted(nets)))
        ms = {"mobilenetv2": 10.0, "executorch-seed0": 10.0, "cpu-seed0": 5.0 if backend == "cpu" else 20.0}
        return {n: latency.Measurement.of([ms[n]] * 3) for n in nets}
    monkeypatch.setattr(latency, "measure_interleaved", measure_interleaved)
    out = tmp_path / "cross-platform-latency.json"
    argv = ["--searched", str(summaries), "--out", str(out)]
    assert platforms.main(argv) == 0
    # one run per platform; MobileNetV2's blocks, found twice, are timed once, under the first search that found them
    assert timed == [(b, ["cpu-seed0", "executorch-seed0", "mobilenetv2"]) for b in platforms.BACKENDS]
    got = {r["backend"]: r for r in records.load(out)}
    assert got["cpu"]["ratios"] == {"cpu-seed0": 0.5, "executorch-seed0": 1.0, "executorch-seed1": 1.0}
    assert got["executorch-int8"]["ratios"]["cpu-seed0"] == 2.0 and got["cpu"]["mobilenetv2_ms"] == 10.0
    assert got["cpu"]["commit"] and got["cpu"]["command"].startswith("python benchmarks/platforms.py --searched")
    assert platforms.main(argv) == 0 and len(timed) == 3  # recorded: not timed again

    text = search_tables.cross_platform_table(tmp_path)
    assert "| cpu | 1 | 0.8000 | 0.50x | 2.00x | 2.00x |" in text
    assert "| executorch | 2 | 0.8000 (0.7900-0.8100) | 1.00 (1.00-1.00)x | 1.00 (1.00-1.00)x | 1.00 (1.00-1.00)x |" in text
    assert "- on cpu, the network searched for cpu runs 2.00x as fast as the one searched for executorch: " \
           "faster beyond the seed spread" in text
    assert "- on executorch, the network searched for executorch runs 2.00x as fast as the one searched for cpu" in text
    records.append(summaries, {**records.load(summaries)[0], "run": "cpu-seed1"})  # a new search: not timed yet
    untimed = search_tables.cross_platform_table(tmp_path)
    assert "not timed on every platform yet" in untimed
    assert untimed.startswith("| searched for | seeds | best child's proxy accuracy |\n|---|---|---|\n"
                              "| cpu | 2 | 0.8000 (0.8000-0.8000) |\n")  # no empty column where timings will go
    assert platforms.main(argv) == 0 and len(timed) == 6  # these networks are timed afresh
    # lower is faster; overlapping seeds are a tie
    assert search_tables._faster([0.5, 0.6], [0.7, 0.9]) == "faster beyond the seed spread"
    assert search_tables._faster([0.8, 0.9], [0.5, 0.7]) == "slower beyond the seed spread"
    assert search_tables._faster([0.5, 0.8], [0.7, 0.9]) == search_tables._faster([0.7], [0.7]) == "within the seed spread (a tie)"
    with pytest.raises(SystemExit) as stop:
        platforms.main(["--searched", str(tmp_path / "missing.json")])
    assert stop.value.code == 2


def test_timing_stability_fidelity_and_detectors_are_recorded_with_the_machines_load(tmp_path, monkeypatch):
    import detection
    import tables

    bench = benchmark_module("latency")
    out = tmp_path / "timing.json"
    argv = ["--rounds", "3", "--repeats", "3", "--arch", "mnasnet-small", "--timing-out", str(out)]
    for part in ("stability", "fidelity"):
        assert bench.main(["--part", part, *argv]) == 0
    timed = []

    def stand_in(nets, size, *args, **kw):  # the detectors are built; their timing is made up: A1 at 1.5x
        timed.append((sorted(nets), size, all(isinstance(n, detection.DetectorCore) for n in nets.values())))
        return {n: bench.latency.Measurement.of([30.0 if n == "mnasnet-a1" else 20.0] * 3) for n in nets}
    monkeypatch.setattr(bench.latency, "measure_interleaved", stand_in)
    assert bench.main(["--part", "detector", *argv]) == 0
    assert timed == [(["mnasnet-a1", "mobilenetv2"], 320, True)] * 3
    a, b, d = records.load(out)
    assert (a["part"], a["backend"], b["part"]) == ("stability", "cpu", "fidelity")
    medians = sorted(a["medians_ms"])
    assert len(medians) == 3 and a["spread_pct"] == pytest.approx(100 * (medians[2] - medians[0]) / medians[1], abs=0.02)
    assert len(a["ratios"]) == 3 and a["command"].startswith("python benchmarks/latency.py --part stability")
    ms = b["medians_ms"]
    assert b["ratios"]["mnasnet-b1/mnasnet1_0"] > 0 and set(ms) == {
        "ours mnasnet-b1", "torchvision mnasnet1_0", "ours mobilenetv2", "torchvision mobilenet_v2"}
    table = tables.timing_table(tmp_path)
    assert f"| (a) stability: `mnasnet-small`, 3 back-to-back medians | cpu | {a['date'][:16]} | {a['load']:.1f} |" in table
    assert f"`mobilenetv2` / `mobilenet_v2` {b['ratios']['mobilenetv2/mobilenet_v2']:.3f}" in table
    assert (d["part"], d["ratios"], d["medians_ms"]) == ("detector", [1.5] * 3,
                                                         {"mnasnet-a1": [30.0] * 3, "mobilenetv2": [20.0] * 3})
    assert "| `mobilenetv2` 20-20 ms, `mnasnet-a1` 30-30 ms: ratio 1.500-1.500 | the paper's 203 / 200 ms = 1.015 |" in table


def test_a_tables_accuracy_is_recorded_with_its_predictions_and_measurements(tmp_path, stand_in_table, capsys):
    import tables

    bench = benchmark_module("latency")
    out = tmp_path / "latency_tables.json"
    argv = ["--part", "table", "--table", str(stand_in_table), "--samples", "4", "--rounds", "3", "--out", str(out)]
    assert bench.main(argv) == 0
    (r,) = records.load(out)
    assert (r["backend"], r["input_size"], r["samples"]) == ("cpu", 32, 4) and r["command"].startswith(
        "python benchmarks/latency.py --part table")
    err = [p / m - 1 for p, m in zip(r["predicted_ms"], r["measured_ms"])]  # the stand-in's made-up times: far off
    assert len(err) == 4 and r["within10"] == pytest.approx(100 * sum(abs(e) <= 0.10 for e in err) / 4)
    assert r["mape"] == pytest.approx(100 * sum(abs(e) for e in err) / 4, abs=0.01)
    row = f"| cpu | {r['entries']} layers, 32 px, 1 thread | at its build | {r['date'][:16]} | 4 | {r['within10']:.1f}% |"
    assert row in tables.latency_tables_table(tmp_path)
    import latency_table

    table = latency_table.LatencyTable.load(stand_in_table)
    table.info["created"] = "2026-01-01 00:00:00"  # a build's start: its fit comes at its end, hours later
    table.save(tmp_path / "built.json")
    assert bench.main([*argv[:3], str(tmp_path / "built.json"), *argv[4:]]) == 0
    assert records.load(out)[-1]["fitted"] is None
    table.info["calibrated"] = "2026-01-02 03:04:05"  # re-fitted later (latency.py --recalibrate)
    table.save(tmp_path / "refitted.json")
    assert bench.main([*argv[:3], str(tmp_path / "refitted.json"), *argv[4:]]) == 0
    assert records.load(out)[-1]["fitted"] == "2026-01-02 03:04:05"
    assert "| 2026-01-02 03:04 |" in tables.latency_tables_table(tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:  # a missing table: one line, status 2
        bench.main([*argv[:3], str(tmp_path / "missing.json")])
    assert stop.value.code == 2 and capsys.readouterr().err.count("\n") == 1


# ----------------------------------------------------------------------------- MACs vs latency


def test_fastest_overlap_and_the_equal_macs_pair_on_a_constructed_case():
    import platforms

    cost_a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    cost_b = [2, 1, 30, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]  # 0 and 1 swap: still the two cheapest
    assert platforms.fastest_overlap(cost_a, cost_b) == 1.0
    assert platforms.fastest_overlap(cost_a, cost_a[::-1]) == 0.0
    macs = [100.0, 101.5, 150.0, 103.0, 300.0]  # 0, 1 within 2%; 1, 3 within 2%; 0, 3 are 3% apart
    lat = [3.0, 1.8, 1.0, 0.9, 2.0]  # 0 and 3 would be x3.3: too far apart in MACs to count
    got = platforms.equal_macs_pair(macs, lat)
    assert got == {"pair": [3, 1], "macs": [103.0, 101.5], "latency": [0.9, 1.8], "latency_ratio": 2.0}
    assert platforms.equal_macs_pair([100.0, 200.0], [1.0, 2.0]) == {}  # no two networks of equal MACs


def test_platforms_records_every_measure_and_its_agreement_once(tmp_path, stand_in_table, capsys):
    import platforms

    out, figure = tmp_path / "platforms.json", tmp_path / "macs.png"
    argv = ["--samples", "20", "--decision-archs", "2", "--table", str(stand_in_table), "--out", str(out),
            "--plot", str(figure)]
    assert platforms.main(argv) == 0
    (r,) = records.load(out)
    assert r["measures"] == ["macs", "params", "cpu"] and len(r["tokens"]) == 20
    assert all(len(c) == 20 for c in r["costs"].values())
    assert set(r["spearman"]) == set(r["kendall"]) == {"macs/params", "macs/cpu", "params/cpu"}
    import latency_table
    import mnas

    # The stand-in table gives every entry 0.1 ms: a network's latency / MobileNetV2's is the ratio of
    # their numbers of table entries.
    space, size = mnas.SearchSpace(), latency_table.LatencyTable.load(stand_in_table).input_size
    entries = lambda arch: len(latency_table.arch_entries(arch, size))  # noqa: E731
    for tokens, cpu, macs in list(zip(r["tokens"], r["costs"]["cpu"], r["costs"]["macs"]))[:3]:
        arch = space.decode(tokens)
        assert cpu == round(entries(arch) / entries(models.REFERENCE_ARCHS["mobilenetv2"]), 4)
        assert macs == round(models.count_macs(models.build_model(arch)) / 1e6, 4)
    assert -1 <= r["spearman"]["macs/cpu"] <= 1 and r["commit"] and r["command"].startswith("python benchmarks/platforms.py")
    assert figure.stat().st_size > 0
    assert set(r["decision_costs"]) == {"conv_op", "kernel", "se_ratio", "filters"} and r["decision_archs"] == 2
    filters = r["decision_costs"]["filters"]  # against 0.75x MobileNetV2's filters: more filters, more MACs
    assert filters["1.25"]["macs"] > filters["1.0"]["macs"] > filters["0.75"]["macs"] == 1.0
    assert platforms.main(argv) == 0 and len(records.load(out)) == 1  # recorded already: not again
    assert "recorded already" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("not a table")
    assert platforms.main(["--table", str(tmp_path / "bad.json"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --table {tmp_path / 'bad.json'}: cannot read a latency table")


def test_table6_trains_a1_and_its_four_one_layer_type_variants(tmp_path, monkeypatch):
    import table1

    trained = []

    def train_member(job, arch, data, cfg, ratio, origin, checkpoint=None):  # the training itself: test_table1_trains_...
        trained.append((job["name"], arch))
        return {**job, "test_accuracy": 0.5, "latency_ratio": 1.0, "params": 1, "macs": 1, "wall_seconds": 1.0}
    monkeypatch.setattr(table1.panel, "train_member", train_member)
    out = tmp_path / "table6.json"
    assert table1.main(["--table6", "--seeds", "1", "--dataset", "synthetic", "--out", str(out)]) == 0
    a1 = models.REFERENCE_ARCHS["mnasnet-a1"]
    assert [name for name, _ in trained] == ["mnasnet-a1", "mnasnet-a1-all-mbconv3-k3", "mnasnet-a1-all-mbconv3-k5",
                                             "mnasnet-a1-all-mbconv6-k3", "mnasnet-a1-all-mbconv6-k5"]
    assert trained[0][1] == a1 and {(b.op, b.expansion, b.kernel) for b in trained[4][1].blocks} == {("mbconv", 6, 5)}
    assert [r["name"] for r in records.load(out)] == [name for name, _ in trained]


def test_a_decisions_cost_is_its_choice_in_every_block_against_its_first(tmp_path):
    import latency_table
    import mnas
    import platforms

    # A made-up table where every 5x5 layer takes twice a 3x3 layer's time.
    space = mnas.SearchSpace()
    entries = latency_table.space_entries([space.block_options(i) for i in range(len(space.skeleton))], 32)
    layers = {k: 0.2 if " k5 " in k else 0.1 for k in entries}
    table = latency_table.LatencyTable("cpu", 1, 32, reference_ms=1.0, layers=layers, fit=[1.0, 0.0])
    rng = __import__("random").Random(0)
    tokens = [space.sample(rng) for _ in range(3)]
    got = platforms.decision_costs(space, tokens, {"cpu": table}, decisions=("kernel",))["kernel"]
    assert got["3"] == {"macs": 1.0, "params": 1.0, "cpu": 1.0}  # the first choice against itself
    total = lambda t: sum(layers[k] for k, _, _ in latency_table.arch_entries(space.decode(t), 32))  # noqa: E731
    with_kernel = lambda t, k: space.join([six[:1] + [k] + six[2:] for six in space.split(t)])  # noqa: E731
    want = sorted(total(with_kernel(t, 1)) / total(with_kernel(t, 0)) for t in tokens)[1]  # the median of 3
    assert got["5"]["cpu"] == round(want, 3) and want > 1 and got["5"]["macs"] > 1
