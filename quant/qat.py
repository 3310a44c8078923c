"""Quantization-aware training with PaddleSlim (dygraph QAT), for when PTQ loses too much."""
from __future__ import annotations

import time
from pathlib import Path

from .data import ImageSet
from .source import Source

QAT_CONFIG = {
    "weight_quantize_type": "channel_wise_abs_max",
    "activation_quantize_type": "moving_average_abs_max",
    "quantizable_layer_type": ["Conv2D", "Linear"],
    "weight_bits": 8,
    "activation_bits": 8,
    "onnx_format": True,
}


def quant_aware_train(src: Source, train: ImageSet, dest: Path, epochs: int, lr: float, batch_size: int) -> dict:
    """Rebuild ``src``'s architecture with its weights, fine-tune with fake-quant, save the INT8 program."""
    from toolkit import weights as weights_mod, zoo
    from toolkit.export import build_model
    from toolkit.paddle_env import import_paddle
    from .train import TrainConfig, train_classifier
    paddle = import_paddle()
    from paddle.static import InputSpec
    from paddleslim import QAT
    m = src.manifest
    spec = zoo.get(m["model"])
    w = m["weights"]
    weights = weights_mod.Weights(w["kind"], seed=w["seed"], path=Path(w["path"]) if w["path"] else None,
                                  url=w["url"], sha256=w["sha256"])
    model, _ = build_model(spec, weights, m["num_classes"])
    t0 = time.perf_counter()
    quanter = QAT(config=dict(QAT_CONFIG))
    quanter.quantize(model)
    log = train_classifier(model, train, TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size))
    model.eval()
    quanter.save_quantized_model(model, str(dest / "inference"),
                                 input_spec=[InputSpec([None, *src.input_shape[1:]], "float32", "x")])
    (dest / "inference.pdiparams.info").unlink(missing_ok=True)
    return {"seconds": round(time.perf_counter() - t0, 3), "losses": log.losses}
