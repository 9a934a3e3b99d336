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
    tables.records.append(tmp_path / "sharing.json",
                          {**base, "paths": 0, "steps": 200, "loss_curve": [2.3, 2.3],
                           "child_accuracy": [0.1]})
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
    assert (
        "| uniform | 400, constant | 2.30 1.00 | 2900 12 | 50% | 0.500, 0.600 | 0.333 (3) |" in out
    )
    assert (
        "| sandwich | 400, constant | 2.30 1.00 | 2900 12 | 50% | 0.500, 0.600 (largest 0.800,"
        " smallest 0.700) |  |"
        in out
    )
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
    assert (
        "on cpu, 203M and 207M MACs run at 0.49x and 1.15x MobileNetV2's latency by the table"
        " (2.36x apart)."
        in out
    )
    assert "pairs not timed whole yet" in out
    # platforms.py --time-pairs
    timed = {**base, "backend": "cpu", "tokens": [[3], [7]], "timed_ratio": 1.9}
    tables.records.append(tmp_path / "equal-macs.json",
                          {**timed, "tokens": [[7], [3]], "timed_ratio": 5.0})  # another pair
    assert "timed whole, interleaved" not in tables.platforms_table(tmp_path)
    tables.records.append(tmp_path / "equal-macs.json", timed)
    out = tables.platforms_table(tmp_path)
    assert (
        "(2.36x apart; timed whole, interleaved: 1.90x)." in out
        and "not timed whole yet" not in out
    )
    assert "no record yet" in tables.platforms_table(tmp_path / "none")
    assert "not timed whole" not in tables.platforms_table(tmp_path / "none")
    tables.records.append(tmp_path / "platforms.json",
                          {**new, "decision_archs": 50, "decision_costs": {
        "kernel": {"3": {"macs": 1.0, "cpu": 1.0}, "5": {"macs": 1.31, "cpu": 1.12}}}})
    assert "| kernel | 5 | 1.31x | 1.12x |" in tables.platforms_table(tmp_path)


def search_summary(run, acc, ms, above, on_measured, same_as=None):
    r = {"run": run, "children": 300, "best_accuracy": acc, "best_measured_ms": ms,
         "mobilenetv2_ms": 20.0,
         "lat_unit": "ms", "target_ms": 20.0,  # T = MobileNetV2's latency
         "measured_above_t": above, "best_reward_on_measured": on_measured,
         "children_seconds": 3600.0,
         "command": "python benchmarks/searches.py", "commit": "abc",
         "date": "2026-11-30 10:00:00 UTC",
         "machine": "m", "wall_seconds": 3600.0}
    return r | ({"same_as": same_as} if same_as else {})


