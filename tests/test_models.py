"""models.py: reference architectures match their published parameter counts and MACs exactly."""

import json
import random

import pytest
import torch
import torchvision

import models
from mnas import SearchSpace
from models import REFERENCE_ARCHS, build_model, count_macs, count_params

# PAPER.md: exact parameter counts (224 px, 1000 classes) and MACs in millions.
A1_PARAMS = {1.0: 3_887_038, 0.5: 2_082_006, 0.75: 2_912_278, 1.4: 6_105_992}
PAPER_MACS = {("mnasnet-a1", 1.0): 311.6, ("mnasnet-a1", 0.5): 103.2, ("mnasnet-a1", 0.75): 223.4,
              ("mnasnet-a1", 1.4): 586.3, ("mnasnet-b1", 1.0): 314.4, ("mnasnet-b1", 0.5): 104.5,
              ("mnasnet-b1", 0.75): 215.5, ("mnasnet-b1", 1.3): 526.4, ("mnasnet-small", 1.0): 68.3,
              ("mobilenetv2", 1.0): 300.8}


@pytest.mark.parametrize("width", [1.0, 0.5, 0.75, 1.3])
def test_mnasnet_b1_equals_torchvision(width):
    ours = build_model("mnasnet-b1", width_mult=width)
    theirs = torchvision.models.mnasnet.MNASNet(width)
    assert count_params(ours) == count_params(theirs)


def test_mobilenetv2_equals_torchvision():
    assert count_params(build_model("mobilenetv2")) == count_params(
        torchvision.models.mobilenet_v2()
    )


@pytest.mark.parametrize("width", A1_PARAMS)
def test_mnasnet_a1_params(width):
    assert count_params(build_model("mnasnet-a1", width_mult=width)) == A1_PARAMS[width]


def test_mnasnet_small_params():
    assert count_params(build_model("mnasnet-small")) == 2_030_264


@pytest.mark.parametrize("name,width", PAPER_MACS)
def test_macs_match_paper(name, width):
    macs = count_macs(build_model(name, width_mult=width), 224) / 1e6
    assert macs == pytest.approx(PAPER_MACS[name, width], rel=0.005)


def test_width_multiplier_rounding():
    # TF/torchvision rule: a multiple of 8, never below 90% of the unrounded value.
    assert models.round_channels(24, 0.5) == 16  # 12 -> 16
    assert models.round_channels(40, 0.5) == 24  # 20 -> 24
    assert models.round_channels(32, 0.75) == 24
    assert models.round_channels(18, 1.0) == 18  # width 1.0 builds the description as written


def test_small_input_only_changes_the_stem_stride():
    big, small = build_model("mnasnet-a1"), build_model("mnasnet-a1", small_input=True)
    assert big.stem[0].stride == (2, 2) and small.stem[0].stride == (1, 1)
    assert count_params(big) == count_params(small)
    assert small.features(torch.zeros(1, 3, 32, 32)).shape[-2:] == (2, 2)  # 16x downsampling
    assert big.features(torch.zeros(1, 3, 224, 224)).shape[-2:] == (7, 7)  # 32x downsampling


def test_identity_skip_only_where_shapes_match():
    spec = models.LayerSpec("mbconv", 24, 24, 3, 1, 6, 0.0, "identity")
    assert isinstance(models.Layer(spec).shortcut, torch.nn.Identity)
    for changed in [dict(stride=2), dict(cout=32)]:
        assert models.Layer(models.LayerSpec(**{**spec.__dict__, **changed})).shortcut is None


def test_descriptions_that_build_the_same_network_share_a_key():
    v2 = REFERENCE_ARCHS["mobilenetv2"]
    # block 1 without layers: its other choices shape nothing
    shallow = models.replace_block(v2, 0, repeats=0)
    assert models.network_key(models.replace_block(shallow, 0, kernel=5, se_ratio=0.25,
                                                   skip="pool")) == models.network_key(shallow)
    # 32 -> 16 channels: no identity
    assert models.network_key(models.replace_block(v2, 0, skip="none")) == models.network_key(v2)
    # 24 -> 24: a real identity
    assert models.network_key(models.replace_block(v2, 1, skip="none")) != models.network_key(v2)
    assert models.network_key(models.replace_block(v2, 1, kernel=5)) != models.network_key(v2)
    assert models.network_key(shallow) != models.network_key(v2)


