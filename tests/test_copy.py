"""The modules the guide says copy out alone: latency.py with latency_table.py, and controller.py.

Each test copies the files into an empty folder and runs a script there, in a fresh Python that
cannot see the project: it fails if a copied module imports any other file of the project."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A toy space of its own: networks are sequences of three layer types on 8 channels at 16 px,
# after a fixed stem; the table learns it through a TableSpace, never through models.py.
TOY_TABLE = """
    import importlib.util, json
    import torch
    from torch import nn
    import latency, latency_table

    for name in ("models", "mnas", "cli", "training", "runner", "train"):  # truly alone
        assert importlib.util.find_spec(name) is None, name
    SIZE, TYPES = 16, ("conv3", "conv1", "dw3")

    def layer(kind):
        return {"stem": lambda: nn.Conv2d(3, 8, 3, padding=1),
                "conv3": lambda: nn.Conv2d(8, 8, 3, padding=1), "conv1": lambda: nn.Conv2d(8, 8, 1),
                "dw3": lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8)}[kind]()

    space = latency_table.TableSpace(
        layers=lambda net: [(kind, kind) for kind in ("stem", *net)],
        build_layer=lambda kind: (layer(kind),
                                  torch.randn(1, 3 if kind == "stem" else 8, SIZE, SIZE)),
        build_network=lambda net: nn.Sequential(*(layer(kind) for kind in ("stem", *net))),
        reference=("conv3", "conv3"))
    calibration = [("conv3", "conv1"), ("dw3", "conv3", "conv1"), ("conv1",), ("dw3", "dw3")]
    entries = {kind: kind for kind in ("stem", *TYPES)}
    table = latency_table.LatencyTable.build("table.json", entries, calibration, space,
                                             input_size=SIZE, rounds=3, chunk=2)
    loaded = latency_table.LatencyTable.load("table.json", space)
    print(json.dumps({"predicted": loaded.predict(("conv3", "dw3", "dw3")),
                      "modules": sorted(set(__import__("sys").modules) & {"models", "cli"})}))
"""

TOY_CONTROLLER = """
    import json
    import controller

    decisions, target = [("a", 3), ("b", 3), ("c", 3)], [2, 0, 1]
    rule = controller.make_learning_rule("reinforce", decisions, seed=0)
    for _ in range(40):
        tokens = rule.propose(10)
        rule.update(tokens, [sum(t == g for t, g in zip(ts, target)) / 3 for ts in tokens])
    print(json.dumps({"greedy": rule.greedy()}))
"""


def run_alone(tmp_path: Path, files: list[str], script: str) -> dict:
    """Copy `files` into an empty folder and run `script` there with no path to the project
    (-I: no PYTHONPATH, no user site, no working directory on sys.path but the script's)."""
    for name in files:
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "script.py").write_text(textwrap.dedent(script))
    done = subprocess.run([sys.executable, "-I", "-c",
                           "import runpy, sys; sys.path.insert(0, '.'); "
                           "runpy.run_path('script.py')"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_latency_and_its_table_copy_out_and_time_a_toy_space(tmp_path):
    got = run_alone(tmp_path, ["latency.py", "latency_table.py"], TOY_TABLE)
    saved = json.loads((tmp_path / "table.json").read_text())
    assert set(saved["layers"]) == {"stem", "conv3", "conv1", "dw3"}
    assert all(ms > 0 for ms in saved["layers"].values()) and saved["reference_ms"] > 0
    a, b = saved["fit"]  # Eq. of the table's docstring: a * (sum of the layers) + b, at scale 1
    layers = saved["layers"]
    want = a * (layers["stem"] + layers["conv3"] + 2 * layers["dw3"]) + b
    assert got["predicted"] == pytest.approx(want)
    assert got["modules"] == []
    assert len(saved["info"]["calibration"]) == 4  # the four networks timed whole


def test_controller_copies_out_alone_and_learns_a_toy_reward(tmp_path):
    got = run_alone(tmp_path, ["controller.py"], TOY_CONTROLLER)
    assert got["greedy"] == [2, 0, 1]
