"""The README and the results pages in docs/: every generated table equals what the result files
give (`python benchmarks/tables.py --check`), and the README stays a 15-minute read."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import search_tables  # noqa: E402
import tables  # noqa: E402


def test_every_generated_table_on_the_pages_matches_the_result_files():
    assert tables.main(["--check"]) == 0


def test_check_names_a_table_that_differs_from_the_result_files(tmp_path, capsys):
    page = tmp_path / "results.md"
    fresh = tables.fill("# Results\n<!-- table:rl_vs_random -->\n<!-- /table:rl_vs_random -->\n",
                        tables.records.RESULTS)
    page.write_text(fresh)
    assert tables.main(["--check", str(page)]) == 0
    # a typed edit inside a generated block
    page.write_text(fresh.replace("| reinforce | 0 |", "| reinforce | 9 |"))
    assert tables.main(["--check", str(page)]) == 1
    assert f"{page}: rl_vs_random" in capsys.readouterr().err
    assert tables.main(["--write", str(page)]) == 0 and page.read_text() == fresh


def test_the_readme_is_short_and_has_its_parts():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    for part in ("Reading order", "The paper, section by section",
                 "Where this differs from the paper", "Glossary"):
        assert re.search(rf"^## {part}", text, flags=re.M), part


def anchors(page: Path) -> set[str]:
    """The #fragments GitHub gives a page's headings: lowercased, punctuation dropped, spaces to
    hyphens, a repeated heading numbered."""
    seen, out = {}, set()
    for heading in re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", page.read_text(), flags=re.S),
                              flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def test_every_link_between_the_pages_finds_its_file_and_heading():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):  # https:, mailto:: not checked here
                continue
            path, _, fragment = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: {target}"
            if fragment and linked.suffix == ".md":
                assert fragment in anchors(linked), f"{page.name}: {target}"


def test_the_sharing_table_shows_each_samplers_gradient_norms_and_keeps_the_path_regimes(tmp_path):
    base = {"command": "python benchmarks/sharing.py", "commit": "abc",
            "date": "2026-11-30 00:00:00 UTC",
            "machine": "m", "wall_seconds": 1.0, "dataset": "fashion-mnist"}
    tables.records.append(tmp_path / "sharing.json", {
        **base, "paths": 0, "steps": 200, "loss_curve": [2.3, 2.3], "child_accuracy": [0.1]})
    for name, zero, extra in [("uniform", False,
                               {"panel": {"accuracy": {"a": 0.1, "b": 0.2, "c": 0.3},
                                          "kendall_tau": 0.333}}),
                              ("sandwich", True,
                               {"largest_accuracy": 0.8, "smallest_accuracy": 0.7})]:
        tables.records.append(tmp_path / "sharing.json", {
            **base, "sampler": name, "steps": 400, "lr_schedule": "constant",
            "loss_curve": [2.3, 1.0],
            "grad_norm_curve": [2900.4, 12.0], "clipped_share": 0.5, "child_accuracy": [0.5, 0.6],
            "sandwich": name == "sandwich", "zero_init_residual_bn": zero,
            "init_grad_norms": {"mbconv6 none": 0.1 if zero else 2909.5}, **extra})
    out = tables.sharing_table(tmp_path)
    assert "| uniform (SPOS) | 200 | 2.30 2.30 | 0.100 |" in out  # the path regimes' table stays
    assert ("| uniform | 400, constant | 2.30 1.00 | 2900 12 | 50% | 0.500, 0.600 "
            "| 0.333 (3) |") in out
    assert ("| sandwich | 400, constant | 2.30 1.00 | 2900 12 | 50% | 0.500, 0.600 "
            "(largest 0.800, smallest 0.700) |  |") in out
    # the plain init's
    assert "Gradient norm at initialization, one batch: mbconv6 none 2,909.5.\n\n" in out
    # and the zeroed one's
    assert "one batch, last BatchNorm of residual bodies at zero: mbconv6 none 0.1." in out


def test_the_platforms_table_shows_the_newest_record_and_its_equal_macs_pair(tmp_path):
    base = {"command": "python benchmarks/platforms.py", "commit": "abc",
            "date": "2026-11-30 10:00:00 UTC",
            "machine": "m", "wall_seconds": 60.0, "seed": 0, "measures": ["macs", "cpu"]}
    old = {**base, "samples": 20, "spearman": {"macs/cpu": 0.1}, "kendall": {"macs/cpu": 0.05},
           "fastest_overlap": {"macs/cpu": 0.5}, "equal_macs": {"cpu": {}}}
    new = {**base, "samples": 500, "spearman": {"macs/cpu": 0.78}, "kendall": {"macs/cpu": 0.59},
           "fastest_overlap": {"macs/cpu": 0.58}, "tokens": [[i] for i in range(10)],
           "equal_macs": {"cpu": {"pair": [3, 7], "macs": [203.0, 207.0], "latency": [0.49, 1.15],
                                  "latency_ratio": 2.36}}}
    for r in (old, new):
        tables.records.append(tmp_path / "platforms.json", r)
    out = tables.platforms_table(tmp_path)
    # the newest only
    assert "| macs vs cpu | +0.780 | +0.590 | 58% |" in out and "+0.100" not in out
    assert ("on cpu, 203M and 207M MACs run at 0.49x and 1.15x MobileNetV2's latency by the table "
            "(2.36x apart).") in out
    assert "pairs not timed whole yet" in out
    # platforms.py --time-pairs
    timed = {**base, "backend": "cpu", "tokens": [[3], [7]], "timed_ratio": 1.9}
    # another pair
    tables.records.append(tmp_path / "equal-macs.json",
                          {**timed, "tokens": [[7], [3]], "timed_ratio": 5.0})
    assert "timed whole, interleaved" not in tables.platforms_table(tmp_path)
    tables.records.append(tmp_path / "equal-macs.json", timed)
    out = tables.platforms_table(tmp_path)
    assert ("(2.36x apart; timed whole, interleaved: 1.90x)." in out
            and "not timed whole yet" not in out)
    assert "no record yet" in tables.platforms_table(tmp_path / "none")
    assert "not timed whole" not in tables.platforms_table(tmp_path / "none")
    tables.records.append(tmp_path / "platforms.json", {
        **new, "decision_archs": 50, "decision_costs": {
            "kernel": {"3": {"macs": 1.0, "cpu": 1.0}, "5": {"macs": 1.31, "cpu": 1.12}}}})
    assert "| kernel | 5 | 1.31x | 1.12x |" in tables.platforms_table(tmp_path)


def search_summary(run, acc, ms, above, on_measured, same_as=None):
    r = {"run": run, "children": 300, "best_accuracy": acc, "best_measured_ms": ms,
         "mobilenetv2_ms": 20.0, "lat_unit": "ms", "target_ms": 20.0,  # T = MobileNetV2's latency
         "measured_above_t": above, "best_reward_on_measured": on_measured,
         "children_seconds": 3600.0, "command": "python benchmarks/searches.py", "commit": "abc",
         "date": "2026-11-30 10:00:00 UTC", "machine": "m", "wall_seconds": 3600.0}
    return r | ({"same_as": same_as} if same_as else {})


def test_table5_and_flops_tables_give_each_setting_over_its_seeds(tmp_path):
    for r in (search_summary("single-cell-seed0", 0.80, 30.0, 0.9, 0.70),
              search_summary("single-cell-seed1", 0.84, 34.0, 0.7, 0.72),
              search_summary("multi-factorized-seed0", 0.82, 10.0, 0.1, 0.85,
                             same_as="rl-vs-random/reinforce-seed0")):
        tables.records.append(tmp_path / "table5.json", r)
    out = search_tables.table5_table(tmp_path)
    # mean (min-max) over the two seeds: accuracy, latency / MobileNetV2 (30/20, 34/20),
    # children above T
    assert ("| accuracy only, cell space | 2 | 300 | 0.8200 (0.8000-0.8400) | 1.60 (1.50-1.70)x "
            "| 80 (70-90)% | 0.7100 (0.7000-0.7200) |") in out
    assert ("| multi-objective (soft), factorized space (reused) | 1 | 300 | 0.8200 | 0.50x | 10% "
            "| 0.8500 |") in out
    # two runs of an hour each: the reused one is counted where it ran
    assert "for 2.0 h in all" in out
    # the mean, not the median
    assert tables.records.mean_range([0.80, 0.84, 0.86]) == "0.8333 (0.8000-0.8600)"
    assert ("not trained yet: `python benchmarks/table1.py --searches "
            "benchmarks/results/table5.json") in out
    trained = {"command": "python benchmarks/table1.py --searches", "commit": "abc",
               "date": "2026-11-30 10:00:00 UTC", "machine": "m", "wall_seconds": 60.0,
               "params": 2.5e6, "macs": 200e6, "latency_ratio": 0.6}
    for seed, acc in ((0, 0.90), (1, 0.92)):  # each setting's best network, trained with two seeds
        tables.records.append(tmp_path / "table5-final.json", {
            **trained, "name": "table5/single-cell", "seed": seed, "test_accuracy": acc,
            "executorch_ratio": 0.8})
    tables.records.append(tmp_path / "table5-final.json", {
        **trained, "name": "table5/multi-factorized", "seed": 0, "test_accuracy": 0.93,
        "same_as": "reinforce-seed0/child-222"})
    out = search_tables.table5_table(tmp_path)
    assert ("| accuracy only, cell space | 2 | 0.9100 (0.9000-0.9200) | 2.50M | 200M | 0.600 "
            "| 0.800 |") in out
    assert ("| multi-objective (soft), factorized space "
            "(the same network as reinforce-seed0/child-222) "
            "| 1 | 0.9300 |") in out
    assert "- Trained," not in out  # no two settings of a comparison trained yet
    tables.records.append(tmp_path / "table5-final.json", {
        **trained, "name": "table5/multi-cell", "seed": 0, "test_accuracy": 0.88,
        "latency_ratio": 0.3})
    line = next(x for x in search_tables.table5_table(tmp_path).splitlines()
                if x.startswith("- Trained, cell space"))
    assert ("(one network per side, the best of its setting's seeds: this compares two "
            "networks") in line
    assert ("test accuracy 0.9100 -> 0.8800, **undecided**, -3.00 points: one replicate on a "
            "side") in line
    assert "CPU latency / MobileNetV2 0.600 -> 0.300, **undecided**, 0.500x: one replicate" in line
    tables.records.append(tmp_path / "table5-final.json", {
        **trained, "name": "table5/multi-cell", "seed": 1, "test_accuracy": 0.87,
        "latency_ratio": 0.3})
    line = next(x for x in search_tables.table5_table(tmp_path).splitlines()
                if x.startswith("- Trained, cell space"))
    # by hand: 0.90 and 0.92 x 0.6^-0.07 (1.03641) = 0.93277, 0.95349; 0.88, 0.87 x 0.3^-0.07
    # (1.08793) = 0.95738, 0.94650: means 0.9431 -> 0.9519, two training seeds a side
    assert "test accuracy 0.9100 -> 0.8750, **undecided**: -3.50 points" in line
    assert ("soft reward at the median CPU latency (Eq. 2, T = 1x MobileNetV2) 0.9431 -> 0.9519, "
            "**undecided**: +0.0088") in line
    tables.records.append(tmp_path / "flops.json",
                          search_summary("macs-seed0", 0.8, 40.0, 0.6, 0.6))
    assert ("| LAT(m) = MACs, T = MobileNetV2's MACs | 1 | 300 | 0.8000 | 2.00x | 60% "
            "| 0.6000 |") in search_tables.flops_table(tmp_path)
    # nothing against it yet
    assert "LAT(m) measured -> MACs" not in search_tables.flops_table(tmp_path)
    for seed, ms in ((0, 10.0), (1, 12.0)):
        tables.records.append(tmp_path / "flops.json",
                              search_summary(f"measured-seed{seed}", 0.8, ms, 0.1, 0.86))
    out = search_tables.flops_table(tmp_path)
    assert "- LAT(m) measured -> MACs, over search seeds:" in out
    # one MACs run against two: its own variance is unknown
    assert ("  - best child's proxy accuracy 0.8000 -> 0.8000: **undecided**, +0.00 points: "
            "one replicate") in out
    assert "  - what the policy learned (the last quarter's means): not in these records" in out
    for name in ("flops/measured", "flops/macs"):
        tables.records.append(tmp_path / "flops-final.json",
                              {**trained, "name": name, "seed": 0, "test_accuracy": 0.9})
    assert ("- Trained, LAT(m) measured -> MACs (one network per side"
            in search_tables.flops_table(tmp_path))


def test_table5_judges_each_of_the_papers_steps_over_search_seeds(tmp_path):
    policy = {"last_quarter_accuracy": 0.7, "last_quarter_ratio": 0.5,
              "last_quarter_reward_on_measured": 0.7}
    for r in (search_summary("single-cell-seed0", 0.800, 30.0, 0.9, 0.70),
              search_summary("single-cell-seed1", 0.802, 30.6, 0.7, 0.72),
              search_summary("multi-cell-seed0", 0.780, 12.0, 0.1, 0.715),
              search_summary("multi-cell-seed1", 0.781, 12.1, 0.1, 0.716),
              search_summary("multi-factorized-seed0", 0.82, 10.0, 0.1, 0.85)):
        tables.records.append(tmp_path / "table5.json", r | policy)
    out = search_tables.table5_table(tmp_path)
    step = out.split("- Cell space, accuracy only -> multi-objective (the paper's first step), "
                     "over search seeds:")[1].split("\n- ")[0]
    # 2 against 2, 2 points apart with SDs of 0.14 and 0.07 points: t = -18 on ~1.5 df
    assert "  - best child's proxy accuracy 0.8010 -> 0.7805: **lower**: -2.05 points" in step
    assert "  - its latency / MobileNetV2 (CPU table) 1.51x -> 0.60x: **faster**" in step
    # what the policy learned: identical in every run, so no variance and no verdict
    assert "  - last quarter's proxy accuracy 0.7000 -> 0.7000: **undecided**" in step
    assert "no variance on either side" in step
    second = out.split("- Multi-objective, cell -> factorized space (its second step)")[1]
    assert "one replicate on a side" in second.split("\n- ")[0]  # one factorized search
    # no accuracy-only factorized run: no verdict
    assert "Accuracy only, cell -> factorized" not in out


def table6_record(name, seed, acc, ratio, et=None):
    return {"command": "python benchmarks/table1.py --table6", "commit": "abc",
            "date": "2026-11-30 10:00:00 UTC", "machine": "m", "wall_seconds": 60.0,
            "params": 3.9e6, "macs": 312e6, "name": name, "seed": seed,
            "test_accuracy": acc, "latency_ratio": ratio, "executorch_ratio": et}


def test_table6_puts_each_network_beside_the_papers_row(tmp_path):
    for name, seed, acc, ratio in (("mnasnet-a1-all-mbconv3-k3", 0, 0.90, 0.8),
                                   ("mnasnet-a1", 0, 0.92, 1.06),
                                   ("mnasnet-a1", 1, 0.90, 1.06),
                                   ("mnasnet-a1-all-mbconv6-k5", 0, 0.93, 1.9)):
        tables.records.append(tmp_path / "table6.json", table6_record(name, seed, acc, ratio))
    out = search_tables.table6_table(tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| mnasnet")]
    assert rows == ["| mnasnet-a1 | 75.2% / 78 ms | 0.9100 (0.9000-0.9200), 2 | 3.90M | 312M "
                    "| 1.060 |  |",
                    "| mnasnet-a1-all-mbconv3-k3 | 71.8% / 63 ms | 0.9000, 1 | 3.90M | 312M "
                    "| 0.800 |  |",
                    "| mnasnet-a1-all-mbconv6-k5 | 75.6% / 146 ms | 0.9300, 1 | 3.90M | 312M "
                    "| 1.900 |  |"]
    k5 = next(x for x in out.splitlines() if x.startswith("- A1 -> all-mbconv6-k5"))
    # by hand: 0.92, 0.90 x 1.06^-0.07 (0.99593) = 0.9063; 0.93 x 1.9^-0.07 (0.95606) = 0.8891
    assert ("soft reward at the median CPU latency (Eq. 2, T = 1x MobileNetV2) 0.9063 -> "
            "0.8891") in k5
    assert k5.endswith("against A1 it is undecided in accuracy; on CPU undecided: undecided.")


def test_a_variants_trade_off_against_a1_follows_both_verdicts():
    cases = {("higher", "faster"): "better than A1 (the paper's claim fails here)",
             ("equal", "faster"): "better than A1 (the paper's claim fails here)",
             ("lower", "slower"): "A1 is better (as in the paper)",
             ("equal", "slower"): "A1 is better (as in the paper)",
             ("lower", "faster"): "a trade-off", ("higher", "slower"): "a trade-off",
             ("equal", "equal"): "equal to A1 on both",
             ("undecided", "faster"): "undecided", ("higher", "undecided"): "undecided"}
    for (accuracy, latency), want in cases.items():
        assert search_tables.trade_off(accuracy, latency) == want


def test_table6_judges_latency_by_the_networks_timings_together(tmp_path):
    for name in ("mnasnet-a1", "mnasnet-a1-all-mbconv3-k3", "mnasnet-a1-all-mbconv3-k5"):
        ratio = {"mnasnet-a1": 1.05, "mnasnet-a1-all-mbconv3-k3": 0.80}.get(name, 1.04)
        for seed, acc in ((0, 0.920), (1, 0.921)):  # the same accuracies: equal within +-0.5 points
            tables.records.append(tmp_path / "table6.json",
                                  table6_record(name, seed, acc, ratio, et=1.2))
    # timed once each, beside the trainings: undecided
    before = search_tables.table6_table(tmp_path)
    assert ("CPU latency / MobileNetV2 1.050 -> 0.800, **undecided**, 0.762x: one replicate on a "
            "side") in before
    # timed together three times: 3x3's timings are A1's (equal within 5%), 5x5's 6% below them
    tables.records.append(tmp_path / "table6-timing.json", {
        "networks": ["mnasnet-a1", "mnasnet-a1-all-mbconv3-k3", "mnasnet-a1-all-mbconv3-k5"],
        "repeats": 3,
        "cpu": {"mnasnet-a1": [1.01, 1.02, 1.03], "mnasnet-a1-all-mbconv3-k3": [1.01, 1.02, 1.03],
                "mnasnet-a1-all-mbconv3-k5": [0.95, 0.96, 0.97]},
        "executorch": {"mnasnet-a1": [1.10, 1.11, 1.12],
                       "mnasnet-a1-all-mbconv3-k3": [1.20, 1.21, 1.22]},
        "commit": "abc", "date": "2026-11-30 10:00:00 UTC", "machine": "m", "wall_seconds": 60.0,
        "command": "python benchmarks/table1.py --table6 --retime 3 --executorch"})
    out = search_tables.table6_table(tmp_path)
    assert ("| mnasnet-a1 | 75.2% / 78 ms | 0.9205 (0.9200-0.9210), 2 | 3.90M | 312M "
            "| 1.020 (1.010-1.030) | 1.110 (1.100-1.120) |") in out
    assert "| 0.960 (0.950-0.970) | 1.200 |" in out  # no ExecuTorch timing together: its training's
    k3, k5 = [line for line in out.splitlines() if line.startswith("- A1 -> ")]
    assert "test accuracy 0.9205 -> 0.9205, **equal within ±0.5 points**" in k3
    assert "CPU latency / MobileNetV2 1.020 -> 1.020, **equal within ±5%**" in k3
    assert "ExecuTorch 1.110 -> 1.210, **slower**" in k3
    assert k3.endswith("against A1 it is as accurate (within ±0.5 points); on CPU as fast "
                       "(within ±5%): equal to A1 on both; through ExecuTorch slower: "
                       "A1 is better (as in the paper).")
    assert "CPU latency / MobileNetV2 1.020 -> 0.960, **faster**" in k5
    # A1 timed together through ExecuTorch, 5x5 not: both from their trainings' timings, never one
    # of each
    assert "ExecuTorch 1.200 -> 1.200, **undecided**" in k5
    assert k5.endswith("on CPU faster: better than A1 (the paper's claim fails here); through "
                       "ExecuTorch undecided: undecided.")
    assert ("Latency: the median (min-max) of 3 timings per network and platform, from 1 run of "
            "`--retime` timing all 3 networks and MobileNetV2 together, interleaved (cpu and "
            "executorch)") in out


def test_timings_of_another_network_under_a_trained_networks_name_are_left_out(tmp_path):
    import models

    a1, v2 = (models.arch_to_dict(models.REFERENCE_ARCHS[n]) for n in ("mnasnet-a1", "mobilenetv2"))
    # the last: no archs kept
    for archs, values in (({"x": a1}, [1.0, 1.1]), ({"x": v2}, [2.0, 2.1]), (None, [1.2])):
        tables.records.append(tmp_path / "t-timing.json", {
            "networks": ["x"], "repeats": len(values), "cpu": {"x": values},
            **({"archs": archs} if archs else {})})
    assert (search_tables.timed_together(tmp_path, "t", [{"name": "x", "arch": a1}])
            == {"cpu": {"x": [1.0, 1.1, 1.2]}})
    # no arch to match
    assert search_tables.timed_together(tmp_path, "t") == {"cpu": {"x": [1.0, 1.1, 2.0, 2.1, 1.2]}}


def test_the_trained_winners_take_their_latency_from_their_timings_together(tmp_path):
    trained = {"command": "python benchmarks/table1.py --searches flops.json", "commit": "abc",
               "machine": "m", "date": "2026-11-30 10:00:00 UTC", "wall_seconds": 60.0,
               "params": 2e6, "macs": 1e8, "epochs": 5, "latency_ratio": 0.5,
               "executorch_ratio": 0.5}
    for name, accs in (("flops/measured", (0.92, 0.921)), ("flops/macs", (0.91, 0.911))):
        for seed, acc in enumerate(accs):
            tables.records.append(tmp_path / "flops-final.json",
                                  {**trained, "name": name, "seed": seed, "test_accuracy": acc})
    tables.records.append(tmp_path / "flops-final-timing.json", {
        "networks": ["flops/measured", "flops/macs"], "repeats": 2,
        "command": "python benchmarks/table1.py --retime 2",
        "cpu": {"flops/measured": [0.33, 0.34], "flops/macs": [0.26, 0.27]},
        **{k: trained[k] for k in ("commit", "date", "machine", "wall_seconds")}})
    for run in ("macs-seed0", "measured-seed0"):
        tables.records.append(tmp_path / "flops.json", search_summary(run, 0.8, 10.0, 0.1, 0.85))
    out = search_tables.flops_table(tmp_path)
    assert "| 0.335 (0.330-0.340) | 0.500 |" in out and "| 0.265 (0.260-0.270) | 0.500 |" in out
    # 0.2646 / 0.3350 on logs
    assert "CPU latency / MobileNetV2 0.335 -> 0.265, **faster**: 0.791x" in out
    assert "ExecuTorch 0.500 -> 0.500, **undecided**" in out  # not timed together: one timing each
    assert "timing both networks and MobileNetV2 together, interleaved (cpu)" in out


def test_every_searchs_winner_trained_makes_the_search_the_unit(tmp_path):
    trained = {"command": "python benchmarks/table1.py --searches flops.json --per-search",
               "commit": "abc", "machine": "m", "date": "2026-11-30 10:00:00 UTC",
               "wall_seconds": 60.0, "params": 2e6, "macs": 1e8, "epochs": 5, "seed": 0,
               "executorch_ratio": None}
    winners = (("macs-seed0", 0.910, 0.26), ("macs-seed1", 0.912, 0.27),
               ("measured-seed0", 0.920, 0.33), ("measured-seed1", 0.924, 0.34))
    for run, _, _ in winners:
        tables.records.append(tmp_path / "flops.json", {
            **search_summary(run, 0.8, 10.0, 0.1, 0.85), "best_arch": {"run": run}})
    for i, (run, acc, ratio) in enumerate(winners):
        tables.records.append(tmp_path / "flops-final.json",
                              {**trained, "name": f"flops/{run}", "test_accuracy": acc,
                               "latency_ratio": ratio})
        if i == 2:  # 3 of 4 trained: no comparison of winners yet, and the page says how far
            out = search_tables.flops_table(tmp_path)
            assert "every search's winner" not in out and "3 of 4 so far" in out
    out = search_tables.flops_table(tmp_path)
    assert ("| LAT(m) = MACs, T = MobileNetV2's MACs | 2 | 0.9110 (0.9100-0.9120) "
            "| 0.265 (0.260-0.270) |") in out
    line = next(x for x in out.splitlines()
                if x.startswith("- Trained, LAT(m) measured -> MACs, every"))
    # the winners' accuracies 0.920, 0.924 against 0.910, 0.912: one value per search, 2 vs 2
    assert "test accuracy **" in line and "-1.10 points" in line and "(2 vs 2 search seeds)" in line
    assert "CPU latency **" in line and "training seeds" not in line


def test_no_verdict_rests_on_a_dirty_record(tmp_path):
    for name, seed, acc in (("mnasnet-a1", 0, 0.920), ("mnasnet-a1", 1, 0.921),
                            ("mnasnet-a1-all-mbconv3-k3", 0, 0.900),
                            ("mnasnet-a1-all-mbconv3-k3", 1, 0.901)):
        record = table6_record(name, seed, acc, 1.0)
        if (name, seed) == ("mnasnet-a1-all-mbconv3-k3", 1):
            record["commit"] = "abc+dirty"  # made from uncommitted code
        tables.records.append(tmp_path / "table6.json", record)
    out = search_tables.table6_table(tmp_path)
    line = next(x for x in out.splitlines() if x.startswith("- A1 -> all-mbconv3-k3"))
    # the dirty seed is left out: one clean seed against two, so no variance on a side
    assert ("test accuracy 0.9205 -> 0.9000, **undecided**, -2.05 points: one replicate on a "
            "side") in line
    assert "(1 vs 2 training seeds; 1 +dirty record left out)" in line
    # still shown
    assert "| mnasnet-a1-all-mbconv3-k3 | 71.8% / 63 ms | 0.9005 (0.9000-0.9010), 2 |" in out
    assert "commit abc, abc+dirty" in out  # and marked in the provenance line


def test_the_glance_table_says_what_the_pages_tests_say(tmp_path):
    base = {"children": 300, "best_reward": 0.9, "within_10pct_below_t": 0.2, "greedy_reward": None,
            "children_seconds": 60.0, "command": "python benchmarks/searches.py", "commit": "abc",
            "date": "2026-11-30 10:00:00 UTC", "machine": "m", "wall_seconds": 60.0}
    for method, lasts in (("reinforce", (0.850, 0.851, 0.852)), ("random", (0.700, 0.702, 0.701))):
        for seed, last in enumerate(lasts):
            tables.records.append(tmp_path / "rl-vs-random.json", {
                **base, "run": f"{method}-seed{seed}",
                "flags": ["--controller", method, "--seed", str(seed)],
                "last_quarter_mean_reward": last})
    out = tables.glance_table(tmp_path)
    row = next(x for x in out.splitlines() if x.startswith("| [RL controller]"))
    assert ("| searches: last quarter's reward higher | searches: 3 vs 3 search seeds "
            "(ACC by the proxy") in row
    assert "| no verdict (no record from committed code) |" in next(
        x for x in out.splitlines() if x.startswith("| [search per platform]"))
    # the same verdict, corrected over the page's verdicts, as the section shows it
    section = tables.search_tables.rl_vs_random_table(tmp_path)
    assert "- REINFORCE against random search, last quarter's mean reward: **higher**" in section
    assert "Benjamini-Hochberg over the page's 1 verdicts (1 higher)" in out


def test_sec5_takes_each_searchs_latency_from_its_timings_together_over_search_seeds(tmp_path):
    import models

    a1 = models.arch_to_dict(models.REFERENCE_ARCHS["mnasnet-a1"])
    prov = {"command": "python benchmarks/searches.py cross-platform", "commit": "abc",
            "machine": "m", "date": "2026-12-01 10:00:00 UTC", "wall_seconds": 60.0}
    runs = ("cpu-seed0", "cpu-seed1", "executorch-seed0", "executorch-seed1", "executorch-seed2")
    for run in runs:
        dirty = run == "executorch-seed2"  # from uncommitted code: shown, never in a verdict
        tables.records.append(tmp_path / "cross-platform.json", {
            **prov, "run": run, "best_arch": a1, "best_accuracy": 0.8, "children": 300,
            **({"commit": "abc+dirty"} if dirty else {})})
    # the old single timings, which the timings together replace: all 1.0
    for backend in ("cpu", "executorch"):
        tables.records.append(tmp_path / "cross-platform-latency.json", {
            **prov, "backend": backend, "networks": {run: a1 for run in runs},
            "ratios": {run: 1.0 for run in runs}})
    # two timings together per search and platform; a search's latency is their geometric mean
    # (0.25 and 1.0: 0.5; their mean and median would be 0.625)
    on_cpu = {"cpu-seed0": [0.25, 1.0], "cpu-seed1": [0.2704, 1.0], "executorch-seed0": [1.0, 1.0],
              "executorch-seed1": [1.0404, 1.0], "executorch-seed2": [0.1, 0.1]}
    on_et = {"cpu-seed0": [0.9, 0.9], "cpu-seed1": [1.1, 1.1], "executorch-seed0": [0.8, 0.8],
             "executorch-seed1": [1.0, 1.0], "executorch-seed2": [0.1, 0.1]}
    timing = {**prov, "command": "python benchmarks/platforms.py --searched x --retime 2",
              "networks": list(runs), "archs": {run: a1 for run in runs}, "repeats": 2}
    tables.records.append(tmp_path / "cross-platform-timing.json",
                          {**timing, "cpu": on_cpu, "executorch": on_et})
    # a timing run from uncommitted code, which would turn both verdicts round
    tables.records.append(tmp_path / "cross-platform-timing.json", {
        **timing, "commit": "def+dirty", "cpu": {run: [5.0, 5.0] for run in runs[:2]},
        "executorch": {run: [0.01, 0.01] for run in runs[2:]}})
    out = search_tables.cross_platform_table(tmp_path)
    assert "| cpu | 2 | 0.8000 (0.8000-0.8000) | 0.51 (0.50-0.52)x | 1.00 (0.90-1.10)x |" in out
    # the +dirty search is shown in its row, marked in the provenance line
    assert ("| executorch | 3 | 0.8000 (0.8000-0.8000) | 0.71 (0.10-1.02)x "
            "| 0.63 (0.10-1.00)x |") in out
    assert "commit abc, abc+dirty" in out
    on = {line.split(",")[0]: line for line in out.splitlines() if line.startswith("- on ")}
    assert on["- on cpu"].startswith(
        "- on cpu, the network searched for cpu against the one searched for executorch: "
        "**faster**: 0.505x")
    sizes = ("(2 vs 2 search seeds; each search's network: the geometric mean of its 2 timings "
             "together; 2 +dirty records left out)")
    assert on["- on cpu"].endswith(sizes)
    assert on["- on executorch"].startswith(
        "- on executorch, the network searched for executorch against the one searched for cpu: "
        "**undecided**: 0.899x")
    assert on["- on executorch"].endswith(sizes)
    # what would decide the comparison left open
    assert re.search(r"^- Undecided, and what would decide it: on executorch, the search for "
                     r"executorch against the one for cpu: about \d+ search seeds a side\.$",
                     out, re.MULTILINE)
    assert "on cpu, the search for cpu" not in out  # decided: not listed
    assert "each search's network timed 2 times per platform" in out
    assert "not timed on every platform yet" not in out
