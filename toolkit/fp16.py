"""FP16 stage: an FP32 export -> a baked FP16 ARM ``.nb`` in ``NAME_fp16/``, published only after it ran on
Paddle Lite's FP16 kernels and matched Paddle FP32.

The ``.nb`` comes from ``opt --enable_fp16`` (``../shared/arm-fp16/bin/opt``): FP16 kernels where Paddle Lite
has one, ``calib`` ops at the boundaries, weights still FP32 in the file (so it is about as large as the FP32
one). It runs only on the armv8.2 FP16 runtime (``mlite-arm-runner-fp16``) and only on CPUs with FP16
arithmetic. Some models compute NaN in FP16 (MobileNetV3_small_x0_35 at 32x32): the check refuses them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict
from pathlib import Path

from . import __version__
from .artifacts import (Artifact, Manifest, StageResult, check_replace, ensure_writable_dir, is_complete, settings_key,
                        sha256_file, staging_dir)
from .errors import MliteError, ParityError
from .progress import Steps

STAGE = "fp16"
RECIPE_VERSION = 1
# max |FP16 - Paddle FP32| over the output's scale. FP16 rounding (11-bit mantissa, FP16 accumulation in the
# convolutions) reaches 0.02-0.07 of the scale on the zoo's models with trained-like activations (largest:
# MobileNetV3_large_x1_25, 0.068; benchmarks/results/fp16.json); a wrong FP16 result (underflow, a kernel that
# misbehaves) is off by the whole scale (~1) and NaN is refused on its own.
TOLERANCE = 1e-1
FP32_LEVEL = 1e-4         # the FP32 parity tolerance: an output this close to FP32 did not run FP16 arithmetic
FP16_MIN_NORMAL = 2.0 ** -14   # 6.1e-5: below it FP16 keeps few or no significant bits
INPUTS = 2                # fixed parity inputs


class Fp16Unverifiable(MliteError):
    """This host cannot run the FP16 kernels that would check the file."""


@dataclass
class Fp16Config:
    model_dir: Path
    out: Path | None = None
    verify: bool = True
    progress: bool = True


@dataclass
class Fp16Result(StageResult):
    artifacts: list[Artifact] = field(default_factory=list)


@dataclass
class Fp16Check:
    """The baked FP16 .nb on the FP16 kernels against Paddle FP32 on the fixed inputs."""

    engine: str
    inputs: int
    non_finite: int           # NaN/inf output values
    max_abs_diff: float
    scale: float
    relative: float
    tolerance: float
    top1_agreement: float
    ran: str                  # the precision the runner says ran (fp16 / fp32)
    evidence: str | None
    fp16_arithmetic: bool     # the outputs differ from FP32 by more than FP32 rounding (not an FP32 fallback)
    accepted: str | None = None   # why a check that missed the tolerance was still published (random weights)

    @property
    def underflow(self) -> bool:
        """Paddle FP32's whole output is below FP16's smallest normal number: FP16 cannot represent it."""
        return self.scale < FP16_MIN_NORMAL

    @property
    def ok(self) -> bool:
        return self.non_finite == 0 and self.relative <= self.tolerance and self.ran == "fp16" and self.fp16_arithmetic

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok, "underflow": self.underflow}

    def latency_only(self, weights_kind: str) -> bool:
        """A random-weight model whose outputs underflow FP16 but ran FP16 arithmetic without NaN: its FP16 file
        is good for latency and size, as random weights are (their tiny activations are not a trained model's)."""
        return (weights_kind == "random" and self.underflow and self.non_finite == 0 and self.ran == "fp16"
                and self.fp16_arithmetic)

    def reason(self, model: str) -> str:
        if self.non_finite:
            return (f"{model}: in FP16 the model computes NaN/inf ({self.non_finite} of the output values on "
                    f"{self.inputs} fixed inputs, {self.engine}); an FP16 kernel overflows or misbehaves for this model "
                    "and input size (seen: MobileNetV3_small_x0_35 at 32x32; fine at 48x48 and up): ship FP32 or INT8, "
                    "or export at a larger --image-size; nothing was written")
        if self.ran != "fp16" or not self.fp16_arithmetic:
            return (f"{model}: the FP16 .nb did not run FP16 arithmetic ({self.evidence or 'runner said ' + self.ran}; "
                    f"output within {self.relative:.1e} of FP32); it is not published as FP16; please report it")
        small = (f"; its outputs (at most {self.scale:.2g}) are below FP16's smallest normal number "
                 f"{FP16_MIN_NORMAL:.2g}, so FP16 cannot represent them" if self.underflow else "")
        return (f"{model}: in FP16 the output differs from Paddle FP32 by {self.relative:.3g} of its scale (max |diff| "
                f"{self.max_abs_diff:.3g}), above the FP16 tolerance {self.tolerance:g}{small}; ship FP32 or INT8; "
                "nothing was written")


def export_fp16(cfg: Fp16Config) -> Fp16Result:
    """Build ``NAME_fp16/`` from an FP32 inference-model directory; skipped when the same result is there."""
    from converters import lite
    from quant.source import load_source
    from . import runners
    from .paddle_env import tool_versions
    src = load_source(cfg.model_dir)
    opt = lite.fp16_opt()
    found = runners.host_arm_runner(fp16=True) if cfg.verify else None
    if cfg.verify and found is None:
        raise Fp16Unverifiable(
            "an FP16 .nb is published only after it ran on Paddle Lite's FP16 kernels, and this host cannot run "
            f"them: build {runners.ARM_FP16_RUNNER} with 'make arm-runner' (and register qemu-user on x86: "
            "'make arm-qemu')")
    out_root = ensure_writable_dir(Path(cfg.out) if cfg.out else src.directory.parent)
    name = f"{src.name}_fp16"
    final = out_root / name
    settings = {"recipe": RECIPE_VERSION, "source": src.identity(), "target": "arm", "verify": cfg.verify,
                "opt": {"path": str(opt), "sha256": sha256_file(opt), "flags": "--valid_targets=arm --enable_fp16=true"},
                "tolerance": TOLERANCE, "inputs": INPUTS, "tools": tool_versions(),
                "runtime": found[1].to_dict() if found else None}
    key = settings_key(settings)
    done = is_complete(final, key)
    if done is not None:
        return Fp16Result(model=name, directory=final, cached=True, manifest=done.to_dict(), artifacts=done.artifacts)
    note = check_replace(final, STAGE, {"source.directory": str(src.directory.resolve())})
    with Steps(f"fp16 {src.name}", 1 + int(cfg.verify), show=cfg.progress) as steps, staging_dir(final) as tmp:
        nb = tmp / f"{name}.nb"
        with steps.step("opt arm fp16"):
            res = lite.optimize(src.model_file, src.params_file, lite.TARGETS["arm"], nb, fp16=True)
        check = None
        if cfg.verify:
            with steps.step("check fp16"):
                check = check_fp16(src, nb)
            if not check.ok:
                if not check.latency_only(src.weights_kind):
                    raise ParityError(check.reason(src.name))
                check.accepted = (f"random weights (latency/size only): their outputs (at most {check.scale:.2g}) are "
                                  f"below FP16's smallest normal number {FP16_MIN_NORMAL:.2g}, so FP16 rounds them "
                                  f"away ({check.relative:.2g} of scale); a trained model's are not that small")
        md = src.manifest or {}
        arts = [Artifact.of(tmp, nb.name, "paddle-lite-nb", "arm")]
        manifest = Manifest(
            stage=STAGE, model=name, key=key, settings=settings, tools=settings["tools"], artifacts=arts,
            extra={"mlite_version": __version__, "precision": "fp16",
                   "source": {"directory": str(src.directory.resolve()), "model": src.name},
                   "weights": md.get("weights", {"kind": src.weights_kind, "label": f"{src.weights_kind} weights"}),
                   "params": src.params, "input_shape": list(src.input_shape), "preprocess": src.preprocess.to_dict(),
                   "num_classes": md.get("num_classes"), "class_names": md.get("class_names"),
                   "family": md.get("family"), "arch": md.get("arch"),
                   "module": md.get("module"), "compat_fixes": res.compat_fixes, "graph_simplified": res.simplified,
                   "opt": {"version": runners.nb_version(nb), "path": str(opt), "enable_fp16": True},
                   "runtime": {"runner": runners.ARM_FP16_RUNNER, "lite_version": found[1].lite_version if found else None,
                               "needs": "an ARMv8.2 CPU with FP16 arithmetic (asimdhp): Cortex-A55/A75/A76/A77/A78/X1, "
                                        "Kryo 3xx-5xx (SD855); never Cortex-A53/A72 (SIGILL)"},
                   "fp16_check": check.to_dict() if check else None,
                   "verified_on": {"nb": check.engine if check else None,
                                   "note": "the FP16 .nb itself ran on Paddle Lite's FP16 kernels" if check
                                   else "not checked (--no-verify): FP16 may compute NaN for some models"},
                   "timings_s": dict(steps.timings)})
        manifest.write(tmp)
    warnings = [note] if note else []
    if check is not None and check.accepted:
        warnings.append(f"{name}: FP16 parity not met, published for latency/size only: {check.accepted}")
    return Fp16Result(model=name, directory=final, cached=False, manifest=manifest.to_dict(),
                      warnings=warnings, artifacts=manifest.artifacts)


def check_fp16(src, nb: Path) -> Fp16Check:
    """Run the fixed inputs through ``nb`` on the FP16 kernels and compare with Paddle FP32."""
    import numpy as np
    from . import device_exec, parity
    x = parity.fixed_input((INPUTS, *src.input_shape[1:]))
    ref = np.asarray(parity.paddle_reference(src.model_file, src.params_file, x), dtype="float64")
    run = device_exec.host_arm_infer(nb, x, fp16=True)
    if run is None:
        raise Fp16Unverifiable("the FP16 runner stopped working on this host (make arm-runner, make arm-qemu)")
    out = np.asarray(run.outputs, dtype="float64").reshape(ref.shape)
    finite = np.isfinite(out)
    diff = float(np.max(np.abs(ref - out)[finite])) if finite.any() else math.inf
    scale = max(float(np.max(np.abs(ref))), 1e-12)
    rel = diff / scale
    flat_r, flat_o = ref.reshape(len(x), -1), np.where(finite, out, -np.inf).reshape(len(x), -1)
    agree = float(np.mean(flat_r.argmax(1) == flat_o.argmax(1)))
    return Fp16Check(engine=device_exec.engine_label(run.meta), inputs=len(x), non_finite=int((~finite).sum()),
                     max_abs_diff=diff, scale=scale, relative=rel, tolerance=TOLERANCE, top1_agreement=agree,
                     ran=run.meta.cpu_precision or "unknown", evidence=run.meta.precision_evidence,
                     fp16_arithmetic=bool(rel > FP32_LEVEL))
