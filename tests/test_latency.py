"""latency.py: the timing backends, the adb protocol (via a stand-in adb), the per-layer table and
the CLI.

Everything runs on tiny networks at 32 px with a few rounds; no full table is built here."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import latency
import latency_table
import models
from models import Arch, BlockArgs, build_model

ROOT = Path(__file__).resolve().parent.parent
TINY = Arch((BlockArgs("mbconv", 3, 3, 2, 1, 16, 0.25, "identity"),
             BlockArgs("dconv", 1, 3, 1, 2, 16, 0.0, "pool")), stem=8, head=32)


def tiny_model() -> nn.Module:
    return build_model(TINY, num_classes=10)


# ----------------------------------------------------------------------------- cpu


def test_measurement_statistics():
    m = latency.Measurement.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (m.median_ms, m.iqr_ms, len(m.samples)) == (3.0, 2.0, 5)


def test_cpu_measure_restores_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        m = latency.measure(tiny_model(), input_size=32, threads=1, rounds=4)
        assert torch.get_num_threads() == 2
        assert len(m.samples) == 4 and m.median_ms > 0 and m.iqr_ms >= 0
        # wall clock
        assert latency.measure(nn.Conv2d(3, 4, 3), input_size=32, threads=2, rounds=2).median_ms > 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_measure_interleaved_and_measure():
    got = latency.measure_interleaved({"a": tiny_model(), "b": nn.Conv2d(3, 4, 3)}, input_size=32,
                                      rounds=3)
    assert set(got) == {"a", "b"} and all(len(m.samples) == 3 for m in got.values())
    assert got["a"].median_ms > got["b"].median_ms  # a whole network vs one conv
    assert latency.measure(tiny_model(), input_size=32, rounds=2).median_ms > 0


def test_paired_ratio_and_relative_latency():
    a, b = latency.Measurement.of([2.0, 4.0, 6.0]), latency.Measurement.of([1.0, 4.0, 2.0])
    assert latency.ratio(a, b) == 2.0  # per-round ratios 2, 1, 3: their median
    assert latency.ratio(a, latency.Measurement.of([2.0])) == 2.0  # unpaired: ratio of the medians
    assert latency.relative_latency(tiny_model(), build_model("mobilenetv2"), input_size=32,
                                    rounds=3) > 0


def test_bad_backend_and_threads():
    with pytest.raises(ValueError, match="unknown backend"):
        latency.measure(tiny_model(), input_size=32, backend="tpu")
    with pytest.raises(ValueError, match="threads"):
        latency.measure(tiny_model(), input_size=32, threads=0)


# ----------------------------------------------------------------------------- executorch


def test_executorch_export_run_and_output_check(monkeypatch, tmp_path):
    pytest.importorskip("executorch")
    small = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    # the one slow export
    pte = latency.export_pte(small.eval(), torch.randn(1, 3, 32, 32), tmp_path / "small.pte")
    assert pte.stat().st_size > 0
    # measure() exports each model into a temporary directory; here it gets the program above
    # instead.
    monkeypatch.setattr(latency, "export_pte",
                        lambda model, x, path: path.write_bytes(pte.read_bytes()) and path)
    m = latency.measure(small, input_size=32, backend="executorch", rounds=3)
    assert len(m.samples) == 3 and m.median_ms > 0
    assert not list(ROOT.glob("*.pte"))
    # A program that computes something else than the eager model is caught by the output check.
    other = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    with pytest.raises(latency.LatencyError, match="differs from eager PyTorch"):
        latency.measure(other, input_size=32, backend="executorch", rounds=1)


def test_check_outputs_tolerance():
    want = torch.tensor([100.0, -50.0])
    latency.check_outputs(want + 0.05, want, "m")  # relative to the output's scale
    with pytest.raises(latency.LatencyError):
        latency.check_outputs(want + 1.0, want, "m")
    with pytest.raises(latency.LatencyError):
        latency.check_outputs(torch.zeros(3), want, "m")


# ----------------------------------------------------------------------------- executorch-int8


@pytest.fixture(scope="module")
def fashion_mnist(tmp_path_factory):
    """Fashion-MNIST as training.load_splits finds it (Debian's package, copied to a temporary
    directory), and its directory; the int8 tests are about real images, so none without it."""
    from training import DataSpec, UsageError, load_splits

    data_dir = str(tmp_path_factory.mktemp("data"))
    try:
        return load_splits(DataSpec("fashion-mnist", data_dir)), data_dir
    except UsageError as e:
        pytest.skip(f"no Fashion-MNIST: {e}")


def test_int8_program_agrees_with_its_float_network(fashion_mnist, monkeypatch):
    """The int8 path end to end on a network trained briefly on Fashion-MNIST (a random network
    computes nearly constant logits): calibrated on training images, quantized, lowered to XNNPACK,
    checked against its quantized PyTorch module and timed by ExecuTorch. On test images the int8
    program must pick the float network's class and keep its logits' direction. Measured here:
    top-1 agreement 0.975, mean cosine 0.9997; calibrated on one image instead of 16, top-1 0.67;
    not calibrated at all, the conversion fails."""
    pytest.importorskip("executorch")
    from executorch.runtime import Runtime

    import training
    from training import TrainConfig, train_steps

    splits, data_dir = fashion_mnist
    torch.manual_seed(0)
    model = build_model(TINY, num_classes=10, in_channels=1)  # 28 px grey images, a stride-2 stem
    train_steps(model, splits["train"], TrainConfig(steps=150, lr=0.05, label_smoothing=0.1,
                                                    clip_grad_norm=5.0, channels_last=False))
    model.eval()
    test = [splits["test"][i] for i in range(200)]
    images, labels = torch.stack([x for x, _ in test]), torch.tensor([y for _, y in test])

    exported = {}  # what the timing exports, kept: its .pte is deleted when the timing ends

    def keep(model, x, path):
        exported["module"], exported["pte"] = model, real_export(model, x, path).read_bytes()
        return path
    real_export = latency.export_pte
    monkeypatch.setattr(latency, "export_pte", keep)
    calibration = training.calibration_images(data_dir)
    got = latency.time_jobs({"int8": (model, images[:1])}, "executorch-int8", threads=1,
                            rounds=2, images=calibration)
    assert len(got["int8"].samples) == 2 and got["int8"].median_ms > 0
    assert not list(ROOT.glob("*.pte"))

    targets = {str(n.target) for n in exported["module"].graph.nodes}
    assert any("quantize_per_tensor" in t for t in targets)  # int8 activations
    assert any("dequantize_per_channel" in t for t in targets)  # int8 weights, a scale per channel
    method = Runtime.get().load_program(exported["pte"]).load_method("forward")
    with torch.inference_mode():
        want = model(images)
        out = torch.cat([method.execute((x[None],))[0] for x in images])
    assert (want.argmax(1) == labels).float().mean() > 0.6  # the float network has learned
    assert not torch.allclose(out, want, atol=1e-4)  # the program really is int8, not float
    top1 = (out.argmax(1) == want.argmax(1)).float().mean().item()
    cosine = torch.nn.functional.cosine_similarity(out, want).mean().item()
    assert top1 >= 0.95 and cosine >= 0.99, (top1, cosine)


def test_int8_quantization_matches_the_full_xnnpack_quantizer():
    """quantize_int8 leaves out the quantizer's conv+BN patterns (for quantization-aware training:
    BatchNorm is folded before annotation, so they cannot match): the program must be the one the
    full quantizer makes: convolutions with BatchNorm, with and without ReLU, and a linear layer."""
    pytest.importorskip("executorch")
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, groups=8), nn.BatchNorm2d(8),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    x, calibration = torch.randn(1, 3, 12, 12), [torch.randn(1, 3, 12, 12) for _ in range(4)]
    ours = latency.quantize_int8(model, x, calibration)
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True)
    )
    full = prepare_pt2e(torch.export.export(model, (x,)).module(), quantizer)
    for batch in calibration:
        full(batch)
    full = convert_pt2e(full)
    assert any("quantize_per_tensor" in str(n.target) for n in ours.graph.nodes)
    assert ours.code == full.code
    torch.testing.assert_close(ours(x), full(x), rtol=0, atol=0)


def test_int8_calibration_inputs(fashion_mnist, monkeypatch, capsys):
    _, data_dir = fashion_mnist
    import training

    fashion = training.calibration_images(data_dir)
    images = latency.calibration_inputs(torch.zeros(1, 3, 40, 40), fashion, n=4)
    assert len(images) == 4 and all(x.shape == (1, 3, 40, 40) for x in images)
    assert all(torch.equal(x[:, 0], x[:, 2]) for x in images)  # grey images, the channel repeated
    corners = torch.stack([x[0, 0, 0, 0] for x in images])
    assert torch.allclose(corners, corners[0])  # Fashion-MNIST's black background, not noise
    layer_inputs = latency.calibration_inputs(torch.zeros(1, 16, 8, 8), fashion, n=2)  # random
    assert layer_inputs[0].shape == (1, 16, 8, 8) and layer_inputs[0].std() > 0.5

    # No data: random calibration, with a note that says so.
    def no_data(spec):
        raise training.UsageError("cannot find or download fashion-mnist in nowhere")
    monkeypatch.setattr(training, "load_splits", no_data)
    assert training.calibration_images("nowhere") is None
    inputs = latency.calibration_inputs(torch.zeros(1, 3, 40, 40), None, n=2)
    assert len(inputs) == 2 and inputs[0].std() > 0.5
    assert "calibrated on random inputs" in capsys.readouterr().err
    with pytest.raises(ValueError, match="calibration inputs"):
        latency.quantize_int8(tiny_model().eval(), torch.zeros(1, 3, 32, 32), [])


# ----------------------------------------------------------------------------- adb, with a stand-in


FAKE_ADB = """\
    import json, os, re, sys
    args = sys.argv[1:]
    mode = os.environ.get("FAKE_ADB_MODE", "ok")
    with open(os.environ["FAKE_ADB_LOG"], "a") as f:
        f.write(json.dumps(args) + "\\n")
    if args[:1] == ["-s"]:
        args = args[2:]
    if args == ["devices"]:
        rows = {"none": [], "several": ["R58M1\\tdevice", "emulator-5554\\tdevice"],
                "unauthorized": ["R58M1\\tunauthorized"]}.get(mode, ["R58M1\\tdevice"])
        print("\\n".join(["List of devices attached"] + rows) + "\\n")
    elif args[0] == "push":
        print(f"{args[1]}: 1 file pushed, 0 skipped.")
    elif args[0] == "logcat" and "-d" in args:
        if mode == "logcat":
            for i in range(1, 5):
                print(f"11-27 23:00:00.{i:03d}  4242  4242 I ExecuTorch: "
                      f"Iteration {i} of 4: {20 + i}.000000 ms")
    elif args[0] == "shell" and "test -x" in args[1]:
        print("" if mode == "no-runner" else "runner-ok")
    elif args[0] == "shell" and "--model_path" in args[1]:
        n = int(re.search(r"--num_executions (\\d+)", args[1])[1])
        prefix = "I 00:00:00.001234 executorch:executor_runner.cpp:"
        print(prefix + "520] Model loaded in 3.100000 ms.")
        if mode not in ("total", "logcat", "garbage"):
            for i in range(1, n + 1):
                print(f"{prefix}612] Iteration {i} of {n}: {10.0 * i:.6f} ms")
        if mode not in ("logcat", "garbage"):
            print(f"{prefix}621] Model executed successfully {n} time(s) in {12.5 * n:.6f} ms.")
        if mode == "garbage":
            print("CANNOT LINK EXECUTABLE: library libfoo.so not found")
            print("Aborted")
