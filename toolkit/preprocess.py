"""PaddleClas's ImageNet preprocessing, shared by export (recorded in manifests), calibration, eval,
training and the Android app.

The pipeline is PaddleClas's eval transform: decode to RGB, resize the short side to
``resize_short`` (bilinear, half-pixel centres, like OpenCV's INTER_LINEAR), centre-crop
``crop``, scale by 1/255, normalize with mean/std, HWC -> CHW. The resize is written out here in
NumPy so that the Android app's Java port can match it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict
from pathlib import Path


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
