"""benchmarks/int8.py, benchmarks/scaling.py and benchmarks/deploy_tables.py: tiny runs that
append, resume and shard, and the sections' numbers and readings on hand-worked records."""

import json
import math

import pytest

from benchmark_helpers import committed_tree, with_provenance  # noqa: F401 (autouse; the path)
import deploy_tables
import records
import verdicts
from models import (REFERENCE_ARCHS, Arch, BlockArgs, arch_from_dict, arch_to_dict, build_model,
                    count_params, one_layer_type, save_arch)

TINY = Arch((BlockArgs("mbconv", 3, 3, 2, 1, 16, 0.25, "identity"),
             BlockArgs("dconv", 1, 3, 1, 2, 16, 0.0, "pool")), stem=8, head=32)


# ----------------------------------------------------------------------------- the rule, paired


def test_paired_accuracy_and_the_verdicts_on_a_hand_worked_case():
    # int8 - float per seed: -1.0, -0.5, -1.0 points; mean -5/6, sd 0.2887, se 1/6, so t = -5
    # with 2 degrees of freedom: two-sided p = 1 - 5 / sqrt(27) = 0.03775
    drop = verdicts.paired("int8", [0.89, 0.905, 0.91], [0.90, 0.91, 0.92], verdicts.ACCURACY,
                           "training seeds")
    assert 100 * drop.estimate == pytest.approx(-5 / 6)
    assert drop.p == pytest.approx(1 - 5 / math.sqrt(27), abs=1e-6)
    lo, hi = drop.ci95  # mean +- t(0.975, 2) * se, t = 4.3027 (in points: x 100)
    assert (100 * lo, 100 * hi) == pytest.approx((-5 / 6 - 4.3027 / 6, -5 / 6 + 4.3027 / 6),
                                                 abs=1e-3)
    same = verdicts.paired("int8", [0.9001, 0.9099, 0.9201], [0.90, 0.91, 0.92],
                           verdicts.ACCURACY, "training seeds")  # +-0.01 points
    assert [v.outcome for v in verdicts.judge([drop])] == ["lower"]
    assert [v.outcome for v in verdicts.judge([same])] == ["equal"]
    # +0.01, -0.01, +0.01: t = 0.5, p = 1 - 0.5 / sqrt(2.25) = 2/3; beside it, BH adjusts
    # 0.0377 to min(2 x 0.0377, 2/3) = 0.0755: undecided
    assert same.p == pytest.approx(2 / 3, abs=1e-6)
    both = verdicts.judge([drop, same])
    assert [v.outcome for v in both] == ["undecided", "equal"]
    # d = 2.89: simulated power 0.72 at 3 pairs, 0.96 at 4
    assert "about 4 training seeds paired, would decide" in both[0].text()
    assert verdicts.seeds_needed(1.0, 1.0, paired=True) == 10  # d = 1 at 80%: 10 pairs (G*Power)
    one = verdicts.paired("int8", [0.8], [0.9], verdicts.ACCURACY, "training seeds")
    assert math.isnan(one.p) and verdicts.judge([one])[0].outcome == "undecided"
    # two seeds each 5 test images lower: the same difference, however binary rounds it
    same = verdicts.paired("int8", [0.9218, 0.9230], [0.9223, 0.9235], verdicts.ACCURACY, "seeds")
    assert math.isnan(same.p) and verdicts.judge([same])[0].outcome == "undecided"
    assert "no variance" in verdicts.judge([same])[0].text()


def int8_record(name, seed, fl, q):
    return with_provenance({"name": name, "seed": seed, "recipe": "final", "epochs": 5.0,
                            "dataset": "fashion-mnist", "device": "cpu", "float_accuracy": fl,
                            "fp32_accuracy": fl, "int8_accuracy": q, "calibration": 128})


def timing_record(ratios: dict[str, float]):
    return with_provenance({"networks": list(ratios), "int8_over_fp32": ratios,
                            "median_ms": {f"{n}/{p}": (4.0 if p == "fp32" else 4.0 * r)
                                          for n, r in ratios.items() for p in ("fp32", "int8")},
                            "cpu_features": "AVX-512, VNNI"})


