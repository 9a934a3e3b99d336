"""The weight-sharing supernet: a path is a models.py child, BatchNorm re-estimation, resumable
training, a search."""

import json
import random
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset

import mnas
import supernet
import train
import training
from models import replace_block

SPACE = mnas.SearchSpace()


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return supernet.Supernet(SPACE, num_classes=10, small_input=True, in_channels=1).eval()


def some_archs(n=6, seed=0):
    """Random children, plus one that uses every ConvOp, both kernels and SE ratios and an emptied
    block."""
    rng = random.Random(seed)
    archs = [SPACE.decode(SPACE.sample(rng)) for _ in range(n)]
    mixed = archs[0]
    for i, (op, e, k, se) in enumerate([("conv", 1, 3, 0.0), ("dconv", 1, 5, 0.25),
                                        ("mbconv", 3, 3, 0.25), ("mbconv", 6, 5, 0.0)]):
        mixed = replace_block(mixed, i + 1, op=op, expansion=e, kernel=k, se_ratio=se)
    return archs + [replace_block(mixed, 0, repeats=0)]


def test_a_path_computes_exactly_its_extracted_child(net):
    x = torch.randn(4, 1, 28, 28)
    for arch in some_archs():
        child = net.extract(arch).eval()
        assert type(child).__name__ == "MnasNet" and child.arch == arch
        torch.testing.assert_close(net(x, arch), child(x), rtol=0, atol=0)


def test_a_path_trains_only_its_own_weights(net):
    # block 2 is a conv: the dconv and MBConv weights of its layers are not on the path
    arch = some_archs()[-1]
    net.train()
    net.zero_grad()
    net(torch.randn(4, 1, 28, 28), arch).sum().backward()
    net.eval()
    assert net.layers["block2_layer1_conv"].body[0][0].weight.grad.abs().sum() > 0
    assert net.layers["block2_layer1_dconv"].body[0][0].weight.grad is None
    # block 2 has 2 layers in this child
    assert net.layers["block2_layer3_conv"].body[0][0].weight.grad is None
    # A 3x3 child uses the centre of the shared 5x5 kernel: the ring around it gets no gradient.
    grad = net.layers["block2_layer1_conv"].body[0][0].weight.grad
    assert (
        grad[:, :, 1:4, 1:4].abs().sum() > 0
        and grad[:, :, 0].abs().sum() == 0
        and grad[:, :, :, 4].abs().sum() == 0
    )
    net.zero_grad()


def test_a_paths_gradients_are_exactly_its_extracted_childs(net):
    arch, x, y = some_archs()[-1], torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    child = net.extract(arch).train()
    net.train()
    net.zero_grad()
    torch.nn.functional.cross_entropy(net(x, arch), y).backward()
    torch.nn.functional.cross_entropy(child(x), y).backward()
    net.eval()
    _, shared = net._skeleton(arch)
    wide = dict(net.named_parameters())
    for name, p in child.named_parameters():
        grad = wide[shared[name]].grad.clone()
        torch.testing.assert_close(supernet.slice_to(grad, p.shape), p.grad)
        supernet.slice_to(grad, p.shape).zero_()
        assert grad.abs().sum() == 0, name  # nothing outside the child's slice
    net.zero_grad()


def test_training_without_an_architecture_samples_a_new_path_each_step(net):
    copy = supernet.Supernet(SPACE, num_classes=10, small_input=True, in_channels=1, seed=3).train()
    first, second = copy.sample(), copy.sample()
    assert first != second and int(copy.paths_taken) == 2
    again = supernet.Supernet(SPACE, num_classes=10, small_input=True, in_channels=1, seed=3)
    assert again.sample() == first  # the sequence is a function of the seed and the count
    with pytest.raises(ValueError, match="needs an architecture"):
        net(torch.randn(2, 1, 28, 28))