"""


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    """A stand-in `adb` first on PATH that logs its arguments and answers in the real formats."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(f"#!{sys.executable}\n" + textwrap.dedent(FAKE_ADB))
    adb.chmod(0o755)
    log = tmp_path / "adb_calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    monkeypatch.setattr(
        latency, "export_pte", lambda model, x, path: path.write_bytes(b"pte") and path
    )  # no export needed

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return calls


def test_adb_protocol(fake_adb):
    m = latency.measure(nn.Conv2d(3, 4, 3), input_size=32, backend="adb", rounds=2, taskset="f0",
                        num_executions=5,
                        device_dir="/data/local/tmp/x", runner="/data/local/tmp/executor_runner")
    # iterations 2..5 of each call, the first dropped
    assert m.samples == [20.0, 30.0, 40.0, 50.0] * 2
    calls = fake_adb()
    assert calls[0] == ["devices"]
    assert all(c[:2] == ["-s", "R58M1"] for c in calls[1:])
    pushes = [c for c in calls[1:] if c[2] == "push"]
    assert len(pushes) == 1 and pushes[0][4] == "/data/local/tmp/x/m0.pte"
    runs = [c[3] for c in calls[1:] if c[2] == "shell" and "--model_path" in c[3]]
    assert runs == ["taskset f0 /data/local/tmp/executor_runner --model_path "
                    "/data/local/tmp/x/m0.pte "
                    "--num_executions 5 --cpu_threads 1"] * 2
    assert ["-s", "R58M1", "logcat", "-c"] in calls


