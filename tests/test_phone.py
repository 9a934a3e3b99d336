"""The latency page's three commands for someone with a phone (docs/latency.md, "Your own phone"):
a per-layer table built over adb, checked on whole networks timed there, and a search with it,
here against the stand-in phone of tests/test_latency.py (no phone was used for this project)."""

import json

import pytest

import latency_table
import models
import run
import train
from mnas import SearchSpace
from test_latency import OPTIONS, fake_adb  # noqa: F401 (the stand-in adb, a fixture)

PHONE = {"serial": "emulator-5554", "device_dir": "/data/local/tmp/mnasnet",
         "runner": "/data/local/tmp/executor_runner", "taskset": "80", "num_executions": 10}


@pytest.fixture
def phone_table(tmp_path):
    """conftest's stand_in_table, as if built on a phone: every layer of the space at 32 px, 0.1 ms
    each, the reference 20 ms at its build."""
    space = SearchSpace()
    entries = models.space_entries([space.block_options(i) for i in range(len(space.skeleton))], 32)
    path = tmp_path / "phone-table.json"
    latency_table.LatencyTable("adb", 1, 32, reference_ms=20.0, layers={k: 0.1 for k in entries},
                               fit=[1.0, 0.0]).save(path)
    return path


def runner_calls(calls: list[list[str]]) -> list[list[str]]:
    """The stand-in adb's calls that ran executor_runner on the phone."""
    return [c for c in calls if "shell" in c and "--model_path" in c[-1]]


def test_a_table_builds_over_adb(fake_adb, tmp_path):  # noqa: F811 (command 1)
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


@pytest.mark.parametrize("mode, serial", [("ok", None), ("several", "emulator-5554")])
def test_a_phone_table_is_checked_on_whole_networks_timed_on_the_phone(
        fake_adb, phone_table, monkeypatch, capsys, mode, serial):  # noqa: F811 (command 2)
    monkeypatch.setenv("FAKE_ADB_MODE", mode)
    argv = ["--check-table", str(phone_table), "--taskset", "80", "--samples", "2", "--rounds",
            "1"] + (["--serial", serial] if serial else [])
    assert latency_table.main(argv) == 0
    assert capsys.readouterr().out.startswith("within10=")
    calls = fake_adb()
    assert calls[0] == ["devices"]
    assert all(c[:2] == ["-s", serial or "R58M1"] for c in calls if c != ["devices"])
    pushed = [c[-1] for c in calls if "push" in c]
    runs = [c[-1] for c in runner_calls(calls)]
    assert len(set(pushed)) == 3  # the reference and both networks, each timed on the phone
    assert {r.split("--model_path ")[1].split()[0] for r in runs} == set(pushed)
    assert all(r.startswith("taskset 80 /data/local/tmp/executor_runner ") for r in runs)


def search_argv(table, out, *phone: str) -> list[str]:
    return ["--search", "--dataset", "synthetic", "--samples", "2", "--batch", "2",
            "--proxy-steps", "2", "--threads", "1", "--latency", "adb", "--latency-table",
            str(table), *phone, "--out", str(out)]


def test_a_search_re_times_mobilenetv2_on_the_chosen_phone_pinned_as_the_table(
        fake_adb, phone_table, tmp_path, monkeypatch):  # noqa: F811 (command 3)
    monkeypatch.setenv("FAKE_ADB_MODE", "several")
    out = tmp_path / "run"
    argv = search_argv(phone_table, out, "--taskset", "80", "--serial", "emulator-5554")
    assert train.main(argv) == 0
    calls = fake_adb()
    assert calls and all(c[:2] == ["-s", "emulator-5554"] for c in calls if c != ["devices"])
    runs = runner_calls(calls)
    assert runs and all(c[-1].startswith("taskset 80 /data/local/tmp/executor_runner ")
                        for c in runs)
    # the stand-in runs 10 iterations of 10, 20, ... 100 ms, the first dropped: a 60 ms median,
    # 3 times the 20 ms the table was built with
    assert json.loads((out / "run.json").read_text())["table_scale"] == pytest.approx(3.0)
    assert json.loads((out / "config.json").read_text())["adb"] == PHONE
    assert run.SearchConfig.resume(out).adb == PHONE  # a resumed run times on the same phone


def test_a_search_on_one_of_several_phones_without_serial_is_one_line_and_exit_2(
        fake_adb, phone_table, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("FAKE_ADB_MODE", "several")
    assert train.main(search_argv(phone_table, tmp_path / "run", "--taskset", "80")) == 2
    assert capsys.readouterr().err == ("error: several devices connected (R58M1, emulator-5554): "
                                       "choose one with --serial\n")
    assert not (tmp_path / "run" / "run.json").exists()


def test_the_phone_options_reach_a_run_on_the_phone_only():
    phone = ["--latency", "adb", "--serial", "emulator-5554", "--taskset", "80"]
    on_phone = train.parse_args(["--arch", "mnasnet-small", *phone]).config  # --arch shares them
    assert run.backend_options(on_phone) == PHONE and on_phone.saved()["adb"] == PHONE
    off_phone = run.SearchConfig.parse(["--serial", "emulator-5554"])  # --latency cpu
    assert off_phone.adb is None and run.backend_options(off_phone) == {}
    # a run off the phone saves, and compares, as the runs from before the phone's options did
    assert "adb" not in off_phone.saved() and "adb" not in off_phone.search_settings()
