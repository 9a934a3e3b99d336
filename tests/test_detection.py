"""SSDLite detectors on the project's networks (paper Sec. 6.3, Table 3): sizes, any searched
backbone, training and COCO evaluation on a tiny generated COCO-format dataset, bad input."""

import json
import random

import pytest
import torch

import detection
import models
from mnas import SearchSpace


@pytest.mark.parametrize("name,params", [("mnasnet-a1", 4.9e6), ("mobilenetv2", 4.3e6)])
def test_reference_detectors_match_table3(name, params):
    # Table 3: A1 + SSDLite 4.9M params, 0.8B MACs; MobileNetV2 + SSDLite 4.3M, 0.8B (91 classes,
    # 320 px).
    det = detection.build_detector(name)
    assert det.anchor_generator.num_anchors_per_location() == [3, 6, 6, 6, 6, 6]
    assert det.backbone.out_channels[1:] == [1280, 512, 256, 256, 128]
    assert abs(models.count_params(det) / params - 1) < 0.10
    assert abs(models.count_macs(detection.DetectorCore(det), 320) / 0.8e9 - 1) < 0.10


def test_cli_prints_detector_totals(capsys):
    assert detection.main(["mnasnet-a1", "--input-size", "320"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "params=4912181 macs=837819232"
    # expansion of 112 x 6
    assert lines[1].split()[:2] == ["0", "C4"] and lines[1].split()[-3:] == ["672", "20", "3"]


def _boxes_ok(det: dict, height: int, width: int) -> None:
    boxes = det["boxes"]
    assert (
        boxes.ndim == 2
        and boxes.shape[1] == 4
        and len(det["scores"]) == len(det["labels"]) == len(boxes)
    )
    assert (boxes[:, 0] <= boxes[:, 2]).all() and (boxes[:, 1] <= boxes[:, 3]).all()
    assert (
        boxes.min() >= 0
        and (boxes[:, [0, 2]] <= width).all()
        and (boxes[:, [1, 3]] <= height).all()
    )


mbv2 = models.REFERENCE_ARCHS["mobilenetv2"]


@pytest.mark.parametrize("arch,c4", [
    # a random point of the search space
    (SearchSpace().decode(SearchSpace().sample(random.Random(0))), None),
    # tap layer with a pool shortcut across its stride
    (models.replace_block(mbv2, 5, out=96, skip="pool"), 576),
    # no expansion: the block's input is C4
    (models.replace_block(mbv2, 5, op="dconv", expansion=1), 96),
    (models.replace_block(mbv2, 4, repeats=0), 64 * 6),  # an empty block before the tap
])
def test_any_architecture_is_a_backbone(arch, c4):
    det = detection.build_detector(arch, num_classes=3, input_size=96).eval()
    features = det.backbone
    if c4:
        assert features.out_channels[0] == c4
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        maps = list(features(x).values())
        assert [m.shape[1] for m in maps] == features.out_channels
        assert [m.shape[-1] for m in maps] == [6, 3, 2, 1, 1, 1]  # strides 16, 32, then the extras
        # the split tap layer computes the same
        torch.testing.assert_close(maps[1], features.net.features(x))
        out = det([torch.rand(3, 80, 120), torch.rand(3, 96, 96)])
    _boxes_ok(out[0], 80, 120)


def test_backbone_must_reach_stride_32():
    with pytest.raises(ValueError, match="downsamples only 16x"):
        detection.build_detector(models.replace_block(mbv2, 5, repeats=0))


def write_shapes_coco(root, n: int = 10, size: int = 96, seed: int = 0) -> None:
    """root/images/*.png with 1-3 filled rectangles (category 1) or ellipses (category 2),
    root/annotations.json."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    (root / "images").mkdir(parents=True)
    images, annotations = [], []
    for i in range(n):
        img = Image.new("RGB", (size, size),
                        (rng.randrange(60), rng.randrange(60), rng.randrange(60)))
        draw = ImageDraw.Draw(img)
        for _ in range(rng.randint(1, 3)):
            w, h = rng.randint(16, 48), rng.randint(16, 48)
            x, y = rng.randrange(size - w), rng.randrange(size - h)
            category = rng.choice([1, 2])
            shape = draw.rectangle if category == 1 else draw.ellipse
            shape([x, y, x + w - 1, y + h - 1],
                  fill=tuple(rng.randrange(128, 256) for _ in range(3)))
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": category,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
        img.save(root / "images" / f"{i:03d}.png")
        images.append({"id": i + 1, "file_name": f"{i:03d}.png", "width": size, "height": size})
    categories = [{"id": 1, "name": "rectangle"}, {"id": 2, "name": "ellipse"}]
    (root / "annotations.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                       "categories": categories}))


def test_train_and_coco_eval_on_tiny_shapes(tmp_path, capsys):
    pytest.importorskip("pycocotools")
    write_shapes_coco(tmp_path / "shapes")
    out = tmp_path / "run"
    argv = ["mnasnet-small", "--data-dir", str(tmp_path / "shapes"), "--epochs", "2",
            "--batch-size", "4", "--input-size", "96", "--val-size", "3", "--lr", "0.02", "--out",
            str(out)]
    assert detection.main(argv) == 0
    stdout = capsys.readouterr().out
    assert "Average Precision  (AP) @[ IoU=0.50:0.95" in stdout  # pycocotools' own summary
    last = dict(kv.split("=") for kv in stdout.strip().splitlines()[-1].split()[:4])
    assert 0 <= float(last["map"]) <= 1 and 0 <= float(last["map50"]) <= 1
    # background + 2 categories
    assert json.loads((out / "arch.json").read_text())["num_classes"] == 3

    det = detection.build_detector("mnasnet-small", num_classes=3, input_size=96)
    det.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    trainset, val, coco_gt, _ = detection.load_coco(str(tmp_path / "shapes"), val_size=3)
    image, target = val[0]
    with torch.no_grad():
        _boxes_ok(det.eval()([image])[0], *image.shape[-2:])
    assert len(trainset) == 7 and set(target) >= {"boxes", "labels", "image_id"}
    box_map, map50 = detection.coco_map(det, val, coco_gt)
    assert 0 <= box_map <= map50 <= 1


@pytest.mark.parametrize("argv,message", [
    (["mnasnet-a1", "--data-dir", "/nonexistent"], "annotations.json"),
    (["mnasnet-a1", "--data-dir", "/nonexistent", "--batch-size", "1"],
     "--batch-size must be >= 2"),
    (["mnasnet-a1", "--input-size", "16"], "--input-size >= 32"),
    (["resnet50"], "unknown architecture 'resnet50'"),
])
def test_bad_detection_input_exits_2_with_one_line(argv, message, capsys):
    assert detection.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_detection_cli_times_the_detector(capsys):
    argv = ["mnasnet-small", "--latency", "cpu", "--input-size", "64", "--rounds", "2"]
    assert detection.main(argv) == 0
    out = capsys.readouterr().out
    assert "mnasnet-small + ssdlite" in out and out.splitlines()[-1].startswith("median_ms=")


class Oracle(torch.nn.Module):
    """A 'detector' that returns each image's true boxes (in the evaluation order) with score 1."""

    def __init__(self, data):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))  # coco_map asks the model for its device
        self.answers = [data[i][1] for i in range(len(data))]

    def forward(self, images):
        answers, self.answers = self.answers[:len(images)], self.answers[len(images):]
        return [{"boxes": t["boxes"], "labels": t["labels"],
                 "scores": torch.ones(len(t["labels"]))} for t in answers]


