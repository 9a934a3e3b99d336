"""Your own data (`--dataset imagefolder`): a folder of generated PNGs (RGB, two sizes, three
classes) searched and trained on from the command line, the printed next command run as printed,
the system's own files skipped, and a wrong layout, an empty class, a non-image file and an image
file that is no image each refused in one line."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import train
import training
from models import build_model, count_macs, load_arch

ROOT = Path(__file__).resolve().parent.parent
CLASSES = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}


def image_folder(root: Path, per_class: dict[str, int] | None = None) -> Path:
    """root/train/<class>/*.png and root/val/<class>/*.png: each class a colour with noise,
    half the images 20x20 and half 30x24, and one grey (mode L) image per class in train/."""
    g = torch.Generator().manual_seed(0)
    for split, n in (per_class or {"train": 8, "val": 3}).items():
        for name, rgb in CLASSES.items():
            where = root / split / name
            where.mkdir(parents=True)
            for i in range(n):
                w, h = (20, 20) if i % 2 else (30, 24)
                noise = torch.randint(-30, 30, (h, w, 3), generator=g)
                pixels = (torch.tensor(rgb) + noise).clamp(0, 255).to(torch.uint8).numpy()
                image = Image.fromarray(pixels, "RGB")
                grey = split == "train" and i == 0
                (image.convert("L") if grey else image).save(where / f"{i}.png")
    return root


def cli(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_images_of_two_sizes_load_as_rgb_at_the_input_size(tmp_path):
    root = image_folder(tmp_path / "data")
    splits = training.load_splits(training.DataSpec("imagefolder", str(root), 6, 0, 32))
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (18, 6, 9)
    assert training.data_shape(splits) == (3, 32, 3)  # RGB (the grey ones too), 32 px, 3 classes
    assert all(splits["train"][i][0].shape == (3, 32, 32) for i in range(18))
    default = training.load_splits(training.DataSpec("imagefolder", str(root), 6, 0))
    assert default["test"][0][0].shape == (3, 224, 224)  # no --input-size: ImageNet's 224


def test_search_then_the_printed_command_then_a_one_epoch_training(tmp_path, stand_in_table,
                                                                   capsys, monkeypatch):
    """A 2-child search on the folder ends by printing the command that trains its best network;
    that command runs as printed (from a directory of its own, so its runs/ lands there). Then a
    training at --input-size 32 trains on 32 px images and reports the network at 32 px."""
    root = image_folder(tmp_path / "data")
    search = cli("train.py", "--search", "--dataset", "imagefolder", "--data-dir", str(root),
                 "--val-size", "6", "--samples", "2", "--batch", "2", "--proxy-steps", "1",
                 "--proxy-batch", "2", "--latency-table", str(stand_in_table),
                 "--out", str(tmp_path / "run"))
    assert search.returncode == 0, search.stderr
    printed = search.stdout.strip().splitlines()[-1]
    assert printed.startswith("train it: python train.py --arch ")
    command = shlex.split(printed.removeprefix("train it: "))
    assert command[command.index("--data-dir") + 1] == str(root)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "train.py").symlink_to(ROOT / "train.py")
    trained = cli(*command[1:], cwd=tmp_path / "elsewhere")  # "python" is this interpreter
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.strip().splitlines()[-1].startswith("test_accuracy=")
    assert list((tmp_path / "elsewhere" / "runs").glob("train-*/model.pt"))

    trained_on, final_train = [], train.final_train

    def spy(arch, data, cfg, *args, **kwargs):
        trained_on.append(data)
        return final_train(arch, data, cfg, *args, **kwargs)
    monkeypatch.setattr(train, "final_train", spy)
    best = tmp_path / "run" / "best.json"
    one_epoch = ["--arch", str(best), "--dataset", "imagefolder", "--data-dir", str(root),
                 "--val-size", "6", "--epochs", "1", "--input-size", "32",
                 "--out", str(tmp_path / "one")]
    assert train.main(one_epoch) == 0
    [data] = trained_on
    assert data.input_size == 32
    assert training.load_splits(data)["train"][0][0].shape == (3, 32, 32)  # not ImageFolder's 224
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert f" macs={count_macs(build_model(load_arch(best)), 32)} " in last, last
    state = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    assert state["classifier.1.weight"].shape[0] == 3 and state["stem.0.weight"].shape[1] == 3


