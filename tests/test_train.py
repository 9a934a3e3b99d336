"""train.py end to end: `python train.py --search` on synthetic data, resume, final training, bad
input."""

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import controller
import mnas
import models
import run
import train
import training

ROOT = Path(__file__).resolve().parent.parent


def cli(*argv, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *argv], capture_output=True,
                          text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def search_run(once, stand_in_table):
    """A 3-child search from the command line, run once for all the tests (and workers) that
    read it; the tests that resume it resume a copy."""
    def run(out: Path) -> None:
        table = shutil.copy(stand_in_table, out / "table.json")  # the run records its table's path
        result = cli("--search", "--dataset", "synthetic", "--samples", "3", "--proxy-steps", "5",
                     "--out", str(out / "run"), "--latency-table", str(table))
        assert result.returncode == 0, result.stderr
        (out / "stdout.txt").write_text(result.stdout)
    shared = once("search_run", run)
    return shared / "run", (shared / "stdout.txt").read_text()


def test_search_writes_log_best_and_plots(search_run):
    out, stdout = search_run
    lines = [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]
    assert len(lines) == 3
    for c in lines:
        assert set(c) == {"step", "tokens", "arch", "accuracy", "latency_ms", "lat", "reward",
                          "params",
                          "macs", "seconds", "status"}
        assert (
            c["status"] == "ok"
            and 0 <= c["accuracy"] <= 1
            and c["latency_ms"] > 0
            and c["params"] > 0
        )
        assert c["lat"] == c["latency_ms"]  # LAT(m) is the measured latency by default
    best = json.loads((out / "best.json").read_text())
    assert best["reward"] == max(c["reward"] for c in lines)
    assert models.main([str(out / "best.json")]) == 0  # models.py accepts the result
    # the controller's most likely architecture, evaluated
    greedy = json.loads((out / "greedy.json").read_text())
    target_ms = json.loads((out / "run.json").read_text())["target_ms"]
    assert greedy["reward"] == pytest.approx(
        greedy["accuracy"] * (greedy["latency_ms"] / target_ms) ** -0.07
    )  # Eq. 2, soft
    assert mnas.SearchSpace().encode(models.arch_from_dict(greedy["arch"])) == greedy["tokens"]
    policy = controller.make_learning_rule("reinforce", mnas.SearchSpace().decisions)
    policy.load_state_dict(torch.load(out / "controller.pt", weights_only=True)["controller"])
    assert greedy["tokens"] == policy.controller.greedy()  # the final policy's argmax, not a sample
    for png in ("pareto.png", "reward.png"):
        assert (out / png).stat().st_size > 10_000
    assert "target T =" in stdout and "expected about" in stdout and "best: child" in stdout
    assert stdout.count("child ") >= 3


def test_a_measured_latency_is_the_ratio_to_mobilenetv2_times_its_latency():
    config = run.SearchConfig()  # a search without --latency-table, on this CPU
    latency_ms = run.platform_latency(config, None, reference_ms=10.0)
    # about half MobileNetV2's time
    assert 3.0 < latency_ms(models.REFERENCE_ARCHS["mnasnet-small"]) < 8.0


def test_resume_adds_exactly_the_missing_children(search_run, tmp_path, capsys):
    out, _ = search_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = (copy / "search.jsonl").read_text()
    # as the command line does
    assert train.main(["--search", "--resume", str(copy), "--samples", "4"]) == 0
    after = (copy / "search.jsonl").read_text()
    assert after.startswith(before) and len(after.splitlines()) == 4
    stdout = capsys.readouterr().out
    assert "search: 4 children (3 done)" in stdout
    # the progress line counts the earlier children
    best = max(json.loads(line)["reward"] for line in after.splitlines())
    assert f"best {best:.4f}" in stdout.split("child    4/4")[1].splitlines()[0]


