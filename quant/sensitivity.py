"""Per-layer INT8 sensitivity and the mixed-precision choice (``mlite quantize --sensitivity / --max-drop``).

Two programs from the same PaddleSlim run settings: the INT8 one and a "folded FP32" one (PTQ with every
weight in the skip list: BN folded exactly as in the INT8 program, nothing quantized), which supplies the
FP32 weights under the same names. A program in which only some layers are quantized is the INT8 program
with every other quantized op rewired to the FP32 weight (``W@fp32``) and to its unquantized input — the
output observers in between are no-ops in Paddle. PaddleSlim calibrates on the FP32 forward pass, so the
scales do not depend on which layers are skipped: the estimate for a skip list is what a PTQ run with
that ``skip_tensor_list`` gives (checked again on the real artifact).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from converters.compat import unquantized

# quantized op type -> (weight input, activation input)
QUANTIZED = {"conv2d": ("Filter", "Input"), "depthwise_conv2d": ("Filter", "Input"),
             "mul": ("Y", "X"), "matmul": ("Y", "X"), "matmul_v2": ("Y", "X")}
FP32_SUFFIX = "@fp32"


@dataclass
class LayerRow:
    weight: str                      # the layer's weight tensor (PaddleSlim's skip_tensor_list name)
    op_type: str
    params: int
    top1_drop: float | None          # points lost vs FP32 when only this layer is INT8 (labelled data)
    output_distance: float           # ||logits - fp32|| / ||fp32|| when only this layer is INT8


@dataclass
class Analysis:
    images: int
    labelled: bool
    fp32_top1: float | None
    int8_top1: float | None
    int8_output_distance: float
    rows: list[LayerRow] = field(default_factory=list)

    def ranked(self) -> list[LayerRow]:
        """Most sensitive first: by top-1 drop (when labelled), then by output distance."""
        return sorted(self.rows, key=lambda r: (-(r.top1_drop or 0.0), -r.output_distance))

    def to_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "rows"},
                "rows": [asdict(r) for r in self.ranked()]}


def weight_names(model_file: Path) -> list[str]:
    """The weights of the ops PaddleSlim quantizes, in program order."""
    from converters.compat import _pb
    prog = _pb().ProgramDesc()
    prog.ParseFromString(Path(model_file).read_bytes())
    return [i.arguments[0] for op in prog.blocks[0].ops if op.type in QUANTIZED
            for i in op.inputs if i.parameter == QUANTIZED[op.type][0] and i.arguments]


class _Programs:
    """The INT8 program with the folded FP32 weights loaded beside its own, rewired per layer set."""

    def __init__(self, int8_dir: Path, fp32_dir: Path):
        from converters.compat import _pb, producers
        from toolkit.paddle_env import import_paddle
        paddle = self.paddle = import_paddle()
        paddle.enable_static()
        self.exe = paddle.static.Executor(paddle.CPUPlace())
        self.scope = paddle.static.Scope()
        fp32_scope = paddle.static.Scope()
        with paddle.static.scope_guard(fp32_scope):
            self.fp32_prog, _, self.fp32_fetch = paddle.static.load_inference_model(
                str(fp32_dir / "inference"), self.exe)
        with paddle.static.scope_guard(self.scope):
            _, self.feeds, self.fetch = paddle.static.load_inference_model(str(int8_dir / "inference"), self.exe)
        self.fp32_scope = fp32_scope
        self.desc = _pb().ProgramDesc()
        self.desc.ParseFromString((int8_dir / "inference.pdmodel").read_bytes())
        block = self.desc.blocks[0]
        self._producer = producers(block)
        self.layers = []                 # (op index, weight name, op type, params)
        import numpy as np
        for k, op in enumerate(block.ops):
            if op.type not in QUANTIZED:
                continue
            w = self._raw(next(i.arguments[0] for i in op.inputs if i.parameter == QUANTIZED[op.type][0]))
            found = fp32_scope.find_var(w)
            if found is None:
                continue
            arr = np.array(found.get_tensor())
            self.scope.var(w + FP32_SUFFIX).get_tensor().set(arr, paddle.CPUPlace())
            self.layers.append((k, w, op.type, int(arr.size)))

    def _raw(self, name: str) -> str:
        return unquantized(self._producer, name)

    def quantized_only(self, weights: set[str]):
        """A Program in which only the layers of ``weights`` are INT8."""
        from converters.compat import _pb
        d = _pb().ProgramDesc()
        d.CopyFrom(self.desc)
        block = d.blocks[0]
        declared = {v.name: v for v in block.vars}
        for k, w, op_type, _ in self.layers:
            if w in weights:
                continue
            wp, xp = QUANTIZED[op_type]
            for i in block.ops[k].inputs:
                if i.parameter == wp:
                    i.arguments[0] = w + FP32_SUFFIX
                elif i.parameter == xp:
                    i.arguments[0] = self._raw(i.arguments[0])
            if w + FP32_SUFFIX not in declared:
                v = block.vars.add()
                v.CopyFrom(declared[w])
                v.name, v.persistable = w + FP32_SUFFIX, True
                declared[v.name] = v
        return self.paddle.static.Program.parse_from_string(d.SerializeToString())

    def logits(self, prog, x):
        with self.paddle.static.scope_guard(self.scope):
            return batched(lambda b: self.exe.run(prog, feed={self.feeds[0]: b}, fetch_list=self.fetch)[0], x)

    def fp32_logits(self, x):
        with self.paddle.static.scope_guard(self.fp32_scope):
            return batched(lambda b: self.exe.run(self.fp32_prog, feed={self.feeds[0]: b},
                                                  fetch_list=self.fp32_fetch)[0], x)


def batched(run, x, batch: int = 64):
    """``run`` over ``x`` in batches, outputs concatenated."""
    import numpy as np
    return np.concatenate([run(x[i:i + batch]) for i in range(0, len(x), batch)])


def top1(logits, labels) -> float | None:
    return None if labels is None else float((logits.argmax(1) == labels).mean())


def _distance(a, ref) -> float:
    import numpy as np
    return float(np.linalg.norm(a - ref) / max(float(np.linalg.norm(ref)), 1e-12))


class Sensitivity:
    """Measures layer subsets of one INT8 program on fixed inputs ``x`` (``labels`` optional)."""

    def __init__(self, int8_dir: Path, fp32_dir: Path, x, labels=None, progress=None):
        self.p = _Programs(Path(int8_dir), Path(fp32_dir))
        self.x, self.labels = x, labels
        self.ref = self.p.fp32_logits(x)
        self.progress = progress or (lambda done, total: None)

    @property
    def all_weights(self) -> list[str]:
        return [w for _, w, _, _ in self.p.layers]

    def measure(self, int8_weights: set[str]) -> tuple[float | None, float]:
        """(top-1, output distance to FP32) with exactly ``int8_weights`` quantized."""
        out = self.p.logits(self.p.quantized_only(int8_weights), self.x)
        return top1(out, self.labels), _distance(out, self.ref)

    def analyse(self) -> Analysis:
        fp32_top1 = top1(self.ref, self.labels)
        int8_top1, int8_dist = self.measure(set(self.all_weights))
        a = Analysis(images=len(self.x), labelled=self.labels is not None, fp32_top1=fp32_top1,
                     int8_top1=int8_top1, int8_output_distance=int8_dist)
        for n, (_, w, op_type, params) in enumerate(self.p.layers, 1):
            acc, dist = self.measure({w})
            drop = None if acc is None else round((fp32_top1 - acc) * 100, 4)
            a.rows.append(LayerRow(weight=w, op_type=op_type, params=params, top1_drop=drop, output_distance=dist))
            self.progress(n, len(self.p.layers))
        return a

    def fewest_fp32_layers(self, analysis: Analysis, max_drop: float) -> tuple[list[str], float, list[dict]]:
        """The shortest prefix of the ranking kept in FP32 that brings the top-1 drop within ``max_drop``
        points (labelled data); returns (FP32 layers, estimated drop, what was tried)."""
        ranked = [r.weight for r in analysis.ranked()]
        tried = []
        for k in range(0, len(ranked) + 1):      # k = all: the folded FP32 program, drop 0: always ends
            fp32 = ranked[:k]
            acc, dist = self.measure(set(self.all_weights) - set(fp32))
            drop = round((analysis.fp32_top1 - acc) * 100, 4)
            tried.append({"fp32_layers": k, "top1": acc, "drop_points": drop, "output_distance": dist})
            if drop <= max_drop:
                break
        return fp32, drop, tried
