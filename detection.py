"""Object detection with a searched backbone: SSDLite on MnasNet (paper Sec. 6.3, Table 3).

The paper plugs MnasNet-A1 into SSDLite (Sandler et al. 2018, MobileNetV2 Sec. 6.2) and trains it on
COCO: 23.0 mAP at 4.9M parameters and 0.8B MACs, beside MobileNetV2 + SSDLite's 22.1. Here:

  SSDLiteFeatures   any architecture of `models.py` as a six-map feature extractor (strides 16, 32,
                    extras)
  build_detector    torchvision's SSD with the SSDLite head and the TF configuration's default boxes
  DetectorCore      backbone + head as one tensor program: what MACs and latency count
  load_coco, coco_map, detection_loss, train_detector   COCO-format data, pycocotools' mAP, training

    python detection.py mnasnet-a1 --input-size 320  # feature maps; ends params=... macs=...
    # train; prints COCO mAP
    python detection.py runs/<ts>/best.json --data-dir coco-like/ --epochs 50
    python detection.py mnasnet-a1 --input-size 320 --latency cpu   # latency of backbone + head

It depends on models.py, the training loop of training.py and latency.py (to time the detector).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
from datetime import datetime
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cli import Parser, UsageError
from models import (Arch, MnasNet, block_layer_specs, build_model, conv_bn, count_macs,
                    count_macs_by_module, count_params,
                    load_arch, save_arch)
import latency
from training import TrainConfig, pick_device, to_device, train_steps

# ----------------------------------------------------------------------------- the detector


class SSDLiteFeatures(nn.Module):
    """A network of this project as the backbone of SSDLite (paper Sec. 6.3, Table 3; SSDLite:
    Sandler et al. 2018, MobileNetV2 Sec. 6.2; SSD: Liu et al. 2016). Six feature maps, at 320 px:

      "0"  C4: output of the 1x1 expansion (conv + BN + ReLU) of the first layer that takes the
           network from stride 16 to 32 (MobileNetV2: 576 ch, 20x20). If that layer has no expansion
           (conv, dconv or e = 1), its input is tapped instead: the last stride-16 features.
      "1"  C5: the last layer, the 1x1 head conv (1280 ch, 10x10), as torchvision's SSDLite taps
           MobileNetV3's last conv.
      "2"-"5"  four extra layers of 512, 256, 256, 128 channels (5x5, 3x3, 2x2, 1x1), each a 1x1
           conv to half the channels, a 3x3 depthwise with stride 2 and a 1x1 conv (SSDLite's extra
           layers; ReLU, as here).

    The MnasNet stays whole under `.net` (minus its classifier), so a trained classifier's weights
    load with `features.net.load_state_dict(state, strict=False)`."""

    def __init__(self, net: MnasNet):
        super().__init__()
        del net.classifier  # no pooling or FC for detection
        self.net = net
        # a plain list: registered once, in net
        self.layers = [layer for block in net.blocks for layer in block]
        # strides and ops; repeats=0 blocks vanish
        specs = [s for layers in block_layer_specs(net.arch) for s in layers]
        stride = net.stem[0].stride[0]
        for i, s in enumerate(specs):  # find the layer that takes the total stride from 16 to 32
            if stride < 32 <= stride * s.stride:
                break
            stride *= s.stride
        else:
            raise ValueError("SSDLite taps strides 16 and 32, but this backbone downsamples only "
                             f"{stride}x")
        self.tap = i
        tap = self.layers[i]
        # then tap.body[0] is the 1x1 expansion conv_bn
        self.expands = s.op == "mbconv" and s.expansion > 1
        c4 = tap.body[0][0].out_channels if self.expands else tap.body[0][0].in_channels
        widths = [512, 256, 256, 128]
        self.out_channels = [c4, net.head[0].out_channels] + widths
        self.extra = nn.ModuleList(
            nn.Sequential(conv_bn(cin, cout // 2),
                          conv_bn(cout // 2, cout // 2, 3, 2, groups=cout // 2),
                          conv_bn(cout // 2, cout))
            for cin, cout in zip(self.out_channels[1:], widths))
        for m in self.extra.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.net.stem(x)
        for layer in self.layers[:self.tap]:
            x = layer(x)  # (B, C, H/16, W/16)
        tap = self.layers[self.tap]
        if self.expands:
            c4 = tap.body[0](x)  # (B, e*C, H/16, W/16)
            y = tap.body[1:](c4)  # depthwise stride 2, SE, projection: (B, C', H/32, W/32)
            x = y if tap.shortcut is None else y + tap.shortcut(x)
        else:
            c4, x = x, tap(x)
        for layer in self.layers[self.tap + 1:]:
            x = layer(x)
        features = [c4, self.net.head(x)]  # C5: (B, 1280, H/32, W/32)
        for block in self.extra:
            features.append(block(features[-1]))  # halves the resolution each time
        return {str(i): f for i, f in enumerate(features)}


def _ssdlite_boxes(min_scale: float = 0.2, max_scale: float = 0.95) -> nn.Module:
    """Default boxes of the TF SSDLite configuration: scales from 0.2 to 0.95 over the 6 maps; 6
    boxes per location (scale s_k with ratios 1, 2, 1/2, 3, 1/3, and sqrt(s_k s_k+1) with ratio 1),
    but only 3 on the lowest map (reduce_boxes_in_lowest_layer: scale 0.1 ratio 1, scale s_0 ratios
    2 and 1/2).

    torchvision's DefaultBoxGenerator always puts two square boxes (s_k, sqrt(s_k s_k+1)) before 2
    per extra ratio, so its counts are even: ratios [2] give 4. The subclass swaps the lowest map's
    two squares for one of scale 0.1. (Defined here so that importing models does not import
    torchvision, ~3 s.)"""
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator

    class SSDLiteBoxes(DefaultBoxGenerator):
        def _generate_wh_pairs(self, num_outputs, dtype=torch.float32, device=torch.device("cpu")):
            # per map: (boxes, 2) widths, heights
            pairs = super()._generate_wh_pairs(num_outputs, dtype, device)
            pairs[0] = torch.cat([torch.full((1, 2), 0.1, dtype=dtype, device=device),
                                  pairs[0][2:]])
            return pairs

        def num_anchors_per_location(self) -> list[int]:
            return [3] + super().num_anchors_per_location()[1:]

    return SSDLiteBoxes([[2]] + [[2, 3]] * 5, min_scale, max_scale)


def build_detector(arch: Arch | str, num_classes: int = 91, width_mult: float = 1.0,
                   input_size: int = 320,
                   **ssd_kwargs) -> nn.Module:
    """SSDLite with `arch` as backbone (Sec. 6.3, Table 3), from torchvision's SSD, SSDLiteHead and
    default boxes. num_classes counts the background (COCO: 91 ids). Images are resized to
    input_size x input_size. Train mode: model(images, targets) -> losses; eval mode: model(images)
    -> [{"boxes" (N, 4) x1 y1 x2 y2 in input pixels, "scores", "labels"}]. `ssd_kwargs` go to
    torchvision's SSD (score_thresh, ...)."""
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.detection.ssdlite import SSDLiteHead

    backbone = SSDLiteFeatures(build_model(arch, width_mult=width_mult))
    boxes = _ssdlite_boxes()
    # Depthwise 3x3 + BN + ReLU6 then 1x1 conv per map, for classes and for box offsets (SSDLite's
    # head).
    head = SSDLiteHead(backbone.out_channels, boxes.num_anchors_per_location(), num_classes,
                       partial(nn.BatchNorm2d, eps=1e-3, momentum=0.03))
    defaults = {"score_thresh": 0.001, "nms_thresh": 0.55, "detections_per_img": 300,
                "topk_candidates": 300}  # torchvision's ssdlite320
    return SSD(backbone, boxes, (input_size, input_size), num_classes, head=head,
               **(defaults | ssd_kwargs))