def test_table5_and_flops_tables_give_each_setting_over_its_seeds(tmp_path):
    for r in (search_summary("single-cell-seed0", 0.80, 30.0, 0.9, 0.70),
              search_summary("single-cell-seed1", 0.84, 34.0, 0.7, 0.72),
              search_summary("multi-factorized-seed0", 0.82, 10.0, 0.1, 0.85,
                             same_as="rl-vs-random/reinforce-seed0")):
        tables.records.append(tmp_path / "table5.json", r)
    out = search_tables.table5_table(tmp_path)
    # mean (min-max) over the two seeds: accuracy, latency / MobileNetV2 (30/20, 34/20), children
    # above T
    assert (
        "| accuracy only, cell space | 2 | 300 | 0.8200 (0.8000-0.8400) | 1.60 (1.50-1.70)x | 80"
        " (70-90)% | 0.7100 (0.7000-0.7200) |"
        in out
    )
    assert (
        "| multi-objective (soft), factorized space (reused) | 1 | 300 | 0.8200 | 0.50x | 10% |"
        " 0.8500 |"
        in out
    )
    # two runs of an hour each: the reused one is counted where it ran
    assert "for 2.0 h in all" in out
    # the mean, not the median
    assert tables.records.mean_range([0.80, 0.84, 0.86]) == "0.8333 (0.8000-0.8600)"
    assert (
        "not trained yet: `python benchmarks/table1.py --searches benchmarks/results/table5.json"
        in out
    )
    trained = {"command": "python benchmarks/table1.py --searches", "commit": "abc",
               "date": "2026-11-30 10:00:00 UTC",
               "machine": "m", "wall_seconds": 60.0, "params": 2.5e6, "macs": 200e6,
               "latency_ratio": 0.6}
    for seed, acc in ((0, 0.90), (1, 0.92)):  # each setting's best network, trained with two seeds
        tables.records.append(tmp_path / "table5-final.json",
                              {**trained, "name": "table5/single-cell", "seed": seed,
                               "test_accuracy": acc,
                               "executorch_ratio": 0.8})
    tables.records.append(tmp_path / "table5-final.json",
                          {**trained, "name": "table5/multi-factorized", "seed": 0,
                           "test_accuracy": 0.93,
                           "same_as": "reinforce-seed0/child-222"})
    out = search_tables.table5_table(tmp_path)
    assert (
        "| accuracy only, cell space | 2 | 0.9100 (0.9000-0.9200) | 2.50M | 200M | 0.600 | 0.800 |"
        in out
    )
    assert "- Trained," not in out  # no two settings of a comparison trained yet
    tables.records.append(tmp_path / "table5-final.json",
                          {**trained, "name": "table5/multi-cell", "seed": 0,
                           "test_accuracy": 0.88,
                           "latency_ratio": 0.3})
    assert ("- Trained, cell space, accuracy only -> multi-objective (the paper's first step): "
            "test accuracy 0.9100 -> "
            "0.8800, lower, one seed on one side: no spread to judge by; CPU latency / "
            "MobileNetV2 0.600 -> 0.300, faster, "
            "one timing each: no timing noise on record to judge by; soft reward on the timed CPU "
            "latency (Eq. 2, T = 1x "
            "MobileNetV2) 0.9431 -> 0.9574, higher, one seed on one side: no spread to judge "
            "by.") in search_tables.table5_table(tmp_path)
    # by hand: 0.90 and 0.92 x 0.6^-0.07 (1.03641) = 0.93277, 0.95349; 0.88 x 0.3^-0.07 (1.08793) =
    # 0.95738
    tables.records.append(tmp_path / "table5-final.json",
                          {**trained, "name": "table5/multi-cell", "seed": 1,
                           "test_accuracy": 0.87,
                           "latency_ratio": 0.3})
    tables.records.append(tmp_path / "timing.json",
                          {"part": "stability", "backend": "cpu", "ratio_spread_pct": 60.0})
    assert ("test accuracy 0.9100 -> 0.8750, lower beyond the seed spread; CPU latency / "
            "MobileNetV2 0.600 -> 0.300, "
            "within the 60% timing noise (a tie); soft reward on the timed CPU latency (Eq. 2, T "
            "= 1x MobileNetV2) 0.9431 -> "
            "0.9519, within the seed spread and the timing noise (60% in latency, 4.2% in reward) "
            "(a tie).") in search_tables.table5_table(tmp_path)
    (tmp_path / "timing.json").unlink()
    for name in ("table5-final.json", "table5-final.json.lock"):
        (tmp_path / name).unlink(missing_ok=True)
    for seed, acc in ((0, 0.90), (1, 0.92)):  # as before the two multi-cell trainings
        tables.records.append(tmp_path / "table5-final.json",
                              {**trained, "name": "table5/single-cell", "seed": seed,
                               "test_accuracy": acc,
                               "executorch_ratio": 0.8})
    tables.records.append(tmp_path / "table5-final.json",
                          {**trained, "name": "table5/multi-factorized", "seed": 0,
                           "test_accuracy": 0.93,
                           "same_as": "reinforce-seed0/child-222"})
    out = search_tables.table5_table(tmp_path)
    assert (
        "| multi-objective (soft), factorized space (the same network as reinforce-seed0/child-222)"
        " | 1 | 0.9300 |"
        in out
    )
    tables.records.append(tmp_path / "flops.json",
                          search_summary("macs-seed0", 0.8, 40.0, 0.6, 0.6))
    assert (
        "| LAT(m) = MACs, T = MobileNetV2's MACs | 1 | 300 | 0.8000 | 2.00x | 60% | 0.6000 |"
        in search_tables.flops_table(tmp_path)
    )
    # nothing to set it against yet
    assert "LAT(m) measured -> MACs" not in search_tables.flops_table(tmp_path)
    for seed, ms in ((0, 10.0), (1, 12.0)):
        tables.records.append(tmp_path / "flops.json",
                              search_summary(f"measured-seed{seed}", 0.8, ms, 0.1, 0.86))
    assert (
        "- LAT(m) measured -> MACs: best child's proxy accuracy 0.8000 -> 0.8000, within the "
        "seed spread (a tie); "
        "its latency / MobileNetV2 (CPU table) 0.55x -> 2.00x, slower, one seed on one side: "
        "no spread to judge by; its "
        "soft reward on the table's latency 0.8600 -> 0.6000, lower, one seed on one side: no "
        "spread to judge by."
        in search_tables.flops_table(tmp_path)
    )  # one MACs run against two: its own spread is unknown
    for name in ("flops/measured", "flops/macs"):
        tables.records.append(tmp_path / "flops-final.json",
                              {**trained, "name": name, "seed": 0, "test_accuracy": 0.9})
    assert (
        "- Trained, LAT(m) measured -> MACs: test accuracy 0.9000 -> 0.9000"
        in search_tables.flops_table(tmp_path)
    )