def test_the_int8_section_pairs_on_the_seed_and_says_a_drop_over_one_point(tmp_path):
    rs = [int8_record("mnasnet-a1", s, fl, q) for s, fl, q in
          [(0, 0.90, 0.89), (1, 0.91, 0.905), (2, 0.92, 0.91)]]
    rs += [int8_record("mobilenetv2", s, fl, q) for s, fl, q in
           [(0, 0.92, 0.90), (1, 0.93, 0.91), (2, 0.91, 0.895)]]
    for r in rs:
        records.append(tmp_path / "int8.json", r)
    for ratios in ({"mnasnet-a1": 0.60, "mobilenetv2": 0.55},
                   {"mnasnet-a1": 0.62, "mobilenetv2": 0.56}):
        records.append(tmp_path / "int8-timing.json", timing_record(ratios))
    got = {c["name"]: c for c in deploy_tables.int8_accuracy(tmp_path)}
    assert 100 * got["mnasnet-a1"]["test"].estimate == pytest.approx(-5 / 6)
    test = got["mobilenetv2"]["test"]  # paired on the seed: -2.0, -2.0, -1.5 points
    assert test.paired and 100 * test.estimate == pytest.approx(-5.5 / 3)
    lat = {c["name"]: c for c in deploy_tables.int8_latency(tmp_path)}
    # the geometric mean of the runs' ratios
    assert math.exp(lat["mnasnet-a1"]["test"].estimate) == pytest.approx(math.sqrt(0.60 * 0.62))
    text = deploy_tables.int8_section(tmp_path)
    assert "| mnasnet-a1 | 3 | 0.9100 (0.9000-0.9200) |" in text and "| -0.83 |" in text
    assert "paired t (df 2.0) p = 0.038" in text and "(3 training seeds, paired)" in text
    assert "The largest drop, mobilenetv2's 1.83 points, is over 1 point" in text
    assert "0.61x" in text and "AVX-512, VNNI" in text and "*6 records" in text


# ----------------------------------------------------------------------------- scaling


def scaling_record(name, width, acc, seed=0):
    return with_provenance({"name": name, "width_mult": width, "seed": seed, "test_accuracy": acc,
                            "params": 1, "macs": 1, "epochs": 5.0, "dataset": "fashion-mnist",
                            "device": "cpu"})


def test_a1_against_mobilenetv2s_curve_interpolates_in_log_latency_and_is_tested(tmp_path):
    for name, width, accs in [("mobilenetv2", 0.5, (0.79, 0.80, 0.81)),
                              ("mobilenetv2", 1.0, (0.89, 0.90, 0.91)),
                              ("mnasnet-a1", 0.5, (0.87, 0.88, 0.89)),
                              ("mnasnet-a1", 1.4, (0.94, 0.95, 0.96))]:
        for seed, acc in enumerate(accs):
            records.append(tmp_path / "scaling.json", scaling_record(name, width, acc, seed))
    over = {"mobilenetv2@0.5": 0.5, "mobilenetv2@1": 1.0, "mnasnet-a1@0.5": math.sqrt(0.5),
            "mnasnet-a1@1.4": 2.0}
    records.append(tmp_path / "scaling-timing.json", with_provenance(
        {"backend": "executorch", "widths": [0.5, 1.0, 1.4], "over_mobilenetv2": over,
         "median_ms": {k: 3 * v for k, v in over.items()}, "sizes": {}}))
    above = deploy_tables.a1_above(deploy_tables.scaling_points(tmp_path))
    # halfway in log latency between MobileNetV2's 0.80 and 0.90: 0.85; A1 has 0.88
    assert above[0]["reference_at_latency"] == pytest.approx(0.85)
    assert above[0]["points_above"] == pytest.approx(3.0)
    assert above[1]["reference_at_latency"] is None  # 2.0x: beyond MobileNetV2's curve
    # by hand: SE^2 = (1 + 1/4 + 1/4) * 1e-4 / 3, so t = 0.03 / SE = 3 * sqrt(2); Welch-
    # Satterthwaite df = 4; two-sided p = 0.0132 (scipy.stats.t.sf(3 * 2 ** 0.5, 4) * 2)
    test = above[0]["test"]
    assert test.df == pytest.approx(4.0) and test.p == pytest.approx(0.01324, abs=1e-5)
    text = deploy_tables.scaling_section(tmp_path)
    assert "at width 0.5, +3.00 points: **higher**" in text
    assert "above MobileNetV2's curve at the one width compared" in text
    assert "| mnasnet-a1 | 0.5 |" in text and "0.707x" in text
    # one seed a point: the means still differ by 3 points, but nothing is decided
    one_seed = tmp_path / "one"
    one_seed.mkdir()
    for r in records.load(tmp_path / "scaling.json"):
        if r["seed"] == 1:
            records.append(one_seed / "scaling.json", r)
    (timing,) = records.load(tmp_path / "scaling-timing.json")
    records.append(one_seed / "scaling-timing.json", timing)
    text = deploy_tables.scaling_section(one_seed)
    assert "**undecided**" in text and "neither above nor below it by the rule at the one" in text
    png = deploy_tables.scaling_figure(tmp_path, tmp_path / "fig5.png")
    assert png.stat().st_size > 10_000