class DetectorCore(nn.Module):
    """A detector's backbone + head as tensor -> tensor: (B, 3, H, W) -> (B, boxes, 4 +
    num_classes), box offsets then class logits. This is what MACs and latency count here; SSD's
    resize and normalization, box decoding and NMS are left out (NMS time depends on how many boxes
    trained weights let through)."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.backbone, self.head = detector.backbone, detector.head
        self.train(detector.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(list(self.backbone(x).values()))
        return torch.cat([out["bbox_regression"], out["cls_logits"]], dim=-1)


def describe_detector(arch: Arch, width_mult: float = 1.0, input_size: int = 320,
                      num_classes: int = 91) -> str:
    """SSDLite on `arch` (Sec. 6.3): its six feature maps, params and MACs of backbone + extras and
    of the head. MACs count one image through backbone and head (DetectorCore); resizing, box
    decoding and NMS have none."""
    model = build_detector(arch, num_classes, width_mult, input_size).eval()
    core = DetectorCore(model)
    per_module = count_macs_by_module(core, input_size)
    macs = per_module["Global"]
    with torch.no_grad():
        maps = core.backbone(torch.zeros(1, 3, input_size, input_size)).values()
    names = ["C4 (expansion, stride 16)" if model.backbone.expands else "C4 (stride 16)",
             "C5 (head conv)"] + ["extra"] * 4
    rows = [f"{'map':<5}{'source':<27}{'channels':>9}{'res':>6}{'boxes':>7}"]
    for i, (name, f, boxes) in enumerate(zip(names, maps,
                                             model.anchor_generator.num_anchors_per_location())):
        rows.append(f"{i:<5}{name:<27}{f.shape[1]:>9}{f.shape[-1]:>6}{boxes:>7}")
    rows.append(f"{'part':<32}{'params':>11}{'MACs':>14}")
    for name, part in (("backbone", model.backbone), ("head", model.head)):
        label = "backbone + extras" if name == "backbone" else "SSDLite head"
        rows.append(
            f"{label:<32}{count_params(part):>11,}{per_module.get(f'DetectorCore.{name}', 0):>14,}"
        )
    rows.append(f"params={count_params(model)} macs={macs}")
    return "\n".join(rows)


# --------------------------------------------------------------------- COCO data, mAP and training


def _coco_eval_class():
    """pycocotools' COCOeval, imported on first use: an optional requirement
    (requirements-detection.txt)."""
    try:
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise UsageError("detection training needs pycocotools: pip install -r "
                         "requirements-detection.txt") from None
    return COCOeval


def load_coco(data_dir: str, val_size: int | None = None, seed: int = 0,
              val_ann: str | None = None) -> tuple[Dataset, Dataset, object, int]:
    """COCO-format data: <data_dir>/images/ and <data_dir>/annotations.json; category ids are the
    labels (0 is background). Evaluation: the images of --val-ann FILE (also in images/), else
    --val-size images held out of annotations.json (default 10%). Returns (train, val, COCO index of
    val, number of classes)."""
    import torchvision
    from torchvision.transforms import v2

    _coco_eval_class()  # fail early, in one line, without pycocotools
    root, ann = Path(data_dir), Path(data_dir) / "annotations.json"
    for path in [root / "images", ann] + ([Path(val_ann)] if val_ann else []):
        if not path.exists():
            raise UsageError(f"detection training needs {root}/images/ and {ann} (COCO format); "
                             f"{path} not found")

    # samples: (float image (3, H, W) in [0, 1], {"image_id", "boxes" x1 y1 x2 y2, "labels"})
    def coco(path: Path) -> Dataset:
        to_float = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools announces each step
            ds = torchvision.datasets.CocoDetection(root / "images", str(path), transforms=to_float)
        return torchvision.datasets.wrap_dataset_for_transforms_v2(ds)

    data = coco(ann)
    val = coco(Path(val_ann)) if val_ann else None
    num_classes = 1 + max(c for d in (data, val) if d is not None for c in d.coco.getCatIds())
    if val is not None:
        return data, val, val.coco, num_classes
    val_size = val_size or max(1, len(data) // 10)
    if not 0 < val_size < len(data):
        raise UsageError(f"--val-size must be between 1 and {len(data) - 1} for {ann}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    return (
        torch.utils.data.Subset(data, order[val_size:]),
        torch.utils.data.Subset(data, order[:val_size]),
        data.coco,
        num_classes,
    )


def _detection_batch(batch: list) -> tuple[list[torch.Tensor], list[dict]]:
    """Images stay a list (SSD resizes each one); targets get the keys SSD needs, also for images
    without boxes."""
    images, targets = [], []
    for image, t in batch:
        boxes = torch.as_tensor(t.get("boxes", torch.zeros(0, 4)),
                                dtype=torch.float32).reshape(-1, 4)
        labels = torch.as_tensor(t.get("labels", []), dtype=torch.int64)
        # SSD rejects boxes without area
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        images.append(image)
        targets.append({"boxes": boxes[keep], "labels": labels[keep], "image_id": t["image_id"]})
    return images, targets


@torch.inference_mode()
def coco_map(model: torch.nn.Module, data: Dataset, coco_gt, batch_size: int = 16,
             verbose: bool = False) -> tuple[float, float]:
    """COCO box mAP@[.5:.95] and mAP@.5 of `model` on `data` by pycocotools' COCOeval (-1: no boxes
    to find)."""
    COCOeval = _coco_eval_class()
    model.eval()
    results, ids, device = [], [], next(model.parameters()).device.type
    for images, targets in DataLoader(data, batch_size, collate_fn=_detection_batch):
        # boxes (N, 4) x1 y1 x2 y2 in the image's pixels
        for det, t in zip(to_device(model(to_device(images, device)), "cpu"), targets):
            ids.append(t["image_id"])
            # COCO's x, y, w, h
            xywh = torch.cat([det["boxes"][:, :2], det["boxes"][:, 2:] - det["boxes"][:, :2]], 1)
            results += [{"image_id": t["image_id"], "category_id": int(c), "bbox": b,
                         "score": float(s)}
                        for b, c, s in zip(xywh.tolist(), det["labels"], det["scores"])]
    if not results:
        return 0.0, 0.0
    log = io.StringIO()
    with contextlib.redirect_stdout(log):  # pycocotools prints each step, then its summary
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if verbose:  # the 12-line COCO table: AP, AP50, AP75, small/medium/large, AR
        print(
            "".join(
                line
                for line in log.getvalue().splitlines(True)
                if line.lstrip().startswith("Average")
            ),
            end="",
        )
    return float(ev.stats[0]), float(ev.stats[1])


def detection_loss(model: torch.nn.Module, batch) -> torch.Tensor:
    """SSD's loss (smooth L1 on boxes + classification with hard negatives), after random flips."""
    images, targets = batch
    for i in (torch.rand(len(images)) < 0.5).nonzero().flatten().tolist():  # the one augmentation
        w, b = images[i].shape[-1], targets[i]["boxes"]
        images[i], targets[i]["boxes"] = images[i].flip(-1), torch.stack([w - b[:, 2], b[:, 1],
                                                                          w - b[:, 0], b[:, 3]], 1)
    return sum(model(images, targets).values())