def test_bn_re_estimation_changes_only_statistics(net):
    child = net.extract(some_archs()[1])
    for m in child.modules():  # statistics from elsewhere, to be replaced, not averaged with
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(100.0)
            m.num_batches_tracked.fill_(10)
    params = {k: v.clone() for k, v in child.named_parameters()}
    batches = [torch.randn(16, 1, 28, 28) + 3 for _ in range(3)]
    supernet.recalibrate_bn(child, batches)
    assert all(torch.equal(params[k], v) for k, v in child.named_parameters())
    assert not child.training and child.stem[1].momentum == 0.1  # eval mode, momentum restored
    # The stem's statistics are now the plain average of the three batches' statistics.
    stem_out = [torch.nn.functional.conv2d(x, child.stem[0].weight, padding=1) for x in batches]
    torch.testing.assert_close(child.stem[1].running_mean,
                               torch.stack([y.mean((0, 2, 3)) for y in stem_out]).mean(0),
                               rtol=1e-4, atol=1e-5)


def test_supernet_training_resumes_exactly(tmp_path):
    torch.set_num_threads(1)
    data = training.DataSpec("synthetic")
    cfg = training.replace(supernet.TRAIN, steps=6, batch_size=8)

    def run(checkpoint, stop_after=None):
        torch.manual_seed(0)
        net = supernet.Supernet(SPACE, 10, True, 3)
        calls = [0]

        def loss(model, batch):
            calls[0] += 1
            if calls[0] == stop_after:
                raise KeyboardInterrupt  # stopped mid-training
            return training.classification_loss(model, batch)

        try:
            training.train_steps(net, training.load_splits(data)["train"], cfg, loss_fn=loss,
                                 checkpoint=checkpoint, every=2)
        except KeyboardInterrupt:
            return None
        return net

    whole = run(tmp_path / "whole.pt")
    # steps 1-3 ran; the checkpoint holds step 2
    assert run(tmp_path / "cut.pt", stop_after=4) is None
    assert torch.load(tmp_path / "cut.pt", weights_only=True)["step"] == 2
    resumed = run(tmp_path / "cut.pt")
    assert int(resumed.paths_taken) == 6
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_search_with_the_supernet_evaluator_end_to_end(tmp_path, capsys, stand_in_table):
    out = tmp_path / "run"
    argv = ["--search", "--dataset", "synthetic", "--val-size", "100", "--evaluator", "supernet",
            "--supernet-steps", "4", "--samples", "2",
            "--batch", "2", "--out", str(out), "--threads", "1", "--latency-table",
            str(stand_in_table)]
    assert train.main(argv) == 0
    children = [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]
    assert len(children) == 2 and all(
        c["status"] == "ok" and 0 <= c["accuracy"] <= 1 for c in children
    )
    assert torch.load(out / "supernet.pt", weights_only=True)["step"] == 4
    assert "scored by the supernet" in capsys.readouterr().out
    stamp = (out / "supernet.pt").stat().st_mtime_ns
    assert train.main(["--search", "--resume", str(out), "--samples", "3"]) == 0
    assert len((out / "search.jsonl").read_text().splitlines()) == 3
    # a finished supernet is loaded, not trained again
    assert (out / "supernet.pt").stat().st_mtime_ns == stamp