def test_pool_skip_is_a_parameter_free_pooled_residual():
    # pool skip: y = body(x) + avgpool3x3(x, stride); it also bridges a stride-2 layer.
    spec = models.LayerSpec("mbconv", 16, 16, 3, 2, 3, 0.0, "pool")
    pooled, plain = models.Layer(spec), models.Layer(models.LayerSpec(**{**spec.__dict__,
                                                                         "skip": "none"}))
    plain.load_state_dict(pooled.state_dict())
    assert count_params(pooled) == count_params(plain)
    x = torch.randn(2, 16, 8, 8)
    pooled.eval(), plain.eval()
    expected = plain(x) + torch.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    torch.testing.assert_close(pooled(x), expected)
    assert pooled(x).shape == (2, 16, 4, 4)


def test_se_squeezes_from_the_layer_input_channels():
    # TF reference: SE squeezes the expanded features to max(1, int(block_input * se_ratio)).
    layer = models.Layer(models.LayerSpec("mbconv", 40, 40, 5, 1, 3, 0.25, "identity"))
    se = next(m for m in layer.modules() if isinstance(m, models.SqueezeExcite))
    assert (se.reduce.in_channels, se.reduce.out_channels) == (120, 10)


def test_json_round_trip(tmp_path):
    for name, arch in REFERENCE_ARCHS.items():
        path = tmp_path / f"{name}.json"
        models.save_arch(arch, path, accuracy=0.9)
        assert models.load_arch(str(path)) == arch
        assert models.arch_from_dict(json.loads(json.dumps(models.arch_to_dict(arch)))) == arch


@pytest.mark.parametrize("field,value,message", [
    ("kernel", 4, "blocks[2]: field 'kernel' must be odd"),
    ("op", "lstm", "blocks[2]: field 'op' must be one of"),
    ("skip", "maybe", "blocks[2]: field 'skip' must be one of"),
    ("repeats", -1, "blocks[2]: field 'repeats'"),
    ("se_ratio", "high", "blocks[2]: field 'se_ratio'"),
    ("colour", "red", "blocks[2]: unknown field 'colour'"),
])
def test_invalid_json_names_block_and_field(field, value, message):
    d = models.arch_to_dict(REFERENCE_ARCHS["mnasnet-a1"])
    d["blocks"][2][field] = value
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        models.arch_from_dict(d)


