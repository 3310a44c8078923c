"""Accuracy on the device runtime: the artifact's ``.nb`` runs on a device (adb phone or this host's ARM
runtime), fed with inputs preprocessed here and pushed as one tensor file; the logits are pulled back."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import MliteError

from . import data


@dataclass
class DeviceLogits:
    logits: object              # numpy (N, classes)
    backend: str                # e.g. paddle-lite-arm
    engine: str                 # runtime, version, emulated or native
    device: dict


def device_logits(model_dir: Path, spec, images: data.ImageSet, batch_size: int, threads: int) -> DeviceLogits:
    """``spec``: a device name for ``devices.select.open_device`` or an open Device."""
    import numpy as np
    from toolkit import device_exec, runners
    from toolkit.devices.select import open_device
    from toolkit.push import check_target, find_model, fp16_check
    model = find_model(model_dir)
    fp16 = model.precision == "fp16"
    dev = open_device(spec) if isinstance(spec, str) else spec
    info = dev.info()
    if dev.kind == "local":
        found = runners.host_arm_runner(fp16=fp16)
        if found is None or model.target != "arm":
            raise MliteError("--device local runs an ARM .nb on this host's ARM runtime: it needs 'make arm-runner' "
                             "(and qemu-user on x86: 'make arm-qemu') and a model exported with --target arm"
                             + ("; FP16: mlite-arm-runner-fp16 on a CPU with FP16 arithmetic" if fp16 else ""))
        runner = found[0]
        info.abi, info.emulated = "arm64-v8a", found[1].emulated
    else:
        check_target(model, info)
        if fp16:
            fp16_check(dev, info, f"{model.nb.name} (a baked FP16 .nb)")
        runner = runners.arm_fp16_runner() if fp16 else runners.for_device(info.abi)
        if runner is None:
            raise MliteError("no FP16 ARM runner: run 'make arm-runner' (it builds mlite-arm-runner-fp16)")
    if runner.name not in (runners.ARM_RUNNER, runners.ARM_FP16_RUNNER):
        raise MliteError(f"accuracy on a device needs mlite's ARM runner (batch mode), not {runner.name}: "
                         "run 'make arm-runner' (or unset MLITE_RUNNER)")
    from toolkit.devices.lock import device_lock
    x = np.concatenate([xb for xb, _y, _i in images.batches(batch_size)])
    with device_lock(info), device_exec.Workspace(dev, dev.default_remote_dir) as ws:
        remote_runner = ws.put(runner, runner.name, mode="755")
        meta = device_exec.probe(dev, remote_runner)
        runners.check_versions(model.nb, meta, f"device {info.serial}")
        remote_model = ws.put(model.nb, model.name + ".nb", model.sha256)
        res = device_exec.infer(ws, remote_runner, remote_model, x, threads=threads)
    if fp16 and res.meta.cpu_precision != "fp16":
        raise MliteError(f"the runner did not run {model.nb.name} on FP16 kernels ({res.meta.precision_evidence}); "
                         "no FP16 accuracy is reported")
    emulated = bool(info.emulated or res.meta.emulated)
    res.meta.emulated = emulated
    device = info.to_dict() | {"emulated": emulated}
    return DeviceLogits(logits=res.outputs, backend="paddle-lite-arm", engine=device_exec.engine_label(res.meta),
                        device=device)
