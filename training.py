"""Data and training: the proxy task that gives ACC(m) (paper Sec. 4.2) and the final training of a
result (Sec. 6).

    data        Fashion-MNIST (Debian's package or torchvision's download), CIFAR-10, an
                ImageFolder, or generated images; a seeded split of training images held out for
                ACC(m)
    training    one loop for every network of the project (`train_steps`): SGD with Nesterov
                momentum under a one-cycle schedule, channels-last, optional checkpoints to resume
                from
    proxy_train ACC(m) of a child: a few dozen steps, then accuracy on the held-out images
    final_train a network trained stand-alone on every training image and scored on the test set

The paper's proxy task was 5 epochs of ImageNet with 50K training images held out for
validation; ours is a few dozen steps of Fashion-MNIST with images held out the same way.

Copied alone it needs torch, torchvision, tqdm, models.py, runner.py (for `save_atomic`) and cli.py
(for `UsageError`).
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm import tqdm

from cli import UsageError
from models import Arch, build_model, count_macs, count_params
from runner import save_atomic

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion-mnist", "cifar10", "imagefolder", "synthetic")


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataSpec:
    """Where the images come from; small and picklable, so worker processes can load it
    themselves."""

    dataset: str = "fashion-mnist"
    data_dir: str = "data"
    # images held out of the training set for the search's ACC (None: 2000, 500 synthetic)
    val_size: int | None = None
    seed: int = 0
    input_size: int | None = None  # images resized to it (None: their own size; ImageFolder 224)


def _fashion_mnist_root(data_dir: Path) -> None:
    """torchvision's FashionMNIST reads <root>/FashionMNIST/raw/; fill it from Debian's package if
    needed."""
    raw = data_dir / "FashionMNIST" / "raw"
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]
    if not all((raw / n).exists() for n in names) and all(
        (DEBIAN_FASHION_MNIST / f"{n}.gz").exists() for n in names
    ):
        raw.mkdir(parents=True, exist_ok=True)
        # each file whole or not at all: a stopped copy or a second process reads no half file
        for n in names:
            tmp = raw / f"{n}.{os.getpid()}.tmp"
            with gzip.open(DEBIAN_FASHION_MNIST / f"{n}.gz") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, raw / n)


def synthetic_images(n: int, seed: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded, learnable 10-class set for tests and offline runs: class k is a sine grating at
    angle k*18 degrees with a random phase and frequency, plus noise (3 x size x size; small, so
    that tests train fast)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    angle = labels.float() * math.pi / 10
    freq = 0.6 + 0.6 * torch.rand(n, generator=g)  # a period of 5-10 pixels
    phase = 2 * math.pi * torch.rand(n, generator=g)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    # (n, size, size)
    proj = xs * torch.cos(angle)[:, None, None] + ys * torch.sin(angle)[:, None, None]
    img = torch.sin(freq[:, None, None] * proj + phase[:, None, None])
    colour = 0.5 + torch.rand(n, 3, 1, 1, generator=g)  # random tint per image
    img = img[:, None] * colour + 0.3 * torch.randn(n, 3, size, size, generator=g)
    return img, labels


def _to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    x = x.float().div(255)
    return x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)


class Resized(Dataset):
    """A dataset of image tensors, each resized (bilinear) to size x size as it is read."""

    def __init__(self, data: Dataset, size: int):
        self.data, self.size = data, size

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        x, y = self.data[i]
        size = (self.size, self.size)
        return F.interpolate(x[None], size=size, mode="bilinear", antialias=True)[0], y


SYSTEM_FILES = ("Thumbs.db", "desktop.ini")  # what Windows writes into a folder of pictures


def is_system_file(path: Path) -> bool:
    """A file the operating system wrote, not the user: hidden ones (a Mac's .DS_Store, and the
    `._photo.jpg` it writes beside each photo copied to a FAT disk, which is no image) and
    Windows' SYSTEM_FILES."""
    return path.name.startswith(".") or path.name in SYSTEM_FILES


