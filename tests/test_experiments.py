"""The experiments' benchmarks: Table 1, the search claims (Sec. 4.2, Fig. 6), what each of
MnasNet's ideas replaced (Table 5, Table 6, FLOPs, PPO, platforms) and MACs against latency over the
space."""

import json
import time

import pytest

import models
from run import open_run
# autouse fixtures; the import puts benchmarks/ on the path
from benchmark_helpers import committed_tree, with_provenance  # noqa: F401
import records


# ----------------------------------------------------------------------------- Table 1 (Sec. 6.1)

def test_table1_trains_a_runs_best_children_beside_references_and_resumes(tmp_path, capsys):
    import mnas
    import table1

    run = tmp_path / "search-a"
    run.mkdir()
    log, space = mnas.SearchLog(run / "search.jsonl"), mnas.SearchSpace()
    for step, reward in enumerate([0.5, 0.9, 0.7, 0.0]):
        tokens = [step % 2] * len(space.decisions)
        log.append(mnas.Child(step, tokens, models.arch_to_dict(space.decode(tokens)),
                              reward=reward,
                              status="ok" if reward else "failed: x"))
    out = tmp_path / "table1.json"
    argv = [str(run), "mnasnet-small", "--top", "2", "--seeds", "2", "--epochs", "0.05",
            "--dataset", "synthetic",
            "--threads", "1", "--out", str(out)]
    assert table1.main(argv) == 0
    got = records.load(out)
    assert [(r["name"], r["seed"]) for r in got] == [
        (n, s) for s in (0, 1) for n in ("search-a/child-1", "search-a/child-2", "mnasnet-small")
    ]
    # best reward first
    assert got[0]["arch"] == log.children[1].arch and got[1]["arch"] == log.children[2].arch
    assert {"command", "commit", "date", "machine", "wall_seconds", "latency_ratio",
            "test_accuracy"} <= set(got[0])
    assert got[3]["latency_ratio"] == got[0]["latency_ratio"]  # each network is timed once
    assert table1.main(argv) == 0 and records.load(out) == got  # resumes: nothing left to do
    capsys.readouterr()
    assert table1.main(["no-such-net", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: unknown architecture 'no-such-net'")


def test_each_settings_best_network_is_trained_once_and_table1s_training_reused(tmp_path,
                                                                                monkeypatch,
                                                                                capsys):
    import searches
    import table1

    a1, b1, small = (models.REFERENCE_ARCHS[n] for n in ("mnasnet-a1", "mnasnet-b1",
                                                         "mnasnet-small"))
    summaries = tmp_path / "table5.json"
    for run, reward, arch in [("single-cell-seed0", 0.80, a1), ("single-cell-seed1", 0.85, b1),
                              # a summary from before best_arch was kept
                              ("multi-cell-seed0", 0.70, None),
                              ("multi-factorized-seed0", 0.90, b1)]:  # single-cell's network again
        records.append(summaries, {"experiment": "table5", "run": run, "best_reward": reward,
                                   **({"best_arch": models.arch_to_dict(arch)} if arch else {})})
    (tmp_path / "runs" / "table5" / "multi-cell-seed0").mkdir(parents=True)
    models.save_arch(small, tmp_path / "runs" / "table5" / "multi-cell-seed0" / "best.json")
    monkeypatch.setattr(searches, "RUNS", tmp_path / "runs")
    # Table 1 trained mnasnet-small already
    monkeypatch.setattr(table1, "TABLE1", tmp_path / "table1.json")
    records.append(table1.TABLE1,
                   {"name": "mnasnet-small", "seed": 0, "epochs": 0.05, "dataset": "synthetic",
                    "device": "cpu", "arch": models.arch_to_dict(small),
                    "test_accuracy": 0.5,
                    "latency_ratio": 0.9})
    trained = []

    def train_member(job, arch, data, cfg, ratio, origin, checkpoint=None):
        trained.append((job["name"], arch))
        return {**job, "arch": models.arch_to_dict(arch), "test_accuracy": 0.6,
                "latency_ratio": 1.0, "wall_seconds": 1.0}
    monkeypatch.setattr(table1.panel, "train_member", train_member)
    argv = ["--searches", str(summaries), "--seeds", "1", "--epochs", "0.05", "--dataset",
            "synthetic", "--device", "cpu"]
    assert table1.main(argv) == 0
    assert trained == [("table5/single-cell", b1)]  # the better seed's network
    # beside the summaries
    got = {r["name"]: r for r in records.load(tmp_path / "table5-final.json")}
    assert set(got) == {"table5/single-cell", "table5/multi-cell", "table5/multi-factorized"}
    # trained once in this run
    assert got["table5/multi-factorized"]["same_as"] == "table5/single-cell"
    reused = got["table5/multi-cell"]
    assert (reused["same_as"], reused["test_accuracy"], reused["seed"]) == ("mnasnet-small", 0.5, 0)
    assert table1.main(argv) == 0 and len(trained) == 1  # resumes: nothing left to do
    (tmp_path / "runs" / "table5" / "multi-cell-seed0" / "best.json").unlink()
    (tmp_path / "table5-final.json").unlink()
    assert table1.main(argv) == 2  # no best network to be found: one line, status 2
    # search by search, the lost one is left out, with a note, and the others are trained
    trained.clear()
    assert table1.main([*argv, "--per-search"]) == 0
    assert "table5/multi-cell-seed0: left out" in capsys.readouterr().err
    assert {r["name"] for r in records.load(tmp_path / "table5-final.json")} == {
        "table5/single-cell-seed0", "table5/single-cell-seed1", "table5/multi-factorized-seed0"}


def test_shards_split_one_table_between_processes_and_together_train_it_all(tmp_path, monkeypatch):
    import table1

    trained = []

    def train_member(job, arch, data, cfg, ratio, origin, checkpoint=None):
        trained.append((job["name"], job["seed"]))
        return {**job, "arch": models.arch_to_dict(arch), "test_accuracy": 0.6,
                "latency_ratio": 1.0, "wall_seconds": 1.0}
    monkeypatch.setattr(table1.panel, "train_member", train_member)
    names = ["mnasnet-small", "mnasnet-a1", "mobilenetv2"]
    argv = [*names, "--seeds", "2", "--epochs", "0.05", "--dataset", "synthetic", "--device", "cpu",
            "--out", str(tmp_path / "t.json")]
    every = [(n, s) for s in (0, 1) for n in names]
    assert table1.main([*argv, "--shard", "2/2"]) == 0
    # the 2nd, 4th, 6th of the table, whatever the other shard has done
    assert trained == every[1::2]
    assert table1.main([*argv, "--shard", "1/2"]) == 0
    # together: each training once
    assert sorted(trained) == sorted(every) and len(set(trained)) == 6
    assert [(r["name"], r["seed"]) for r in records.load(tmp_path / "t.json")] == trained


def test_a_network_another_experiment_trained_is_reused_not_trained_again(tmp_path, monkeypatch):
    import table1

    trained = []
    monkeypatch.setattr(table1.panel, "train_member",
                        lambda job, *a, **k: trained.append(job) or {})
    monkeypatch.setattr(table1, "TABLE1", tmp_path / "table1.json")
    small = models.arch_to_dict(models.REFERENCE_ARCHS["mnasnet-small"])
    records.append(tmp_path / "flops-final.json",
                   {"name": "flops/macs", "seed": 0, "epochs": 0.05, "dataset": "synthetic",
                    "device": "cpu", "arch": small,
                    "test_accuracy": 0.7, "latency_ratio": 0.5})
    argv = ["mnasnet-small", "--seeds", "1", "--epochs", "0.05", "--dataset", "synthetic",
            "--device", "cpu",
            "--out", str(tmp_path / "table6.json")]
    assert table1.main(argv) == 0 and trained == []
    (got,) = records.load(tmp_path / "table6.json")
    assert (got["name"], got["same_as"], got["test_accuracy"]) == ("mnasnet-small", "flops/macs",
                                                                   0.7)


def test_a_dirty_training_is_trained_again_by_the_name_its_record_holds(tmp_path, monkeypatch):
    import table1

    trained = []

    def train_member(job, arch, data, cfg, ratio, origin, checkpoint=None):
        trained.append((job["name"], job["seed"], arch))
        return {**job, "arch": models.arch_to_dict(arch), "test_accuracy": 0.6,
                "latency_ratio": 1.0, "wall_seconds": 1.0}
    monkeypatch.setattr(table1.panel, "train_member", train_member)
    out = tmp_path / "table1.json"
    b1 = models.REFERENCE_ARCHS["mnasnet-b1"]  # a searched network: its run directory is gone
    base = {"name": "search-a/child-7", "epochs": 0.05, "dataset": "synthetic", "device": "cpu",
            "arch": models.arch_to_dict(b1), "test_accuracy": 0.5, "latency_ratio": 0.9}
    records.append(out, {**base, "seed": 0, "commit": "abc"})
    records.append(out, {**base, "seed": 1, "commit": "abc+dirty"})
    argv = ["search-a/child-7", "--seeds", "2", "--epochs", "0.05", "--dataset", "synthetic",
            "--device", "cpu", "--out", str(out)]
    assert table1.main(argv) == 0
    assert trained == [("search-a/child-7", 1, b1)]  # the +dirty one only, from its recorded arch
    assert table1.main(argv) == 0 and len(trained) == 1  # its re-run is done


def test_table1_takes_a_runs_best_distinct_networks(tmp_path):
    import mnas
    import table1

    v2 = models.REFERENCE_ARCHS["mobilenetv2"]
    # differ only in a block of depth 0
    same = models.replace_block(models.replace_block(v2, 0, repeats=0), 0, kernel=5)
    (tmp_path / "run").mkdir()
    log = mnas.SearchLog(tmp_path / "run" / "search.jsonl")
    for step, (arch, reward) in enumerate([(models.replace_block(v2, 0, repeats=0), 0.9),
                                           (same, 0.8), (v2, 0.7)]):
        log.append(mnas.Child(step, [0], models.arch_to_dict(arch), reward=reward))
    assert list(table1.contenders([str(tmp_path / "run")], top=2)) == ["run/child-0", "run/child-2"]


def test_table1_table_reports_mean_range_and_gap_to_mobilenetv2(tmp_path):
    import tables

    for name, accs, ratio in [("mobilenetv2", (0.88, 0.86), 1.0),
                              ("run/child-3", (0.90, 0.89), 0.7)]:
        for seed, acc in enumerate(accs):
            records.append(tmp_path / "table1.json", with_provenance({
                "name": name, "seed": seed, "epochs": 1, "test_accuracy": acc, "params": 3_500_000,
                "macs": 300_000_000, "latency_ratio": ratio, "executorch_ratio": None}))
    out = tables.table1_table(tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert (
        rows[1]
        == "| run/child-3 | 0.8950 (0.8900-0.9000), 2 | +2.50 points | 3.50M | 300M | 0.700 |  |"
    )
    assert rows[2].startswith("| mobilenetv2 | 0.8700 (0.8600-0.8800), 2 |  |")
    # 2 against 2, difference 0.025, variances 0.00005 and 0.0002: se = sqrt(0.000125), t = 2.236,
    # Welch's df = 0.000125^2 / (0.000025^2 + 0.0001^2) = 1.47, two-sided p = 0.199: undecided,
    # however apart the ranges (0.89-0.90 against 0.86-0.88)
    line = next(x for x in out.splitlines() if x.startswith("- MobileNetV2 -> run/child-3"))
    assert "test accuracy 0.8700 -> 0.8950, **undecided**: +2.50 points" in line
    assert "Welch's t (df 1.5) p = 0.199" in line
    # one timing each, beside its training: no variance, nothing decided
    assert ("CPU latency / MobileNetV2 1.000 -> 0.700, **undecided**, 0.700x: one replicate on a "
            "side") in line
    assert "Searched networks faster than MobileNetV2 on CPU by the test: 0 of 1" in out
    # longer training: its own table
    for name, acc in [("mobilenetv2", 0.93), ("run/child-3", 0.91)]:
        records.append(tmp_path / "table1.json", with_provenance({
            "name": name, "seed": 0, "epochs": 5, "test_accuracy": acc, "params": 1, "macs": 1,
            "latency_ratio": 0.7}))
    one, five = tables.table1_table(tmp_path).split("**5 epochs of training**")
    assert "**1 epoch of training**" in one and "| run/child-3 | 0.8950 (0.8900-0.9000), 2 |" in one
    assert "| run/child-3 | 0.9100 (0.9100-0.9100), 1 | -2.00 points |" in five
    assert "one replicate on a side" in five  # one seed each at 5 epochs
    # timed together (table1.py --retime): three timings each, child-3 at 0.7 +- 0.02 against 1.0:
    # on logs, t = ln(0.7) / (0.0286 / sqrt(3)) = -21.6 on 2 df, p = 0.002
    records.append(tmp_path / "table1-timing.json", with_provenance({
        "networks": ["run/child-3", "mobilenetv2"], "repeats": 3,
        "cpu": {"run/child-3": [0.68, 0.70, 0.72], "mobilenetv2": [1.0] * 3}}))
    one, five = tables.table1_table(tmp_path).split("**5 epochs of training**")
    assert ("| run/child-3 | 0.8950 (0.8900-0.9000), 2 | +2.50 points | 3.50M | 300M "
            "| 0.700 (0.680-0.720) |  |") in one
    assert "CPU latency / MobileNetV2 1.000 -> 0.700, **faster**" in one
    assert "Searched networks faster than MobileNetV2 on CPU by the test: 1 of 1; their accuracy " \
           "against MobileNetV2's: 0 higher, 0 equal, 0 lower, 1 undecided" in one
    assert ("Latency: the median (min-max) of 3 timings per network and platform, from 1 run of "
            "`--retime`") in five


def test_sharing_records_each_regime_once(tmp_path):
    import sharing

    out = tmp_path / "sharing.json"
    argv = ["--paths", "2", "--steps", "10", "--threads", "1", "--dataset", "synthetic", "--out",
            str(out)]
    assert sharing.main(argv) == 0
    (r,) = records.load(out)
    assert r["paths"] == 2 and len(r["loss_curve"]) == 10 and len(r["child_accuracy"]) == 2
    assert all(0 <= a <= 1 for a in r["child_accuracy"]) and r["command"].startswith(
        "python benchmarks/sharing.py"
    )
    assert sharing.main(argv) == 0 and records.load(out) == [r]  # resumes: nothing left to do
    assert sharing.main(["--paths", "two", "--out", str(out)]) == 2


# ------------------------------------------------------------ the search claims (Sec. 4.2, Fig. 6)

def write_run(run_dir, latencies, rewards, target_ms=10.0):
    """A finished search run directory with the given children (what train.py --search leaves)."""
    import mnas

    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"target_ms": target_ms, "references": {}}))
    log = mnas.SearchLog(run_dir / "search.jsonl")
    for step, (lat, r) in enumerate(zip(latencies, rewards)):
        log.append(mnas.Child(step, [0], {"child": step}, accuracy=0.5, latency_ms=lat, reward=r,
                              seconds=900.0))