def train_detector(args: argparse.Namespace) -> int:
    """SSDLite with an architecture as backbone (Sec. 6.3, Table 3), trained with SGD on COCO-format
    data; COCO mAP."""
    arch = load_arch(args.arch)
    train, val, coco_gt, num_classes = load_coco(args.data_dir, args.val_size, args.seed,
                                                 args.val_ann)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_detector(arch, num_classes, args.width_mult, args.input_size)
    steps = args.epochs * math.ceil(len(train) / args.batch_size)
    print(f"training {args.arch} + SSDLite on {args.data_dir}: {len(train)} images ({len(val)} "
          f"for evaluation), {num_classes} "
          f"classes with background, {args.input_size} px, {args.epochs} epochs, {steps} steps of "
          f"{args.batch_size}")
    # Full batches (drawn with replacement): BatchNorm on the 1x1 last map needs two images or more.
    cfg = TrainConfig(steps=steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      device=pick_device(args.device))
    train_steps(model, train, cfg, progress=True, loss_fn=detection_loss,
                collate_fn=_detection_batch)
    box_map, map50 = coco_map(model, val, coco_gt, verbose=True)
    out = Path(args.out or f"runs/detect-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    save_arch(arch, out / "arch.json", task="detection", map=box_map, map50=map50,
              num_classes=num_classes, input_size=args.input_size)
    print(f"map={box_map:.4f} map50={map50:.4f} params={count_params(model)} "
          f"macs={count_macs(DetectorCore(model), args.input_size)}  (weights: {out / 'model.pt'})")
    return 0