def remove_val(root: Path) -> None:
    for f in (root / "val").rglob("*.png"):
        f.unlink()
    for d in sorted((root / "val").iterdir()):
        d.rmdir()
    (root / "val").rmdir()


def flat_train(root: Path) -> None:  # images straight in train/, no class folders
    for f in (root / "train").rglob("*.png"):
        f.rename(root / "train" / f"{f.parent.name}-{f.name}")
    for d in CLASSES:
        (root / "train" / d).rmdir()


def empty_class(root: Path) -> None:
    for f in (root / "val" / "green").iterdir():
        f.unlink()


def extra_class(root: Path) -> None:  # a class in val/ that train/ does not have
    (root / "val" / "yellow").mkdir()
    shutil.copy(root / "val" / "red" / "0.png", root / "val" / "yellow" / "0.png")


@pytest.mark.parametrize("breaks,message", [
    (remove_val, "--dataset imagefolder needs {root}/train/<class>/ and {root}/val/<class>/"),
    (flat_train, "{root}/train has no class folders"),
    (empty_class, "class 'green' has no images: no file in {root}/val/green is named .jpg, .jpeg, "
                  ".png, .ppm, .bmp, .pgm, .tif, .tiff, .webp"),
    (lambda root: (root / "train" / "red" / "notes.txt").write_text("labels"),
     "{root}/train/red/notes.txt is not an image file (named .jpg, .jpeg, .png, .ppm, .bmp, .pgm, "
     ".tif, .tiff, .webp): move it out of {root}/train"),
    (lambda root: (root / "val" / "blue" / "broken.png").write_bytes(b"not a png"),
     "{root}/val/blue/broken.png is not an image (PIL cannot read it)"),
    (extra_class, "must hold the same class folders: blue, green, red against blue, green, red, "
                  "yellow"),
])
def test_a_bad_folder_is_one_line_and_exit_2(tmp_path, capsys, breaks, message):
    root = image_folder(tmp_path / "data", {"train": 2, "val": 1})
    breaks(root)
    argv = ["--arch", "mnasnet-small", "--dataset", "imagefolder", "--data-dir", str(root),
            "--val-size", "1", "--epochs", "1", "--out", str(tmp_path / "out")]
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message.format(root=root) in err, err


def test_the_systems_own_files_are_skipped(tmp_path):
    """A Mac's .DS_Store and ._0.png (no image, an image's name), Windows' Thumbs.db and
    desktop.ini in the class folders: the training runs on the images alone."""
    root = image_folder(tmp_path / "data", {"train": 2, "val": 1})
    for where in (root / "train" / "red", root / "val" / "blue"):
        (where / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (where / "._0.png").write_bytes(b"\0\5\26\7 Mac OS X")
        (where / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
        (where / "desktop.ini").write_text("[.ShellClassInfo]")
    argv = ["--arch", "mnasnet-small", "--dataset", "imagefolder", "--data-dir", str(root),
            "--val-size", "1", "--epochs", "1", "--input-size", "16",
            "--out", str(tmp_path / "out")]
    assert train.main(argv) == 0
    assert (tmp_path / "out" / "model.pt").exists()
    splits = training.load_splits(training.DataSpec("imagefolder", str(root), 1, 0, 16))
    read = [Path(f).name for f, _ in splits["train"].dataset.samples + splits["test"].samples]
    assert sorted(read) == ["0.png"] * 6 + ["1.png"] * 3  # 3 classes: 2 training images, 1 test


def test_the_printed_command_keeps_the_data_and_quotes_paths():
    from run import SearchConfig

    config = SearchConfig(dataset="imagefolder", data_dir="my photos", val_size=20)
    printed = config.train_command(Path("runs/a run/best.json"))
    assert shlex.split(printed) == ["python", "train.py", "--arch", "runs/a run/best.json",
                                    "--dataset", "imagefolder", "--data-dir", "my photos",
                                    "--val-size", "20", "--epochs", "3"]
    assert SearchConfig().train_command(Path("r/best.json")) == \
        "python train.py --arch r/best.json --dataset fashion-mnist --epochs 3"
