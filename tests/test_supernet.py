"""The weight-sharing supernet: a path is a models.py child, BatchNorm re-estimation, resumable training, a search."""

import json
import random

import pytest
import torch

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
    """Random children, plus one that uses every ConvOp, both kernels and SE ratios and an emptied block."""
    rng = random.Random(seed)
    archs = [SPACE.decode(SPACE.sample(rng)) for _ in range(n)]
    mixed = archs[0]
    for i, (op, e, k, se) in enumerate([("conv", 1, 3, 0.0), ("dconv", 1, 5, 0.25), ("mbconv", 3, 3, 0.25), ("mbconv", 6, 5, 0.0)]):
        mixed = replace_block(mixed, i + 1, op=op, expansion=e, kernel=k, se_ratio=se)
    return archs + [replace_block(mixed, 0, repeats=0)]


def test_a_path_computes_exactly_its_extracted_child(net):
    x = torch.randn(4, 1, 28, 28)
    for arch in some_archs():
        child = net.extract(arch).eval()
        assert type(child).__name__ == "MnasNet" and child.arch == arch
        torch.testing.assert_close(net(x, arch), child(x), rtol=0, atol=0)


def test_a_path_trains_only_its_own_weights(net):
    arch = some_archs()[-1]  # block 2 is a conv: the dconv and MBConv weights of its layers are not on the path
    net.train()
    net.zero_grad()
    net(torch.randn(4, 1, 28, 28), arch).sum().backward()
    net.eval()
    assert net.layers["block2_layer1_conv"].body[0][0].weight.grad.abs().sum() > 0
    assert net.layers["block2_layer1_dconv"].body[0][0].weight.grad is None
    assert net.layers["block2_layer3_conv"].body[0][0].weight.grad is None  # block 2 has 2 layers in this child
    # A 3x3 child uses the centre of the shared 5x5 kernel: the ring around it gets no gradient.
    grad = net.layers["block2_layer1_conv"].body[0][0].weight.grad
    assert grad[:, :, 1:4, 1:4].abs().sum() > 0 and grad[:, :, 0].abs().sum() == 0 and grad[:, :, :, 4].abs().sum() == 0
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
    torch.testing.assert_close(child.stem[1].running_mean, torch.stack([y.mean((0, 2, 3)) for y in stem_out]).mean(0),
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
            training.train_steps(net, training.load_splits(data)["train"], cfg, loss_fn=loss, checkpoint=checkpoint, every=2)
        except KeyboardInterrupt:
            return None
        return net

    whole = run(tmp_path / "whole.pt")
    assert run(tmp_path / "cut.pt", stop_after=4) is None  # steps 1-3 ran; the checkpoint holds step 2
    assert torch.load(tmp_path / "cut.pt", weights_only=True)["step"] == 2
    resumed = run(tmp_path / "cut.pt")
    assert int(resumed.paths_taken) == 6
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_search_with_the_supernet_evaluator_end_to_end(tmp_path, capsys, stand_in_table):
    out = tmp_path / "run"
    argv = ["--search", "--dataset", "synthetic", "--val-size", "100", "--evaluator", "supernet", "--supernet-steps", "4", "--samples", "2",
            "--batch", "2", "--out", str(out), "--threads", "1", "--latency-table", str(stand_in_table)]
    assert train.main(argv) == 0
    children = [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]
    assert len(children) == 2 and all(c["status"] == "ok" and 0 <= c["accuracy"] <= 1 for c in children)
    assert torch.load(out / "supernet.pt", weights_only=True)["step"] == 4
    assert "scored by the supernet" in capsys.readouterr().out
    stamp = (out / "supernet.pt").stat().st_mtime_ns
    assert train.main(["--search", "--resume", str(out), "--samples", "3"]) == 0
    assert len((out / "search.jsonl").read_text().splitlines()) == 3
    assert (out / "supernet.pt").stat().st_mtime_ns == stamp  # a finished supernet is loaded, not trained again


def test_a_child_is_scored_with_statistics_of_its_own(net, monkeypatch):
    arch = some_archs()[2]
    batches = [torch.randn(16, 1, 28, 28) - 2 for _ in range(2)]
    val = torch.utils.data.TensorDataset(torch.randn(8, 1, 28, 28), torch.zeros(8, dtype=torch.long))
    scored = []
    monkeypatch.setattr(supernet.training, "accuracy", lambda model, data: scored.append(model) or 0.5)
    assert supernet.score(net, arch, val, batches)["accuracy"] == 0.5
    stem = scored[0].stem
    want = torch.stack([torch.nn.functional.conv2d(x, stem[0].weight, padding=1).mean((0, 2, 3)) for x in batches]).mean(0)
    torch.testing.assert_close(stem[1].running_mean, want, rtol=1e-4, atol=1e-5)
