"""FP16 rules without a device: which CPUs have FP16 arithmetic, what the runner says ran, how results are filed."""
import pytest

from tests.fixtures.loopback import A53_CPUINFO, SD855_CPUINFO
from toolkit import runners
from toolkit.devices import cpu
from toolkit.push import RunPlan, ran_precision
from toolkit.bench import RunnerError
from pathlib import Path

PI4 = "".join(f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
              f"CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n" for i in range(4)) \
    + "Hardware\t: BCM2835\nModel\t: Raspberry Pi 4 Model B Rev 1.4\n"
X86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t: fpu sse\n"


def test_cpuinfo_decides_fp16_by_features_then_parts():
    sd855 = cpu.parse(SD855_CPUINFO)
    assert sd855.fp16 is True and "SM8150" in sd855.cpu and "4 x Kryo 4xx Gold" in sd855.cpu
    a53 = cpu.parse(A53_CPUINFO)
    assert a53.fp16 is False and "8 x Cortex-A53" in a53.cpu
    pi = cpu.parse(PI4)
    assert pi.fp16 is False and "Cortex-A72" in pi.cpu
    # an old kernel without Features lines: the CPU part codes decide
    assert cpu.parse(SD855_CPUINFO.replace("Features", "Flags")).fp16 is True
    assert cpu.parse(A53_CPUINFO.replace("Features", "Flags")).fp16 is False
    # big.LITTLE with one core lacking FP16: threads may land on it -> no
    mixed = SD855_CPUINFO.replace("0x805", "0xd03", 1).replace("fphp asimdhp ", "", 1)
    assert cpu.parse(mixed).fp16 is False
    # qemu-user shows the host's file: unknown, never assumed
    assert cpu.parse(X86).fp16 is None


FP16_OUT = """Runner: mlite-arm-runner-fp16 0.1.0 (Paddle Lite v2.13-rc, light API, armv8.2-a+fp16)
Paddle Lite version: v2.13-rc
CPU FP16 arithmetic: yes
Emulated: yes (aarch64 code, MIDR_EL1 is QEMU's 'max' CPU)
cpu_precision: fp32
cpu_precision_requested: fp16
precision_evidence: fp16 requested, Paddle Lite ran FP32 kernels (it did not switch)
"""


def _plan(backend="arm"):
    return RunPlan(launch="r", remote_model="m", runner_backend=backend, label=backend, model_file="m.nb", storage=1,
                   runner_path=Path("r"), runner_sha="x")


def test_results_are_filed_under_the_precision_that_ran():
    meta = runners.parse_meta(FP16_OUT)
    assert meta.name.startswith("mlite-arm-runner-fp16") and meta.cpu_fp16 is True and meta.emulated is True
    assert meta.cpu_precision == "fp32" and "did not switch" in meta.precision_evidence
    assert ran_precision("fp32", _plan(), meta) == "fp32"                 # the declined runtime switch
    assert ran_precision("int8", _plan(), meta) == "int8"
    ran = runners.parse_meta(FP16_OUT.replace("cpu_precision: fp32", "cpu_precision: fp16"))
    assert ran_precision("fp32", _plan(), ran) == "fp16"                  # the switch Paddle Lite made
    assert ran_precision("fp16", _plan(), ran) == "fp16"
    with pytest.raises(RunnerError, match="did not report FP16"):
        ran_precision("fp16", _plan(), meta)                              # never filed as FP16 without proof
    assert runners.remote_name(Path("/x/mlite-arm-runner-fp16")) == "mlite-arm-runner-fp16"


def test_the_runtime_switch_is_for_fp32_files_only():
    from toolkit.errors import MliteError
    from toolkit.push import Model, PushConfig, _lite_plan
    int8 = Model(name="M_int8", nb=Path("M_int8.nb"), target="arm", precision="int8", weights="random",
                 input_shape=(1, 3, 224, 224), sha256="x")
    with pytest.raises(MliteError, match="--cpu-precision fp16 switches an FP32 .nb.*M_int8.nb is INT8"):
        _lite_plan(None, None, int8, PushConfig(model_dir=Path("."), cpu_precision="fp16"), None)   # before the device


def _check(**kw):
    from toolkit.fp16 import Fp16Check
    base = dict(engine="e", inputs=2, non_finite=0, max_abs_diff=1.9e-6, scale=3.7e-5, relative=0.051, tolerance=0.05,
                top1_agreement=1.0, ran="fp16", evidence="baked", fp16_arithmetic=True)
    return Fp16Check(**(base | kw))


def test_fp16_underflow_of_random_weights_is_latency_only_and_refused_for_trained_ones():
    c = _check()                               # random-weight MobileNetV2_x0_25 at 224: outputs below 6.1e-5
    assert not c.ok and c.underflow and c.latency_only("random") and not c.latency_only("file")
    assert "below FP16's smallest normal number" in c.reason("M") and "nothing was written" in c.reason("M")
    assert not _check(non_finite=3).latency_only("random")          # NaN: refused whatever the weights
    assert not _check(ran="fp32").latency_only("random")            # an FP32 fallback is never FP16
    assert not _check(scale=1.0, relative=0.3).latency_only("random")   # a real mismatch, not an underflow
    assert _check(relative=0.01).ok and _check(relative=0.01).to_dict()["underflow"] is True
