"""A small supervised training loop for the zoo's dygraph models (QAT, fixtures, distillation)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from .data import ImageSet


@dataclass
class TrainConfig:
    epochs: int = 5
    lr: float = 0.05
    batch_size: int = 32
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0


@dataclass
class TrainLog:
    losses: list[float] = field(default_factory=list)          # mean loss per epoch
    accuracies: list[float | None] = field(default_factory=list)


def predict(model, images: ImageSet, batch_size: int = 64):
    """Logits for every image (eval mode)."""
    import numpy as np
    import paddle
    model.eval()
    outs = []
    with paddle.no_grad():
        for x, _y, _idx in images.batches(batch_size):
            outs.append(model(paddle.to_tensor(x)).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def accuracy(model, images: ImageSet) -> float:
    import numpy as np
    logits = predict(model, images)
    return float(np.mean(logits.argmax(1) == np.asarray(images.labels)))


def cosine_momentum(model, lr: float, total_steps: int, momentum: float = 0.9, weight_decay: float = 1e-4):
    """(optimizer, scheduler): momentum SGD with the learning rate cosine-decayed over ``total_steps``."""
    import paddle
    sched = paddle.optimizer.lr.CosineAnnealingDecay(lr, T_max=total_steps)
    opt = paddle.optimizer.Momentum(sched, momentum=momentum, parameters=model.parameters(),
                                    weight_decay=weight_decay)
    return opt, sched


def sgd_step(loss, opt, sched) -> None:
    """Backpropagate ``loss``, update the parameters, advance the learning-rate schedule."""
    loss.backward()
    opt.step()
    opt.clear_grad()
    sched.step()


def train_classifier(model, train: ImageSet, cfg: TrainConfig, held_out: ImageSet | None = None,
                     on_epoch: Callable[[int, float, float | None], None] | None = None) -> TrainLog:
    """Momentum SGD with cosine decay and cross-entropy on ``train``'s labels."""
    import paddle
    steps_per_epoch = max(1, math.ceil(len(train) / cfg.batch_size))
    opt, sched = cosine_momentum(model, cfg.lr, cfg.epochs * steps_per_epoch, cfg.momentum, cfg.weight_decay)
    log = TrainLog()
    for epoch in range(cfg.epochs):
        model.train()
        total, n = 0.0, 0
        for x, y, _idx in train.batches(cfg.batch_size, shuffle=True, seed=cfg.seed + epoch):
            loss = paddle.nn.functional.cross_entropy(model(paddle.to_tensor(x)), paddle.to_tensor(y))
            sgd_step(loss, opt, sched)
            total += float(loss) * len(y)
            n += len(y)
        log.losses.append(total / max(n, 1))
        acc = accuracy(model, held_out) if held_out is not None else None
        log.accuracies.append(acc)
        if on_epoch:
            on_epoch(epoch, log.losses[-1], acc)
    model.eval()
    return log