def test_width_one_comes_from_table1_and_table6s_same_trainings(tmp_path):
    import models

    records.append(tmp_path / "scaling.json", scaling_record("mnasnet-a1", 0.5, 0.88))
    a1 = models.arch_to_dict(models.REFERENCE_ARCHS["mnasnet-a1"])
    v2 = models.arch_to_dict(models.REFERENCE_ARCHS["mobilenetv2"])
    same = {**with_provenance({}), "recipe": "final", "epochs": 5.0, "dataset": "fashion-mnist",
            "device": "cpu"}  # a record's commit below replaces with_provenance's
    for seed, acc, commit in [(0, 0.92, "abc"), (1, 0.93, "abc"), (2, 0.50, "abc+dirty")]:
        records.append(tmp_path / "table6.json", {"name": "mnasnet-a1", "seed": seed,
                                                  "test_accuracy": acc, "arch": a1,
                                                  **same, "commit": commit})
    records.append(tmp_path / "table6.json", {"name": "mnasnet-a1", "seed": 3, "arch": a1,
                                              "test_accuracy": 0.10, "commit": "abc",
                                              **same, "epochs": 1.0})  # another recipe length
    records.append(tmp_path / "table1.json", {"name": "mobilenetv2", "seed": 0, "arch": v2,
                                              "test_accuracy": 0.91, "commit": "abc", **same})
    records.append(tmp_path / "table1.json", {"name": "mobilenetv2", "seed": 1, "arch": a1,
                                              "test_accuracy": 0.2, "commit": "abc", **same})
    # the int8 benchmark's float accuracies: a network's seeds come from the file with the most
    for seed, acc in [(0, 0.912), (1, 0.915)]:
        records.append(tmp_path / "int8.json", {**int8_record("mobilenetv2", seed, acc, 0.9),
                                                "arch": v2})
    records.append(tmp_path / "int8.json", {**int8_record("mnasnet-a1", 2, 0.94, 0.93),
                                            "arch": a1})  # seed 2's table6 record is +dirty
    points = deploy_tables.scaling_points(tmp_path)
    assert points["mnasnet-a1", 1.0]["accuracy"] == [0.92, 0.93]  # committed, 5 epochs, Table 6
    # int8's two seeds, not Table 1's one (nor another architecture's), and never both files
    assert points["mobilenetv2", 1.0]["accuracy"] == [0.912, 0.915]
    text = deploy_tables.scaling_section(tmp_path)
    assert "| mobilenetv2 | 1 | - | - |" in text  # no timing record yet gives its size
    assert "Width 1's accuracies, where scaling.json has none" in text and "*4 records" in text


def test_a_dirty_scaling_record_is_never_a_replicate(tmp_path):
    records.append(tmp_path / "scaling.json", {**scaling_record("mnasnet-a1", 0.5, 0.50),
                                               "commit": "abc+dirty"})
    records.append(tmp_path / "scaling.json", scaling_record("mnasnet-a1", 0.5, 0.88))  # its re-run
    records.append(tmp_path / "scaling.json", scaling_record("mnasnet-a1", 0.5, 0.89, seed=1))
    points = deploy_tables.scaling_points(tmp_path)
    assert points["mnasnet-a1", 0.5]["accuracy"] == [0.88, 0.89]


