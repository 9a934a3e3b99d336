"""export.py and `train.py --arch ... --export`: a tiny network to a .pte, run by ExecuTorch's
runtime, calibrated on training images, and every way an export fails named in one line."""

import re

import pytest
import torch
from torch import nn

pytest.importorskip("executorch")
import export  # noqa: E402
import train  # noqa: E402
import training  # noqa: E402
from models import Arch, BlockArgs, build_model, count_macs, count_params, save_arch  # noqa: E402

TINY = Arch((BlockArgs("mbconv", 3, 3, 2, 1, 16, 0.25, "identity"),
             BlockArgs("dconv", 1, 3, 1, 2, 16, 0.0, "pool")), stem=8, head=32)
SYNTHETIC = training.DataSpec("synthetic")


@pytest.fixture(scope="module")
def trained():
    """TINY trained briefly on the synthetic images (16 px RGB, 10 classes): far above chance."""
    splits = training.load_splits(SYNTHETIC)
    torch.manual_seed(0)
    model = training.make_model(TINY, splits)
    training.train_steps(model, splits["train"], training.TrainConfig(steps=60, lr=0.05))
    return model.eval(), splits


@pytest.fixture
def tiny_reference(monkeypatch):
    """MobileNetV2, the reference `export` times against, made TINY: the timing's plumbing is
    what these tests check, and a real MobileNetV2 takes 10 s to export."""
    monkeypatch.setitem(export.REFERENCE_ARCHS, "mobilenetv2", TINY)


def test_a_tiny_network_as_a_pte_runs_in_executorchs_runtime(trained, tmp_path):
    model, splits = trained
    test = splits["test"]  # 1,000 images
    x = test[0][0][None]
    path = tmp_path / "model.pte"
    path.write_bytes(export.lower(model, x))
    float_acc = training.accuracy(model, test)
    assert float_acc > 0.3  # learned: chance is 0.1
    assert export.pte_accuracy(path, test) == pytest.approx(float_acc, abs=2 / 1000)  # fp32

    from executorch.runtime import Runtime  # the file itself, loaded and run as a phone would

    program = Runtime.get().load_program(path)
    images = torch.stack([test[i][0] for i in range(4)])
    out = torch.cat([program.load_method("forward").execute((xi[None],))[0] for xi in images])
    with torch.inference_mode():
        torch.testing.assert_close(out, model(images), rtol=1e-3, atol=1e-3)


def test_an_operator_xnnpack_does_not_take_is_named_with_its_layer():
    class Cumsum(nn.Module):
        def forward(self, x):
            return x.cumsum(1)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), Cumsum()),
                        nn.AdaptiveAvgPool2d(1))
    with pytest.raises(export.ExportError, match=r"layer '1.1' \(Cumsum\): aten.cumsum"):
        export.lower(net, torch.randn(1, 3, 8, 8))
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    assert export.lower(net, torch.randn(1, 3, 8, 8))  # the same without it: fine


def test_a_failed_export_names_the_layer_in_one_line():
    class Branches(nn.Module):  # control flow on the data: torch.export cannot trace it
        def forward(self, x):
            return x if x.sum() > 0 else -x
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), Branches()))
    with pytest.raises(export.ExportError) as e:
        export.lower(net, torch.randn(1, 3, 8, 8))
    assert str(e.value).startswith("layer '1.1' (Branches) cannot be exported to ExecuTorch")
    assert "\n" not in str(e.value)


def test_cpu_features_name_what_decides_int8_speed():
    assert export.cpu_features("flags\t: fpu avx2 avx512f avx512_vnni\n") == "AVX-512, VNNI"
    assert export.cpu_features("flags\t: fpu avx2 avx_vnni\n") == "AVX-VNNI"
    assert export.cpu_features("flags\t: fpu sse avx2\n") == "none of AVX-512, VNNI, AVX-VNNI"


