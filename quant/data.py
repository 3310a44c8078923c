"""Image folders for calibration, eval and training; the preprocessing itself is ``toolkit.preprocess``
(re-exported here)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from toolkit.errors import MliteError
from toolkit.labels import (ClassMap, LabelError, class_map, class_names_file, read_class_names,  # noqa: F401
                            write_class_names)
from toolkit.preprocess import Preprocess, preprocess_array, read_rgb, resize_bilinear

__all__ = ["Preprocess", "preprocess_array", "read_rgb", "resize_bilinear", "ImageSet", "DataError", "LabelsMissing",
           "list_images", "open_folder", "ClassMap", "class_map", "read_class_names", "write_class_names",
           "class_names_file", "synthetic_batches"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
LIST_FILE = "val_list.txt"


class DataError(LabelError):
    """An image folder or label file that cannot be used."""


class LabelsMissing(DataError):
    """Labels were asked for, but the folder has neither class sub-folders nor a list file."""


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
    class_map: "ClassMap | None" = None                 # class folders -> labels (class-folder sets)

    @property
    def classes(self) -> list[str] | None:
        """The class folders present, in label order."""
        return list(self.class_map.names) if self.class_map else None

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
        return ImageSet(files=[self.files[i] for i in idx],
                        labels=None if self.labels is None else [self.labels[i] for i in idx],
                        preprocess=self.preprocess, root=self.root, skipped=self.skipped, class_map=self.class_map)

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


def open_folder(root: Path, preprocess: Preprocess, labels_file: Path | None = None,
                need_labels: bool = False, what: str = "image folder", classes: Sequence[str] | None = None,
                dense: bool = False) -> ImageSet:
    """Read an image folder: a class-per-folder tree (labels by ``class_map``: ``classes`` is the model's
    recorded class list, ``dense`` labels a new head 0..K-1), or a ``path label`` list file."""
    shown = str(root)
    root = Path(os.path.abspath(root))      # relative --data/--labels: every path below is absolute (links kept)
    files = list_images(root if root.is_dir() else Path(shown))     # the error names the folder as typed
    list_path = Path(os.path.abspath(labels_file)) if labels_file else (
        root / LIST_FILE if (root / LIST_FILE).is_file() else None)
    labels: list[int] | None = None
    cmap = None
    if list_path is not None:
        files, labels = _read_list(root, list_path)
    elif need_labels:
        in_class = [f for f in files if len(f.relative_to(root).parts) > 1]
        folders = {f.relative_to(root).parts[0] for f in in_class}
        if not folders:
            raise LabelsMissing(f"{what} {shown!r} has no labels: use one sub-folder per class, "
                                f"or a '{LIST_FILE}' (lines 'relative/path.jpg label'), or pass --labels FILE")
        cmap = class_map(folders, classes, dense)
        files = in_class
        labels = [cmap.labels[f.relative_to(root).parts[0]] for f in files]
    if not files:
        raise DataError(f"{what} {shown!r} holds no images (.jpg, .jpeg, .png, .bmp); "
                        "point it at a folder of images")
    ok, bad = _readable(files)
    if not ok:
        raise DataError(f"{what} {shown!r}: none of its {len(files)} image files can be decoded; "
                        "check that they are real images")
    if labels is not None:
        keep = set(map(str, ok))
        labels = [lab for f, lab in zip(files, labels) if str(f) in keep]
    return ImageSet(files=ok, labels=labels, preprocess=preprocess, root=root,
                    skipped=[str(b.relative_to(root)) for b in bad], class_map=cmap)


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
        f = Path(os.path.normpath(root / parts[0]))
        if not f.is_relative_to(root):
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
