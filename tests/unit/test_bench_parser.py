import pytest

from toolkit.bench import RunnerError, RunnerSettings, parse_output

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