def is_image_file(path: str) -> bool:
    """A file a class's images are read from: one torchvision's ImageFolder reads (named with one
    of its IMG_EXTENSIONS), unless the system wrote it."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    return not is_system_file(Path(path)) and has_file_allowed_extension(path, IMG_EXTENSIONS)


def image_folder(root: Path, size: int) -> tuple[Dataset, Dataset]:
    """An ImageNet-style folder, <root>/train/<class>/*.png and <root>/val/<class>/*.png: every
    image read as RGB (grey and RGBA converted), resized to size * 8/7 on its short side and
    centre-cropped to size x size (ImageNet's 256 -> 224), normalized with ImageNet's mean and
    std; the files read are those of `is_image_file`, the system's own files skipped. A wrong
    layout, a class with no images, a file of another kind (torchvision would skip it without a
    word), an image file PIL cannot open and different classes in train/ and val/ are refused
    with one line, before any training."""
    import torchvision
    from PIL import Image, UnidentifiedImageError
    from torchvision import transforms as T
    from torchvision.datasets.folder import IMG_EXTENSIONS

    sets = {}
    for split in ("train", "val"):
        where = root / split
        if not where.is_dir():
            raise UsageError(f"--dataset imagefolder needs {root}/train/<class>/ and "
                             f"{root}/val/<class>/ image folders; there is no {where}")
        classes = sorted(d.name for d in where.iterdir() if d.is_dir())
        if not classes:
            raise UsageError(f"{where} has no class folders: put each class's images in "
                             f"{where}/<class>/")
        for c in classes:
            files = [f for f in sorted((where / c).rglob("*"))
                     if f.is_file() and not is_system_file(f)]
            if not files:
                raise UsageError(f"class '{c}' has no images: no file in {where / c} is named "
                                 f"{', '.join(IMG_EXTENSIONS)}")
            for f in files:
                if not is_image_file(str(f)):
                    raise UsageError(f"{f} is not an image file (named {', '.join(IMG_EXTENSIONS)})"
                                     f": move it out of {where}")
                try:
                    Image.open(f).close()  # reads the header only
                except (UnidentifiedImageError, OSError):
                    raise UsageError(f"{f} is not an image (PIL cannot read it)") from None
        sets[split] = classes
    if sets["train"] != sets["val"]:
        raise UsageError(f"{root}/train and {root}/val must hold the same class folders: "
                         f"{', '.join(sets['train'])} against {', '.join(sets['val'])}")
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    tf = T.Compose([T.Resize(size * 8 // 7), T.CenterCrop(size), T.ToTensor(), norm])
    return tuple(torchvision.datasets.ImageFolder(root / split, tf, is_valid_file=is_image_file)
                 for split in ("train", "val"))


@lru_cache(maxsize=2)
def load_splits(spec: DataSpec) -> dict[str, Dataset]:
    """{"train", "val", "test"}: val is held out of the training set (seeded); test only for final
    training."""
    import torchvision  # imported here: only the data needs it

    root = Path(spec.data_dir)
    val_size = spec.val_size or (500 if spec.dataset == "synthetic" else 2000)
    if spec.dataset == "synthetic":
        x, y = synthetic_images(1000 + val_size, spec.seed)
        train, test = TensorDataset(x, y), TensorDataset(*synthetic_images(1000, spec.seed + 1))
    elif spec.dataset in ("fashion-mnist", "cifar10"):
        cls = (
            torchvision.datasets.FashionMNIST
            if spec.dataset == "fashion-mnist"
            else torchvision.datasets.CIFAR10
        )
        if spec.dataset == "fashion-mnist":
            _fashion_mnist_root(root)
        try:
            sets = [cls(str(root), train=t, download=True) for t in (True, False)]
        except (RuntimeError, OSError) as e:  # not on disk, and the download failed (offline)
            raise UsageError(
                f"cannot find or download {spec.dataset} in {root} "
                f"({str(e).splitlines()[0][:80]}); fixes: "
                "'apt-get install dataset-fashion-mnist' (Debian), pass --data-dir with the "
                "files, "
                f"or use --dataset synthetic") from None
        (x, y), (x_test, y_test) = ((_to_float(torch.as_tensor(s.data)),
                                     torch.as_tensor(s.targets)) for s in sets)
        # per channel, of the training set
        mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
        train, test = TensorDataset((x - mean) / std, y), TensorDataset((x_test - mean) / std,
                                                                        y_test)
    # ImageNet-style: <data-dir>/train/<class>/*.jpg and <data-dir>/val/
    elif spec.dataset == "imagefolder":
        train, test = image_folder(root, spec.input_size or 224)
    else:
        raise UsageError(f"unknown dataset '{spec.dataset}' (choose from {', '.join(DATASETS)})")
    if spec.input_size and spec.dataset != "imagefolder":
        train, test = Resized(train, spec.input_size), Resized(test, spec.input_size)
    if not 0 < val_size < len(train):
        raise UsageError(f"--val-size must be between 1 and {len(train) - 1} for {spec.dataset}")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(spec.seed)).tolist()
    val = torch.utils.data.Subset(train, order[:val_size])
    return {"train": torch.utils.data.Subset(train, order[val_size:]), "val": val, "test": test}


@lru_cache(maxsize=2)
def calibration_images(data_dir: str = "data", n: int = 16) -> torch.Tensor | None:
    """The first n Fashion-MNIST training images (n x 1 x 28 x 28, normalized as for training):
    the images an int8 network's activation ranges are observed on (latency.calibration_inputs).
    None, with a note, where there is no copy of the data."""
    try:
        train = load_splits(DataSpec("fashion-mnist", str(data_dir)))["train"]
    except UsageError as e:
        print(f"note: {e}\nnote: so int8 activation ranges are calibrated on random inputs: the "
              "timing is the same, but the program's outputs mean nothing", file=sys.stderr)
        return None
    return torch.stack([train[i][0] for i in range(n)])


def data_shape(splits: dict[str, Dataset]) -> tuple[int, int, int]:
    """(channels, image size, number of classes) of a dataset."""
    x, _ = splits["test"][0]
    test = splits["test"].data if isinstance(splits["test"], Resized) else splits["test"]
    labels = getattr(test, "tensors", [None, None])[1]
    classes = int(labels.max()) + 1 if labels is not None else len(test.classes)
    return x.shape[0], x.shape[-1], classes


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    """Optimization of one network: SGD with Nesterov momentum under a one-cycle schedule (a warm-up
    to `lr` over the first 15% of the steps, then cosine decay), as torchvision's reference recipes
    do. The defaults are the proxy's (a few dozen steps per child); `FINAL` is the recipe of a full
    training run."""

    steps: int = 70
    batch_size: int = 64
    lr: float = 0.01
    weight_decay: float = 4e-5
    # decay BatchNorm weights and biases too (torchvision: --norm-weight-decay 0)
    norm_weight_decay: bool = False
    label_smoothing: float = 0.0
    # clip the gradient's global norm: a guard against one bad batch
    clip_grad_norm: float | None = None
    dropout: float = 0.0  # no dropout in a proxy run this short
    width_mult: float = 1.0  # train a narrower (cheaper) version of the network: a proxy's option
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = all cores
    device: str = "cpu"  # "cpu" or "cuda" (resolve "auto" with `pick_device` first)
    # NHWC memory format: the same arithmetic, faster convolutions (benchmarks/speed.py)
    channels_last: bool = True


# The final-training recipe (the reference panel and `--arch`): torchvision's label smoothing, a
# clipped gradient norm (docs/engineering.md, "How the defaults were chosen").
FINAL = TrainConfig(steps=0, batch_size=128, lr=0.05, label_smoothing=0.1, clip_grad_norm=5.0,
                    dropout=0.2)

# The search's proxy task (ACC(m), Sec. 4.2; departure: the paper's is 5 epochs of ImageNet): 70
# steps of 64 images, the child at half width (docs/engineering.md, "How the defaults were chosen").
PROXY = TrainConfig(steps=70, batch_size=64, lr=0.05, label_smoothing=0.1, clip_grad_norm=5.0,
                    width_mult=0.5)


def pick_device(name: str = "auto") -> str:
    """"auto": the GPU when there is one, else the CPU."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is visible to torch here")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"unknown device '{name}' (choose from auto, cpu, cuda)")
    return name


def make_model(arch: Arch, splits: dict[str, Dataset], dropout: float = 0.0,
               width_mult: float = 1.0) -> torch.nn.Module:
    """The training network for a dataset: small-input strides below 64 px, its channels and
    classes."""
    channels, size, classes = data_shape(splits)
    return build_model(arch, classes, width_mult, small_input=size < 64, dropout=dropout,
                       in_channels=channels)


def classification_loss(model: torch.nn.Module, batch,
                        label_smoothing: float = 0.0) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y, label_smoothing=label_smoothing)


def to_device(batch, device: str, channels_last: bool = True):
    """Tensors anywhere inside a batch (tuples, lists, dicts) moved to `device`; image batches to
    channels-last."""
    if isinstance(batch, torch.Tensor):
        return (
            batch.to(device, memory_format=torch.channels_last)
            if batch.ndim == 4 and channels_last
            else batch.to(device)
        )
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    return batch


def param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """Weight decay on conv and linear weights; on BatchNorm weights and biases only if asked."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 or cfg.norm_weight_decay else no_decay).append(p)
    return [{"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def train_steps(model: torch.nn.Module, data: Dataset, cfg: TrainConfig, progress: bool = False,
                loss_fn=None, collate_fn=None, checkpoint: Path | None = None,
                every: int = 100) -> list[float]:
    """`cfg.steps` steps of SGD (Nesterov momentum, one-cycle schedule) on batches drawn with
    replacement, so every batch is full; raises FloatingPointError if the loss diverges.

    The model moves to `cfg.device`, in channels-last memory format unless `cfg.channels_last` is
    off (the same arithmetic in another layout: 1.2-2.0x faster training on this CPU, see
    benchmarks/speed.py). With a `checkpoint` file, the model, optimizer, schedule, step, random
    state (dropout's masks) and losses so far are saved there every `every` steps and at the end,
    and a run that finds the file continues from it: the same batches in the same order, and on the
    CPU with the same threads the same weights at the end as a run never stopped (CUDA's kernels are
    not deterministic unless asked to be). A checkpoint of a training of another length is refused.
    Returns the loss of every step of the run, resumed or not."""
    loss_fn = loss_fn or partial(classification_loss, label_smoothing=cfg.label_smoothing)
    model.to(cfg.device,
             memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
    opt = torch.optim.SGD(param_groups(model, cfg), cfg.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.15)
    start, losses, state = 0, [], None
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, weights_only=True, map_location=cfg.device)
        if state.get("steps", cfg.steps) != cfg.steps:
            raise ValueError(f"{checkpoint} is of a training of {state['steps']} steps, not "
                             f"{cfg.steps}")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        # (older checkpoints kept neither losses nor RNG)
        start, losses = state["step"], state.get("losses", [])
    order = list(torch.utils.data.RandomSampler(data, True, cfg.steps * cfg.batch_size,
                                                torch.Generator().manual_seed(cfg.seed)))
    batches = iter(DataLoader(data, cfg.batch_size, sampler=order[start * cfg.batch_size:],
                              collate_fn=collate_fn))
    # after iter(), which draws from the global RNG: dropout's state at `start`
    if state is not None and "rng" in state:
        torch.set_rng_state(state["rng"].cpu())
        if "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
    bar = tqdm(batches, initial=start, total=cfg.steps, disable=not progress, desc="train",
               unit="step", mininterval=2)
    model.train()
    for step, batch in enumerate(bar, start + 1):
        loss = loss_fn(model, to_device(batch, cfg.device, cfg.channels_last))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        if checkpoint is not None and (step % every == 0 or step == cfg.steps):
            rng = {"rng": torch.get_rng_state()} | (
                {"cuda_rng": torch.cuda.get_rng_state()} if cfg.device == "cuda" else {}
            )
            save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(),
                         "step": step, "steps": cfg.steps, "losses": losses, **rng},
                        Path(checkpoint))
    return losses


@torch.inference_mode()
def accuracy(model: torch.nn.Module, data: Dataset, batch_size: int = 500) -> float:
    model.eval()
    device = next(model.parameters()).device.type
    correct = sum(
        (model(to_device(x, device)).argmax(1).cpu() == y).sum().item()
        for x, y in DataLoader(data, batch_size)
    )
    return correct / len(data)


def time_steps(arch: Arch, splits: dict[str, Dataset], cfg: TrainConfig, steps: int) -> float:
    """Seconds for `steps` training steps (after one warm-up step), to estimate a search's
    duration."""
    model = make_model(arch, splits, cfg.dropout, cfg.width_mult)
    train_steps(model, splits["train"], replace(cfg, steps=1))
    t0 = time.time()
    train_steps(model, splits["train"], replace(cfg, steps=steps))
    return time.time() - t0


def fmt_time(seconds: float) -> str:
    """h:m:s, for expected durations."""
    return time.strftime("%H:%M:%S", time.gmtime(max(0, seconds)))


# a search samples some networks more than once, and each run counts the references
@lru_cache(maxsize=4096)
def deployment_size(arch: Arch) -> dict:
    """Params and MACs of the deployment network (224 px, 1000 classes), as the paper's tables count
    them. Cached: copy the dict (`{**deployment_size(arch)}`) before changing it."""
    deploy = build_model(arch)
    return {"params": count_params(deploy), "macs": count_macs(deploy)}


def proxy_train(arch: Arch, data: DataSpec, cfg: TrainConfig) -> dict:
    """ACC(m) for the search: train `arch` briefly, score it on the held-out split (Sec. 4.2).

    A plain function of picklable arguments, so it runs the same inline, in a process pool or on
    Dask."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    splits = load_splits(data)
    model = make_model(arch, splits, cfg.dropout, cfg.width_mult)
    train_steps(model, splits["train"], cfg)
    return {"accuracy": accuracy(model, splits["val"]), **deployment_size(arch)}


def final_train(arch: Arch, data: DataSpec, cfg: TrainConfig, epochs: float, progress: bool = False,
                checkpoint: Path | None = None) -> tuple[torch.nn.Module, float, list[float]]:
    """Train `arch` stand-alone for `epochs` on every training image (the search's held-out ones
    too) and score it on the test set: (model, test accuracy, loss of every step). With a
    `checkpoint` file it resumes there and ends as an uninterrupted training would (train_steps)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    splits = load_splits(data)
    train = torch.utils.data.ConcatDataset([splits["train"], splits["val"]])
    cfg = replace(cfg, steps=math.ceil(epochs * len(train) / cfg.batch_size))
    model = make_model(arch, splits, cfg.dropout, cfg.width_mult)
    losses = train_steps(model, train, cfg, progress, checkpoint=checkpoint)
    return model, accuracy(model, splits["test"]), losses