@pytest.mark.parametrize("mode, samples", [("logcat", [22.0, 23.0, 24.0]), ("total", [12.5])])
def test_adb_fallbacks(fake_adb, monkeypatch, mode, samples):
    monkeypatch.setenv("FAKE_ADB_MODE", mode)
    assert latency.measure(nn.Conv2d(3, 4, 3), input_size=32, backend="adb", rounds=1,
                           num_executions=4).samples == samples


def test_adb_serial_picks_one_of_several(fake_adb, monkeypatch):
    monkeypatch.setenv("FAKE_ADB_MODE", "several")
    latency.measure(nn.Conv2d(3, 4, 3), input_size=32, backend="adb", rounds=1,
                    serial="emulator-5554")
    assert fake_adb()[1][:2] == ["-s", "emulator-5554"]


@pytest.mark.parametrize("mode, serial, message", [
    ("none", None, "no Android device"),
    ("several", None, "several devices connected .*--serial"),
    ("ok", "XYZ", "device XYZ not found"),
    ("unauthorized", None, "unauthorized: accept the USB debugging prompt"),
    ("no-runner", None, "executor_runner not found at /data/local/tmp/executor_runner"),
    ("garbage", None, "cannot parse executor_runner output.*CANNOT LINK EXECUTABLE.*Aborted"),
])
def test_adb_errors(fake_adb, monkeypatch, mode, serial, message):
    monkeypatch.setenv("FAKE_ADB_MODE", mode)
    with pytest.raises(latency.LatencyError, match=message) as e:
        latency.measure(nn.Conv2d(3, 4, 3), input_size=32, backend="adb", rounds=1, serial=serial)
    assert "\n" not in str(e.value)


