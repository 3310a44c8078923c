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


GOOD = {"init": "1", "first": "2", "min": "1.0", "max": "5.0", "avg": "3.0", "raw": "1,2,3,4,5", "ref": "0.1,0.1"}


def _block(**changes) -> str:
    fields = GOOD | changes
    return "Time(unit: ms):\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())


@pytest.mark.parametrize("text, needle", [
    (_block(avg="-3.0", min="-4.0"), "avg_ms = -3.0 is negative"),
    (_block(avg="nan"), "avg_ms = nan is not finite"),
    (_block(max="inf"), "max_ms = inf is not finite"),
    (_block(init="-1"), "init_ms = -1.0 is negative"),
    (_block(raw="1,-2,3"), r"raw_ms\[1\] = -2.0 is negative"),
    (_block(ref="0.1,nan"), r"ref_ms\[1\] = nan is not finite"),
    (_block(avg="0.5"), "min_ms = 1.0, avg_ms = 0.5, max_ms = 5.0 break min <= avg <= max"),
    (_block(avg="6"), "avg_ms = 6.0, max_ms = 5.0 break"),
    (_block() + "Memory Usage(unit: MB):\ninit = 3\npeak = -1\n", "memory_mb.peak = -1.0 is negative"),
    ("m, min = -1.0 ms, max = 2.0 ms, average = 1.0 ms\n", "min_ms = -1.0 is negative"),
    ("m, min = 1.0 ms, max = 2.0 ms, average = NaN ms\n", "avg_ms = nan is not finite"),
], ids=["negative", "nan", "inf", "init", "raw", "ref", "avg<min", "avg>max", "memory", "legacy-neg", "legacy-nan"])
def test_impossible_times_are_refused(text, needle):
    with pytest.raises(RunnerError, match=needle) as e:
        parse_output(text)
    assert "\n" not in str(e.value) and "rerun" in str(e.value)


def test_zero_and_float_rounding_are_fine():
    assert parse_output(_block(min="0", avg="0", max="0", raw="0,0")).avg_ms == 0
    pooled = Perf.pooled([Perf(0.1, 0.1, 0.1, raw_ms=[0.1] * 3)])      # sum / n lands a hair above max
    assert pooled.avg_ms > pooled.max_ms and pooled.validate() is pooled


def test_stored_perf_and_results_are_checked_by_the_same_rules():
    from toolkit.bench import result_problem, timing_problem
    assert timing_problem({"avg_ms": 2, "min_ms": 1, "max_ms": 3.0, "p50_ms": None}) is None
    assert timing_problem({"avg_ms": "fast", "min_ms": 1, "max_ms": 3}) == "avg_ms = 'fast' is not a number"
    assert timing_problem({"avg_ms": 2, "min_ms": 1}) == "max_ms is missing"
    assert timing_problem({"avg_ms": 2, "min_ms": True, "max_ms": 3}) == "min_ms = True is not a number"
    assert result_problem({"threads": 0}) == "threads = 0 is below 1"
    assert result_problem({"perf": [1, 2]}) == "perf = [1, 2] is not a mapping"
    assert result_problem({"perf": {"avg_ms": 1, "min_ms": 1, "max_ms": -1}}) == "perf.max_ms = -1 is negative"


def test_a_result_with_impossible_numbers_is_never_built():
    from toolkit.bench import BenchResult
    args = dict(device={"serial": "abc"}, model="m", model_file="m.nb", precision="fp32", weights="random",
                backend="arm", threads=1, warmup=1, repeats=3, power_mode=0, runner={}, timestamp="t")
    BenchResult(perf={"avg_ms": 2.0, "min_ms": 1.0, "max_ms": 3.0}, storage_bytes=0, **args)
    with pytest.raises(RunnerError, match="perf.avg_ms = nan is not finite"):
        BenchResult(perf={"avg_ms": float("nan"), "min_ms": 1.0, "max_ms": 3.0}, storage_bytes=10, **args)
    with pytest.raises(RunnerError, match="storage_bytes = -1 is negative"):
        BenchResult(perf={"avg_ms": 2.0, "min_ms": 1.0, "max_ms": 3.0}, storage_bytes=-1, **args)