def test_a_child_is_scored_with_statistics_of_its_own(net, monkeypatch):
    arch = some_archs()[2]
    batches = [torch.randn(16, 1, 28, 28) - 2 for _ in range(2)]
    val = torch.utils.data.TensorDataset(torch.randn(8, 1, 28, 28),
                                         torch.zeros(8, dtype=torch.long))
    scored = []
    monkeypatch.setattr(supernet.training, "accuracy",
                        lambda model, data: scored.append(model) or 0.5)
    assert supernet.score(net, arch, val, batches)["accuracy"] == 0.5
    stem = scored[0].stem
    want = torch.stack(
        [torch.nn.functional.conv2d(x, stem[0].weight, padding=1).mean((0, 2, 3)) for x in batches]
    ).mean(0)
    torch.testing.assert_close(stem[1].running_mean, want, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------- sub-spaces, BigNAS's recipe (issue 22)

def sub_space(name):
    return supernet.SubSpace(SPACE, **supernet.SUB_SPACES[name])


def test_a_sub_space_draws_only_its_part():
    rng = random.Random(0)
    sub = sub_space("identity-mbconv")
    archs = [SPACE.decode(sub.draw(rng)) for _ in range(200)]
    blocks = [(i, b) for a in archs for i, b in enumerate(a.blocks)]
    assert all(b.skip == "identity" and b.op == "mbconv" for _, b in blocks)
    assert {b.repeats - SPACE.skeleton[i][2] for i, b in blocks} == {0, 1}  # no block vanishes
    assert {b.expansion for _, b in blocks} == {3, 6}  # the rest is drawn
    assert {b.kernel for _, b in blocks} == {3, 5}
    free = [SPACE.decode(sub_space("identity").draw(rng)) for _ in range(200)]
    assert {b.op for a in free for b in a.blocks} == {"conv", "dconv", "mbconv"}  # ConvOp left free
    assert all(b.skip == "identity" for a in free for b in a.blocks)
    # Nothing restricted: exactly the space's own draws.
    assert ([sub_space("uniform").draw(random.Random(k)) for k in range(5)]
            == [SPACE.sample(random.Random(k)) for k in range(5)])
    # `in` tells a child of the part from the others.
    uniform = [SPACE.sample(random.Random(k)) for k in range(50)]
    assert all(SPACE.encode(a) in sub for a in archs) and not any(t in sub for t in uniform)
    net = supernet.Supernet(SPACE, 10, True, 1, seed=3)
    arch = net.sample(sub.draw)  # the supernet takes a sampler; still a function of seed and count
    assert SPACE.encode(arch) in sub and int(net.paths_taken) == 1
    with pytest.raises(ValueError, match="unknown decision"):
        supernet.SubSpace(SPACE, skips=("identity",))
    with pytest.raises(ValueError, match="non-empty part"):
        supernet.SubSpace(SPACE, layers=(2,))


def test_the_ends_of_the_sandwich():
    largest = supernet.fixed_path(SPACE, supernet.LARGEST)
    smallest = supernet.fixed_path(SPACE, supernet.SMALLEST)
    sub = sub_space("identity-mbconv")
    assert SPACE.encode(largest) in sub and SPACE.encode(smallest) in sub
    for i, (big, small) in enumerate(zip(largest.blocks, smallest.blocks)):
        assert (big.expansion, big.kernel, big.se_ratio, big.out, big.repeats) == (
            6, 5, 0.25, max(SPACE.block_filters(i)), max(SPACE.block_layers(i)))
        assert (small.expansion, small.kernel, small.se_ratio, small.out, small.repeats) == (
            3, 3, 0.0, min(SPACE.block_filters(i)), SPACE.skeleton[i][2])


def test_the_sandwich_step_trains_four_children_and_distils_from_the_largest():
    torch.manual_seed(0)
    net = supernet.Supernet(SPACE, 10, True, 3, seed=1).train()
    torch.manual_seed(0)
    ref = supernet.Supernet(SPACE, 10, True, 3, seed=1).train()
    x, y = training.synthetic_images(8, seed=0)
    sub = sub_space("identity-mbconv")
    got = supernet.sandwich_step(net, x, y, sub, label_smoothing=0.1)
    largest, smallest, *rest = got["archs"]
    assert largest == supernet.fixed_path(SPACE, supernet.LARGEST)
    assert smallest == supernet.fixed_path(SPACE, supernet.SMALLEST)
    assert len(rest) == 2 and rest[0] != rest[1] and all(SPACE.encode(a) in sub for a in rest)
    assert int(net.paths_taken) == 2  # the two random children are the supernet's draws
    # The gradients are those of: the largest on the labels, plus each other child on the
    # largest's probabilities, a target (detached), summed before one step.
    logits = ref(x, largest)
    on_labels = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    teacher = logits.detach().softmax(1)
    loss = on_labels
    for arch in (smallest, *rest):
        loss = loss - (teacher * ref(x, arch).log_softmax(1)).sum(1).mean()
    loss.backward()
    want = dict(ref.named_parameters())
    for name, p in net.named_parameters():
        if want[name].grad is None:
            assert p.grad is None, name
        else:
            torch.testing.assert_close(p.grad, want[name].grad, rtol=1e-4, atol=1e-6, msg=name)
    assert got["loss"] == pytest.approx(on_labels.item())


def test_the_gradient_norm_is_recorded_before_clipping_and_the_lr_is_constant():
    data = training.load_splits(training.DataSpec("synthetic"))["train"]
    cfg = training.replace(supernet.TRAIN, steps=1, batch_size=8, clip_grad_norm=1e-3, threads=1,
                           channels_last=False)  # the layout of the step by hand below
    sub = sub_space("identity-mbconv")
    torch.manual_seed(0)
    net = supernet.Supernet(SPACE, 10, True, 3)
    torch.manual_seed(0)
    ref = supernet.Supernet(SPACE, 10, True, 3).train()
    before = net.stem[1].bias.detach().clone()
    curves = supernet.train_sampled(net, data, cfg, sub)
    # The same step by hand: train_steps' first batch, the supernet's first path.
    seed = torch.Generator().manual_seed(cfg.seed)
    order = list(torch.utils.data.RandomSampler(data, True, cfg.batch_size, seed))
    x, y = torch.utils.data.default_collate([data[i] for i in order])
    logits = ref(x, ref.sample(sub.draw))
    torch.nn.functional.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing).backward()
    grads = [p.grad.norm() for p in ref.parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(grads))
    assert norm > 100 * cfg.clip_grad_norm  # this step was clipped...
    assert curves["grad_norm"][0] == pytest.approx(norm.item(), rel=1e-6)  # ...the unclipped norm
    # The update used the clipped gradient at the full lr (no warm-up): on SGD's first Nesterov
    # step a BN bias (no decay) moves by lr * (1 + momentum) * g * clip / norm.
    step = cfg.lr * 1.9 * ref.stem[1].bias.grad * cfg.clip_grad_norm / norm
    torch.testing.assert_close(net.stem[1].bias.detach(), before - step, rtol=1e-4, atol=1e-9)


