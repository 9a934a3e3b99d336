"""benchmarks/run_queue.py: what is done comes from the results files alone, and the queue starts
each job once, after the jobs it needs."""

import sys
from pathlib import Path

import pytest

from benchmark_helpers import committed_tree  # noqa: F401 (puts benchmarks/ on the path)
import records  # noqa: E402
import run_queue  # noqa: E402


def test_a_job_is_done_when_the_results_files_say_so(tmp_path, monkeypatch):
    monkeypatch.setattr(run_queue, "RESULTS", tmp_path)
    done = run_queue.searched("table5", "multi-cell-seed2")
    assert not done()
    records.append(tmp_path / "table5.json", {"run": "multi-cell-seed2", "children": 299})
    assert not done()  # stopped short of the budget: resumed, not done
    records.append(tmp_path / "table5.json", {"run": "multi-cell-seed2", "children": 300,
                                              "best_arch": {"blocks": []}})
    assert done()
    # a search whose summary lost its network (no best_arch) has no winner to train or time
    records.append(tmp_path / "table5.json", {"run": "single-cell-seed0", "children": 300})
    trained = run_queue.winners_trained("table5")
    assert not trained()  # the search above has no trained winner yet
    records.append(tmp_path / "table5-final.json",
                   {"name": "table5/multi-cell-seed2", "epochs": 5, "seed": 0})
    assert trained()
    timed = run_queue.winners_timed("table5")
    records.append(tmp_path / "table5-final-timing.json", {"networks": ["table5/other"]})
    assert not timed()
    records.append(tmp_path / "table5-final-timing.json", {"networks": ["table5/multi-cell-seed2"]})
    assert timed()


def test_the_queue_orders_its_jobs_by_what_they_need(tmp_path):
    jobs = run_queue.jobs()
    names = [j.name for j in jobs]
    assert names[0] == "latency table (CPU)"
    first = names.index("table5 multi-factorized-seed2")
    seed2 = [f"table5 {s}-seed2" for s in run_queue.TABLE5] + ["flops macs-seed2"]
    assert names[first:first + 5] == seed2
    by_name = {j.name: j for j in jobs}
    assert by_name["table5 winners 1/2"].needs == tuple(
        f"table5 {s}-seed{seed}" for seed in run_queue.SEARCH_SEEDS for s in run_queue.TABLE5
    ) + ("table5 single-cell-seed5",)  # single-cell-seed0's network is lost: a sixth seed
    assert by_name["table5 winners timed"].alone
    # a training after a timing waits for it, not only for what the timing waits for
    assert by_name["scaling 1/2"].needs == by_name["scaling 2/2"].needs == ("int8 timed",)
    assert by_name["table6 2/2"].needs == ("scaling timed",)
    assert "--per-search" in by_name["flops winners 2/2"].argv


@pytest.mark.timeout(60)  # a queue that retried a failing job forever would hang here
def test_the_queue_starts_each_job_once_after_its_needs(tmp_path):
    def make(name, needs=(), fail=False):
        mark = tmp_path / f"{name}.done"
        after = [str(tmp_path / f"{n}.done") for n in needs]
        code = (f"import pathlib, sys\n"
                f"open({str(tmp_path / 'started')!r}, 'a').write({name!r} + '\\n')\n"
                f"if not all(pathlib.Path(p).exists() for p in {after!r}): sys.exit(3)\n"
                f"sys.exit(1) if {fail} else pathlib.Path({str(mark)!r}).touch()\n")
        return run_queue.Job(name, [sys.executable, "-c", code], mark.exists, needs=tuple(needs))

    todo = [make("b", needs=["a"]), make("a"), make("broken", fail=True),
            make("c", needs=["broken"])]
    # two shards of one unit of work share its `done`: the first to stop is not done until the
    # second is, and what needs them both still starts
    both = tmp_path / "shard-2.done"
    for k in (1, 2):
        code = (f"import pathlib, time\n"
                f"open({str(tmp_path / 'started')!r}, 'a').write('shard{k}\\n')\n"
                f"time.sleep({0.05 if k == 1 else 0.5})\n"
                + (f"pathlib.Path({str(both)!r}).touch()\n" if k == 2 else ""))
        todo.append(run_queue.Job(f"shard{k}", [sys.executable, "-c", code], both.exists))
    todo.append(make("after", needs=["shard1", "shard2"]))
    logs = tmp_path / "logs"
    assert run_queue.run(todo, parallel=2, commit_records=False, logs=logs, poll=0.05) == 0
    started = (tmp_path / "started").read_text().split()
    # each once; c waits on a job that never finished
    assert sorted(started) == ["a", "after", "b", "broken", "shard1", "shard2"]
    assert started.index("a") < started.index("b")  # b started only once a was done
    assert (tmp_path / "b.done").exists() and not (tmp_path / "c.done").exists()