def test_final_training_reports_and_saves_weights(tmp_path, capsys):
    import torch

    assert train.main(["--arch", "mnasnet-small", "--dataset", "synthetic", "--epochs", "1",
                       "--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("test_accuracy=") and "latency_ms=" in last and "params=2030264" in last
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    model = models.build_model("mnasnet-small", num_classes=10, small_input=True)
    model.load_state_dict(state)


def test_final_training_resumes_exactly(tmp_path, monkeypatch):
    """A final training stopped mid-way (Ctrl-C, a session's end) and run again ends as one never
    stopped: the same weights and the loss of every step, dropout's masks included (FINAL: 0.2)."""
    data, arch = training.DataSpec("synthetic"), models.REFERENCE_ARCHS["mnasnet-small"]
    cfg = training.replace(training.FINAL, batch_size=8)
    epochs = 6 * 8 / 1500  # 6 steps over the 1,500 synthetic training images
    monkeypatch.setattr(training, "train_steps", functools.partial(training.train_steps, every=2))
    loss, calls = training.classification_loss, [0]

    def stopped_at(step):
        def stopping_loss(model, batch, **kw):
            calls[0] += 1
            if calls[0] == step:
                raise KeyboardInterrupt
            return loss(model, batch, **kw)
        return stopping_loss

    whole, whole_acc, whole_losses = training.final_train(arch, data, cfg, epochs,
                                                          checkpoint=tmp_path / "whole.pt")
    monkeypatch.setattr(training, "classification_loss", stopped_at(4))
    with pytest.raises(KeyboardInterrupt):
        training.final_train(arch, data, cfg, epochs, checkpoint=tmp_path / "cut.pt")
    # steps 1-3 ran; saved at 2
    assert torch.load(tmp_path / "cut.pt", weights_only=True)["step"] == 2
    monkeypatch.setattr(training, "classification_loss", loss)
    resumed, acc, losses = training.final_train(arch, data, cfg, epochs,
                                                checkpoint=tmp_path / "cut.pt")
    assert len(whole_losses) == 6 and losses == whole_losses and acc == whole_acc
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    # another length: not resumed
    with pytest.raises(ValueError, match="of a training of 6 steps, not 12"):
        training.final_train(arch, data, cfg, 2 * epochs, checkpoint=tmp_path / "cut.pt")


@pytest.mark.parametrize("argv,message", [
    (["--search", "--target-ms", "-5"], "--target-ms must be positive"),
    (["--search", "--target-ratio", "0"], "--target-ratio must be positive"),
    (["--search", "--target-ms", "8", "--target-ratio", "0.5"],
     "--target-ms or as --target-ratio, not both"),
    (["--arch", "resnet"], "unknown architecture 'resnet'"),
    (["--search", "--resume", "/nonexistent/run"], "no such run directory"),
    (["--search", "--latency-table", "/nonexistent.json"], "no such file"),
    (["--search", "--dataset", "synthetic", "--workers", "2"], "--latency-table"),
    (["--search", "--samples", "0"], "--samples must be at least 1"),
    (["--search", "--space", "cell", "--evaluator", "supernet"],
     "the supernet is over the factorized space"),
    (["--search", "--latency", "macs", "--target-ms", "20"], "--latency macs: T is in MACs"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_input_from_the_shell_is_one_line_not_a_traceback():
    result = cli("--search", "--target-ms", "0")
    assert (
        result.returncode == 2
        and result.stderr.strip() == "error: --target-ms must be positive, got 0.0"
    )


def test_missing_dataset_names_the_three_fixes(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    # offline
    monkeypatch.setattr("torchvision.datasets.FashionMNIST.mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(training.UsageError,
                       match="apt-get install dataset-fashion-mnist.*--data-dir.*--dataset "
                       "synthetic"):
        training.load_splits(training.DataSpec("fashion-mnist", str(tmp_path / "data")))


@pytest.mark.skipif(not training.DEBIAN_FASHION_MNIST.exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_loads(tmp_path):
    splits = training.load_splits(training.DataSpec("fashion-mnist", str(tmp_path), val_size=5000))
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (55000, 5000, 10000)
    assert training.data_shape(splits) == (1, 28, 10)  # channels, size, classes
    x, y = splits["val"][0]
    assert x.shape == (1, 28, 28) and 0 <= int(y) < 10
    assert abs(float(splits["train"].dataset.tensors[0].mean())) < 1e-3  # standardized


def test_synthetic_images_are_seeded_and_learnable_shapes():
    x1, y1 = training.synthetic_images(50, seed=3)
    x2, y2 = training.synthetic_images(50, seed=3)
    assert x1.shape == (50, 3, 16, 16) and y1.max() < 10
    assert (x1 == x2).all() and (y1 == y2).all()


# ----------------------------------------------------------------------------- the training recipe


def test_a_new_classifier_starts_at_chance_for_ten_classes():
    import math

    import torch

    torch.manual_seed(0)
    model = models.build_model("mobilenetv2", num_classes=10, small_input=True, dropout=0.0,
                               in_channels=1)  # as training starts
    loss = torch.nn.functional.cross_entropy(model(torch.randn(64, 1, 28, 28)),
                                             torch.randint(0, 10, (64,)))
    assert abs(loss.item() - math.log(10)) < 0.1  # the first loss of training is ln 10, not ~9


def test_weight_decay_spares_batchnorm_and_biases_unless_asked():
    model = models.build_model("mnasnet-small", num_classes=10)
    decay, no_decay = training.param_groups(model, training.FINAL)
    assert decay["weight_decay"] == training.FINAL.weight_decay and no_decay["weight_decay"] == 0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    everything, nothing = training.param_groups(model, train.replace(training.FINAL,
                                                                     norm_weight_decay=True))
    assert len(everything["params"]) == len(list(model.parameters())) and not nothing["params"]


def ten_steps(**recipe):
    """(loss of the first step, distance the weights moved) of mnasnet-small trained 10 steps on
    synthetic data."""
    import torch

    splits = training.load_splits(training.DataSpec("synthetic"))
    torch.manual_seed(0)
    model = training.make_model(models.REFERENCE_ARCHS["mnasnet-small"], splits)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    cfg = training.TrainConfig(steps=10, batch_size=32, lr=0.5, weight_decay=0.0, **recipe)
    losses = training.train_steps(model, splits["train"], cfg)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return losses[0], float((after - before).norm())


def test_clipping_bounds_every_update():
    _, free = ten_steps()
    _, clipped = ten_steps(clip_grad_norm=1e-4)
    # Each clipped gradient has norm <= c, so a momentum-0.9 velocity stays <= 10c and a Nesterov
    # step (gradient + 0.9 velocity) moves <= lr * 10c: at most 10 steps * 0.5 * 10 * 1e-4 in all.
    assert clipped <= 10 * 0.5 * 10 * 1e-4 < free


def test_label_smoothing_reaches_the_loss():
    plain, _ = ten_steps()
    smoothed, _ = ten_steps(label_smoothing=0.5)
    assert abs(smoothed - plain) > 0.01  # the same first logits, scored against softened targets


def test_device_choice(capsys):
    import torch

    assert training.pick_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert training.pick_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        for mode in (["--arch", "mnasnet-small"], ["--search"]):
            assert train.main([*mode, "--dataset", "synthetic", "--device", "cuda"]) == 2
            assert "no CUDA GPU" in capsys.readouterr().err


# ------------------------------------------------------- the objective's settings reach the reward


def slow_machine_table(path, stand_in_table):
    """The stand-in table as if built on a machine 50x slower: MobileNetV2 took 1000 ms then; its
    calibration re-fitted since (on the 1st of December)."""
    data = json.loads(stand_in_table.read_text())
    path.write_text(json.dumps({**data, "reference_ms": 1000.0, "fit": [1.5, 0.25],
                                "info": {**data.get("info", {}),
                                         "calibrated": "2026-12-01 07:00:00"}}))
    return path


@pytest.mark.parametrize("flags,target_ms,w_below,w_above", [
    (["--constraint", "hard"], 1e-4, 0.0, -1.0),  # every child above T
    (["--alpha", "-0.5", "--beta", "-0.3"], 1e4, -0.5, -0.3),  # every child below T
])
def test_constraint_and_target_reach_each_childs_reward(tmp_path, stand_in_table, flags, target_ms,
                                                        w_below, w_above):
    import latency_table

    table = slow_machine_table(tmp_path / "table.json", stand_in_table)
    out = tmp_path / "run"
    argv = ["--search", "--dataset", "synthetic", "--samples", "2", "--batch", "2", "--proxy-steps",
            "2", "--threads", "1",
            "--latency-table", str(table), "--target-ms", str(target_ms), "--out", str(out), *flags]
    assert train.main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    # the table is rescaled to today's milliseconds
    assert run["target_ms"] == target_ms and run["table_scale"] < 0.2
    # what predicted every child
    assert run["table_fit"] == {"fit": [1.5, 0.25], "calibrated": "2026-12-01 07:00:00"}
    for child in (json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()):
        arch = models.arch_from_dict(child["arch"])
        assert child["latency_ms"] == pytest.approx(
            latency_table.LatencyTable.load(table).predict(arch, run["table_scale"])
        )
        w = w_below if child["latency_ms"] <= target_ms else w_above
        assert child["reward"] == pytest.approx(
            child["accuracy"] * (child["latency_ms"] / target_ms) ** w
        )
        assert (child["latency_ms"] > target_ms) == (target_ms < 1)


def test_target_ratio_sets_t_as_a_multiple_of_mobilenetv2s_latency(tmp_path, stand_in_table):
    out = tmp_path / "run"
    argv = ["--search", "--dataset", "synthetic", "--samples", "1", "--batch", "1", "--proxy-steps",
            "1", "--threads", "1",
            "--latency-table", str(slow_machine_table(tmp_path / "table.json", stand_in_table)),
            "--target-ratio", "0.5",
            "--out", str(out)]
    assert train.main(argv) == 0
    # MobileNetV2 re-timed today, in the same scale as every child
    run = json.loads((out / "run.json").read_text())
    assert run["target_ms"] == pytest.approx(0.5 * run["references"]["mobilenetv2"])
    assert json.loads((out / "config.json").read_text())["target_ratio"] == 0.5  # kept for --resume


def test_proxy_settings_reach_each_childs_training(tmp_path, stand_in_table, monkeypatch):
    seen = []  # the training config each search hands its evaluator
    real = train.make_evaluator
    monkeypatch.setattr(train, "make_evaluator",
                        lambda config, data, cfg, out: seen.append(cfg) or real(config, data, cfg,
                                                                                out))
    out = tmp_path / "run"
    argv = ["--search", "--dataset", "synthetic", "--samples", "1", "--batch", "1", "--threads",
            "1", "--latency-table",
            str(stand_in_table), "--out", str(out), "--proxy-steps", "3", "--proxy-lr", "0.02",
            "--proxy-width", "0.25"]
    assert train.main(argv) == 0
    assert (seen[0].steps, seen[0].lr, seen[0].width_mult) == (3, 0.02, 0.25)
    config = json.loads((out / "config.json").read_text())
    del config["proxy_width"]  # a run from before --proxy-width existed ...
    (out / "config.json").write_text(json.dumps(config))
    assert train.main(["--search", "--resume", str(out), "--samples", "2"]) == 0
    assert seen[1].width_mult == 1.0  # ... resumes at the full width its children were trained at


def test_proxy_training_learns_far_above_chance():
    got = training.proxy_train(models.REFERENCE_ARCHS["mnasnet-small"],
                               training.DataSpec("synthetic"),
                               training.TrainConfig(steps=60, batch_size=64, lr=0.05, threads=1))
    assert got["accuracy"] > 0.5  # 10 classes: chance is 0.1; 0.90 here
    assert got["params"] == 2030264  # of the deployment network, as the paper's tables count


def test_ctrl_c_saves_everything_and_prints_the_resume_command(tmp_path, stand_in_table):
    """Also the command-line path of --workers: children trained in two worker processes."""
    import signal
    import time

    import latency_table

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--search", "--dataset",
                             "synthetic", "--samples", "50",
                             "--batch", "2", "--proxy-steps", "2", "--threads", "1", "--workers",
                             "2",
                             "--latency-table", str(stand_in_table), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    log, deadline = out / "search.jsonl", time.time() + 120
    while not (log.exists() and len(log.read_text().splitlines()) >= 2) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    done = len(log.read_text().splitlines())
    steps = lambda: sorted(
        json.loads(line)["step"] for line in log.read_text().splitlines()
    )  # noqa: E731
    # workers finish out of order: a batch may have a gap, never a repeat
    assert len(set(steps())) == done
    assert (
        f"interrupted: {done} children saved; continue with: python train.py --search --resume"
        f" {out}"
        in stdout
    )
    assert (
        (out / "best.json").exists() and (out / "pareto.png").exists() and "Traceback" not in stderr
    )
    # the printed arguments
    resume = stdout.strip().splitlines()[-1].split("continue with: python train.py ")[1].split()
    # Workers may change on resume. A batch in flight (2 children) is finished whole, so two more
    # children than were logged is what every interruption point resumes to.
    assert train.main([*resume, "--samples", str(done + 2), "--workers", "1"]) == 0
    lines = log.read_text().splitlines()
    assert steps() == list(range(done + 2))  # the gap, if any, is filled
    # and the resumed child is predicted in the units the run started with
    last, scale = json.loads(lines[-1]), json.loads((out / "run.json").read_text())["table_scale"]
    assert last["latency_ms"] == pytest.approx(
        latency_table.LatencyTable.load(stand_in_table).predict(
            models.arch_from_dict(last["arch"]), scale
        )
    )


# ----------------------------------------------------------------------------- what it replaced


def tiny_search(out, *flags):
    return ["--search", "--dataset", "synthetic", "--batch", "2", "--proxy-steps", "1",
            "--threads", "1", "--out", str(out), *flags]


def deployment_macs(arch):
    """Multiply-adds of the deployment network (224 px, 1000 classes), counted here."""
    return models.count_macs(models.build_model(arch))


def test_a_macs_search_rewards_macs_and_logs_each_measured_latency(tmp_path, stand_in_table):
    import latency_table

    out = tmp_path / "run"
    argv = tiny_search(out, "--samples", "2", "--latency", "macs", "--target-ratio", "0.5",
                       "--latency-table", str(stand_in_table))
    assert train.main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    mobilenetv2 = models.REFERENCE_ARCHS["mobilenetv2"]
    assert deployment_macs(mobilenetv2) / 1e6 == pytest.approx(300.8, abs=0.05)  # the paper's 300M
    assert run["lat_unit"] == "M MACs"
    assert run["target"] == pytest.approx(0.5 * deployment_macs(mobilenetv2) / 1e6)  # T in MACs
    table = latency_table.LatencyTable.load(stand_in_table)
    mobilenetv2_ms = table.predict(mobilenetv2, run["table_scale"])
    assert run["references"]["mobilenetv2"] == pytest.approx(mobilenetv2_ms, abs=1e-3)  # still ms
    assert run["target_ms"] == pytest.approx(0.5 * run["references"]["mobilenetv2"])  # T in ms
    for c in [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]:
        arch = models.arch_from_dict(c["arch"])
        assert c["macs"] == deployment_macs(arch)
        assert c["lat"] == pytest.approx(deployment_macs(arch) / 1e6)  # LAT(m): millions of MACs
        assert c["latency_ms"] == pytest.approx(table.predict(arch, run["table_scale"]))  # measured
        assert c["reward"] == pytest.approx(c["accuracy"] * (c["lat"] / run["target"]) ** -0.07)
    greedy = json.loads((out / "greedy.json").read_text())
    greedy_arch = models.arch_from_dict(greedy["arch"])
    assert greedy["lat"] == pytest.approx(deployment_macs(greedy_arch) / 1e6)
    soft = greedy["accuracy"] * (greedy["lat"] / run["target"]) ** -0.07  # Eq. 2 on MACs
    assert greedy["reward"] == pytest.approx(soft)
    assert json.loads((out / "config.json").read_text())["latency"] == "macs"  # kept for --resume


def test_a_cell_space_run_resumes_in_its_space(tmp_path, stand_in_table, capsys):
    out = tmp_path / "run"
    argv = tiny_search(out, "--samples", "2", "--space", "cell", "--latency-table",
                       str(stand_in_table))
    assert train.main(argv) == 0
    assert json.loads((out / "config.json").read_text())["space"] == "cell"
    assert train.main(["--search", "--resume", str(out), "--samples", "3"]) == 0  # no --space given
    assert "cell space" in capsys.readouterr().out
    children = [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]
    assert len(children) == 3 and all(len(c["tokens"]) == 6 for c in children)  # 6 tokens, not 42
    for c in children:
        arch = models.arch_from_dict(c["arch"])
        assert mnas.CellSpace().encode(arch) == c["tokens"]
        assert len({(b.op, b.expansion, b.kernel, b.se_ratio, b.skip) for b in arch.blocks}) == 1
    policy = controller.make_learning_rule("reinforce", mnas.CellSpace().decisions)  # 6 decisions
    policy.load_state_dict(torch.load(out / "controller.pt", weights_only=True)["controller"])


def test_a_run_from_before_the_cell_space_resumes_in_the_factorized_space(search_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(search_run[0], copy)
    config = json.loads((copy / "config.json").read_text())
    del config["space"]
    (copy / "config.json").write_text(json.dumps(config))
    run = json.loads((copy / "run.json").read_text())  # and without LAT's unit and T in it
    old = {k: v for k, v in run.items() if k not in ("target", "lat_unit")}
    (copy / "run.json").write_text(json.dumps(old))
    assert train.main(["--search", "--resume", str(copy), "--samples", "4"]) == 0
    last = json.loads((copy / "search.jsonl").read_text().splitlines()[-1])
    assert len(last["tokens"]) == 42 and last["lat"] == last["latency_ms"]
    lat_over_t = last["latency_ms"] / run["target_ms"]  # soft, on the measured latency
    assert last["reward"] == pytest.approx(last["accuracy"] * lat_over_t ** -0.07)


def test_a_table_of_another_platform_is_rejected_before_anything_is_written(tmp_path,
                                                                            stand_in_table, capsys):
    out = tmp_path / "run"
    argv = ["--search", "--dataset", "synthetic", "--latency", "executorch", "--latency-table",
            str(stand_in_table),
            "--out", str(out)]
    assert train.main(argv) == 2  # the stand-in table was built for cpu
    assert capsys.readouterr().err.strip() == (f"error: --latency-table {stand_in_table} was "
                                               "built for cpu: "
                                               "pass --latency cpu (or macs)")
    assert not out.exists()


def test_a_resumed_run_keeps_its_settings_but_how_it_runs(tmp_path):
    from cli import Parser

    run.SearchConfig(seed=3, samples=10, proxy_steps=7).save(tmp_path)
    p = Parser()
    run.SearchConfig.add_options(p)
    args = p.parse_args(["--seed", "5", "--proxy-steps", "9", "--samples", "20", "--workers", "2",
                         "--device", "cpu"])
    resumed = run.SearchConfig.from_args(args, resume=str(tmp_path))
    assert (resumed.seed, resumed.proxy_steps) == (3, 7)  # what it searches: the run's own
    assert (resumed.samples, resumed.workers, resumed.device) == (20, 2, "cpu")  # how it runs
    fresh = run.SearchConfig.from_args(p.parse_args([]))
    assert (fresh.samples, fresh.workers) == (100, 1)
    again = run.SearchConfig.from_args(p.parse_args([]), resume=str(tmp_path))
    assert again.samples == 10  # not given: the run's own count, not the default
