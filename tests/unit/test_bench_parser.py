import pytest

from toolkit.bench import Perf, RunnerError, RunnerSettings, parse_output

CURRENT = """\
======= Opt Info =======
Load paddle model from mobilenet_v1.nb
======= Device Info =======
Brand: Xiaomi
======= Model Info =======
optimized_model_file: mobilenet_v1.nb
======= Runtime Info =======
threads: 1
======= Backend Info =======
backend: arm
======= Perf Info =======
Time(unit: ms):
init  = 15.305
first = 43.670
min   = 32.577
max   = 32.895
avg   = 32.723
Memory Usage(unit: MB):
init  = 12.5
avg   = 30.1
"""

LEGACY = """\
I0101 00:00:00 benchmark.cc:123] == mobilenet_v1 ==
mobilenet_v1, min = 32.577 ms, max = 32.895 ms, average = 32.723 ms
"""


def test_current_block_ignores_the_memory_block():
    p = parse_output(CURRENT)
    assert (p.init_ms, p.first_ms, p.min_ms, p.max_ms, p.avg_ms) == (15.305, 43.670, 32.577, 32.895, 32.723)
    assert p.raw_ms is None and p.p50_ms is None and p.format == "perf-info"


def test_raw_times_give_percentiles():
    p = parse_output("Time(unit: ms):\ninit = 1\nfirst = 2\nmin = 1.0\nmax = 5.0\navg = 3.0\nraw = 1,2,3,4,5\n")
    assert p.raw_ms == [1, 2, 3, 4, 5] and p.p50_ms == 3 and p.p90_ms == 5
    assert p.std_ms == pytest.approx(1.41421356, rel=1e-6)


def test_legacy_lines():
    p = parse_output(LEGACY)
    assert (p.min_ms, p.max_ms, p.avg_ms, p.init_ms, p.format) == (32.577, 32.895, 32.723, None, "legacy")
    p2 = parse_output("mobilenet_v1  min = 1.5  max = 2.5  average = 2.0\n")
    assert p2.avg_ms == 2.0


@pytest.mark.parametrize("text", ["", "Segmentation fault\n", "Time(unit: ms):\ninit = 1\n",
                                  "Time(unit: ms):\nmin = x\nmax = 1\navg = 1\n"])
def test_anything_else_fails_clearly(text):
    with pytest.raises(RunnerError):
        parse_output(text)


def test_settings_are_benchmark_bin_flags():
    argv = RunnerSettings("/data/local/tmp/m.nb", threads=4, warmup=10, repeats=30).argv()
    assert argv == ["--optimized_model_file=/data/local/tmp/m.nb", "--input_shape=1,3,224,224", "--backend=arm",
                    "--threads=4", "--warmup=10", "--repeats=30", "--power_mode=0", "--cpu_precision=fp32"]


def test_reference_kernel_line_gives_host_drift_and_speed_independent_units():
    raw = [10.0] * 10 + [13.0] * 10          # the host slows by 30% half-way...
    ref = [0.1] * 10 + [0.13] * 10           # ...and the reference kernel shows it
    text = ("Time(unit: ms):\ninit = 1\nfirst = 2\nmin = 10\nmax = 13\navg = 11.5\n"
            f"raw = {','.join(map(str, raw))}\nref = {','.join(map(str, ref))}\n")
    p = parse_output(text)
    assert p.ref_ms == ref
    assert p.host_drift == pytest.approx(0.3, abs=1e-3)
    assert p.ref_units_p50 == pytest.approx(100.0)
    steady = Perf(10, 9, 11, raw_ms=[9, 10, 11] * 4, ref_ms=[0.09, 0.1, 0.11] * 4)
    assert steady.host_drift == 0 and steady.to_dict()["ref_units_p50"] == pytest.approx(100.0)
    assert Perf(1, 1, 1, raw_ms=[1.0], ref_ms=None).host_drift is None


def test_rounds_pool_every_run():
    a = Perf(2.0, 1.0, 3.0, init_ms=10, first_ms=5, raw_ms=[1.0, 2.0, 3.0], ref_ms=[0.1] * 3)
    b = Perf(5.0, 4.0, 6.0, init_ms=20, first_ms=7, raw_ms=[4.0, 5.0, 6.0], ref_ms=[0.2] * 3)
    p = Perf.pooled([a, b])
    assert p.raw_ms == [1, 2, 3, 4, 5, 6] and p.ref_ms == [0.1] * 3 + [0.2] * 3
    assert (p.avg_ms, p.min_ms, p.max_ms, p.init_ms, p.first_ms) == (3.5, 1.0, 6.0, 15, 6)
    legacy = Perf.pooled([Perf(2.0, 1.0, 3.0, format="legacy"), Perf(4.0, 2.0, 5.0, format="legacy")])
    assert (legacy.avg_ms, legacy.min_ms, legacy.max_ms, legacy.raw_ms) == (3.0, 1.0, 5.0, None)


def test_rounds_enter_the_result_key_only_when_used():
    from toolkit.bench import result_key
    args = ("sha", "vm", "lite", 1, 10, 30, 0, "runner")
    assert result_key(*args) == result_key(*args, 1) != result_key(*args, 3)
    assert RunnerSettings("m.nb", speed_ref=True).argv()[0] == "--speed_ref=1"
    assert not any("speed_ref" in a for a in RunnerSettings("m.nb").argv())