def test_adb_not_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(latency.LatencyError, match="adb not found on PATH"):
        latency.measure(nn.Conv2d(3, 4, 3), input_size=32, backend="adb")


def test_parse_runner_output():
    assert latency.parse_runner_output("Iteration 1 of 1: 7.5 ms") == [7.5]  # a single run is kept
    assert latency.parse_runner_output("Model executed successfully 4 time(s) in 10.0 ms.") == [2.5]
    assert latency.parse_runner_output("Segmentation fault") is None


# ----------------------------------------------------------------------------- the table

# A two-block space: block 1 may vanish (repeats 0), so block 2's first layer sees the stem's 8
# channels or block 1's 16; block 2 has one or two layers.
OPTIONS = [
    [BlockArgs("dconv", 1, 3, 1, 0, 16), BlockArgs("mbconv", 3, 3, 1, 1, 16, 0.25, "identity")],
    [BlockArgs("conv", 1, 3, 2, 1, 24, 0.0, "none"),
     BlockArgs("mbconv", 6, 5, 2, 2, 24, 0.0, "pool")],
]


def test_space_entries_keys():
    keys = set(models.space_entries(OPTIONS, input_size=32, stem=8, head=32, num_classes=10))
    assert keys == {
        "stem 3->8 k3 s2 @32",
        "mbconv e3 k3 s1 se0.25 none 8->16 @16",  # identity skip needs equal channels: none
        "conv e1 k3 s2 se0 none 8->24 @16", "conv e1 k3 s2 se0 none 16->24 @16",
        "mbconv e6 k5 s2 se0 none 8->24 @16", "mbconv e6 k5 s2 se0 none 16->24 @16",
        "mbconv e6 k5 s1 se0 pool 24->24 @8",
        "head 24->32 fc10 @8",
    }


