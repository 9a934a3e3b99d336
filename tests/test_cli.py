"""Every command's bad input is one line on stderr and exit status 2: no usage block, no
traceback."""

import importlib
from pathlib import Path

import pytest

import benchmark_helpers  # noqa: F401 (puts benchmarks/ on the path)

BENCHMARKS = sorted(
    p.stem
    for p in (Path(__file__).resolve().parent.parent / "benchmarks").glob("*.py")
    # the libraries have no command line
    if p.stem not in ("records", "search_tables", "verdicts")
)
COMMANDS = ["train", "latency", "latency_table", "models", "figures", "supernet",
            "detection"] + [f"benchmarks/{b}" for b in BENCHMARKS]


def main_of(command: str):
    return importlib.import_module(command.removeprefix("benchmarks/")).main


def one_line_exit_2(main, argv: list[str], capsys) -> str:
    """The message `main(argv)` stops with, checked to be one line and status 2 (argparse exits, the
    checks after it return 2)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, (code,
                                                                                            err)
    return err.strip()


POSITIONAL = {"train": ["--search"], "latency": ["mnasnet-a1"],
              "latency_table": ["--check-table", "t.json"],
              "models": ["mnasnet-a1"], "figures": ["fig3", "--out", "x.png"],
              "detection": ["mnasnet-a1"],
              # what each command needs before an option is looked at
              "benchmarks/searches": ["rl-vs-random"]}


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_is_one_line_and_status_2(command, capsys):
    argv = [*POSITIONAL.get(command, []), "--no-such-option"]
    assert "unrecognized arguments: --no-such-option" in one_line_exit_2(main_of(command), argv,
                                                                         capsys)


@pytest.mark.parametrize("command,argv,message", [
    ("train", ["--search", "--space", "bogus"], "argument --space: invalid choice: 'bogus'"),
    ("train", ["--arch", "mobilenetv2", "--threads", "-1"],
     "argument --threads: must be at least 0, got -1"),
    ("train", ["--search", "--samples", "x"], "argument --samples: invalid int value: 'x'"),
    ("benchmarks/panel", ["--threads", "-2"], "argument --threads: must be at least 0, got -2"),
    ("benchmarks/table1", ["--threads", "-1"], "argument --threads: must be at least 0, got -1"),
    ("benchmarks/table1", ["--table6", "--shard", "3/2"],
     "argument --shard: expected K/N with 1 <= K <= N"),
    ("benchmarks/table1", ["--table6", "--retime", "1"],
     "argument --retime: must be at least 2, got 1"),
    ("benchmarks/platforms", ["--retime", "2"], "--retime times the best networks of --searched"),
    ("benchmarks/platforms", ["--searched", "x.json", "--retime", "1"],
     "argument --retime: must be at least 2, got 1"),
    ("benchmarks/timing", ["--part", "stability", "--arch", "bogus"],
     "argument --arch: invalid choice: 'bogus'"),
    ("benchmarks/timing", ["--repeats", "0"], "argument --repeats: must be at least 2, got 0"),
    ("benchmarks/speed", ["--threads", "x"], "argument --threads: expected an integer, got 'x'"),
    ("benchmarks/speed", ["--batches", "64,1"], "argument --batches: must be at least 2, got 1"),
    ("benchmarks/speed", ["--steps", "0"], "argument --steps: must be at least 1, got 0"),
    ("models", [], "the following arguments are required: NAME_OR_JSON"),
])
def test_a_bad_value_is_named_in_one_line(command, argv, message, capsys):
    assert message in one_line_exit_2(main_of(command), argv, capsys)
