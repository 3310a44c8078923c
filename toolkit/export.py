"""Export recipe: zoo model -> Paddle inference model -> Paddle Lite ``.nb`` (+ ONNX), with parity."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, zoo
from .runners import NO_ARM_RUNNER
from .artifacts import (Artifact, Manifest, StageResult, check_replace, ensure_writable_dir, is_complete, settings_key,
                        staging_dir, temp_dir, writing)
from .errors import MliteError, NotYetSupported, ParityError
from .progress import Steps

MODEL_FILE, PARAMS_FILE = "inference.pdmodel", "inference.pdiparams"
STAGE = "export"
RECIPE_VERSION = 2   # bump when the recipe changes what it writes


@dataclass
class ExportConfig:
    model: str
    weights: str = "pretrained"       # pretrained | random | PATH
    target: str = "arm"
    onnx: bool = False
    ncnn: bool = False                # also ncnn .param/.bin (from the ONNX, by pnnx); implies onnx
    out: Path = Path("mlite_out")
    seed: int = 0
    image_size: int = 224             # square input; preprocessing follows PaddleClas's 256/224 ratio
    num_classes: int | None = None    # None: from the weights file, else 1000
    verify: bool = True               # parity check against Paddle
    progress: bool = True


@dataclass
class ExportResult(StageResult):
    artifacts: list[Artifact] = field(default_factory=list)


def build_model(spec: zoo.ModelSpec, weights, num_classes: int | None = None):
    """The dygraph model with ``weights`` loaded; returns (model, class_num).

    ``num_classes`` None means: as many classes as the weights' classifier has (1000 for random).
    """
    from .paddle_env import import_arch, import_paddle
    from . import weights as weights_mod
    paddle = import_paddle()
    arch = import_arch(spec.module, spec.arch)
    state = weights_mod.read_state(weights)
    if num_classes is None:
        num_classes = weights_mod.classifier_size(state, arch) if state is not None else 1000
    paddle.seed(weights.seed)
    with paddle.utils.unique_name.guard():
        model = arch(pretrained=False, class_num=num_classes)
    weights_mod.check_and_set(model, state, weights, spec.name)
    return model, num_classes


def save_inference(model, input_shape: tuple, dest: Path) -> None:
    """paddle.jit.save with a dynamic batch dimension (writes inference.pdmodel/.pdiparams)."""
    from .paddle_env import import_paddle
    paddle = import_paddle()
    from paddle.static import InputSpec
    model.eval()
    # Paddle names the saved program's variables from a process-wide counter (save_infer_model/scale_0.tmp_N:
    # N counts the exports this process made before): a fresh name scope gives every export the same bytes,
    # whichever worker process and position it has (run --jobs)
    with writing(dest / PARAMS_FILE), paddle.utils.unique_name.guard():
        paddle.jit.save(model, str(dest / "inference"),
                        input_spec=[InputSpec([None, *input_shape[1:]], "float32", "x")])
    (dest / "inference.pdiparams.info").unlink(missing_ok=True)
    from converters.compat import canonical_program
    canonical_program(dest / "inference.pdmodel")


def export(cfg: ExportConfig) -> ExportResult:
    """Run the export recipe; skip it when ``cfg.out/NAME`` already holds the same result."""
    from converters import lite
    from . import parity, weights as weights_mod
    from .paddle_env import tool_versions

    spec = zoo.get(cfg.model)
    if spec.int8:
        raise NotYetSupported(f"{spec.name} is an INT8 zoo entry: export it with --int8 "
                              "(FP32 export of its weights: --model " + spec.name.removesuffix("_int8") + ")")
    if not 32 <= cfg.image_size <= 1024:
        raise MliteError(f"--image-size {cfg.image_size} is out of range: use 32..1024 (PaddleClas uses 224)")
    if cfg.num_classes is not None and cfg.num_classes < 1:
        raise MliteError(f"--num-classes must be at least 1 (got {cfg.num_classes})")
    target = lite.get_target(cfg.target)
    out_root = ensure_writable_dir(Path(cfg.out))
    final = out_root / spec.name
    if cfg.ncnn:
        cfg.onnx = True
    n_steps = 3 + int(cfg.onnx) + int(cfg.ncnn) + int(cfg.verify)
    with Steps(f"export {spec.name}", n_steps, show=cfg.progress) as steps:
        with steps.step("weights"):
            weights = weights_mod.resolve(spec, cfg.weights, cfg.seed, progress=steps.bar)
        input_shape = (1, 3, cfg.image_size, cfg.image_size)
        class_names = _class_names(weights)
        settings = {"recipe": RECIPE_VERSION, "model": spec.name, "arch": spec.arch, "weights": weights.identity,
                    "target": target.name, "onnx": cfg.onnx, "verify": cfg.verify, "input_shape": list(input_shape),
                    "num_classes": cfg.num_classes, "tools": tool_versions()}
        if class_names is not None:   # only then: existing exports keep their keys
            settings["class_names"] = class_names
        if cfg.verify and not target.runs_on_host:
            settings["verify_engine"] = parity.arm_engine()
        if cfg.ncnn:                  # only then: existing exports keep their keys
            from converters import ncnn as ncnn_conv
            settings["ncnn"] = {"pnnx": ncnn_conv.pnnx_version(), "ncnn": ncnn_conv.ncnn_version()}
        key = settings_key(settings)
        done = is_complete(final, key)
        if done is not None:
            return ExportResult(model=spec.name, directory=final, cached=True, manifest=done.to_dict(),
                                artifacts=done.artifacts)
        note = check_replace(final, STAGE, {"model": spec.name})
        with staging_dir(final) as tmp:
            manifest = _run(spec, cfg, target, weights, settings, key, tmp, steps, input_shape)
    return ExportResult(model=spec.name, directory=final, cached=False, manifest=manifest.to_dict(),
                        warnings=[note] if note else [], artifacts=manifest.artifacts)


def _run(spec, cfg, target, weights, settings, key, tmp: Path, steps: Steps, input_shape) -> Manifest:
    from converters import lite
    from .preprocess import Preprocess
    from . import parity

    with steps.step("build"):
        model, num_classes = build_model(spec, weights, cfg.num_classes)
        names = settings.get("class_names")
        if names is not None and len(names) != num_classes:
            from .labels import class_names_file
            raise MliteError(f"{str(class_names_file(weights.path))!r} names {len(names)} classes, the weights' "
                             f"classifier has {num_classes}: fix or remove that file")
        n_params = sum(int(p.numel()) for p in model.parameters())
        _check_finite(spec, model, weights, input_shape)
        save_inference(model, input_shape, tmp)
    model_file, params_file = tmp / MODEL_FILE, tmp / PARAMS_FILE
    nb_name = f"{spec.name}.nb"
    with steps.step(f"opt {target.name}"):
        opt = lite.optimize(model_file, params_file, target, tmp / nb_name)
    arts = [Artifact.of(tmp, MODEL_FILE, "paddle-program", "any"),
            Artifact.of(tmp, PARAMS_FILE, "paddle-params", "any"),
            Artifact.of(tmp, nb_name, "paddle-lite-nb", target.name)]
    onnx_info = None
    if cfg.onnx:
        from converters import onnx as onnx_conv
        with steps.step("onnx"):
            onnx_info = onnx_conv.to_onnx(tmp, MODEL_FILE, PARAMS_FILE, tmp / f"{spec.name}.onnx")
        arts.append(Artifact.of(tmp, f"{spec.name}.onnx", "onnx", "any"))
    ncnn_info = None
    if cfg.ncnn:
        from converters import ncnn as ncnn_conv
        with steps.step("ncnn"):
            ncnn_info = ncnn_conv.to_ncnn(tmp / f"{spec.name}.onnx", input_shape, tmp, spec.name).to_dict()
        arts += [Artifact.of(tmp, ncnn_info["param"], "ncnn-param", "any"),
                 Artifact.of(tmp, ncnn_info["bin"], "ncnn-bin", "any")]
    checks = []
    if cfg.verify:
        with steps.step("parity"):
            checks = _parity(input_shape, target, tmp, nb_name, cfg.onnx, spec.name, ncnn_info)
        parity.require(checks, spec.name)
    manifest = Manifest(
        stage=STAGE, model=spec.name, key=key, settings=settings, tools=settings["tools"], artifacts=arts,
        extra={"mlite_version": __version__, "weights": weights.to_dict(), "params": n_params,
               "precision": "fp32", "family": spec.family, "arch": spec.arch, "module": spec.module,
               "input_shape": list(input_shape), "num_classes": num_classes,
               "class_names": settings.get("class_names"),
               "preprocess": Preprocess.for_input_size(input_shape[-1]).to_dict(),
               "compat_fixes": opt.compat_fixes, "graph_simplified": opt.simplified, "onnx": onnx_info,
               "ncnn": ncnn_info,
               "parity": [c.to_dict() for c in checks], "verified_on": _verified_on(checks, target),
               "timings_s": dict(steps.timings)})
    manifest.write(tmp)
    return manifest


def _check_finite(spec, model, weights, input_shape) -> None:
    """Weights that compute inf/NaN inside the network (a diverged training) are named as such, before the
    converters are blamed for a mismatch that Paddle's ReLU hid from its own output."""
    from . import parity
    from .finite import first_non_finite
    bad = first_non_finite(model, parity.fixed_input((2, *input_shape[1:])))
    if bad is not None:
        raise ParityError(f"{spec.name}: the weights ({weights.label}) compute {bad.kind} inside the network "
                          f"({bad.describe()}) on the fixed parity inputs: they are broken, e.g. by a training "
                          "that diverged (retrain with a lower --lr or fewer --epochs); nothing was written")