def test_random_search_space_archs_build_and_run():
    space, rng = SearchSpace(), random.Random(0)
    with torch.no_grad():
        for _ in range(25):
            arch = space.decode(space.sample(rng))
            assert build_model(arch).eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
            small = build_model(arch, num_classes=10, small_input=True).eval()
            assert small(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_mobilenetv2_point_of_the_space():
    # dconv in block 1, MBConv e6 k3 elsewhere, no SE, identity skip, filters 1.0x, layers +0.
    space = SearchSpace()
    per_block = {"conv_op": 3, "kernel": 0, "se_ratio": 0, "skip": 1, "filters": 1, "layers": 1}
    tokens = [per_block[name.split(".")[1]] for name, _ in space.decisions]
    tokens[0] = 1  # block 1: dconv
    arch = space.decode(tokens)
    assert arch == REFERENCE_ARCHS["mobilenetv2"]
    assert count_params(build_model(arch)) == count_params(torchvision.models.mobilenet_v2())


def run_cli(capsys, *argv):
    code = models.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_prints_table_and_totals(capsys):
    code, out, _ = run_cli(capsys, "mnasnet-a1")
    assert code == 0
    assert out.splitlines()[-1] == "params=3887038 macs=311579072"
    assert len(out.splitlines()) == 1 + 1 + 7 + 1 + 1  # header, stem, 7 blocks, head, totals


def test_cli_accepts_a_json_file(tmp_path, capsys):
    path = tmp_path / "b1.json"
    models.save_arch(REFERENCE_ARCHS["mnasnet-b1"], path)
    code, out, _ = run_cli(capsys, str(path), "--width-mult", "0.5")
    assert code == 0 and out.splitlines()[-1].startswith("params=2218512 ")


@pytest.mark.parametrize("argv,message", [
    (["resnet50"], "unknown architecture 'resnet50' (choose from mobilenetv2, mnasnet-a1"),
    (["missing.json"], "cannot read missing.json"),
    (["mnasnet-a1", "--width-mult", "-1"], "--width-mult must be > 0"),
])
def test_cli_bad_input_is_one_line_and_status_2(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_bad_json_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"blocks": [{"op": "conv"}]}')
    code, _, err = run_cli(capsys, str(path))
    assert code == 2 and "blocks[0]: missing field" in err and len(err.strip().splitlines()) == 1
    path.write_text("{not json")
    code, _, err = run_cli(capsys, str(path))
    assert code == 2 and "is not valid JSON" in err


def load_in_order(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    """Copy `theirs`' weights and statistics into `ours`, tensor by tensor in definition order."""
    pairs = list(zip(ours.state_dict().items(), theirs.state_dict().values()))
    assert len(pairs) == len(theirs.state_dict()) and all(a.shape == b.shape for (_, a), b in pairs)
    ours.load_state_dict({name: b for (name, _), b in pairs})


@pytest.mark.parametrize("name,reference",
                         [("mnasnet-b1", "mnasnet1_0"), ("mobilenetv2", "mobilenet_v2")])
def test_outputs_equal_torchvision_with_the_same_weights(name, reference):
    torch.manual_seed(0)
    ours, theirs = build_model(name).eval(), getattr(torchvision.models, reference)().eval()
    for m in theirs.modules():  # give BatchNorm statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    load_in_order(ours, theirs)
    x = 4 * torch.randn(2, 3, 224, 224)  # large enough that some activations pass 6
    with torch.no_grad():
        # torchvision's MobileNetV2 uses ReLU6; the paper's models and ours use ReLU
        if name == "mobilenetv2":
            assert not torch.allclose(ours(x), theirs(x))
            for parent in theirs.modules():
                for child_name, child in parent.named_children():
                    if isinstance(child, torch.nn.ReLU6):
                        setattr(parent, child_name, torch.nn.ReLU())
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("name,reference",
                         [("mnasnet-a1", "semnasnet_100"), ("mnasnet-small", "mnasnet_small")])
def test_outputs_equal_timm_with_the_same_weights(name, reference):
    # requirements-test.txt: an independent implementation of A1 and small
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    ours, theirs = build_model(name).eval(), timm.create_model(reference, pretrained=False).eval()
    if name == "mnasnet-small":
        # The TF reference names the first block's input 16 filters and its output 8, so it gets no
        # skip;
        # timm compares the real 8 and 8 and adds one. Ours follows TF.
        theirs.blocks[0][0].has_skip = False
    load_in_order(ours, theirs)
    x = 4 * torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_one_layer_type_replaces_every_blocks_op_and_kernel_and_keeps_the_rest():
    a1 = models.REFERENCE_ARCHS["mnasnet-a1"]
    variant = models.one_layer_type(a1, "mbconv", 6, 5)
    assert [(b.op, b.expansion, b.kernel) for b in variant.blocks] == [("mbconv", 6,
                                                                        5)] * len(a1.blocks)
    keep = lambda a: [(b.stride, b.repeats, b.out, b.se_ratio,
                       b.skip) for b in a.blocks]  # noqa: E731
    assert keep(variant) == keep(a1) and (variant.stem, variant.head) == (a1.stem, a1.head)
    assert a1.blocks[0].op == "dconv"  # the original is untouched (the first block is a SepConv)