def test_table5_says_for_each_of_the_papers_steps_whether_it_beats_the_seed_spread(tmp_path):
    for r in (search_summary("single-cell-seed0", 0.80, 30.0, 0.9, 0.70),
              search_summary("single-cell-seed1", 0.84, 34.0, 0.7, 0.72),
              search_summary("multi-cell-seed0", 0.78, 12.0, 0.1, 0.715),
              search_summary("multi-factorized-seed0", 0.82, 10.0, 0.1, 0.85)):
        tables.records.append(tmp_path / "table5.json", r)
    out = search_tables.table5_table(tmp_path)
    assert ("- Cell space, accuracy only -> multi-objective (the paper's first step): best "
            "child's proxy accuracy "
            "0.8200 -> 0.7800, lower, one seed on one side: no spread to judge by; its latency / "
            "MobileNetV2 (CPU table) "
            "1.60x -> 0.60x, faster, one seed on one side: no spread to judge by; its soft reward "
            "on the table's latency "
            "0.7100 -> 0.7150, within the seed spread (a tie).") in out
    assert ("- Multi-objective, cell -> factorized space (its second step): best child's proxy "
            "accuracy 0.7800 -> 0.8200, "
            "higher, one seed each: no spread to judge by; its latency / MobileNetV2 (CPU table) "
            "0.60x -> 0.50x, faster, "
            "one seed each: no spread to judge by; its soft reward on the table's latency 0.7150 "
            "-> 0.8500, higher, one "
            "seed each: no spread to judge by.") in out
    # no accuracy-only factorized run: no verdict
    assert "Accuracy only, cell -> factorized" not in out


