"""Image folders and PaddleClas's ImageNet preprocessing (shared by calibration, eval, training, the app).

The pipeline is PaddleClas's eval transform: decode to RGB, resize the short side to
``resize_short`` (bilinear, half-pixel centres, like OpenCV's INTER_LINEAR), centre-crop
``crop``, scale by 1/255, normalize with mean/std, HWC -> CHW. The resize is written out here in
NumPy so that the Android app's Java port can match it exactly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, asdict, field
from pathlib import Path
from typing import Iterator

from toolkit.errors import MliteError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
LIST_FILE = "val_list.txt"


class DataError(MliteError):
    """An image folder or label file that cannot be used."""


class LabelsMissing(DataError):
    """Labels were asked for, but the folder has neither class sub-folders nor a list file."""


@dataclass(frozen=True)
class Preprocess:
    resize_short: int = 256
    crop: int = 224
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @classmethod
    def for_input_size(cls, size: int) -> "Preprocess":
        """PaddleClas's ratio (256/224) for other input sizes."""
        return cls(resize_short=int(round(size * 256 / 224)), crop=size)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        return cls(resize_short=d["resize_short"], crop=d["crop"], scale=d["scale"],
                   mean=tuple(d["mean"]), std=tuple(d["std"]))

    def to_dict(self) -> dict:
        return asdict(self) | {"color": "RGB", "layout": "CHW", "resize": "bilinear-half-pixel"}


def resize_bilinear(img, out_h: int, out_w: int):
    """Bilinear resize of an HxWxC float array (half-pixel centres, edge clamp, no antialias)."""
    import numpy as np
    in_h, in_w = img.shape[:2]

    def axis(n_out: int, n_in: int):
        pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        pos = np.clip(pos, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, wy = axis(out_h, in_h)
    x0, x1, wx = axis(out_w, in_w)
    wy, wx = wy[:, None, None], wx[None, :, None]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def preprocess_array(rgb, pp: Preprocess):
    """HxWx3 uint8 RGB -> 3xHxW float32 normalized tensor."""
    import numpy as np
    h, w = rgb.shape[:2]
    ratio = pp.resize_short / min(h, w)
    new_h, new_w = max(pp.crop, int(round(h * ratio))), max(pp.crop, int(round(w * ratio)))
    img = resize_bilinear(rgb.astype(np.float32), new_h, new_w)
    top, left = (new_h - pp.crop) // 2, (new_w - pp.crop) // 2
    img = img[top:top + pp.crop, left:left + pp.crop]
    mean = np.asarray(pp.mean, np.float32) / np.float32(pp.scale)
    std = np.asarray(pp.std, np.float32) / np.float32(pp.scale)
    return ((img - mean) / std).transpose(2, 0, 1).astype(np.float32)


def read_rgb(path: Path):
    """Decode any PIL-readable image to HxWx3 uint8 RGB (grayscale, CMYK, palette, alpha converted)."""
    import numpy as np
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (nested folders allowed), in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {str(root)!r} does not exist or is not a folder; "
                        "pass a folder of .jpg/.png/.bmp images")
    files = []
    for d, _dirs, names in os.walk(root, followlinks=True):
        files += [Path(d) / n for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(files)


@dataclass
class ImageSet:
    """Decoded-on-demand images with optional integer labels."""

    files: list[Path]
    labels: list[int] | None
    preprocess: Preprocess
    root: Path
    skipped: list[str] = field(default_factory=list)   # unreadable files (relative paths)
    classes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int):
        return preprocess_array(read_rgb(self.files[i]), self.preprocess)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Iterator[tuple]:
        """Yield (images NCHW float32, labels int64 or None, indices)."""
        import numpy as np
        order = np.arange(len(self.files))
        if shuffle:
            np.random.RandomState(seed).shuffle(order)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x = np.stack([self.load(int(i)) for i in idx])
            y = None if self.labels is None else np.asarray([self.labels[i] for i in idx], np.int64)
            yield x, y, idx

    def subset(self, n: int, seed: int = 0) -> "ImageSet":
        """A deterministic sample of ``n`` images spread over the set."""
        import numpy as np
        idx = sorted(np.random.RandomState(seed).choice(len(self.files), n, replace=False).tolist())
        return ImageSet([self.files[i] for i in idx], None if self.labels is None else [self.labels[i] for i in idx],
                        self.preprocess, self.root, self.skipped, self.classes)

    def listing_sha256(self) -> str:
        """Identity of the labelled set: sha256 of its 'relative/path label' lines."""
        import hashlib
        listing = "\n".join(f"{f.relative_to(self.root)} {lab}" for f, lab in zip(self.files, self.labels or []))
        return hashlib.sha256(listing.encode()).hexdigest()

    def describe(self) -> dict:
        return {"root": str(self.root), "images": len(self.files), "skipped_unreadable": len(self.skipped),
                "classes": len(self.classes) if self.classes else None}