def test_train_arch_export_int8_ends_with_both_accuracies_and_the_latency(tmp_path, capsys,
                                                                          tiny_reference,
                                                                          monkeypatch):
    """The whole of `--export int8`: its last line, and int8's ranges observed on training images
    only (the trained network's and MobileNetV2's, on the same images), never on test images;
    torch.export's example input is a training image too."""
    seen, examples, quantize = [], [], export.latency.quantize_int8

    def spy(model, x, calibration):
        seen.append(calibration)
        examples.append(x)
        return quantize(model, x, calibration)
    monkeypatch.setattr(export.latency, "quantize_int8", spy)
    save_arch(TINY, tmp_path / "tiny.json")
    argv = ["--arch", str(tmp_path / "tiny.json"), "--dataset", "synthetic", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--export", "int8"]
    assert train.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    trained_acc = re.search(r"test_accuracy=([0-9.]+)", lines[-2])[1]
    assert re.match(rf"float_accuracy={trained_acc} int8_accuracy=[0-9.]+ int8_latency_ms=[0-9.]+ "
                    r"\([0-9.]+x MobileNetV2 in int8", lines[-1]), lines[-1]
    assert (tmp_path / "run" / "model.pte").stat().st_size > 0

    assert len(seen) == 2 and len(seen[0]) == export.CALIBRATION
    assert all(torch.equal(a, b) for a, b in zip(*seen))
    splits = training.load_splits(SYNTHETIC)
    train_images = torch.stack([x for x, _ in splits["train"]]).flatten(1)
    test_images = torch.stack([x for x, _ in splits["test"]]).flatten(1)
    for image in seen[0] + examples:
        assert (train_images == image.flatten()).all(1).any()  # a training image
        assert not (test_images == image.flatten()).all(1).any()  # and no test image


def test_a_failed_export_exits_2_in_one_line_and_keeps_the_float_model(tmp_path, capsys,
                                                                       monkeypatch):
    def refuse(model, x, int8=False, calibration=None):
        raise export.ExportError("layer 'blocks.0.0' (Layer): aten.cumsum.default is not supported")
    monkeypatch.setattr(export, "lower", refuse)
    save_arch(TINY, tmp_path / "tiny.json")
    argv = ["--arch", str(tmp_path / "tiny.json"), "--dataset", "synthetic", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--export", "fp32"]
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip()  # the training's progress bar, then one line
    last = err.splitlines()[-1]
    assert "Traceback" not in err and last.startswith("error: layer 'blocks.0.0' (Layer)"), err
    assert last.endswith(f"the float model is kept: {tmp_path / 'run' / 'model.pt'}")
    assert (tmp_path / "run" / "model.pt").stat().st_size > 0


def test_export_without_executorch_stops_before_training(monkeypatch, capsys, tmp_path):
    save_arch(TINY, tmp_path / "tiny.json")
    monkeypatch.setattr(train.importlib.util, "find_spec", lambda name: None)
    argv = ["--arch", str(tmp_path / "tiny.json"), "--dataset", "synthetic", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--export", "int8"]
    assert train.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == ("error: --export needs ExecuTorch: "
                            "pip install -r requirements-executorch.txt\n")
    assert "training" not in captured.out


@pytest.mark.parametrize("argv,message", [
    (["--search", "--export", "int8"], "are for --arch"),
    (["--search", "--width-mult", "0.5"], "are for --arch"),
    (["--arch", "mnasnet-a1", "--width-mult", "0"], "--width-mult must be positive"),
    (["--arch", "mnasnet-a1", "--export", "int4"], "invalid choice: 'int4'"),
])
def test_bad_export_and_scaling_flags_exit_2_in_one_line(argv, message, capsys):
    try:
        status = train.main(argv)
    except SystemExit as e:  # argparse's own errors (cli.Parser)
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_width_mult_and_input_size_reach_the_trained_network(tmp_path, capsys, monkeypatch):
    """What `train.main` did: the data it trained on (24 px), the network it trained (half width)
    and the deployment network it reported (half width, at 24 px)."""
    trained_on, final_train = [], train.final_train

    def spy(arch, data, cfg, *args, **kwargs):
        trained_on.append((data, cfg))
        return final_train(arch, data, cfg, *args, **kwargs)
    monkeypatch.setattr(train, "final_train", spy)
    argv = ["--arch", "mnasnet-small", "--dataset", "synthetic", "--epochs", "1", "--width-mult",
            "0.5", "--input-size", "24", "--out", str(tmp_path)]
    assert train.main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    deploy = build_model("mnasnet-small", width_mult=0.5)
    assert f" params={count_params(deploy)} macs={count_macs(deploy, 24)} " in last, last
    [(data, cfg)] = trained_on
    assert data.input_size == 24 and cfg.width_mult == 0.5
    assert training.load_splits(data)["train"][0][0].shape == (3, 24, 24)  # not the data's 16 px
    state = torch.load(tmp_path / "model.pt", weights_only=True)  # the trained network, scaled
    build_model("mnasnet-small", 10, width_mult=0.5, small_input=True).load_state_dict(state)


def fail_writing(monkeypatch):  # ExecuTorch cannot write the lowered program as a .pte
    from executorch.exir.program._program import EdgeProgramManager

    def to_executorch(self, *args, **kwargs):
        raise RuntimeError("memory planning failed\nsecond line")
    monkeypatch.setattr(EdgeProgramManager, "to_executorch", to_executorch)


def fail_running(monkeypatch):  # a runtime that cannot load the program
    from executorch.runtime import Runtime

    def get():
        raise RuntimeError("no XNNPACK in this runtime\nsecond line")
    monkeypatch.setattr(Runtime, "get", get)


def fail_timing(monkeypatch):
    def measure_programs(programs, x, threads=1, rounds=None):
        raise RuntimeError("the runtime crashed\nsecond line")
    monkeypatch.setattr(export.latency, "measure_programs", measure_programs)


def fail_the_reference(monkeypatch):  # the trained network lowers, MobileNetV2 does not
    calls, lower_xnnpack = [], export.latency.lower_xnnpack

    def refuse_the_second(model, x):
        calls.append(model)
        if len(calls) > 1:
            raise RuntimeError("unsupported operator\nsecond line")
        return lower_xnnpack(model, x)
    monkeypatch.setattr(export.latency, "lower_xnnpack", refuse_the_second)


@pytest.mark.parametrize("breaks,message", [
    (fail_writing, "ExecuTorch cannot write the program as a .pte "
                   "(RuntimeError: memory planning failed)"),
    (fail_running, "ExecuTorch's runtime cannot run {run}/model.pte "
                   "(RuntimeError: no XNNPACK in this runtime)"),
    (fail_timing, "ExecuTorch's runtime cannot time {run}/model.pte against MobileNetV2 "
                  "(RuntimeError: the runtime crashed)"),
    (fail_the_reference, "MobileNetV2 (the reference): the network cannot be exported to "
                         "ExecuTorch (RuntimeError: unsupported operator)"),
], ids=["writing", "running", "timing", "reference"])
def test_executorch_failing_after_the_lowering_exits_2_in_one_line(tmp_path, capsys, monkeypatch,
                                                                   tiny_reference, breaks,
                                                                   message):
    breaks(monkeypatch)
    save_arch(TINY, tmp_path / "tiny.json")
    run = tmp_path / "run"
    argv = ["--arch", str(tmp_path / "tiny.json"), "--dataset", "synthetic", "--epochs", "1",
            "--out", str(run), "--export", "fp32"]
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip()  # the training's progress bar, then one line
    kept = f"; the float model is kept: {run / 'model.pt'}"
    assert "Traceback" not in err and err.count("error:") == 1, err
    assert err.splitlines()[-1] == f"error: {message.format(run=run)}{kept}", err
    assert (run / "model.pt").stat().st_size > 0