def test_table_build_predict_resume(tmp_path, monkeypatch):
    path = tmp_path / "table.json"
    table = latency_table.build_space_table(path, OPTIONS, input_size=32, stem=8, head=32,
                                            num_classes=10, rounds=3, calibration=3)
    assert (
        len(table.layers) == 8
        and all(v > 0 for v in table.layers.values())
        and table.reference_ms > 0
    )
    arch = Arch((OPTIONS[0][1], OPTIONS[1][1]), stem=8, head=32)
    a, b = table.fit
    assert table.layer_sum(arch) == pytest.approx(
        sum(table.layers[k] for k, _, _ in models.arch_entries(arch, 32, 10))
    )
    assert table.predict(arch) == pytest.approx(a * table.layer_sum(arch) + b)
    assert table.predict(arch, scale=2.0) == pytest.approx(2 * table.predict(arch))
    saved = json.loads(path.read_text())
    assert {"backend", "threads", "input_size", "reference_ms", "layers", "fit",
            "info"} <= set(saved)
    assert {"torch", "machine", "created", "calibration"} <= set(saved["info"])

    # Resuming a finished table times nothing; a half-built one times only what is missing.
    monkeypatch.setattr(latency, "time_jobs",
                        lambda *a, **k: pytest.fail("re-timed a finished table"))
    assert latency_table.build_space_table(path, OPTIONS, input_size=32, stem=8, head=32,
                                           num_classes=10).layers == table.layers
    timed = []

    def fake_time(jobs, backend, threads, rounds, kept=None, **opts):  # kept: the reference
        names = [*(kept or {}), *jobs]
        timed.extend(names)
        return {n: latency.Measurement.of([1.0]) for n in names}
    monkeypatch.setattr(latency, "time_jobs", fake_time)
    del saved["layers"]["head 24->32 fc10 @8"]
    path.write_text(json.dumps(saved))
    latency_table.build_space_table(path, OPTIONS, input_size=32, stem=8, head=32, num_classes=10)
    assert timed == ["reference", "head 24->32 fc10 @8"]

    with pytest.raises(ValueError, match="was built for cpu, 1 thread"):
        latency_table.build_space_table(path, OPTIONS, threads=2, input_size=32, stem=8, head=32,
                                        num_classes=10)
    with pytest.raises(ValueError, match="not in the table"):
        table.predict(TINY)