def test_zero_init_makes_residual_bodies_start_as_the_identity():
    torch.manual_seed(0)
    net = supernet.Supernet(SPACE, 10, True, 1)
    zeroed = supernet.zero_init_residual_bn(net)

    def last_bn(key):
        norms = [m for m in net.layers[key].body.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        return norms[-1].weight

    assert "block3_layer2_mbconv6" in zeroed and "block3_layer2_dconv" in zeroed
    assert all(last_bn(k).abs().sum() == 0 for k in zeroed)
    assert "block3_layer1_mbconv6" not in zeroed  # a first layer: no shortcut
    assert last_bn("block3_layer1_mbconv6").min() == 1
    assert "block3_layer2_conv" not in zeroed  # its last BN feeds a ReLU: left alone
    assert last_bn("block3_layer2_conv").min() == 1
    # every non-first layer of a block, for 3 of the 4 ConvOps
    assert len(zeroed) == 3 * sum(max(SPACE.block_layers(i)) - 1 for i in range(7))
    child = net.extract(supernet.fixed_path(SPACE, supernet.LARGEST)).eval()
    layer = child.blocks[2][1]
    h = torch.randn(2, layer.body[0][0].in_channels, 7, 7)
    assert torch.equal(layer(h), h)  # a residual layer computes the identity at initialization


def test_sharing_records_each_sampler_once(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import records
    import sharing

    monkeypatch.setattr(records, "git_commit", lambda: "0123456789abcdef0123456789abcdef01234567")
    tiny = training.replace(supernet.TRAIN, batch_size=4)
    monkeypatch.setattr(supernet, "TRAIN", tiny)
    # BatchNorm re-estimated on one small batch: what is recorded, fast
    few = supernet.calibration_batches
    monkeypatch.setattr(supernet, "calibration_batches",
                        lambda data, device="cpu": few(data, 1, 16, device=device))
    splits = training.load_splits  # each child scored on 32 held-out images: what is recorded, fast
    monkeypatch.setattr(training, "load_splits",
                        lambda spec: splits(spec) | {"val": Subset(splits(spec)["val"], range(32))})
    out = tmp_path / "sharing.json"
    old = {"paths": 2, "steps": 10, "loss_curve": [2.3] * 10, "child_accuracy": [0.1],
           "dataset": "synthetic"}
    records.append(out, old)  # a --paths regime's record stays, and is no sampler's
    argv = ["--samplers", "identity-mbconv,sandwich", "--steps", "10", "--threads", "1",
            "--dataset", "synthetic", "--out", str(out)]
    assert sharing.main(argv) == 0
    _, mbconv, sandwich = got = records.load(out)
    assert (mbconv["sampler"], sandwich["sampler"]) == ("identity-mbconv", "sandwich")
    for r in (mbconv, sandwich):
        assert r["lr_schedule"] == "constant" and r["steps"] == 10 and r["dataset"] == "synthetic"
        assert len(r["loss_curve"]) == len(r["grad_norm_curve"]) == 10
        assert len(r["child_accuracy"]) == 4 and all(0 <= a <= 1 for a in r["child_accuracy"])
        assert r["command"].startswith("python benchmarks/sharing.py")
        assert set(r["init_grad_norms"]) == set(sharing.INIT_PATHS) and 0 <= r["clipped_share"] <= 1
        assert r["sub_space"]["skip"] == ["identity"]
        assert "panel" not in r  # the panel ranks Fashion-MNIST supernets only
    assert not mbconv["zero_init_residual_bn"] and not mbconv["sandwich"]
    assert sandwich["zero_init_residual_bn"] and sandwich["sandwich"]
    assert 0 <= sandwich["largest_accuracy"] <= 1 and 0 <= sandwich["smallest_accuracy"] <= 1
    assert "largest_accuracy" not in mbconv and len(sandwich["distill_curve"]) == 10
    # zero-initialized residual bodies: the gradient at initialization shrinks
    for path in ("mbconv6 +1 skip none", "mbconv6 +1 skip identity"):
        assert sandwich["init_grad_norms"][path] < mbconv["init_grad_norms"][path]
    monkeypatch.setattr(sharing, "run_sampler", lambda *a: pytest.fail("trained again"))
    assert sharing.main(argv) == 0 and records.load(out) == got  # resumes: nothing left to do
    capsys.readouterr()
    assert sharing.main(["--samplers", "uniform,spos", "--out", str(out)]) == 2
    choices = "uniform, identity, identity-mbconv, sandwich"
    assert capsys.readouterr().err == f"error: --samplers: unknown spos (choose from {choices})\n"


def test_panel_tau_ranks_the_members_inside_the_sub_space(monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import sharing

    base = supernet.fixed_path(SPACE, supernet.SMALLEST)
    archs = {f"m{k}": replace_block(base, k, repeats=base.blocks[k].repeats + 1) for k in range(4)}
    archs["outside"] = replace_block(base, 0, skip="none")  # not in identity-mbconv: not scored
    archs["untrained"] = replace_block(base, 5, kernel=5)  # not in the panel's truth
    names = ["m0", "m1", "m2", "m3", "outside"]
    truth = {name: {"accuracy": 0.5 + 0.1 * k} for k, name in enumerate(names)}
    shared = {archs[f"m{k}"]: acc for k, acc in enumerate([0.2, 0.3, 0.5, 0.4])}
    monkeypatch.setattr(supernet, "score", lambda net, arch, *_: {"accuracy": shared[arch]})
    net, sub = supernet.Supernet(SPACE, 10, True, 1), sub_space("identity-mbconv")
    got = sharing.panel_tau(net, sub, archs, truth, None, [])
    assert set(got["accuracy"]) == {"m0", "m1", "m2", "m3"}
    assert got["kendall_tau"] == pytest.approx(4 / 6)  # 5 of 6 pairs in the panel's order
    two = sharing.panel_tau(net, sub, {n: archs[n] for n in ("m0", "m1")}, truth, None, [])
    assert two["kendall_tau"] is None  # too few members to rank