def time_detector(args: argparse.Namespace) -> int:
    """`--latency BACKEND`: the detector's backbone + head timed as one tensor program (Sec. 6.3),
    as latency.py times a classifier; int8 calibrates on random inputs (the timing is the same)."""
    latency.keep_freed_memory()
    det = build_detector(load_arch(args.arch), width_mult=args.width_mult,
                         input_size=args.input_size)
    try:
        m = latency.measure(DetectorCore(det), args.input_size, 1, args.latency, rounds=args.rounds)
    except latency.LatencyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.arch} + ssdlite: {args.latency}, 1 thread(s), "
          f"{args.input_size}x{args.input_size}, {len(m.samples)} samples")
    print(f"median_ms={m.median_ms:.3f} iqr_ms={m.iqr_ms:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = Parser(description="SSDLite on a MnasNet backbone (Sec. 6.3): its size, or training it on "
                           "COCO-format data.")
    p.add_argument("arch", metavar="NAME_OR_JSON",
                   help="a reference name or an architecture .json file (e.g. a search's "
                   "best.json)")
    p.add_argument("--input-size", type=int, default=320,
                   help="images are resized to this square (default 320)")
    p.add_argument("--num-classes", type=int, default=91,
                   help="with the background (default 91: COCO's ids); training reads it from the "
                   "data")
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--latency", choices=latency.BACKENDS, metavar="BACKEND",
                   help="time backbone + head as one program on this platform (1 thread, batch 1): "
                        f"{', '.join(latency.BACKENDS)}; SSD's resize and NMS are not timed")
    p.add_argument("--rounds", type=int, help="--latency: samples (default: latency.py's)")
    t = p.add_argument_group("training (when --data-dir is given)")
    t.add_argument("--data-dir", help="COCO-format data: DIR/images/ and DIR/annotations.json")
    t.add_argument("--val-ann", metavar="FILE",
                   help="COCO annotations to evaluate on (default: --val-size held-out images, "
                   "10%%)")
    t.add_argument("--val-size", type=int)
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    t.add_argument("--out", help="output directory (default runs/detect-<timestamp>)")
    args = p.parse_args(argv)
    try:
        if args.width_mult <= 0 or args.input_size < 32 or args.num_classes < 2:
            raise UsageError("--width-mult must be > 0, --input-size >= 32 and --num-classes >= 2")
        if args.latency:
            return time_detector(args)
        if args.data_dir is None:
            print(describe_detector(load_arch(args.arch), args.width_mult, args.input_size,
                                    args.num_classes))
            return 0
        for name in ("epochs", "val_size", "lr"):
            if getattr(args, name) is not None and getattr(args, name) <= 0:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got "
                                 f"{getattr(args, name)}")
        if args.batch_size < 2:
            raise UsageError("--batch-size must be >= 2 (BatchNorm on the 1x1 last map)")
        return train_detector(args)
    except (UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