def test_a_curve_is_one_training_length(tmp_path):
    records.append(tmp_path / "scaling.json", scaling_record("mnasnet-a1", 0.5, 0.88))
    records.append(tmp_path / "scaling.json", {**scaling_record("mnasnet-a1", 0.5, 0.70, seed=1),
                                               "epochs": 1.0})
    assert deploy_tables.scaling_points(tmp_path)["mnasnet-a1", 0.5]["accuracy"] == [0.88]
    assert deploy_tables.scaling_points(tmp_path, epochs=1.0)["mnasnet-a1", 0.5]["accuracy"] == [
        0.70]


def test_no_figure_without_a_point_trained_and_timed(tmp_path, capsys):
    records.append(tmp_path / "scaling.json", scaling_record("mnasnet-a1", 0.5, 0.88))  # untimed
    png = tmp_path / "fig5.png"
    assert deploy_tables.main(["--results", str(tmp_path), "--figure", str(png)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no point is both trained and timed") and err.count("\n") == 1
    assert not png.exists()


# ----------------------------------------------------------------------------- the benchmarks, tiny


def test_int8_benchmark_records_a_unit_calibrated_on_training_images(tmp_path, monkeypatch):
    pytest.importorskip("executorch")
    import export
    import int8
    import training

    drawn_from, draw = [], export.calibration_images
    monkeypatch.setattr(export, "calibration_images",
                        lambda data, *a: drawn_from.append(data) or draw(data, *a))
    save_arch(TINY, tmp_path / "tiny.json")
    out = tmp_path / "int8.json"
    argv = [str(tmp_path / "tiny.json"), "--dataset", "synthetic", "--epochs", "0.1", "--seeds",
            "2", "--shard", "2/2", "--threads", "1", "--calibration", "8", "--out", str(out)]
    assert int8.main(argv) == 0 and int8.main(argv) == 0  # the second: nothing left to do
    [r] = records.load(out)
    assert (r["name"], r["seed"], r["calibration"]) == ("tiny", 1, 8)  # shard 2/2: seed 1
    assert r["command"].startswith("python benchmarks/int8.py") and r["wall_seconds"] > 0
    assert r["fp32_accuracy"] == pytest.approx(r["float_accuracy"], abs=0.003)  # 1,000 images
    assert 0 <= r["int8_accuracy"] <= 1
    assert not list((tmp_path / "checkpoints").glob("*.pt"))  # removed once recorded
    train = training.load_splits(training.DataSpec("synthetic"))["train"]
    assert drawn_from == [train]  # int8: training images, drawn once
    winner = "reinforce-seed0/child-222"  # Table 1's, by the name it was recorded under
    want = next(arch_from_dict(r["arch"]) for r in records.load(records.RESULTS / "table1.json")
                if r["name"] == winner)
    assert int8.networks([winner, "mobilenetv2"]) == {winner: want,
                                                      "mobilenetv2": REFERENCE_ARCHS["mobilenetv2"]}


def test_scaling_benchmark_records_each_width_and_times_them_together(tmp_path):
    import scaling

    out = tmp_path / "scaling.json"
    argv = ["--dataset", "synthetic", "--epochs", "0.05", "--seeds", "2", "--widths", "0.35",
            "--threads", "1", "--out", str(out)]
    assert scaling.main([*argv, "--shard", "2/3"]) == 0  # of (A1 0, MBV2 0, A1 1, MBV2 1): the 2nd
    assert [(r["name"], r["seed"]) for r in records.load(out)] == [("mobilenetv2", 0)]
    assert scaling.main(argv) == 0 and scaling.main(argv) == 0  # the rest, then nothing to do
    rs = records.load(out)
    assert [(r["name"], r["width_mult"], r["seed"]) for r in rs] == [
        ("mobilenetv2", 0.35, 0), ("mnasnet-a1", 0.35, 0), ("mnasnet-a1", 0.35, 1),
        ("mobilenetv2", 0.35, 1)]
    small = build_model("mnasnet-a1", width_mult=0.35)
    assert rs[1]["params"] == count_params(small) < count_params(build_model("mnasnet-a1"))
    timing = tmp_path / "scaling-timing.json"
    scaling.time_widths([0.35], ["cpu"], 1, timing, records.origin(scaling.__file__, []), rounds=2)
    r = records.load(timing)[0]
    assert set(r["over_mobilenetv2"]) == {"mnasnet-a1@0.35", "mobilenetv2@0.35", "mobilenetv2@1"}
    assert r["over_mobilenetv2"]["mobilenetv2@1"] == 1.0
    assert r["over_mobilenetv2"]["mobilenetv2@0.35"] < 1
    assert r["sizes"]["mnasnet-a1@0.35"]["params"] == rs[1]["params"]
    assert r["cpu_features"] and r["machine"] and r["command"].startswith("python")
    assert "| mnasnet-a1 | 0.35 |" in deploy_tables.scaling_section(tmp_path)
    assert json.loads(timing.read_text())["records"][0]["backend"] == "cpu"


def fake_interleaved(seen: list):
    """latency.measure_interleaved standing in: each network's ms from its name's width."""
    import latency

    def measure(nets, backend="cpu", rounds=None, **_):
        seen.append(backend)
        return {k: latency.Measurement.of([10.0 * float(k.split("@")[1])] * 3) for k in nets}
    return measure


def test_a_dirty_timing_run_is_made_again(tmp_path, monkeypatch):
    import latency
    import scaling

    seen, out = [], tmp_path / "scaling-timing.json"
    monkeypatch.setattr(latency, "measure_interleaved", fake_interleaved(seen))
    records.append(out, {"backend": "executorch", "widths": [0.35], "commit": "abc+dirty"})
    origin = records.origin(scaling.__file__, [])
    scaling.time_widths([0.35], ["cpu", "executorch"], 1, out, origin)
    assert seen == ["cpu", "executorch"]  # the +dirty executorch run does not count as done
    scaling.time_widths([0.35], ["cpu", "executorch"], 1, out, origin)
    assert seen == ["cpu", "executorch"]  # both done now
    r = records.load(out)[-1]
    assert r["backend"] == "executorch" and r["over_mobilenetv2"]["mobilenetv2@0.35"] == 0.35
    # the reference at width 1 is timed, and sized, though 1 is not among the widths
    assert r["sizes"]["mobilenetv2@1"]["params"] == count_params(build_model("mobilenetv2"))


def test_int8_timing_records_both_precisions_and_remakes_a_dirty_run(tmp_path):
    pytest.importorskip("executorch")
    import int8

    save_arch(TINY, tmp_path / "tiny.json")
    out = tmp_path / "int8-timing.json"
    records.append(out, {"networks": ["tiny"], "commit": "abc+dirty"})  # made again
    argv = [str(tmp_path / "tiny.json"), "--dataset", "synthetic", "--time", "1", "--threads", "1",
            "--out", str(tmp_path / "int8.json")]
    assert int8.main(argv) == 0 and int8.main(argv) == 0  # the second: nothing left to do
    dirty, r = records.load(out)
    assert set(r["median_ms"]) == {"tiny/fp32", "tiny/int8"} and r["input_size"] == 224
    assert r["int8_over_fp32"]["tiny"] > 0 and r["over_mobilenetv2_fp32"] is None
    assert r["cpu_features"] == __import__("export").cpu_features()
    assert not records.is_dirty(r)


def test_an_int8_export_failure_is_one_line_and_keeps_the_training(tmp_path, monkeypatch,
                                                                    capsys):
    pytest.importorskip("executorch")
    import export
    import int8
    def fail(*_, **__):
        raise export.ExportError("layer 'blocks.0' (Conv2d) cannot be exported: no kernel")
    monkeypatch.setattr(export, "lower", fail)
    save_arch(TINY, tmp_path / "tiny.json")
    out = tmp_path / "int8.json"
    # not done: a record of the same run but for another architecture under the name, and one
    # trained on a GPU
    same = {**int8_record("tiny", 0, 0.5, 0.5), "epochs": 0.05, "calibration": 4,
            "dataset": "synthetic"}
    other = one_layer_type(REFERENCE_ARCHS["mobilenetv2"], "mbconv", 3, 3)
    records.append(out, {**same, "arch": arch_to_dict(other)})
    records.append(out, {**same, "arch": arch_to_dict(TINY), "device": "cuda"})
    argv = [str(tmp_path / "tiny.json"), "--dataset", "synthetic", "--epochs", "0.05", "--seeds",
            "1", "--threads", "1", "--calibration", "4", "--out", str(out)]
    assert int8.main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert err == ["error: tiny seed 0: layer 'blocks.0' (Conv2d) cannot be exported: no kernel"]
    assert len(records.load(out)) == 2  # nothing recorded
    assert list((tmp_path / "checkpoints").glob("*.pt"))  # the trained network is kept