def queue_running(job: str, tmp_path, **run_options) -> str:
    """A Python program that runs the queue on one job (`job`, Python source) with Ctrl-C enabled,
    as `run_queue.main` sets it up, and exits with the queue's status."""
    options = "".join(f", {k}={v!r}" for k, v in run_options.items())
    return (f"import signal, sys\n"
            f"sys.path.insert(0, {str(run_queue.ROOT / 'benchmarks')!r})\n"
            f"import run_queue\n"
            f"signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            f"jobs = [run_queue.Job('j', [sys.executable, '-c', {job!r}], lambda: False)]\n"
            f"logs = __import__('pathlib').Path({str(tmp_path)!r})\n"
            f"sys.exit(run_queue.run(jobs, 1, False, logs, poll=0.05{options}))\n")


@pytest.mark.timeout(60)
def test_a_ctrl_c_reaches_every_running_job_once(tmp_path):
    import signal
    import subprocess
    import time

    # a job that saves its work when interrupted, as searches.py and table1.py do
    job = (f"import signal, sys, time, pathlib\n"
           f"def stop(*_):\n"
           f"    open({str(tmp_path / 'saved')!r}, 'a').write('x'); sys.exit(130)\n"
           f"signal.signal(signal.SIGINT, stop)\n"
           f"pathlib.Path({str(tmp_path / 'started')!r}).touch()\n"
           f"time.sleep(60)\n")
    queue = queue_running(job, tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", queue])
    while not (tmp_path / "started").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait() == 130
    assert (tmp_path / "saved").read_text() == "x"  # interrupted once, and it saved


def test_a_dirty_record_is_done_only_once_its_unit_is_run_again_from_a_commit(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(run_queue, "RESULTS", tmp_path)
    path = tmp_path / "table1.json"
    dirty = {"name": "mobilenetv2", "seed": 1, "epochs": 5, "commit": "abc+dirty"}
    records.append(path, {**dirty, "seed": 0, "commit": "abc"})
    records.append(path, dirty)
    done = run_queue.rerun("table1", ("name", "seed", "epochs"))
    assert not done()  # seed 1 ran from uncommitted code; seed 0's clean record is another unit
    records.append(path, {**dirty, "commit": "def"})
    assert done()
    # a search searched again (+dirty stays beside it); `only` narrows to one job's units
    searches = tmp_path / "fig6-half.json"
    records.append(searches, {"run": "soft", "commit": "abc+dirty"})
    records.append(searches, {"run": "hard", "commit": "abc+dirty"})
    records.append(searches, {"run": "soft", "commit": "def"})
    assert run_queue.rerun("fig6-half", ("run",), lambda r: r["run"] == "soft")()
    assert not run_queue.rerun("fig6-half", ("run",), lambda r: r["run"] == "hard")()
    assert not run_queue.rerun("fig6-half", ("run",))()


def test_a_dirty_record_never_marks_a_job_done(tmp_path, monkeypatch):
    monkeypatch.setattr(run_queue, "RESULTS", tmp_path)
    monkeypatch.setattr(run_queue, "TABLE6", ("mnasnet-a1",))
    monkeypatch.setattr(run_queue, "TRAIN_SEEDS", 1)
    records.append(tmp_path / "table6.json",
                   {"name": "mnasnet-a1", "seed": 0, "epochs": 5, "commit": "abc+dirty"})
    assert not run_queue.table6_trained()  # table1.py would train it again: so must the queue
    records.append(tmp_path / "table6.json",
                   {"name": "mnasnet-a1", "seed": 0, "epochs": 5, "commit": "abc"})
    assert run_queue.table6_trained()


def test_every_queued_command_parses(monkeypatch):
    import argparse
    import importlib

    class Parsed(Exception):
        pass

    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        original(self, args, namespace)  # a flag the script does not take exits with status 2
        raise Parsed  # the command's flags are accepted: run nothing

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    for job in run_queue.jobs():
        assert job.argv[1].endswith(".py")
        module = importlib.import_module(Path(job.argv[1]).stem)
        with pytest.raises(Parsed):
            module.main(job.argv[2:])


def test_the_reruns_come_last_and_redo_what_the_dirty_records_ran(tmp_path):
    jobs = run_queue.jobs()
    names = [j.name for j in jobs]
    by_name = {j.name: j for j in jobs}
    reruns = [n for n in names if n.startswith("rerun ")]
    assert reruns and names.index(reruns[0]) > names.index("table6 2/2")
    assert names.index("int8 1/2") < names.index("table6 1/2")  # never measured, before more seeds
    assert all(by_name[n].needs for n in reruns)  # nothing re-runs before Table 6 is trained
    # the proxy's re-run trains its recorded settings only, not new ones
    proxy = by_name["rerun proxy"].argv
    assert proxy[proxy.index("--settings") + 1].split(",") == list(run_queue.PROXY_SETTINGS)
    assert "rerun fig6-half figure" not in by_name["latency table (executorch)"].needs
    table1 = by_name["rerun table1"].argv
    # Table 1's searched networks by the names their records hold (their run directory is gone)
    assert "reinforce-seed0/child-185" in table1 and "--seeds" in table1
    assert by_name["rerun default search"].alone and by_name["rerun proxy timing"].alone
    assert by_name["rerun fig6-half figure"].needs == ("rerun fig6-half soft",
                                                      "rerun fig6-half hard")


def test_a_figure_is_drawn_when_committed_after_its_data(tmp_path, monkeypatch):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@t")
    git("config", "user.name", "t")
    (tmp_path / "data.json").write_text("1")
    (tmp_path / "fig.png").write_text("old")
    git("add", ".")
    git("commit", "-qm", "both")
    monkeypatch.setattr(run_queue, "ROOT", tmp_path)
    drawn = run_queue.drawn_after("fig.png", "data.json")
    assert drawn()  # one commit holds both
    (tmp_path / "data.json").write_text("2")
    git("commit", "-qam", "new data")
    assert not drawn()  # the figure shows the old data
    (tmp_path / "fig.png").write_text("new")
    git("commit", "-qam", "redrawn")
    assert drawn()


def test_sec5_jobs_are_done_only_by_records_from_committed_code(tmp_path, monkeypatch):
    monkeypatch.setattr(run_queue, "RESULTS", tmp_path)
    searches = tmp_path / "cross-platform.json"
    done = run_queue.searched("cross-platform", "executorch-seed0")
    arch = {"blocks": "a"}
    records.append(searches, {"run": "executorch-seed0", "children": 300, "commit": "abc+dirty",
                              "best_arch": {"blocks": "old"}})
    assert not done()  # from uncommitted code: run again
    records.append(searches, {"run": "executorch-seed0", "children": 299, "commit": "abc"})
    assert not done()  # short of the budget
    records.append(searches, {"run": "executorch-seed0", "children": 300, "commit": "abc",
                              "best_arch": arch})
    assert done()
    assert not run_queue.sec5_timed()
    timing = tmp_path / "cross-platform-timing.json"
    # the +dirty search's old network, and a +dirty timing run, do not count
    records.append(timing, {"archs": {"executorch-seed0": {"blocks": "old"}}, "commit": "abc"})
    records.append(timing, {"archs": {"executorch-seed0": arch}, "commit": "abc+dirty"})
    assert not run_queue.sec5_timed()
    records.append(timing, {"archs": {"executorch-seed0": arch}, "commit": "abc"})
    assert run_queue.sec5_timed()
    records.append(searches, {"run": "cpu-seed2", "children": 300, "commit": "abc",
                              "best_arch": {"blocks": "b"}})
    assert not run_queue.sec5_timed()  # a new search's network is not timed yet


def test_sec5_comes_last_each_search_with_its_platforms_table(monkeypatch):
    jobs = run_queue.jobs()
    names = [j.name for j in jobs]
    by_name = {j.name: j for j in jobs}
    sec5 = [n for n in names if "cross-platform" in n or n.startswith("latency table (exec")]
    assert names[-len(sec5):] == sec5  # after every other job
    assert names[-1] == "cross-platform timed" and by_name[names[-1]].alone
    assert set(by_name[names[-1]].needs) == set(sec5[:-1])
    assert "--retime" in by_name[names[-1]].argv
    # the re-runs (seeds 0 and 1) before the new seeds
    assert names.index("cross-platform executorch-int8-seed1") < names.index(
        "cross-platform executorch-seed2")
    for seed in run_queue.SEC5_SEEDS:
        for platform, table in run_queue.PLATFORM_TABLES.items():
            job = by_name[f"cross-platform {platform}-seed{seed}"]
            argv = job.argv
            assert argv[argv.index("--latency-table") + 1] == table
            assert argv[argv.index("--only") + 1] == f"{platform}-seed{seed}"
            assert argv[argv.index("--seeds") + 1] == str(seed)
            if platform != "cpu":
                assert job.needs == (f"latency table ({platform})",)
                build = by_name[f"latency table ({platform})"].argv
                assert build[build.index("--build-table") + 1:] == [table, "--backend", platform]
    # cpu's search is Table 5's, reused once it is done
    assert by_name["cross-platform cpu-seed2"].needs == ("table5 multi-factorized-seed2",)
    looked = []  # each table's job is done when its own table is built
    monkeypatch.setattr(run_queue, "table_built", lambda table: looked.append(table))
    for platform in ("executorch", "executorch-int8"):
        by_name[f"latency table ({platform})"].done()
    assert looked == [run_queue.PLATFORM_TABLES["executorch"],
                      run_queue.PLATFORM_TABLES["executorch-int8"]]


@pytest.mark.timeout(60)
def test_a_job_that_swallows_ctrl_c_is_terminated_after_the_grace(tmp_path):
    import signal
    import subprocess
    import time

    job = (f"import signal, time, pathlib\n"
           f"signal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # as a library catching it would
           f"pathlib.Path({str(tmp_path / 'started')!r}).touch()\n"
           f"time.sleep(60)\n")
    queue = queue_running(job, tmp_path, grace=1)
    proc = subprocess.Popen([sys.executable, "-c", queue], stdout=subprocess.PIPE, text=True)
    while not (tmp_path / "started").exists():
        time.sleep(0.05)
    started = time.time()
    proc.send_signal(signal.SIGINT)
    assert proc.wait() == 130 and time.time() - started < 30  # not the job's 60 s
    assert "j did not stop on Ctrl-C: terminated" in proc.stdout.read()