def test_search_summary_measures_what_the_paper_claims(tmp_path):
    import searches

    # 8 children, T = 10 ms. Second half: 8.5, 9.5, 12, 20 ms -> 2 of 4 in [0.8 T, T]; IQR of the
    # four.
    write_run(tmp_path / "run", [5, 9.2, 11, 7, 8.5, 9.5, 12, 20],
              [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    s = searches.summarize(tmp_path / "run")
    # children 7 and 8
    assert s["best_reward"] == 0.8 and s["last_quarter_mean_reward"] == pytest.approx(0.75)
    assert s["within_10pct_below_t"] == pytest.approx(2 / 8)  # 9.2 and 9.5 ms
    assert s["second_half_in_0.8t_t"] == pytest.approx(0.5)
    # numpy's linear quartiles of 8.5 9.5 12 20
    assert s["second_half_latency_iqr_ms"] == pytest.approx(14.0 - 9.25)
    assert (
        s["second_half_median_over_t"] == pytest.approx(1.075) and s["second_half_above_t"] == 0.5
    )  # (9.5+12)/2/10
    assert s["greedy_reward"] is None  # no greedy.json: random search
    # the network to time on every platform
    assert s["best_child"] == 7 and s["best_arch"] == {"child": 7}
    # the log's own time, whatever sessions the run spanned
    assert s["children_seconds"] == 8 * 900.0
    (tmp_path / "run" / "greedy.json").write_text(json.dumps({"reward": 0.77}))
    assert searches.summarize(tmp_path / "run")["greedy_reward"] == 0.77
    (tmp_path / "run" / "greedy.json").write_text(json.dumps({"reward": 0.0,
                                                              "status": "failed: RuntimeError: x"}))
    # a greedy child that failed has no reward
    assert searches.summarize(tmp_path / "run")["greedy_reward"] is None


def test_search_summary_reports_what_the_policy_learned(tmp_path):
    import searches

    # MobileNetV2 at 10 ms = T; the last quarter of 8 children: latencies 12 and 20 ms, accuracy 0.5
    write_run(tmp_path / "run", [5, 9.2, 11, 7, 8.5, 9.5, 12, 20], [0.1] * 8)
    run_json = tmp_path / "run" / "run.json"
    run_json.write_text(json.dumps({"target_ms": 10.0, "references": {"mobilenetv2": 10.0}}))
    s = searches.summarize(tmp_path / "run")
    assert s["last_quarter_accuracy"] == pytest.approx(0.5)
    assert s["last_quarter_ratio"] == pytest.approx((1.2 + 2.0) / 2)
    soft = (0.5 * 1.2 ** -0.07 + 0.5 * 2.0 ** -0.07) / 2  # Eq. 2, soft: ACC * (LAT / T) ** -0.07
    assert s["last_quarter_reward_on_measured"] == pytest.approx(soft)


def test_a_claims_runs_get_their_flags_go_side_by_side_and_are_summarized_once(
    tmp_path, stand_in_table, monkeypatch, capsys
):
    import searches

    drawn = []
    monkeypatch.setattr(searches.figures, "fig6",
                        lambda soft, hard, out: drawn.append((soft.name, hard.name, out.name)))
    out = tmp_path / "fig6-t8.json"
    argv = ["fig6", "--samples", "2", "--runs", str(tmp_path / "runs"), "--out", str(out),
            "--latency-table",
            str(stand_in_table), "--parallel", "2", "--plot",
            "--extra=--dataset synthetic --proxy-steps 2 --threads 1 --batch 2 --target-ms 8"]
    started = time.time()
    assert searches.main(argv) == 0
    elapsed, got = time.time() - started, records.load(out)
    assert sorted((r["run"], r["children"]) for r in got) == [("hard", 2), ("soft", 2)]
    for r in got:
        config = json.loads((tmp_path / "runs" / "fig6" / r["run"] / "config.json").read_text())
        beta = {"soft": -0.07, "hard": -1.0}[r["run"]]  # Eq. 3's presets
        # the flags reached train.py
        assert (config["beta"], config["dataset"]) == (beta, "synthetic")
        assert r["target_ms"] == 8 and {"command", "commit", "wall_seconds",
                                        "children_seconds"} <= set(r)
    hard = next(r for r in got if r["run"] == "hard")
    assert hard["greedy_reward"] is not None and hard["flags"] == ["--constraint", "hard"]
    assert elapsed < sum(r["wall_seconds"] for r in got)  # side by side, not one after the other
    printed = capsys.readouterr().out.splitlines()  # so each run's lines carry its name
    assert any(line.startswith("soft: child") for line in printed) and any(
        line.startswith("hard: child") for line in printed
    )
    assert drawn == [("soft", "hard", "fig6_t8.png")]  # the figure is named after the summary file
    assert searches.main(argv) == 0 and records.load(out) == got  # a finished run is not run again
    # a summary from uncommitted code is searched again from a commit, in a directory of its own
    out.write_text(json.dumps({"records": [
        {**r, "commit": r["commit"] + "+dirty"} if r["run"] == "soft" else r for r in got]}))
    assert searches.main(argv) == 0
    (again,) = records.load(out)[2:]
    assert again["run"] == "soft" and not records.is_dirty(again)
    assert (tmp_path / "runs" / "fig6" / "rerun-soft" / "config.json").exists()
    assert drawn[-1] == ("rerun-soft", "hard", "fig6_t8.png")  # drawn from the run searched again
    with pytest.raises(SystemExit) as stop:  # one line on stderr, status 2, as argparse does
        searches.main(["fig6", "--latency-table", str(tmp_path / "missing.json")])
    assert stop.value.code == 2


def test_a_failing_run_stops_the_experiment_with_its_status_and_records_nothing(tmp_path, capsys):
    import searches

    out = tmp_path / "fig6.json"
    argv = ["fig6", "--samples", "2", "--runs", str(tmp_path / "runs"), "--out", str(out),
            "--parallel", "2",
            "--extra=--proxy-steps 0"]
    # train.py's own status for bad input
    assert searches.main(argv) == 2 and records.load(out) == []
    captured = capsys.readouterr()
    one_at_a_time = argv[:argv.index("--parallel")] + ["--parallel", "1", "--extra=--proxy-steps 0"]
    # the failed run stops the experiment: the next never starts
    assert searches.main(one_at_a_time) == 2
    assert [
        line for line in capsys.readouterr().out.splitlines() if ": python train.py" in line
    ] == [
        f"soft: python train.py --search --out {tmp_path / 'runs' / 'fig6' / 'soft'} --samples 2 "
        "--constraint soft "
        "--proxy-steps 0"
    ]
    assert {"soft: error: --proxy-steps must be at least 1, got 0",
            "hard: error: --proxy-steps must be at least 1, got 0"} \
        <= set(captured.out.splitlines())  # each run's one-line error, under its name
    assert captured.err.strip() == "fig6: stopped; the same command resumes"


def test_fig6_table_shows_each_pair_of_runs_with_its_t(tmp_path):
    import search_tables

    for file, target in [("fig6.json", 16.4), ("fig6-t8.json", 8.0)]:
        for run, share, iqr in [("soft", 0.01, 0.75), ("hard", 0.40, 0.5)]:
            records.append(tmp_path / file, with_provenance({
                "run": run, "children": 300, "target_ms": target, "second_half_in_0.8t_t": share,
                "second_half_latency_iqr_ms": iqr, "second_half_median_over_t": 0.9,
                "second_half_above_t": 0.05,
                "best_reward": 0.8, "children_seconds": 1800.0}))
    rows = [
        line for line in search_tables.fig6_table(tmp_path).splitlines() if line.startswith("| ")
    ]
    assert [row.split(" | ")[:3] for row in rows[1:]] == [["| soft", "300", "16.40"],
                                                          ["| hard", "300", "16.40"],
                                                          ["| soft", "300", "8.00"],
                                                          ["| hard", "300", "8.00"]]
    assert rows[2] == "| hard | 300 | 16.40 | 40% | 0.50 | 0.90 | 5% | 0.8000 |"
    assert "Children trained and scored for 2.0 h in all" in search_tables.fig6_table(tmp_path)


def test_the_experiments_are_the_papers_comparisons():
    import searches

    assert searches.runs("fig6", [0]) == {"soft": ["--constraint", "soft"],
                                          "hard": ["--constraint", "hard"]}
    assert list(searches.runs("rl-vs-random", [0, 1])) == ["reinforce-seed0", "random-seed0",
                                                           "reinforce-seed1", "random-seed1"]
    assert searches.runs("rl-vs-random", [1])["random-seed1"] == ["--controller", "random",
                                                                  "--seed", "1"]
    assert searches.runs("ppo", [0, 1]) == {"ppo-seed0": ["--controller", "ppo", "--seed", "0"],
                                            "ppo-seed1": ["--controller", "ppo", "--seed", "1"]}


def test_rl_vs_random_table_tests_each_learner_against_random_search(tmp_path):
    import search_tables

    for method, seed, last in [("reinforce", 0, 0.80), ("random", 0, 0.75), ("reinforce", 1, 0.70),
                               ("random", 1, 0.72)]:
        records.append(tmp_path / "rl-vs-random.json", with_provenance({
            "run": f"{method}-seed{seed}", "flags": ["--controller", method, "--seed", str(seed)],
            "children": 300,
            "best_reward": 0.9, "last_quarter_mean_reward": last, "within_10pct_below_t": 0.25,
            "greedy_reward": 0.85 if method == "reinforce" else None, "children_seconds": 2700.0}))
    out = search_tables.rl_vs_random_table(tmp_path)
    # 4 runs of 0.75 h, not the commands' wall time
    assert "Children trained and scored for 3.0 h in all" in out
    # REINFORCE 0.80, 0.70 against random 0.75, 0.72: +0.015, nowhere near decided
    assert ("- REINFORCE against random search, last quarter's mean reward: **undecided**: +0.0150"
            in out)
    assert "| reinforce | 0 | 300 | 0.9000 | 0.8000 | 25% | 0.8500 |" in out
    assert "| random | 1 | 300 | 0.9000 | 0.7200 | 25% | (none) |" in out
    assert "PPO against" not in out  # no PPO run yet
    for seed, last in ((0, 0.78), (1, 0.84)):  # ppo.json's runs join the table
        records.append(tmp_path / "ppo.json", with_provenance({
            "run": f"ppo-seed{seed}", "flags": ["--controller", "ppo", "--seed", str(seed)],
            "children": 300,
            "best_reward": 0.95, "last_quarter_mean_reward": last, "within_10pct_below_t": 0.2,
            "greedy_reward": 0.9,
            "children_seconds": 2700.0}))
    out = search_tables.rl_vs_random_table(tmp_path)
    assert "| ppo | 1 | 300 | 0.9500 | 0.8400 | 20% | 0.9000 |" in out
    assert "- PPO against random search, last quarter's mean reward: **undecided**: +0.0750" in out
    # REINFORCE on the same machine and table: Table 5's runs, not there yet
    assert "PPO against REINFORCE" not in out
    for seed, last, best in ((0, 0.80, 0.90), (1, 0.70, 0.91)):
        records.append(tmp_path / "table5.json",
                       {"run": f"multi-factorized-seed{seed}", "last_quarter_mean_reward": last,
                        "best_reward": best})
    records.append(tmp_path / "table5.json", {"run": "single-cell-seed0",
                                              "last_quarter_mean_reward": 0.1, "best_reward": 0.1})
    out = search_tables.rl_vs_random_table(tmp_path)
    assert ("PPO against REINFORCE (Table 5's multi-objective factorized runs), last quarter's "
            "mean reward: "
            "**undecided**: +0.0600") in out
    # best 0.95, 0.95 against 0.90, 0.91: t = 0.045 / 0.005 = 9 on Welch's 1 df, p = 0.070:
    # undecided
    assert "best reward: **undecided**: +0.0450" in out and "Welch's t (df 1.0) p = 0.070" in out
    (tmp_path / "ppo.json").unlink()
    # a summary reused from another experiment
    first = records.load(tmp_path / "rl-vs-random.json")[0]
    records.append(tmp_path / "rl-vs-random.json",
                   {**first, "run": "reinforce-seed2", "same_as": "ppo/x-seed2"})
    assert ("Children trained and scored for 3.0 h in all, summed over every session the runs "
            "spanned "
            "(ppo/x-seed2: counted there)." in search_tables.rl_vs_random_table(tmp_path))


# ----------------------------------------------------------------------------- what it replaced


def test_a_summary_judges_a_run_on_measured_latency_whatever_its_lat(tmp_path):
    import mnas
    import searches

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # A MACs run: T = 300 M MACs in Eq. 2; MobileNetV2 measured 10 ms, so T in measured ms is 10.
    run = {"target_ms": 10.0, "target": 300.0, "lat_unit": "M MACs",
           "references": {"mobilenetv2": 10.0},
           "table_fit": {"fit": [1.08, 0.38], "calibrated": "2026-11-30 21:47:32"}}
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
    # which fit judged it
    assert s["config"]["space"] == "cell" and s["table_fit"]["calibrated"] == "2026-11-30 21:47:32"
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
    assert list(searches.runs("cross-platform", [0])) == ["cpu-seed0", "executorch-seed0",
                                                          "executorch-int8-seed0"]
    assert searches.settings(searches.runs("cross-platform", [0])["executorch-seed0"]) != same[0]
    assert searches.settings(searches.runs("table5", [0])["multi-cell-seed0"]) != same[0]


def test_a_search_another_experiment_finished_is_reused_not_trained_again(tmp_path, stand_in_table,
                                                                          monkeypatch, capsys):
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
        opened = open_run(tmp_path / "runs" / "flops" / name)
        children, constants = opened.children, opened.constants
        best, t = max(children, key=lambda c: c.reward), constants.references["mobilenetv2"]
        assert r["mobilenetv2_ms"] == t == pytest.approx(constants.target_ms)
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

    argv = ["default-search", "--samples", "4", "--runs", str(tmp_path / "runs"), "--out",
            str(tmp_path / "default-search.json"),
            "--latency-table", str(stand_in_table),
            "--extra=--dataset synthetic --batch 2 --proxy-steps 2 --threads 1"]
    assert searches.main(argv) == 0
    (r,) = records.load(tmp_path / "default-search.json")
    rewards = r["rewards"]
    assert r["quarter_mean_rewards"] == [round(x, 4) for x in rewards]  # 4 children: a quarter each
    assert (
        r["best_child"] == rewards.index(max(rewards))
        and r["run"] == "default"
        and r["flags"] == []
    )
    row = next(
        line
        for line in search_tables.default_search_table(tmp_path).splitlines()
        if line.startswith("| 4 |")
    )
    assert f"| child {r['best_child'] + 1}: {max(rewards):.4f}," in row
    assert row.endswith(f"{r['best_measured_ms'] / r['mobilenetv2_ms']:.2f}x | "
                        # latency / MobileNetV2
                        + ", ".join(f"{q:.3f}" for q in r["quarter_mean_rewards"]) + " |")


def test_each_platforms_search_gets_that_platforms_table(tmp_path, stand_in_table, monkeypatch,
                                                         capsys):
    import latency_table
    import searches

    tables = {"cpu": stand_in_table}
    # the stand-in, as if built on the other platforms
    for backend in ("executorch", "executorch-int8"):
        table = latency_table.LatencyTable.load(stand_in_table)
        table.backend = backend
        tables[backend] = tmp_path / f"{backend}.json"
        table.save(tables[backend])
    started = []
    monkeypatch.setattr(searches.Runs, "train",
                        lambda self, name, cmd: (started.append((name, cmd)), (130, 0.0))[1])
    common = ["cross-platform", "--samples", "2", "--seeds", "0", "--runs", str(tmp_path / "runs"),
              "--out", str(tmp_path / "cross-platform.json")]
    assert searches.main([*common, *(f"--latency-table={t}" for t in tables.values())]) == 130
    assert sorted(name for name, _ in started) == ["cpu-seed0", "executorch-int8-seed0",
                                                   "executorch-seed0"]
    for name, cmd in started:
        platform = name.removesuffix("-seed0")
        assert cmd[cmd.index("--latency") + 1] == platform
        assert cmd[cmd.index("--latency-table") + 1] == str(tables[platform])
    started.clear()  # the search that table5 shares with the other experiments runs first
    assert searches.main(["table5", "--seeds", "0,1", "--runs", str(tmp_path / "runs"),
                          "--out", str(tmp_path / "table5.json")]) == 130
    assert [name for name, _ in started] == ["multi-factorized-seed0", "multi-factorized-seed1",
                                             "single-cell-seed0",
                                             "single-factorized-seed0", "multi-cell-seed0",
                                             "single-cell-seed1",
                                             "single-factorized-seed1", "multi-cell-seed1"]
    with pytest.raises(SystemExit) as stop:  # a platform without its table: one line, status 2
        searches.main([*common, f"--latency-table={tables['cpu']}",
                       f"--latency-table={tables['executorch']}"])
    assert stop.value.code == 2
    assert "--latency-table: none for executorch-int8" in capsys.readouterr().err


def test_best_networks_are_timed_on_every_platform_once_each_and_resume(tmp_path, monkeypatch,
                                                                        capsys):
    import latency
    import platforms
    import search_tables

    a1, v2 = (models.arch_to_dict(models.REFERENCE_ARCHS[n]) for n in ("mnasnet-a1", "mobilenetv2"))
    summaries = tmp_path / "cross-platform.json"
    for run, arch, acc in [("cpu-seed0", a1, 0.80), ("executorch-seed0", v2, 0.81),
                           ("executorch-seed1", v2, 0.79)]:
        records.append(summaries,
                       {"run": run, "best_arch": arch, "best_accuracy": acc, "children": 2,
                        "command": "python benchmarks/searches.py cross-platform",
                        "commit": "0" * 40,
                        "date": "2026-11-30T00:00:00", "machine": "m",
                        "wall_seconds": 1.0})
    timed = []

    images = object()  # Fashion-MNIST's calibration images, as train.py's int8 networks get them
    monkeypatch.setattr("training.calibration_images", lambda *a: images)
    calibrated = {}

    # A1 at 5 ms on cpu and 20 ms elsewhere, MobileNetV2 at 10
    def measure_interleaved(nets, backend, rounds, **opts):
        timed.append((backend, sorted(nets)))
        calibrated[backend] = opts.get("images") is images
        ms = {"mobilenetv2": 10.0, "executorch-seed0": 10.0,
              "cpu-seed0": 5.0 if backend == "cpu" else 20.0}
        return {n: latency.Measurement.of([ms[n]] * 3) for n in nets}
    monkeypatch.setattr(latency, "measure_interleaved", measure_interleaved)
    out = tmp_path / "cross-platform-latency.json"
    argv = ["--searched", str(summaries), "--out", str(out)]
    assert platforms.main(argv) == 0
    # one run per platform; MobileNetV2's blocks, found twice, are timed once, under the first
    # search that found them
    assert timed == [(b, ["cpu-seed0", "executorch-seed0",
                          "mobilenetv2"]) for b in platforms.BACKENDS]
    assert calibrated == {"cpu": False, "executorch": False, "executorch-int8": True}
    got = {r["backend"]: r for r in records.load(out)}
    assert got["cpu"]["ratios"] == {"cpu-seed0": 0.5, "executorch-seed0": 1.0,
                                    "executorch-seed1": 1.0}
    assert (
        got["executorch-int8"]["ratios"]["cpu-seed0"] == 2.0
        and got["cpu"]["mobilenetv2_ms"] == 10.0
    )
    assert got["cpu"]["commit"] and got["cpu"]["command"].startswith(
        "python benchmarks/platforms.py --searched"
    )
    assert platforms.main(argv) == 0 and len(timed) == 3  # recorded: not timed again

    text = search_tables.cross_platform_table(tmp_path)
    assert "| cpu | 1 | 0.8000 | 0.50x | 2.00x | 2.00x |" in text
    assert ("| executorch | 2 | 0.8000 (0.7900-0.8100) | 1.00 (1.00-1.00)x | 1.00 (1.00-1.00)x "
            "| 1.00 (1.00-1.00)x |") in text
    # one cpu search against two: no variance on one side, undecided
    assert ("- on cpu, the network searched for cpu against the one searched for executorch: "
            "**undecided**, "
            "0.500x: one replicate on a side") in text
    assert ("- on executorch, the network searched for executorch against the one searched for "
            "cpu") in text
    # a new search: not timed yet
    records.append(summaries, {**records.load(summaries)[0], "run": "cpu-seed1"})
    untimed = search_tables.cross_platform_table(tmp_path)
    assert "not timed on every platform yet" in untimed
    assert untimed.startswith("| searched for | seeds | best child's proxy accuracy "
                              "|\n|---|---|---|\n"
                              # no empty column where timings will go
                              "| cpu | 2 | 0.8000 (0.8000-0.8000) |\n")
    assert platforms.main(argv) == 0 and len(timed) == 6  # these networks are timed afresh
    with pytest.raises(SystemExit) as stop:
        platforms.main(["--searched", str(tmp_path / "missing.json")])
    assert stop.value.code == 2


def test_retime_times_the_committed_searches_networks_together_on_every_platform(tmp_path,
                                                                               monkeypatch,
                                                                               capsys):
    import latency
    import platforms

    a1, v2 = (models.arch_to_dict(models.REFERENCE_ARCHS[n]) for n in ("mnasnet-a1", "mobilenetv2"))
    summaries = tmp_path / "cross-platform.json"
    for run, arch, commit in [("cpu-seed0", a1, "0" * 40), ("executorch-seed0", v2, "0" * 40),
                              ("executorch-seed1", a1, "1" * 40 + "+dirty")]:
        records.append(summaries, {"run": run, "best_arch": arch, "children": 300,
                                   "command": "python benchmarks/searches.py cross-platform",
                                   "commit": commit, "date": "2026-11-30T00:00:00",
                                   "machine": "m", "wall_seconds": 1.0})
    images = object()  # Fashion-MNIST's calibration images, as train.py's int8 networks get them
    monkeypatch.setattr("training.calibration_images", lambda *a: images)
    timed, calibrated = [], {}
    ms = {"mobilenetv2": 10.0, "cpu-seed0": 5.0, "executorch-seed0": 8.0, "executorch-seed1": 9.0}

    def measure_interleaved(nets, backend, **opts):  # the k-th run of a platform: k ms slower
        timed.append((backend, sorted(nets)))
        calibrated[backend] = opts.get("images") is images
        k = sum(b == backend for b, _ in timed)
        return {n: latency.Measurement.of([ms[n] + k] * 3) for n in nets}
    monkeypatch.setattr(latency, "measure_interleaved", measure_interleaved)
    argv = ["--searched", str(summaries), "--retime", "2"]
    assert platforms.main(argv) == 0
    # the +dirty search is left out; every committed search's network with MobileNetV2, in one
    # run per repeat and platform
    nets = ["cpu-seed0", "executorch-seed0", "mobilenetv2"]
    assert timed == [(b, nets) for b in platforms.BACKENDS for _ in range(2)]
    assert calibrated == {"cpu": False, "executorch": False, "executorch-int8": True}
    out = capsys.readouterr().out
    assert "left out, +dirty until run again from a commit: executorch-seed1" in out
    got = records.load(tmp_path / "cross-platform-timing.json")
    assert len(got) == 1 and got[0]["repeats"] == 2 and got[0]["networks"] == nets[:2]
    assert got[0]["archs"] == {"cpu-seed0": a1, "executorch-seed0": v2}
    for b in platforms.BACKENDS:
        assert got[0][b] == {"cpu-seed0": [0.5455, 0.5833], "executorch-seed0": [0.8182, 0.8333]}
    assert got[0]["command"] == ("python benchmarks/platforms.py --searched "
                                 f"{summaries} --retime 2") and got[0]["commit"]
    assert platforms.main(argv) == 0  # a second run: pooled with the first on the page
    assert len(records.load(tmp_path / "cross-platform-timing.json")) == 2
    for bad in (["--retime", "2"], ["--searched", str(tmp_path / "missing.json"), "--retime", "2"]):
        with pytest.raises(SystemExit) as stop:
            platforms.main(bad)
        assert stop.value.code == 2
    only_dirty = tmp_path / "dirty.json"
    records.append(only_dirty, records.load(summaries)[-1])
    assert platforms.main(["--searched", str(only_dirty), "--retime", "2"]) == 2
    assert "no search summary from committed code" in capsys.readouterr().err


def test_timing_stability_fidelity_and_detectors_are_recorded_with_the_machines_load(tmp_path,
                                                                                     monkeypatch):
    import detection
    import tables

    import timing as bench
    out = tmp_path / "timing.json"
    argv = ["--rounds", "3", "--repeats", "3", "--arch", "mnasnet-small", "--timing-out", str(out)]
    for part in ("stability", "fidelity"):
        assert bench.main(["--part", part, *argv]) == 0
    timed = []

    # the detectors are built; their timing is made up: A1 at 1.5x
    def stand_in(nets, size, *args, **kw):
        timed.append((sorted(nets), size,
                      all(isinstance(n, detection.DetectorCore) for n in nets.values())))
        return {
            n: bench.latency.Measurement.of([30.0 if n == "mnasnet-a1" else 20.0] * 3) for n in nets
        }
    monkeypatch.setattr(bench.latency, "measure_interleaved", stand_in)
    assert bench.main(["--part", "detector", *argv]) == 0
    assert timed == [(["mnasnet-a1", "mobilenetv2"], 320, True)] * 3
    a, b, d = records.load(out)
    assert (a["part"], a["backend"], b["part"]) == ("stability", "cpu", "fidelity")
    medians = sorted(a["medians_ms"])
    assert len(medians) == 3 and a["spread_pct"] == pytest.approx(
        100 * (medians[2] - medians[0]) / medians[1], abs=0.02
    )
    assert len(a["ratios"]) == 3 and a["command"].startswith("python benchmarks/timing.py --part "
                                                             "stability")
    ms = b["medians_ms"]
    assert b["ratios"]["mnasnet-b1/mnasnet1_0"] > 0 and set(ms) == {
        "ours mnasnet-b1", "torchvision mnasnet1_0", "ours mobilenetv2", "torchvision mobilenet_v2"}
    table = tables.timing_table(tmp_path)
    assert (
        f"| (a) stability: `mnasnet-small`, 3 back-to-back medians | cpu | {a['date'][:16]} |"
        f" {a['load']:.1f} |"
        in table
    )
    assert f"`mobilenetv2` / `mobilenet_v2` {b['ratios']['mobilenetv2/mobilenet_v2']:.3f}" in table
    assert (d["part"], d["ratios"], d["medians_ms"]) == ("detector", [1.5] * 3,
                                                         {"mnasnet-a1": [30.0] * 3,
                                                          "mobilenetv2": [20.0] * 3})
    assert (
        "| `mobilenetv2` 20-20 ms, `mnasnet-a1` 30-30 ms: ratio 1.500-1.500 | the paper's 203 / 200"
        " ms = 1.015 |"
        in table
    )


def test_a_tables_accuracy_is_recorded_with_its_predictions_and_measurements(
    tmp_path, stand_in_table, capsys
):
    import tables

    import timing as bench
    out = tmp_path / "latency_tables.json"
    argv = ["--part", "table", "--table", str(stand_in_table), "--samples", "4", "--rounds", "3",
            "--out", str(out)]
    assert bench.main(argv) == 0
    (r,) = records.load(out)
    assert (r["backend"], r["input_size"], r["samples"]) == ("cpu", 32,
                                                             4) and r["command"].startswith(
        "python benchmarks/timing.py --part table")
    # the stand-in's made-up times: far off
    err = [p / m - 1 for p, m in zip(r["predicted_ms"], r["measured_ms"])]
    assert len(err) == 4 and r["within10"] == pytest.approx(
        100 * sum(abs(e) <= 0.10 for e in err) / 4
    )
    assert r["mape"] == pytest.approx(100 * sum(abs(e) for e in err) / 4, abs=0.01)
    row = (
        f"| cpu | {r['entries']} layers, 32 px, 1 thread | at its build | {r['date'][:16]} | 4 |"
        f" {r['within10']:.1f}% |"
    )
    assert row in tables.latency_tables_table(tmp_path)
    import latency_table

    table = latency_table.LatencyTable.load(stand_in_table)
    # a build's start: its fit comes at its end, hours later
    table.info["created"] = "2026-01-01 00:00:00"
    table.save(tmp_path / "built.json")
    assert bench.main([*argv[:3], str(tmp_path / "built.json"), *argv[4:]]) == 0
    assert records.load(out)[-1]["fitted"] is None
    # re-fitted later (latency_table.py --recalibrate)
    table.info["calibrated"] = "2026-01-02 03:04:05"
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
    # 0 and 1 swap: still the two cheapest
    cost_b = [2, 1, 30, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    assert platforms.fastest_overlap(cost_a, cost_b) == 1.0
    assert platforms.fastest_overlap(cost_a, cost_a[::-1]) == 0.0
    macs = [100.0, 101.5, 150.0, 103.0, 300.0]  # 0, 1 within 2%; 1, 3 within 2%; 0, 3 are 3% apart
    lat = [3.0, 1.8, 1.0, 0.9, 2.0]  # 0 and 3 would be x3.3: too far apart in MACs to count
    got = platforms.equal_macs_pair(macs, lat)
    assert got == {"pair": [3, 1], "macs": [103.0, 101.5], "latency": [0.9, 1.8],
                   "latency_ratio": 2.0}
    # no two networks of equal MACs
    assert platforms.equal_macs_pair([100.0, 200.0], [1.0, 2.0]) == {}


def test_platforms_records_every_measure_and_its_agreement_once(tmp_path, stand_in_table, capsys,
                                                                monkeypatch):
    import platforms

    out, figure = tmp_path / "platforms.json", tmp_path / "macs.png"
    argv = ["--samples", "20", "--decision-archs", "2", "--table", str(stand_in_table), "--out",
            str(out),
            "--plot", str(figure)]
    assert platforms.main(argv) == 0
    (r,) = records.load(out)
    assert r["measures"] == ["macs", "params", "cpu"] and len(r["tokens"]) == 20
    assert all(len(c) == 20 for c in r["costs"].values())
    assert set(r["spearman"]) == set(r["kendall"]) == {"macs/params", "macs/cpu", "params/cpu"}
    import latency_table
    import mnas

    # The stand-in table gives every entry 0.1 ms: a network's latency / MobileNetV2's is the ratio
    # of
    # their numbers of table entries.
    space, size = mnas.SearchSpace(), latency_table.LatencyTable.load(stand_in_table).input_size
    entries = lambda arch: len(models.arch_entries(arch, size))  # noqa: E731
    for tokens, cpu, macs in list(zip(r["tokens"], r["costs"]["cpu"], r["costs"]["macs"]))[:3]:
        arch = space.decode(tokens)
        assert cpu == round(entries(arch) / entries(models.REFERENCE_ARCHS["mobilenetv2"]), 4)
        assert macs == round(models.count_macs(models.build_model(arch)) / 1e6, 4)
    assert (
        -1 <= r["spearman"]["macs/cpu"] <= 1
        and r["commit"]
        and r["command"].startswith("python benchmarks/platforms.py")
    )
    assert figure.stat().st_size > 0
    assert set(r["decision_costs"]) == {"conv_op", "kernel", "se_ratio",
                                        "filters"} and r["decision_archs"] == 2
    # against 0.75x MobileNetV2's filters: more filters, more MACs
    filters = r["decision_costs"]["filters"]
    assert filters["1.25"]["macs"] > filters["1.0"]["macs"] > filters["0.75"]["macs"] == 1.0
    assert platforms.main(argv) == 0 and len(records.load(out)) == 1  # recorded already: not again
    assert "recorded already" in capsys.readouterr().out
    # --time-pairs: the pair the table found, timed whole (a stand-in clock: latency = parameters)
    import latency

    timed = []

    def measure_interleaved(nets, backend, rounds=None):
        timed.append((backend, {name: models.count_params(net) for name, net in nets.items()}))
        return {
            name: latency.Measurement.of([models.count_params(net) / 1e6] * 3)
            for name, net in nets.items()
        }
    monkeypatch.setattr(latency, "measure_interleaved", measure_interleaved)
    assert platforms.main([*argv, "--time-pairs"]) == 0 and platforms.main([*argv,
                                                                            "--time-pairs"]) == 0
    # timed once: the second run finds it recorded
    (pair,) = records.load(tmp_path / "equal-macs.json")
    fast, slow = (space.decode(r["tokens"][i]) for i in r["equal_macs"]["cpu"]["pair"])
    sizes = [models.count_params(models.build_model(a)) for a in (fast, slow)]
    # the pair, on its table's platform
    assert timed == [("cpu", {"fast": sizes[0], "slow": sizes[1]})]
    assert (
        pair["tokens"] == [r["tokens"][i] for i in r["equal_macs"]["cpu"]["pair"]]
        and pair["backend"] == "cpu"
    )
    assert (
        pair["timed_ratio"] == round(sizes[1] / sizes[0], 3)
        and pair["table_ratio"] == r["equal_macs"]["cpu"]["latency_ratio"]
    )
    assert "the pair timed whole runs" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("not a table")
    assert platforms.main(["--table", str(tmp_path / "bad.json"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --table {tmp_path / 'bad.json'}: cannot "
                                              "read a latency table")


def test_table6_trains_a1_and_its_four_one_layer_type_variants(tmp_path, monkeypatch):
    import table1

    trained = []

    # the training itself: test_table1_trains_...
    def train_member(job, arch, data, cfg, ratio, origin, checkpoint=None):
        trained.append((job["name"], arch))
        return {**job, "test_accuracy": 0.5, "latency_ratio": 1.0, "params": 1, "macs": 1,
                "wall_seconds": 1.0}
    monkeypatch.setattr(table1.panel, "train_member", train_member)
    out = tmp_path / "table6.json"
    assert table1.main(["--table6", "--seeds", "1", "--dataset", "synthetic", "--out",
                        str(out)]) == 0
    a1 = models.REFERENCE_ARCHS["mnasnet-a1"]
    assert [name for name, _ in trained] == ["mnasnet-a1", "mnasnet-a1-all-mbconv3-k3",
                                             "mnasnet-a1-all-mbconv3-k5",
                                             "mnasnet-a1-all-mbconv6-k3",
                                             "mnasnet-a1-all-mbconv6-k5"]
    assert trained[0][1] == a1 and {(b.op, b.expansion,
                                     b.kernel) for b in trained[4][1].blocks} == {("mbconv", 6, 5)}
    assert [r["name"] for r in records.load(out)] == [name for name, _ in trained]


def test_retime_times_the_tables_networks_together_and_trains_nothing(tmp_path, monkeypatch,
                                                                      capsys):
    import latency
    import table1

    def train_member(*args, **kwargs):
        raise AssertionError("--retime trains nothing")
    monkeypatch.setattr(table1.panel, "train_member", train_member)
    runs = []

    # made up: latency = params, x2 through ExecuTorch
    def measure_interleaved(nets, backend="cpu", rounds=None):
        runs.append((backend, sorted(nets)))
        scale = 2 if backend == "executorch" else 1
        return {
            name: latency.Measurement.of([scale * models.count_params(net) / 1e6] * 3)
            for name, net in nets.items()
        }
    monkeypatch.setattr(latency, "measure_interleaved", measure_interleaved)
    out = tmp_path / "table6.json"
    assert table1.main(["--table6", "--retime", "3", "--executorch", "--out", str(out)]) == 0
    names = ["mnasnet-a1", "mnasnet-a1-all-mbconv3-k3", "mnasnet-a1-all-mbconv3-k5",
             "mnasnet-a1-all-mbconv6-k3",
             "mnasnet-a1-all-mbconv6-k5"]
    # all five and the reference in each run: 3 runs per backend
    assert (
        runs == [("cpu", sorted(names + ["mobilenetv2"]))] * 3 + [
            ("executorch", sorted(names + ["mobilenetv2"]))
        ] * 3
    )
    assert not out.exists()  # no training record
    (r,) = records.load(tmp_path / "table6-timing.json")
    params = {
        name: models.count_params(models.build_model(a))
        for name, a in table1.table6_archs().items()
    }
    reference = models.count_params(models.build_model("mobilenetv2"))
    assert (
        r["networks"] == names
        and r["repeats"] == 3
        and set(r["cpu"]) == set(r["executorch"]) == set(names)
    )
    assert (
        r["cpu"]["mnasnet-a1-all-mbconv6-k5"]
        == [round(params["mnasnet-a1-all-mbconv6-k5"] / reference, 4)] * 3
    )
    # ratios: the backend's scale cancels
    assert r["executorch"]["mnasnet-a1"] == r["cpu"]["mnasnet-a1"]
    assert (
        r["command"].startswith("python benchmarks/table1.py --table6 --retime 3")
        and "wall_seconds" in r
    )
    assert "timed 5 networks together, 3 times" in capsys.readouterr().out
    assert r["archs"]["mnasnet-a1-all-mbconv3-k5"] == models.arch_to_dict(
        table1.table6_archs()["mnasnet-a1-all-mbconv3-k5"]
    )
    # no network named: those the results file holds, each once, MobileNetV2 among them (against
    # itself: 1.0)
    trained = tmp_path / "table1.json"
    for name, seed in (("mobilenetv2", 0), ("mnasnet-small", 0), ("mnasnet-small", 1)):
        records.append(trained, {"name": name, "seed": seed,
                                 "arch": models.arch_to_dict(models.REFERENCE_ARCHS[name])})
    runs.clear()
    assert (
        table1.main(["--retime", "2", "--out", str(trained)]) == 0
        and table1.main(["--retime", "2", "--out", str(trained)]) == 0
    )
    # no --executorch: CPU only; two runs, two records
    assert runs == [("cpu", ["mnasnet-small", "mobilenetv2"])] * 4
    first, second = records.load(tmp_path / "table1-timing.json")
    assert first["networks"] == ["mobilenetv2",
                                 "mnasnet-small"] and first["cpu"]["mobilenetv2"] == [1.0, 1.0]
    assert "executorch" not in first and second["cpu"] == first["cpu"]
    capsys.readouterr()
    assert table1.main(["--retime", "2", "--out", str(tmp_path / "empty.json")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: --retime: {tmp_path / 'empty.json'} holds no trained network to time\n"
    )


def test_a_decisions_cost_is_its_choice_in_every_block_against_its_first(tmp_path):
    import latency_table
    import mnas
    import platforms

    # A made-up table where every 5x5 layer takes twice a 3x3 layer's time.
    space = mnas.SearchSpace()
    entries = models.space_entries([space.block_options(i) for i in range(len(space.skeleton))], 32)
    layers = {k: 0.2 if " k5 " in k else 0.1 for k in entries}
    table = latency_table.LatencyTable("cpu", 1, 32, reference_ms=1.0, layers=layers,
                                       fit=[1.0, 0.0])
    rng = __import__("random").Random(0)
    tokens = [space.sample(rng) for _ in range(3)]
    got = platforms.decision_costs(space, tokens, {"cpu": table}, decisions=("kernel",))["kernel"]
    assert got["3"] == {"macs": 1.0, "params": 1.0, "cpu": 1.0}  # the first choice against itself
    total = lambda t: sum(layers[k] for k, _, _ in models.arch_entries(space.decode(t),
                                                                       32))  # noqa: E731
    with_kernel = lambda t, k: space.join(
        [six[:1] + [k] + six[2:] for six in space.split(t)]
    )  # noqa: E731
    # the median of 3
    want = sorted(total(with_kernel(t, 1)) / total(with_kernel(t, 0)) for t in tokens)[1]
    assert got["5"]["cpu"] == round(want, 3) and want > 1 and got["5"]["macs"] > 1


# ----------------------------------------------------------------------------- +dirty, redone

def test_int8_scaling_sharing_and_proxy_redo_a_dirty_unit_and_skip_a_clean_one(tmp_path,
                                                                              monkeypatch):
    """Each benchmark resumes from records of committed code only: a unit recorded "+dirty" is
    run again, one recorded from a commit is not."""
    import torch

    import int8
    import proxy
    import scaling
    import sharing

    ran = []

    def train(out, job, arch, data, cfg):
        ran.append((out.name, job["name"], job["seed"]))
        return torch.nn.Identity(), 0.5, 0
    monkeypatch.setattr(int8, "train_resumably", train)  # scaling.py trains through it too
    monkeypatch.setattr(int8, "int8_unit", lambda *a: {"fp32_accuracy": 0.5, "int8_accuracy": 0.5})
    common = {"epochs": 0.05, "dataset": "synthetic", "device": "cpu"}
    small = models.arch_to_dict(models.REFERENCE_ARCHS["mnasnet-small"])
    for seed, commit in [(0, "abc"), (1, "abc+dirty")]:
        records.append(tmp_path / "int8.json", {"name": "mnasnet-small", "seed": seed,
                                                "arch": small, "calibration": 128,
                                                "commit": commit, **common})
        records.append(tmp_path / "scaling.json", {"name": "mobilenetv2", "width_mult": 0.5,
                                                   "seed": seed, "commit": commit, **common})
        records.append(tmp_path / "scaling.json", {"name": "mnasnet-a1", "width_mult": 0.5,
                                                   "seed": seed, "commit": "abc", **common})
    flags = ["--epochs", "0.05", "--seeds", "2", "--dataset", "synthetic", "--device", "cpu"]
    assert int8.main(["mnasnet-small", *flags, "--out", str(tmp_path / "int8.json")]) == 0
    assert scaling.main(["--widths", "0.5", *flags, "--out", str(tmp_path / "scaling.json")]) == 0
    assert ran == [("int8.json", "mnasnet-small", 1), ("scaling.json", "mobilenetv2@0.5", 1)]

    regimes = []
    monkeypatch.setattr(sharing, "run", lambda n, *a: regimes.append(n) or {"paths": n,
                                                                           "steps": 10,
                                                                           "loss_curve": [],
                                                                           "child_accuracy": []})
    for paths, commit in [(1, "abc"), (2, "abc+dirty")]:
        records.append(tmp_path / "sharing.json", {"paths": paths, "steps": 10,
                                                   "dataset": "synthetic", "commit": commit})
    assert sharing.main(["--paths", "1,2", "--steps", "10", "--dataset", "synthetic",
                         "--out", str(tmp_path / "sharing.json")]) == 0
    assert regimes == [2]

    seen = []
    monkeypatch.setattr(proxy, "run_setting", lambda setting, *a: seen.append(a[-2]))
    monkeypatch.setattr(proxy.panel, "panel_archs", lambda sampled: {})
    monkeypatch.setattr(proxy.training, "load_splits", lambda data: {})
    for seed, commit in [(0, "abc"), (1, "abc+dirty")]:
        records.append(tmp_path / "proxy.json", {"setting": "s70-b64-lr0.01", "name": "m0",
                                                 "seed": seed, "commit": commit})
    proxy.main(["--settings", "s70-b64-lr0.01", "--panel", str(tmp_path / "none.json"),
                "--out", str(tmp_path / "proxy.json")])
    assert seen == [{("s70-b64-lr0.01", "m0", 0)}]  # what it skips: the committed record only


def test_proxy_timing_resumes_skipping_members_timed_from_committed_code(tmp_path, monkeypatch):
    import proxy

    trained = []
    monkeypatch.setattr(proxy.training, "proxy_train", lambda arch, data, cfg: trained.append(arch))
    archs = {"m0": "a0", "m1": "a1", "m2": "a2"}
    out = tmp_path / "proxy_timing.json"
    records.append(out, {"setting": "s70-b64-lr0.01", "name": "m0", "commit": "abc"})
    records.append(out, {"setting": "s70-b64-lr0.01", "name": "m1", "commit": "abc+dirty"})
    origin = {"command": "x", "commit": "c"}
    proxy.time_setting("s70-b64-lr0.01", archs, None, 3, "cpu", out, origin)
    assert trained == ["a1", "a1", "a2"]  # a warm-up, then the +dirty one and the one not timed
    assert [r["name"] for r in records.finished(out)] == ["m0", "m1", "m2"]


def test_retime_of_a_file_that_holds_no_search_is_one_line_and_status_2(tmp_path, capsys):
    import platforms

    trained = tmp_path / "table1.json"  # trainings, not search summaries: no "run"
    records.append(trained, {"name": "mobilenetv2", "seed": 0, "commit": "abc"})
    assert platforms.main(["--searched", str(trained), "--retime", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --searched") and len(err.strip().splitlines()) == 1