def test_perfect_detections_score_map_1(tmp_path):
    pytest.importorskip("pycocotools")
    write_shapes_coco(tmp_path / "shapes")
    _, val, coco_gt, _ = detection.load_coco(str(tmp_path / "shapes"), val_size=4)
    # x1 y1 x2 y2 -> COCO's x y w h is right
    assert detection.coco_map(Oracle(val), val, coco_gt) == (1.0, 1.0)


def test_flip_moves_the_boxes_with_the_image():
    image = torch.zeros(3, 40, 100)
    image[:, 10:20, 5:30] = 1.0  # an object at x 5-30, y 10-20
    seen = []

    def model(images, targets):
        seen.append((images, targets))
        return {"loss": torch.tensor(0.0)}

    torch.manual_seed(0)
    for _ in range(8):  # each image is flipped with probability 1/2
        detection.detection_loss(model,
                                 ([image.clone()],
                                  [{"boxes": torch.tensor([[5.0, 10.0, 30.0, 20.0]]),
                                    "labels": torch.tensor([1])}]))
    flipped = [(imgs[0], t[0]["boxes"][0].tolist()) for imgs, t in seen if not torch.equal(imgs[0],
                                                                                           image)]
    assert 0 < len(flipped) < 8
    for img, (x1, y1, x2, y2) in flipped:
        assert torch.equal(img, image.flip(-1)) and [x1, y1, x2, y2] == [70.0, 10.0, 95.0, 20.0]
        assert img[:, 10:20, 70:95].min() == 1.0  # the box still frames the object
