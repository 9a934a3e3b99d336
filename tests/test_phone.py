"""The latency page's first command for someone with a phone: a per-layer table built over adb,
here against the stand-in phone of tests/test_latency.py (no phone was used for this project)."""

import latency_table
import models
from test_latency import OPTIONS, fake_adb  # noqa: F401 (the stand-in adb, a fixture)


def test_a_table_builds_over_adb(fake_adb, tmp_path):  # noqa: F811
    path = tmp_path / "phone.json"
    table = latency_table.build_space_table(path, OPTIONS, backend="adb", input_size=32, stem=8,
                                            head=32, num_classes=10, rounds=1, calibration=3,
                                            taskset="80", num_executions=3)
    entries = models.space_entries(OPTIONS, input_size=32, stem=8, head=32, num_classes=10)
    assert table.backend == "adb" and set(table.layers) == set(entries)
    assert all(v > 0 for v in table.layers.values()) and table.fit is not None
    assert latency_table.LatencyTable.load(path).layers == table.layers  # saved, reloadable
    calls = fake_adb()
    runs = [c[3] for c in calls if c[2:3] == ["shell"] and "--model_path" in c[3]]
    pushed = {c[4] for c in calls if c[2:3] == ["push"]}
    assert len(pushed) >= len(entries) + 1  # every layer and the reference went to the phone
    assert runs and all(r.startswith("taskset 80 /data/local/tmp/executor_runner") for r in runs)