def _class_names(weights) -> list[str] | None:
    """The class names mlite recorded when it trained these weights (``NAME.classes.txt``), else None."""
    if weights.path is None or weights.kind != "file":
        return None
    from .labels import read_class_names
    return read_class_names(weights.path)


def _verified_on(checks: list, target) -> dict:
    """Which engine executed which file, in words a reader of the manifest can act on."""
    if not checks:
        return {"nb": None, "note": "parity not checked (--no-verify)"}
    nb_check = checks[0]
    if nb_check.backend.startswith("paddle-lite-arm"):
        return {"nb": nb_check.backend, "note": f"the {target.name} .nb itself ran on Paddle Lite's ARM kernels"}
    if target.runs_on_host:
        return {"nb": nb_check.backend, "note": f"the {target.name} .nb itself ran on this host"}
    return {"nb": nb_check.backend, "note": f"{NO_ARM_RUNNER}: an x86 twin "
            "of the model was checked, the ARM .nb itself was not executed"}


NCNN_TOLERANCE = 1e-3      # of the output's scale (ncnn's kernels reorder sums more than Lite's)


def _parity(input_shape, target, tmp: Path, nb_name: str, with_onnx: bool, name: str, ncnn_info=None) -> list:
    """Compare the .nb (on ARM kernels when this host can run them, else a throw-away x86 twin), ONNX
    Runtime and ncnn (FP32 arithmetic) with Paddle."""
    from converters import lite
    from . import device_exec, parity
    x = parity.fixed_input(input_shape)
    ref = parity.paddle_reference(tmp / MODEL_FILE, tmp / PARAMS_FILE, x)
    checks = []
    arm = device_exec.host_arm_infer(tmp / nb_name, x) if target.name == "arm" else None
    if target.runs_on_host:
        checks.append(parity.compare(f"paddle-lite-{target.name}", ref, lite.run_on_host(tmp / nb_name, x)))
    elif arm is not None:
        checks.append(parity.compare(device_exec.engine_label(arm.meta), ref, arm.outputs))
    else:
        with temp_dir("verify") as work:
            nb = lite.optimize(tmp / MODEL_FILE, tmp / PARAMS_FILE, lite.TARGETS["x86"],
                               Path(work) / "verify.nb").nb_path
            checks.append(parity.compare("paddle-lite-x86 (verification build)", ref, lite.run_on_host(nb, x)))
    if with_onnx:
        from converters import onnx as onnx_conv
        checks.append(parity.compare("onnxruntime", ref, onnx_conv.run_onnxruntime(tmp / f"{name}.onnx", x)))
    if ncnn_info:
        from converters import ncnn as ncnn_conv
        out = ncnn_conv.run_on_host(tmp / ncnn_info["param"], x).reshape(ref.shape)
        checks.append(parity.compare(f"ncnn {ncnn_conv.ncnn_version()} (fp32)", ref, out, tolerance=NCNN_TOLERANCE))
    return checks