def test_executorch_table_build_resumes_after_ctrl_c(tmp_path, monkeypatch):
    """Ctrl-C during a chunk keeps the chunks before it; the same call continues without timing
    them again. Each layer is exported to a .pte in a temporary directory, removed on the way out,
    and what exporting leaves in the process is dropped after every chunk."""
    pytest.importorskip("executorch")
    import tempfile

    import models
    from executorch.exir.backend.utils import is_same_node

    # A tiny space (stem, one layer, head) and a tiny reference network: short exports.
    monkeypatch.setitem(models.REFERENCE_ARCHS, "mobilenetv2", Arch((), stem=8, head=16))
    options = [[BlockArgs("dconv", 1, 3, 1, 1, 8, 0.0, "none")]]
    path = tmp_path / "et.json"
    kw = dict(input_size=32, stem=8, head=16, num_classes=10, chunk=1, rounds=3)
    begun = latency_table.LatencyTable("executorch", 1, 32, 1.0, fit=[1.0, 0.0], num_classes=10)
    begun.save(path)  # fitted already: no whole networks to time at the end
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    real, timed = latency._interleave, []

    def ctrl_c_in_second_chunk(samplers, rounds):
        timed.append(sorted(samplers))
        if len(timed) == 2:
            raise KeyboardInterrupt
        return real(samplers, rounds)
    monkeypatch.setattr(latency, "_interleave", ctrl_c_in_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        latency_table.build_space_table(path, options, "executorch", **kw)
    kept = latency_table.LatencyTable.load(path).layers
    assert list(kept) == ["stem 3->8 k3 s2 @32"] and kept["stem 3->8 k3 s2 @32"] > 0
    assert not list((tmp_path / "tmp").iterdir())  # no .pte left behind

    timed.clear()

    def record(samplers, rounds):
        timed.append(sorted(samplers))
        return real(samplers, rounds)
    monkeypatch.setattr(latency, "_interleave", record)
    table = latency_table.build_space_table(path, options, "executorch", **kw)
    assert timed == [["dconv e1 k3 s1 se0 none 8->8 @16", "reference"],
                     ["head 8->16 fc10 @16", "reference"]]  # the stem is not timed again
    assert table.layers == kept | table.layers and len(table.layers) == 3  # the stem's time kept
    assert not list((tmp_path / "tmp").iterdir())
    assert is_same_node.cache_info().currsize == 0  # ExecuTorch's memo of lowered graphs, dropped


def test_table_drift_and_check(tmp_path):
    table = latency_table.build_space_table(tmp_path / "t.json", OPTIONS, input_size=32, stem=8,
                                            head=32, num_classes=10,
                                       rounds=3, calibration=2)
    loaded = latency_table.LatencyTable.load(tmp_path / "t.json")
    assert loaded.layers == table.layers and loaded.scale == 1.0
    arch, (a, b) = Arch((OPTIONS[0][0], OPTIONS[1][0]), 8, 32), loaded.fit
    assert loaded.retime_reference(rounds=3) > 0  # the reference now / at build time
    assert loaded.predict(arch) == pytest.approx(loaded.scale * (a * loaded.layer_sum(arch) + b))
    archs = [Arch((o1, o2), 8, 32) for o1 in OPTIONS[0] for o2 in OPTIONS[1]]
    r = latency_table.check_table(table, archs, rounds=3)
    assert (
        0 <= r["within10"] <= 100
        and r["mape"] >= 0
        and -1 <= r["spearman"] <= 1
        and len(r["measured"]) == 4
    )


# ----------------------------------------------------------------------------- command line


def test_cli_measures(capsys):
    assert latency.main(["mnasnet-small", "--input-size", "32", "--rounds", "2"]) == 0
    assert re.fullmatch(r"median_ms=\d+\.\d+ iqr_ms=\d+\.\d+",
                        capsys.readouterr().out.splitlines()[-1])


@pytest.mark.parametrize("command, argv, message", [
    ("latency", [], "the following arguments are required: NAME_OR_JSON"),
    ("latency", ["nosuch"], "unknown architecture 'nosuch'"),
    ("latency", ["mnasnet-a1", "--backend", "tpu"], "invalid choice: 'tpu'"),
    ("latency", ["mnasnet-a1", "--threads", "0"], "argument --threads: must be at least 1, got 0"),
    ("latency", ["mnasnet-a1", "--threads", "two"],
     "argument --threads: expected an integer, got 'two'"),
    ("latency", ["mnasnet-a1", "--input-size", "8"],
     "argument --input-size: must be at least 32, got 8"),
    # latency_table.py's
    ("latency", ["mnasnet-a1", "--check-table", "t.json"], "unrecognized arguments: --check-table"),
    ("latency", ["mnasnet-a1", "--bogus"], "unrecognized arguments: --bogus"),
    ("latency", ["mnasnet-a1", "--backend", "int8"], "invalid choice: 'int8'"),
    ("latency_table", [],
     "one of the arguments --build-table --check-table --recalibrate is required"),
    ("latency_table", ["--check-table", "t.json", "--build-table", "u.json"],
     "not allowed with argument"),
    ("latency_table", ["--check-table", "missing.json"], "cannot read missing.json"),
    ("latency_table", ["--check-table", "t.json", "--samples", "1"],
     "argument --samples: must be at least 2"),
    ("latency_table", ["--check-table", "bad.json"], "bad.json is not a latency table"),
    ("latency_table", ["--build-table", "cpu.json", "--backend", "executorch-int8"],
     "cpu.json was built for cpu"),
    ("latency_table", ["--recalibrate", "cpu.json"], "cpu.json has no calibration yet"),
    ("latency_table", ["--check-table", "cpu.json", "--num-executions", "1"],
     "argument --num-executions: must be at least 2"),
])
def test_cli_bad_input(capsys, monkeypatch, tmp_path, command, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text('{"layers": [1, 2]}')
    # a float table, begun
    latency_table.LatencyTable("cpu", 1, 224, 20.0).save(tmp_path / "cpu.json")
    try:
        code = {"latency": latency.main, "latency_table": latency_table.main}[command](argv)
    except SystemExit as stop:  # what argparse checks exits there (cli.Parser), the rest returns
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and re.search(message, err), err


def test_ctrl_c_during_a_table_build_says_what_is_saved_and_exits_130(tmp_path, monkeypatch,
                                                                      capsys):
    """`python latency_table.py --build-table FILE` stopped by Ctrl-C: one line with what the file
    keeps (of the 2,007 layers of the paper's space at 224 px) and status 130, no traceback."""
    path = tmp_path / "table.json"

    def build_then_ctrl_c(path, *args, **kwargs):  # one chunk saved, then Ctrl-C
        latency_table.LatencyTable("cpu", 1, 224, 1.0, layers={"stem": 0.1, "head": 0.2}).save(path)
        raise KeyboardInterrupt
    monkeypatch.setattr(latency_table.LatencyTable, "build", build_then_ctrl_c)
    handlers = []  # a build started in the background (SIGINT ignored) must still stop on Ctrl-C
    monkeypatch.setattr(signal, "signal", lambda sig, handler: handlers.append((sig, handler)))
    assert latency_table.main(["--build-table", str(path)]) == 130
    assert handlers == [(signal.SIGINT, signal.default_int_handler)]
    assert capsys.readouterr().err == (f"interrupted: 2 of 2007 layers are saved in {path}; "
                                       "the same command continues the build\n")


def test_recalibrate_refits_on_whole_networks_timed_now(tmp_path, stand_in_table, capsys):
    import shutil

    from mnas import SearchSpace

    path = tmp_path / "table.json"
    # made-up 0.1 ms layers, fit a=1, b=0: far from this machine's times
    shutil.copy(stand_in_table, path)
    assert latency_table.main(["--recalibrate", str(path), "--rounds", "2"]) == 0
    table = latency_table.LatencyTable.load(path)
    assert table.info["previous_fits"][0][:2] == [1.0, 0.0] and table.fit != [1.0, 0.0]
    assert capsys.readouterr().out.startswith(f"{path}: fit a=1.0000 b=0.000 -> a=")
    space = SearchSpace()
    archs = latency_table.calibration_archs([space.block_options(i) for i in range(7)], 16, 0,
                                            space.stem, space.head)
    measured = [m for _, m in table.info["calibration"]]
    assert len(measured) == 16  # the networks timed whole, now

    def error(fit):  # mean relative error of a fit on those networks
        a, b = fit
        return sum(abs(a * table.layer_sum(x) + b - m) / m for x, m in zip(archs,
                                                                           measured)) / len(archs)
    assert error(table.fit) < error([1.0, 0.0]) / 2


def test_cli_build_table_ctrl_c(capsys, tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    begun = latency_table.LatencyTable("executorch", 1, 224, 20.0, layers={"a": 1.0, "b": 2.0})
    begun.save(path)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(latency_table.LatencyTable, "build", ctrl_c)
    assert latency_table.main(["--build-table", str(path), "--backend", "executorch"]) == 130
    err = capsys.readouterr().err
    assert re.fullmatch(rf"interrupted: 2 of \d+ layers are saved in {re.escape(str(path))}; "
                        r"the same command continues the build\n", err), err


def test_cli_adb_error_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert latency.main(["mnasnet-small", "--backend", "adb"]) == 1
    assert (
        capsys.readouterr().err == "error: adb not found on PATH (install Android platform-tools)\n"
    )


def test_cli_subprocess_no_traceback():
    done = subprocess.run([sys.executable, "latency.py", "nosuch.json"], cwd=ROOT,
                          capture_output=True, text=True)
    assert (
        done.returncode == 2
        and done.stderr.startswith("error: ")
        and "Traceback" not in done.stderr
    )


def test_every_architecture_the_space_samples_has_its_layers_in_a_table():
    import random

    from mnas import SearchSpace

    space = SearchSpace()
    keys = set(models.space_entries([space.block_options(i) for i in range(len(space.skeleton))]))
    rng = random.Random(0)
    for _ in range(300):  # a missing key would fail the child: reward 0, silently
        arch = space.decode(space.sample(rng))
        assert {key for key, _, _ in models.arch_entries(arch)} <= keys
    # every block at its fewest layers: blocks 1 and 7 vanish
    emptied = space.decode([0] * len(space.decisions))
    assert {key for key, _, _ in models.arch_entries(emptied)} <= keys
