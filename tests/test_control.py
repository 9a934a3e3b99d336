"""Table 1's control: random search's best network, found again from its run's record alone."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import mnas  # noqa: E402
import records  # noqa: E402
import searches  # noqa: E402
import table1  # noqa: E402
import tables  # noqa: E402
import train  # noqa: E402


def test_a_random_search_run_is_its_seeds_draws_and_its_record_picks_the_best(tmp_path,
                                                                              stand_in_table):
    run = tmp_path / "random-seed3"
    argv = ["--search", "--controller", "random", "--seed", "3", "--dataset", "synthetic",
            "--samples", "7",
            "--batch", "3", "--proxy-steps", "2", "--threads", "1", "--latency-table",
            str(stand_in_table),
            "--out", str(run)]
    assert train.main(argv) == 0
    logged = mnas.SearchLog(run / "search.jsonl").children
    draws = table1.random_search_draws(3, 7, 3, mnas.SearchSpace())
    # the same 7 architectures, in order
    assert draws == [c.tokens for c in sorted(logged, key=lambda c: c.step)]
    record = {"run": "random-seed3",
              "flags": ["--controller", "random", "--seed", "3", "--batch", "3"],
              **searches.summarize(run)}
    best = max(logged, key=lambda c: c.reward)
    got = table1.random_search_best([record, {"run": "reinforce-seed3",
                                              "flags": ["--controller", "reinforce"]}], top=1)
    assert list(got) == [f"random-seed3/child-{best.step}"]
    assert mnas.SearchSpace().encode(got[f"random-seed3/child-{best.step}"]) == best.tokens


def test_table1_names_the_control_and_whether_the_searched_network_beats_it(tmp_path):
    rows = [("mobilenetv2", (0.88, 0.86), 1.0), ("reinforce-seed0/child-3", (0.90, 0.89), 0.7),
            ("random-seed1/child-9", (0.885, 0.895), 0.8)]
    for name, accs, ratio in rows:
        for seed, acc in enumerate(accs):
            records.append(tmp_path / "table1.json", {
                "name": name, "seed": seed, "epochs": 5, "test_accuracy": acc, "params": 1,
                "macs": 1,
                "latency_ratio": ratio, "executorch_ratio": None,
                "command": "python benchmarks/table1.py",
                "commit": "abc", "date": "2026-11-30 00:00:00 UTC", "machine": "m",
                "wall_seconds": 1.0})
    out = tables.table1_table(tmp_path)
    # the control is not counted among the searched networks
    assert "Searched networks faster than MobileNetV2 on CPU by the test: 0 of 1" in out
    line = next(x for x in out.splitlines() if x.startswith("- The control"))
    # 2 seeds a side
    assert line.startswith("- The control, random search's best (random-seed1/child-9) -> the "
                           "most accurate searched network, reinforce-seed0/child-3: test accuracy "
                           "0.8900 -> 0.8950, **undecided**: +0.50 points")
    records.append(tmp_path / "table1.json", {**records.load(tmp_path / "table1.json")[-1],
                                              "name": "random-seed2/child-1", "test_accuracy": 0.95,
                                              "seed": 0})
    line = next(x for x in tables.table1_table(tmp_path).splitlines()
                if x.startswith("- The control, random search's best (random-seed2/child-1)"))
    # one seed is no variance: no verdict
    assert "-5.50 points: one replicate on a side" in line


def test_table1_without_runs_or_a_random_search_file_is_a_one_line_error(tmp_path, capsys):
    assert table1.main(["--out", str(tmp_path / "t.json")]) == 2
    assert capsys.readouterr().err.startswith("error: give architectures")
    assert table1.main(["--random-search", str(tmp_path / "none.json"), "--out",
                        str(tmp_path / "t.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "rl.json").write_text(json.dumps({"records": []}))
    assert table1.main(["--random-search", str(tmp_path / "rl.json"), "--out",
                        str(tmp_path / "t.json")]) == 2
    assert "no random-search runs" in capsys.readouterr().err