def _readable(files: list[Path]) -> tuple[list[Path], list[Path]]:
    from PIL import Image
    ok, bad = [], []
    for f in files:
        try:
            with Image.open(f) as im:
                im.verify()
            ok.append(f)
        except Exception:  # PIL raises many types for broken files
            bad.append(f)
    return ok, bad


def class_index(names: set[str]) -> tuple[list[str], dict[str, int]]:
    """Class folders in label order and their labels. Folders named by integers are class ids
    (folder ``10`` is class 10, also when some classes have no folder); other names are sorted as
    strings, as ImageNet's synset folders are (``n01440764`` is class 0)."""
    if names and all(n.isdigit() for n in names):
        classes = sorted(names, key=lambda n: (int(n), n))
        clash = next(((a, b) for a, b in zip(classes, classes[1:]) if int(a) == int(b)), None)
        if clash:
            raise DataError(f"class folders {clash[0]!r} and {clash[1]!r} are both class {int(clash[0])}; "
                            "rename one (folders named by numbers are class ids)")
        return classes, {c: int(c) for c in classes}
    classes = sorted(names)
    return classes, {c: i for i, c in enumerate(classes)}


def open_folder(root: Path, preprocess: Preprocess, labels_file: Path | None = None,
                need_labels: bool = False, what: str = "image folder") -> ImageSet:
    """Read an image folder: a class-per-folder tree, or a ``path label`` list file."""
    root = Path(root)
    files = list_images(root)
    list_path = Path(labels_file) if labels_file else (root / LIST_FILE if (root / LIST_FILE).is_file() else None)
    labels: list[int] | None = None
    classes = None
    if list_path is not None:
        files, labels = _read_list(root, list_path)
    elif need_labels:
        classes, index = class_index({f.relative_to(root).parts[0] for f in files if len(f.relative_to(root).parts) > 1})
        if not classes:
            raise LabelsMissing(f"{what} {str(root)!r} has no labels: use one sub-folder per class, "
                            f"or a '{LIST_FILE}' (lines 'relative/path.jpg label'), or pass --labels FILE")
        files = [f for f in files if len(f.relative_to(root).parts) > 1]
        labels = [index[f.relative_to(root).parts[0]] for f in files]
    if not files:
        raise DataError(f"{what} {str(root)!r} holds no images (.jpg, .jpeg, .png, .bmp); "
                        "point it at a folder of images")
    ok, bad = _readable(files)
    if not ok:
        raise DataError(f"{what} {str(root)!r}: none of its {len(files)} image files can be decoded; "
                        "check that they are real images")
    if labels is not None:
        keep = set(map(str, ok))
        labels = [lab for f, lab in zip(files, labels) if str(f) in keep]
    return ImageSet(ok, labels, preprocess, root, [str(b.relative_to(root)) for b in bad], classes)


def _read_list(root: Path, list_path: Path) -> tuple[list[Path], list[int]]:
    if not list_path.is_file():
        raise DataError(f"labels file {str(list_path)!r} does not exist; pass a 'relative/path.jpg label' list")
    files, labels = [], []
    for n, line in enumerate(list_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DataError(f"{list_path.name} line {n}: expected 'relative/path.jpg label', got {line.strip()!r}")
        f = (root / parts[0]).resolve()
        if not f.is_relative_to(root.resolve()):
            raise DataError(f"{list_path.name} line {n}: path {parts[0]!r} leaves the data folder")
        if f.is_file():
            files.append(f)
            labels.append(int(parts[1]))
    return files, labels


def synthetic_batches(shape: tuple[int, ...], count: int, batch_size: int, seed: int = 0) -> Iterator:
    """Deterministic standard-normal 'images' for calibrating random-weight models (latency/size only)."""
    import numpy as np
    rs = np.random.RandomState(seed)
    for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        yield rs.standard_normal((n, *shape[1:])).astype(np.float32), None, None
