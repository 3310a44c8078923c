"""`mlite package --android`: put an ARM .nb, its labels and matching preprocessing config into the app."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import read_verified, writing
from .errors import MliteError

ASSETS = Path("app/src/main/assets")
POWER_MODES = ("LITE_POWER_HIGH", "LITE_POWER_LOW", "LITE_POWER_FULL", "LITE_POWER_NO_BIND",
               "LITE_POWER_RAND_HIGH", "LITE_POWER_RAND_LOW")


@dataclass
class Packaged:
    app: Path
    files: dict[str, int] = field(default_factory=dict)     # asset -> bytes
    config: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"app": str(self.app), "files": self.files, "config": self.config, "notes": self.notes}


def imagenet_labels() -> list[str]:
    """ImageNet-1k class names in index order (from the installed paddleclas package)."""
    from importlib import resources
    text = resources.files("paddleclas").joinpath("ppcls/utils/imagenet1k_label_list.txt").read_text()
    return [line.split(" ", 1)[1].strip() for line in text.splitlines() if line.strip()]


def app_config(manifest: dict, threads: int, power_mode: str) -> dict:
    """config.json: what the app needs to preprocess exactly like mlite (quant/data.py)."""
    pre = manifest["preprocess"]
    return {"model": manifest["model"], "precision": manifest.get("precision", "fp32"),
            "input_shape": manifest["input_shape"], "num_classes": manifest.get("num_classes") or 1000,
            "preprocess": {"resize_short": pre["resize_short"], "crop": pre["crop"], "scale": pre["scale"],
                           "mean": list(pre["mean"]), "std": list(pre["std"]), "color": "RGB", "layout": "CHW",
                           "resize": pre.get("resize", "bilinear-half-pixel")},
            "threads": threads, "power_mode": power_mode}


def package_android(model_dir: Path, app: Path = Path("android_demo"), labels: Path | None = None, threads: int = 2,
                    power_mode: str = "LITE_POWER_HIGH") -> Packaged:
    from .push import find_model
    model = find_model(Path(model_dir))
    m = read_verified(Path(model_dir))
    if m is None:
        raise MliteError(f"{str(model_dir)!r} has no manifest.json, so its .nb target cannot be checked; "
                         "export it with 'mlite export' (target arm)")
    md = m.to_dict()
    if model.target != "arm":
        raise MliteError(f"{model.nb.name} is built for {model.target}, but Android phones need an ARM .nb: "
                         "export with --target arm (the default)")
    if not 1 <= threads <= 16:
        raise MliteError(f"--threads {threads}: use 1..16")
    if power_mode not in POWER_MODES:
        raise MliteError(f"--power-mode {power_mode!r}: choose one of {', '.join(POWER_MODES)}")
    assets = Path(app) / ASSETS
    if not (Path(app) / "app" / "build.gradle").is_file():
        raise MliteError(f"--app {str(app)!r} is not the mlite Android demo (no app/build.gradle); "
                         "pass the android_demo folder of this repository")
    names = imagenet_labels() if labels is None else _read_labels(Path(labels))
    n_classes = md.get("num_classes") or 1000
    if len(names) != n_classes:
        raise MliteError(f"{len(names)} labels for a model with {n_classes} classes; pass --labels FILE "
                         f"with {n_classes} lines (line i = class i)")
    assets.mkdir(parents=True, exist_ok=True)
    cfg = app_config(md, threads, power_mode)
    _install_together(assets, {"model.nb": model.nb.read_bytes(), "labels.txt": ("\n".join(names) + "\n").encode(),
                               "config.json": (json.dumps(cfg, indent=2) + "\n").encode()})
    notes = []
    if cfg["precision"] == "fp16":
        notes.append("a baked FP16 .nb: the app needs Paddle Lite's Android library built with --with_arm82_fp16=ON "
                     "(the plain armv8 one aborts on its 'calib' ops) and a phone with ARMv8.2 FP16 arithmetic; on "
                     "others (Cortex-A53/A72) the app refuses the model with one message (it reads /proc/cpuinfo)")
    return Packaged(app=Path(app),
                    files={f: (assets / f).stat().st_size for f in ("model.nb", "labels.txt", "config.json")},
                    config=cfg, notes=notes)


def _install_together(assets: Path, files: dict[str, bytes]) -> None:
    """Write every file to a temp name first, then rename them in one go: the app never sees a model
    with another model's labels or config, and an interruption leaves the old set."""
    temps: dict[str, str] = {}
    try:
        for name, blob in files.items():
            fd, temps[name] = tempfile.mkstemp(dir=assets, prefix=f".{name}.")
            with writing(assets / name), os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.chmod(temps[name], 0o644)
        for name, tmp in temps.items():
            os.replace(tmp, assets / name)
    finally:
        for tmp in temps.values():
            if os.path.exists(tmp):
                os.unlink(tmp)


def _read_labels(path: Path) -> list[str]:
    if not path.is_file():
        raise MliteError(f"--labels {str(path)!r} does not exist; pass a text file with one class name per line")
    names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not names:
        raise MliteError(f"--labels {str(path)!r} is empty")
    return names