def test_table6_puts_each_network_beside_the_papers_row_and_judges_it_against_a1(tmp_path):
    base = {"command": "python benchmarks/table1.py --table6", "commit": "abc",
            "date": "2026-11-30 10:00:00 UTC",
            "machine": "m", "wall_seconds": 60.0, "params": 3.9e6, "macs": 312e6,
            "executorch_ratio": None}
    for name, seed, acc, ratio in (("mnasnet-a1-all-mbconv3-k3", 0, 0.90, 0.8),
                                   ("mnasnet-a1", 0, 0.92, 1.06),
                                   ("mnasnet-a1", 1, 0.90, 1.06),
                                   ("mnasnet-a1-all-mbconv6-k5", 0, 0.93, 1.9)):
        tables.records.append(tmp_path / "table6.json",
                              {**base, "name": name, "seed": seed, "test_accuracy": acc,
                               "latency_ratio": ratio})
    out = search_tables.table6_table(tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| mnasnet")]
    assert rows == ["| mnasnet-a1 | 75.2% / 78 ms | 0.9100 (0.9000-0.9200), 2 | 3.90M | 312M | "
                    "1.060 |  |",  # the paper's order
                    "| mnasnet-a1-all-mbconv3-k3 | 71.8% / 63 ms | 0.9000, 1 | 3.90M | 312M | "
                    "0.800 |  |",
                    "| mnasnet-a1-all-mbconv6-k5 | 75.6% / 146 ms | 0.9300, 1 | 3.90M | 312M | "
                    "1.900 |  |"]
    assert ("- A1 -> all-mbconv6-k5: test accuracy 0.9100 -> 0.9300, higher, one seed on one "
            "side: no spread to judge by; "
            "CPU latency / MobileNetV2 1.060 -> 1.900, slower, one timing each: no timing noise "
            "on record to judge by; "
            "soft reward on the timed CPU latency (Eq. 2, T = 1x MobileNetV2) 0.9063 -> 0.8891, "
            "lower, one seed on one side: "
            # by hand: 0.92, 0.90 x 1.06^-0.07 (0.99593); 0.93 x 1.9^-0.07 (0.95606)
            "no spread to judge by.") in out
    tables.records.append(tmp_path / "timing.json",
                          {"part": "stability", "backend": "cpu", "ratio_spread_pct": 3.0})
    for name, seed, acc, ratio, et in (("mnasnet-a1-all-mbconv3-k3", 1, 0.89, 0.8, None),
                                       ("mnasnet-a1-all-mbconv6-k5", 1, 0.94, 1.9, None),
                                       ("mnasnet-a1-all-mbconv6-k3", 0, 0.91, 1.5, 2.0),
                                       ("mnasnet-a1-all-mbconv6-k3", 1, 0.90, 1.5, 2.0),
                                       ("mnasnet-a1-all-mbconv3-k5", 0, 0.93, 1.0, None),
                                       ("mnasnet-a1-all-mbconv3-k5", 1, 0.94, 1.0, None)):
        tables.records.append(tmp_path / "table6.json",
                              {**base, "name": name, "seed": seed, "test_accuracy": acc,
                               "latency_ratio": ratio,
                               "executorch_ratio": et})
    verdicts = [
        line
        for line in search_tables.table6_table(tmp_path).splitlines()
        if line.startswith("- A1 -> ")
    ]
    assert [v.split(" — ")[1] if " — " in v else None for v in verdicts] == [
        "against A1 it is as accurate (a tie); on CPU faster: better than A1 (the paper's claim "
        "fails here).",
        "against A1 it is more accurate; on CPU faster: better than A1 (the paper's claim fails "
        "here).",  # 1.00x: 6%
        "against A1 it is as accurate (a tie); on CPU slower: A1 is better (as in the paper).",
        "against A1 it is more accurate; on CPU slower: a trade-off."]
    assert ("within the seed spread (a tie); CPU latency / MobileNetV2 1.060 -> 1.500, slower "
            "beyond the 3% timing noise; "
            # A1 has no ExecuTorch timing here: no ExecuTorch verdict
            "ExecuTorch") not in verdicts[2]
    assert "1.060 -> 1.500, slower beyond the 3% timing noise; soft reward" in verdicts[2]




def test_table6_judges_latency_by_the_spread_of_the_networks_timed_together(tmp_path):
    base = {"command": "python benchmarks/table1.py --table6", "commit": "abc",
            "date": "2026-11-30 10:00:00 UTC",
            "machine": "m", "wall_seconds": 60.0, "params": 3.9e6, "macs": 312e6,
            "executorch_ratio": 1.2}
    for name, seed, acc, ratio in (("mnasnet-a1", 0, 0.92, 1.05), ("mnasnet-a1", 1, 0.93, 1.05),
                                   ("mnasnet-a1-all-mbconv3-k3", 0, 0.92, 0.80),
                                   ("mnasnet-a1-all-mbconv3-k3", 1, 0.93, 0.80),
                                   ("mnasnet-a1-all-mbconv3-k5", 0, 0.92, 1.04),
                                   ("mnasnet-a1-all-mbconv3-k5", 1, 0.93, 1.04)):
        tables.records.append(tmp_path / "table6.json",
                              {**base, "name": name, "seed": seed, "test_accuracy": acc,
                               "latency_ratio": ratio})
    tables.records.append(tmp_path / "timing.json",
                          {"part": "stability", "backend": "cpu", "ratio_spread_pct": 3.0})
    # timed once each, beside the trainings: the 3% noise judges
    before = search_tables.table6_table(tmp_path)
    assert "CPU latency / MobileNetV2 1.050 -> 0.800, faster beyond the 3% timing noise" in before
    assert "CPU latency / MobileNetV2 1.050 -> 1.040, within the 3% timing noise (a tie)" in before
    # timed together three times: 3x3's range overlaps A1's (a tie), 5x5's lies below it
    tables.records.append(tmp_path / "table6-timing.json", {
        "networks": ["mnasnet-a1", "mnasnet-a1-all-mbconv3-k3", "mnasnet-a1-all-mbconv3-k5"],
        "repeats": 3,
        "cpu": {"mnasnet-a1": [1.00, 1.02, 1.04], "mnasnet-a1-all-mbconv3-k3": [0.98, 1.01, 1.03],
                "mnasnet-a1-all-mbconv3-k5": [0.95, 0.96, 0.97]},  # apart by < 3%
        "executorch": {"mnasnet-a1": [1.10, 1.11, 1.12],
                       "mnasnet-a1-all-mbconv3-k3": [1.20, 1.21, 1.22]},
        **{k: base[k] for k in ("commit", "date", "machine", "wall_seconds")},
        "command": "python benchmarks/table1.py --table6 --retime 3 --executorch"})
    out = search_tables.table6_table(tmp_path)
    assert (
        "| mnasnet-a1 | 75.2% / 78 ms | 0.9250 (0.9200-0.9300), 2 | 3.90M | 312M | 1.020"
        " (1.000-1.040) | 1.110 (1.100-1.120) |"
        in out
    )
    assert "| 1.010 (0.980-1.030) | 1.210 (1.200-1.220) |" in out
    # no ExecuTorch timing together: the one from its training
    assert "| 0.960 (0.950-0.970) | 1.200 |" in out
    k3, k5 = [line for line in out.splitlines() if line.startswith("- A1 -> ")]
    assert (
        "CPU latency / MobileNetV2 1.020 -> 1.010, within the spread of 3 timings together (a tie)"
        in k3
    )
    assert "ExecuTorch 1.110 -> 1.210, slower beyond the spread of 3 timings together" in k3
    assert k3.endswith("against A1 it is as accurate (a tie); on CPU as fast (a tie): a tie with "
                       "A1; through ExecuTorch "
                       "slower: A1 is better (as in the paper).")
    assert (
        "CPU latency / MobileNetV2 1.020 -> 0.960, faster beyond the spread of 3 timings together"
        in k5
    )
    # A1 timed together through ExecuTorch, 5x5 not: both from their trainings' timings, never one
    # of each
    assert "ExecuTorch 1.200 -> 1.200, within the 3% timing noise (a tie)" in k5
    # the reward on the median latency, its noise the timings' spread: 0.92, 0.93 x (1.02 and
    # 0.96)^-0.07
    want = [round(sum(a * m ** -0.07 for a in (0.92, 0.93)) / 2, 4) for m in (1.02, 0.96)]
    assert (f"soft reward on the timed CPU latency (Eq. 2, T = 1x MobileNetV2) {want[0]:.4f} -> "
            f"{want[1]:.4f}, "
            "within the seed spread and the spread of the timings (4% in latency, 0.3% in reward) "
            "(a tie)") in k5
    assert k5.endswith("against A1 it is as accurate (a tie); on CPU faster: better than A1 (the "
                       "paper's claim fails here); "
                       "through ExecuTorch as fast (a tie): a tie with A1.")
    assert ("Latency: the median (min-max) of 3 timings per network and platform, from 1 run of "
            "`--retime` timing "
            "all 3 networks and MobileNetV2 together, interleaved (cpu and executorch)") in out
    assert "`python benchmarks/table1.py --table6 --retime 3 --executorch`" in out
    # a second run that drifted: every timing pooled, so A1's range takes in both runs and 5x5 is no
    # longer apart
    tables.records.append(tmp_path / "table6-timing.json", {
        "networks": ["mnasnet-a1", "mnasnet-a1-all-mbconv3-k5"], "repeats": 2,
        "cpu": {"mnasnet-a1": [0.96, 0.97], "mnasnet-a1-all-mbconv3-k5": [0.94, 0.95]},
        **{k: base[k] for k in ("commit", "date", "machine", "wall_seconds")},
        "command": "python benchmarks/table1.py --table6 --retime 2"})
    out = search_tables.table6_table(tmp_path)
    assert (
        "| mnasnet-a1 | 75.2% / 78 ms | 0.9250 (0.9200-0.9300), 2 | 3.90M | 312M | 1.000"
        " (0.960-1.040) | 1.110 (1.100-1.120) |"
        in out
    )
    assert (
        "CPU latency / MobileNetV2 1.000 -> 0.950, within the spread of 5 timings together (a tie)"
        in out
    )
    assert (
        "Latency: the median (min-max) of 3-5 timings per network and platform, from 2 runs of"
        " `--retime`"
        in out
    )


def test_timings_of_another_network_under_a_trained_networks_name_are_left_out(tmp_path):
    import models

    a1, v2 = (models.arch_to_dict(models.REFERENCE_ARCHS[n]) for n in ("mnasnet-a1", "mobilenetv2"))
    # the last: no archs kept
    for archs, values in (({"x": a1}, [1.0, 1.1]), ({"x": v2}, [2.0, 2.1]), (None, [1.2])):
        tables.records.append(tmp_path / "t-timing.json",
                              {"networks": ["x"], "repeats": len(values), "cpu": {"x": values},
                               **({"archs": archs} if archs else {})})
    assert search_tables.timed_together(tmp_path, "t", [{"name": "x", "arch": a1}]) == {
        "cpu": {"x": [1.0, 1.1, 1.2]}
    }
    # no arch to match
    assert search_tables.timed_together(tmp_path, "t") == {"cpu": {"x": [1.0, 1.1, 2.0, 2.1, 1.2]}}


def test_the_trained_winners_take_their_latency_from_their_timings_together(tmp_path):
    trained = {"command": "python benchmarks/table1.py --searches flops.json", "commit": "abc",
               "machine": "m",
               "date": "2026-11-30 10:00:00 UTC", "wall_seconds": 60.0, "params": 2e6, "macs": 1e8,
               "epochs": 5,
               "latency_ratio": 0.5, "executorch_ratio": 0.5}
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
    assert (
        "CPU latency / MobileNetV2 0.335 -> 0.265, faster beyond the spread of 2 timings together"
        in out
    )
    # not timed together: the trainings' own
    assert "ExecuTorch 0.500 -> 0.500, as fast, one timing each" in out
    assert "timing both networks and MobileNetV2 together, interleaved (cpu)" in out
