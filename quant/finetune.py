"""Fine-tune a zoo model on the user's labelled images: a new K-class head on the pretrained backbone (or
from scratch when no pretrained weights are available: recorded), per-epoch progress, saved .pdparams."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, asdict, field
from pathlib import Path
from typing import Callable

from toolkit.errors import MliteError

from .data import ImageSet
from .train import TrainConfig

RECIPE = 1          # bump when the fine-tuning procedure changes (cached results are then redone)


@dataclass
class FinetuneResult:
    model: str
    weights: str                 # the fine-tuned .pdparams
    init: str                    # pretrained | scratch
    init_note: str               # where the start came from, or why it was from scratch
    num_classes: int
    epochs: int
    train_images: int
    seconds: float               # wall time of the training loop
    losses: list[float] = field(default_factory=list)
    val_top1: list[float | None] = field(default_factory=list)      # per epoch (Paddle dygraph)
    key: str = ""
    class_names: list[str] = field(default_factory=list)      # label i = class_names[i] (also NAME.classes.txt)
    lr: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def head_keys(arch) -> set[str]:
    """The classifier's parameter names: those whose shape follows the class count (two probes differ)."""
    import paddle
    with paddle.utils.unique_name.guard():
        a = {k: list(v.shape) for k, v in arch(pretrained=False, class_num=1000).state_dict().items()}
    with paddle.utils.unique_name.guard():
        b = {k: list(v.shape) for k, v in arch(pretrained=False, class_num=1001).state_dict().items()}
    return {k for k in a if a[k] != b.get(k)}


def backbone_state(model, arch, state: dict) -> dict:
    """``state`` without its classifier; every backbone tensor must be there with ``model``'s shape."""
    head = head_keys(arch)
    mine = {k: list(v.shape) for k, v in model.state_dict().items()}
    kept = {k: v for k, v in state.items() if k not in head and k in mine}
    bad = [k for k in mine if k not in head and (k not in kept or list(kept[k].shape) != mine[k])]
    if bad:
        raise MliteError(f"the pretrained weights do not fit this model's backbone ({len(bad)} tensor(s), e.g. "
                         f"{bad[0]}): they belong to another architecture")
    return kept


def finetune(spec, train: ImageSet, val: ImageSet | None, class_names: list[str], init, cfg: TrainConfig,
             dest: Path, init_note: str, key: str,
             on_epoch: Callable[[int, float, float | None], None] | None = None) -> FinetuneResult:
    """Train ``spec`` (K = ``len(class_names)`` outputs, label i = class_names[i]) on ``train``; ``init`` is a
    Weights (pretrained) or None. The class names are stored beside the weights (``NAME.classes.txt``):
    exports of them record the names, and eval maps class folders by them."""
    from .data import write_class_names
    num_classes = len(class_names)
    from toolkit import weights as weights_mod
    from toolkit.artifacts import write_text_atomic, writing
    from toolkit.paddle_env import import_arch, import_paddle
    from .train import train_classifier
    paddle = import_paddle()
    arch = import_arch(spec.module, spec.arch)
    paddle.seed(cfg.seed)
    with paddle.utils.unique_name.guard():
        model = arch(pretrained=False, class_num=num_classes)
    how = "scratch"
    if init is not None:
        model.set_state_dict(backbone_state(model, arch, weights_mod.read_state(init)))
        how = "pretrained"
    t0 = time.perf_counter()
    log = train_classifier(model, train, cfg, held_out=val, on_epoch=on_epoch)
    seconds = round(time.perf_counter() - t0, 2)
    _check_finite(spec, model, train, cfg, log)
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{spec.name}.pdparams"
    part = out.with_name(f".{out.name}.part")
    with writing(out):
        paddle.save(model.state_dict(), str(part))
    os.replace(part, out)
    write_class_names(out, class_names)
    res = FinetuneResult(model=spec.name, weights=str(out), init=how, init_note=init_note, num_classes=num_classes,
                         epochs=cfg.epochs, train_images=len(train), seconds=seconds,
                         losses=[round(x, 5) for x in log.losses], val_top1=log.accuracies, key=key,
                         class_names=list(class_names), lr=cfg.lr)
    write_text_atomic(dest / "finetune.json", json.dumps(res.to_dict(), indent=2) + "\n")
    return res


class Diverged(MliteError):
    """Training left a model that computes inf/NaN."""


def _check_finite(spec, model, train: ImageSet, cfg: TrainConfig, log) -> None:
    """The trained model on some of its own training images: inf/NaN inside (not only at the output, which
    Paddle's ReLU can hide) means training diverged; nothing is saved."""
    import numpy as np
    from toolkit.finite import first_non_finite
    x = next(train.batches(min(16, len(train))))[0]
    bad = first_non_finite(model, x)
    losses = [f"{v:.3g}" for v in log.losses]
    if bad is None and all(np.isfinite(log.losses)):
        return
    where = bad.describe() if bad else "the training loss is not finite"
    raise Diverged(f"fine-tuning {spec.name} diverged: in eval mode {where} on your training images (loss per "
                   f"epoch: {', '.join(losses)}); lower --lr (now {cfg.lr:g}, try {cfg.lr / 5:g}) or train fewer "
                   "--epochs; nothing was saved")


def cached(dest: Path, key: str) -> FinetuneResult | None:
    """The stored fine-tune result with this key (and its weights file), or None."""
    try:
        d = json.loads((dest / "finetune.json").read_text())
    except (OSError, ValueError):
        return None
    if d.get("key") != key or not Path(d.get("weights", "")).is_file():
        return None
    from .data import class_names_file
    if not class_names_file(Path(d["weights"])).is_file():
        return None
    return FinetuneResult(**d)
