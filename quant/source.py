"""What the quantizer knows about an FP32 inference-model directory (mlite export or a user's own)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from toolkit.artifacts import read_verified
from toolkit.errors import MliteError

from .data import Preprocess

QUANT_OP_PREFIXES = ("quantize_linear", "dequantize_linear", "fake_quantize", "fake_dequantize",
                     "fake_channel_wise", "quantize", "dequantize")


class AlreadyQuantized(MliteError):
    """The source program already holds quantization ops."""


@dataclass
class Source:
    directory: Path
    name: str
    model_file: Path
    params_file: Path
    input_shape: tuple[int, int, int, int]
    preprocess: Preprocess
    weights_kind: str          # random | pretrained | file | unknown
    params: int
    manifest: dict | None

    @property
    def random_weights(self) -> bool:
        return self.weights_kind == "random"

    def identity(self) -> str:
        """What a derived artifact's key records of its source: the export's key, else the files' sha256."""
        if self.manifest is not None:
            return self.manifest["key"]
        from toolkit.artifacts import sha256_file
        return sha256_file(self.model_file) + sha256_file(self.params_file)


def _program_facts(model_file: Path) -> tuple[list[str], tuple, int]:
    """(op types, input shape with batch 1, parameter count) from a serialized program."""
    from converters import compat
    pb = compat._pb()
    prog = pb.ProgramDesc()
    try:
        prog.ParseFromString(model_file.read_bytes())
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        from .runtime import unloadable
        raise unloadable(model_file, "the Paddle program parser", e) from None
    if not prog.blocks:
        raise MliteError(f"{str(model_file)!r} holds no program blocks: it is not a Paddle inference model; "
                         "re-export it")
    block = prog.blocks[0]
    ops = [op.type for b in prog.blocks for op in b.ops]
    feed_targets = [op.outputs[0].arguments[0] for op in block.ops if op.type == "feed"]
    vars_by_name = {v.name: v for v in block.vars}
    shape: tuple = ()
    if feed_targets and feed_targets[0] in vars_by_name:
        dims = list(vars_by_name[feed_targets[0]].type.lod_tensor.tensor.dims)
        shape = tuple(1 if d < 0 else int(d) for d in dims)
    params = 0
    for v in block.vars:
        if v.persistable and v.type.type == pb.VarType.LOD_TENSOR and v.name not in ("feed", "fetch"):
            n = 1
            for d in v.type.lod_tensor.tensor.dims:
                n *= max(int(d), 1)
            params += n
    return ops, shape, params


def artifact_name(folder: str) -> str:
    """A name for outputs made from a user's folder: the folder's name when it is an identifier, else that name
    made one plus a short hash of the original, so ``net-a`` and ``net_a`` (or ``net.a``) never share outputs."""
    if re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", folder):
        return folder
    import hashlib
    base = re.sub(r"[^A-Za-z0-9_]+", "_", folder).strip("_")[:48] or "model"
    if not base[0].isalpha():
        base = "m_" + base
    return f"{base}_{hashlib.sha256(folder.encode()).hexdigest()[:6]}"


def load_source(model_dir: Path) -> Source:
    from .runtime import find_paddle_model
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise MliteError(f"--model-dir {str(model_dir)!r} is not a directory; pass the folder 'mlite export' wrote")
    m = read_verified(model_dir)
    md = m.to_dict() if m is not None else None
    if md is not None and md.get("precision") == "fp16":
        src = (md.get("source") or {}).get("directory")
        raise MliteError(f"{str(model_dir)!r} is a baked FP16 .nb (no Paddle program): quantize or re-export its FP32 "
                         "source" + (f" {src!r}" if src else "") + " instead")
    model_file, params_file = find_paddle_model(model_dir)
    ops, shape, params = _program_facts(model_file)
    quant_ops = sorted({o for o in ops if o.startswith(QUANT_OP_PREFIXES)})
    if quant_ops:
        raise AlreadyQuantized(f"{str(model_dir)!r} is already quantized (it has {', '.join(quant_ops[:2])} ops); "
                               "quantize the FP32 model instead")
    if md is not None and md.get("stage") == "export":
        shape = tuple(md["input_shape"])
        return Source(directory=model_dir, name=md["model"], model_file=model_file, params_file=params_file,
                      input_shape=shape, preprocess=Preprocess.from_dict(md["preprocess"]),
                      weights_kind=md["weights"]["kind"], params=md["params"], manifest=md)
    if len(shape) != 4 or shape[1] != 3:
        raise MliteError(f"{str(model_dir)!r}: the model's input is {list(shape)}, not an NCHW RGB image; "
                         "mlite quantizes image classifiers only")
    name = artifact_name(model_dir.resolve().name)
    return Source(directory=model_dir, name=name, model_file=model_file, params_file=params_file, input_shape=shape,
                  preprocess=Preprocess.for_input_size(shape[-1]), weights_kind="unknown", params=params, manifest=None)
