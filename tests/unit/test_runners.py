"""Runner registry by ABI, .nb header versions, runner self-description, the memory block."""
import pytest

from toolkit import runners
from toolkit.bench import Perf, parse_output

ARM_OUTPUT = """[I 11/23 Setup] ARM multiprocessors number: 2
======= Device Info =======
Runner: mlite-arm-runner 0.1.0 (Paddle Lite v2.13-rc, light API)
Paddle Lite version: v2.13-rc
Model version: v2.13-rc
CPU: AMD EPYC, 2 cores
Emulated: yes (aarch64 code, /proc/cpuinfo describes a non-ARM CPU)
======= Perf Info =======
Time(unit: ms):
init  = 69.364
first = 171.738
min   = 88.697
max   = 102.239
avg   = 94.529
raw   = 102.239,92.652,88.697
Memory Usage(unit: MB):
init  = 35.129
peak  = 41.926
"""


def test_arm_output_parses_times_memory_and_meta():
    perf = parse_output(ARM_OUTPUT)
    assert (perf.init_ms, perf.avg_ms, perf.raw_ms) == (69.364, 94.529, [102.239, 92.652, 88.697])
    assert perf.memory_mb == {"init": 35.129, "peak": 41.926}
    meta = runners.parse_meta(ARM_OUTPUT)
    assert meta.lite_version == "v2.13-rc" and meta.emulated is True and meta.cpu == "AMD EPYC, 2 cores"
    assert meta.name.startswith("mlite-arm-runner 0.1.0")
    native = runners.parse_meta(ARM_OUTPUT.replace("Emulated: yes (aarch64 code, /proc/cpuinfo describes a non-ARM CPU)",
                                                   "Emulated: no"))
    assert native.emulated is False


def test_pooled_memory_keeps_the_highest_peak():
    a = Perf(1, 1, 1, raw_ms=[1.0], memory_mb={"init": 10.0, "peak": 12.0})
    b = Perf(2, 2, 2, raw_ms=[2.0], memory_mb={"init": 11.0, "peak": 11.5})
    assert Perf.pooled([a, b]).memory_mb == {"init": 11.0, "peak": 12.0}
    assert Perf.pooled([Perf(1, 1, 1, raw_ms=[1.0])]).memory_mb is None


def _nb(tmp_path, version: bytes):
    f = tmp_path / "m.nb"
    f.write_bytes(b"\x02\x00" + version.ljust(16, b"\0") + b"\x10" * 40)
    return f


def test_nb_version_reads_the_header(tmp_path):
    assert runners.nb_version(_nb(tmp_path, b"v2.13-rc")) == "v2.13-rc"
    assert runners.nb_version(_nb(tmp_path, b"garbage!")) is None
    (tmp_path / "short.nb").write_bytes(b"\x02\x00v2")
    assert runners.nb_version(tmp_path / "short.nb") is None
    assert runners.nb_version(tmp_path / "missing.nb") is None


def test_version_mismatch_is_one_line(tmp_path):
    nb = _nb(tmp_path, b"v2.12")
    with pytest.raises(runners.VersionMismatch, match=r"opt v2\.12 .* Paddle Lite v2\.13-rc"):
        runners.check_versions(nb, runners.RunnerMeta(lite_version="v2.13-rc"), "device X")
    runners.check_versions(nb, runners.RunnerMeta(), "device X")          # benchmark_bin says nothing: no check
    runners.check_versions(_nb(tmp_path, b"v2.13-rc"), runners.RunnerMeta(lite_version="v2.13-rc"), "device X")


def test_runner_for_each_abi(tmp_path, monkeypatch):
    monkeypatch.setenv("MLITE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLITE_RUNNER", raising=False)
    ours = tmp_path / "mlite-arm-runner"
    ours.write_bytes(b"\x7fELF")
    monkeypatch.setenv("MLITE_ARM_RUNNER", str(ours))
    assert runners.for_device("arm64-v8a") == ours
    assert runners.for_device("x86_64").name == "mlite-runner"
    cached = tmp_path / "home" / "runners" / "benchmark_bin-arm64-v8a"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert runners.for_device("arm64-v8a") == cached                      # the user's own benchmark_bin wins
    with pytest.raises(runners.RunnerMissing, match="32-bit ARM"):
        runners.for_device("armeabi-v7a")
    monkeypatch.setenv("MLITE_ARM_RUNNER", "none")
    cached.unlink()
    with pytest.raises(runners.RunnerMissing, match="make arm-runner"):
        runners.for_device("arm64-v8a")
    monkeypatch.setenv("MLITE_RUNNER", "/opt/benchmark_bin")
    assert str(runners.for_device("arm64-v8a")) == "/opt/benchmark_bin"
    assert runners.remote_name(ours) == "mlite-arm-runner" and runners.remote_name(cached) == "benchmark_bin"
