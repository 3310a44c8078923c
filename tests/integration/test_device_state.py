"""Device state with every result (#15): thermal zones and cpufreq read through the real adb from a loopback
phone whose shell is mksh + toybox and whose /sys comes from fixtures the tests change mid-run."""
import json
import shutil
import threading
import time

import pytest

from tests.conftest import run_mlite
from tests.fixtures.loopback import SD855, adb, loopback_device

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("adb_server")]
FAST = ("--warmup", "1", "--repeats", "3")


def _push(model_dir, *args):
    p = run_mlite("push", "--adb", "--model-dir", model_dir, *FAST, "--json", *args)
    assert p.returncode == 0, p.stderr
    (run,) = json.loads(p.stdout)
    assert run["error"] is None
    return run["results"]


def _fresh(model_dir, tmp_path):
    """A copy of the export without stored results (this test's report shows only its own runs)."""
    out = tmp_path / "out"
    shutil.copytree(model_dir, out / model_dir.name, ignore=shutil.ignore_patterns("bench"))
    return out / model_dir.name


def _runner(tmp_path, body: str):
    """A benchmark_bin wrapper that does ``body`` (mksh, toybox) and then runs the real runner."""
    from toolkit.runners import host_runner
    f = tmp_path / "benchmark_bin"
    f.write_text(f"#!/usr/bin/mksh\ncase \"$*\" in *--version*) ;; *) {body} ;; esac\nexec {host_runner()} \"$@\"\n")
    f.chmod(0o755)
    return f


def test_the_loopback_shell_is_mksh_with_toybox_only(tmp_path):
    with loopback_device(tmp_path / "dev", SD855) as dev:
        out = adb("-s", dev.serial, "shell", 'echo "$KSH_VERSION"; readlink "$(command -v ls)"; '
                  "command -v bash python3 gawk || echo none").stdout
        assert "MIRBSD KSH" in out and out.splitlines()[1].endswith("toybox") and out.splitlines()[-1] == "none"
        temp = adb("-s", dev.serial, "shell", "cat /sys/class/thermal/thermal_zone1/temp").stdout.strip()
        assert temp == "40000"                     # the fixture, not this host's /sys
        dev.sys.set_allowed_khz(7, 1996800)
        (row,) = json.loads(run_mlite("devices", "--json").stdout)
        assert row["now"] == {"hottest_c": 40.0, "governors": ["schedutil"], "throttled_cores": [7]}
        assert "40.0 °C, schedutil, capped cpu7" in run_mlite("devices").stdout


def test_every_result_records_state_cores_and_load(tmp_path, x86_model):
    with loopback_device(tmp_path / "dev", SD855) as dev:
        results = _push(x86_model, "--threads", "1,2")
    for r in results:
        st = r["state"]
        assert st["before"]["zones"] == {"cpu-0-0-usr": 38.0, "cpu-1-4-usr": 40.0, "battery": 31.0}
        assert st["before"]["hottest_c"] == 40.0 and len(st["before"]["cpus"]) == 8
        c7 = st["after"]["cpus"][7]
        assert (c7["governor"], c7["max_mhz"], c7["allowed_mhz"]) == ("schedutil", 2841, 2841)
        assert st["cores"] == {"power_mode": 0, "policy": "big cores", "cpus": [4, 5, 6, 7], "big": [4, 5, 6, 7],
                               "little": [0, 1, 2, 3]}
        assert st["throttled"] is False and st["reasons"] == [] and st["cooling"] is None
        assert r["load"]["init_ms"] == r["perf"]["init_ms"] > 0 and r["load"]["cache"] == "warm"
    # a phone's shell user cannot drop the page cache: the first load is recorded warm, with why
    assert "page cache not dropped" in results[0]["load"]["note"]
    assert results[1]["load"]["note"] == "model loaded before by this run"
    assert not dev.sys.dropped


def test_a_rooted_phone_gets_a_cold_first_load(tmp_path, x86_model):
    model = _fresh(x86_model, tmp_path)
    with loopback_device(tmp_path / "dev", SD855, flags=("--rooted",)) as dev:
        results = _push(model, "--threads", "1,2", "--power-mode", "1")
        assert dev.sys.dropped
    assert [r["load"]["cache"] for r in results] == ["cold", "warm"] and results[0]["load"]["note"] is None
    assert results[0]["state"]["cores"]["cpus"] == [0, 1, 2, 3]          # power mode 1: little cores
    md = run_mlite("report", model.parent).stdout
    row = next(ln for ln in md.splitlines() if ln.startswith("| MobileNetV1_x0_25 "))
    cold, warm = (float(v) for v in row.split("|")[9].strip().split("/"))
    assert cold == round(results[0]["load"]["init_ms"], 1) and warm > 0


def test_heating_during_a_run_flags_it_throttled_in_json_and_report(tmp_path, x86_model):
    with loopback_device(tmp_path / "dev", SD855) as dev:
        zone = dev.sys.path / "class/thermal/thermal_zone1/temp"
        cpu7 = dev.sys.path / "devices/system/cpu/cpu7/cpufreq/scaling_max_freq"
        heat = (f"case \"$*\" in *--threads=2*) echo 47500 > {zone}; echo 2323200 > {cpu7} ;; esac")
        model = _fresh(x86_model, tmp_path)
        results = _push(model, "--threads", "1,2", "--runner", _runner(tmp_path, heat))
    t1, t2 = results
    assert t1["state"]["throttled"] is False
    assert t2["state"]["throttled"] is True and t2["state"]["after"]["hottest_c"] == 47.5
    assert t2["state"]["reasons"] == ["hottest zone rose 7.5 °C (40.0 -> 47.5)",
                                      "cpu7 allowed frequency fell 18% (2841 -> 2323 MHz)"]
    md = run_mlite("report", model.parent).stdout
    row = next(ln for ln in md.splitlines() if ln.startswith("| MobileNetV1_x0_25 "))
    assert row.count("(throttled)") == 1 and "thread=2: hottest zone rose 7.5 °C" in md
    data = json.loads(run_mlite("report", model.parent, "--format", "json").stdout)
    assert list(data["tables"][0]["rows"][0]["throttled"]) == ["2"]


def test_cooldown_until_waits_for_the_fixture_to_cool(tmp_path, x86_model):
    with loopback_device(tmp_path / "dev", SD855) as dev:
        dev.sys.set_all_temps(50.0)
        timer = threading.Timer(4.0, dev.sys.set_all_temps, args=(36.0,))
        timer.start()
        t0 = time.monotonic()
        try:
            (r,) = _push(x86_model, "--threads", "1", "--cooldown-until", "40", "--cooldown-timeout", "120")
        finally:
            timer.cancel()
        cooling = r["state"]["cooling"]
        assert time.monotonic() - t0 >= 4.0 and cooling["waited_s"] >= 3.5
        assert (cooling["target_c"], cooling["start_c"], cooling["end_c"], cooling["reached"]) == (40.0, 50.0, 36.0, True)
        assert r["state"]["throttled"] is False and r["settings"]["cooldown_until_c"] == 40.0
        # it never cools: the run goes ahead after the timeout, flagged
        dev.sys.set_all_temps(55.0)
        (r,) = _push(x86_model, "--threads", "1", "--cooldown-until", "40", "--cooldown-timeout", "1")
    assert r["state"]["cooling"]["reached"] is False and r["state"]["throttled"] is True
    assert r["state"]["reasons"][0].startswith("started at 55.0 °C, above --cooldown-until 40")


def test_unreadable_state_is_unknown_never_fatal(tmp_path, x86_model):
    with loopback_device(tmp_path / "dev", SD855) as dev:
        dev.sys.unreadable()
        (r,) = _push(x86_model, "--threads", "1", "--cooldown-until", "40", "--cooldown-timeout", "5")
    st = r["state"]
    assert st["before"]["zones"] == {} and st["before"]["hottest_c"] is None
    assert all(c["governor"] is None and c["max_mhz"] is None for c in st["before"]["cpus"])
    assert st["cores"]["cpus"] is None and "unreadable" in st["cores"]["note"]
    assert st["throttled"] is False and st["cooling"]["reached"] is None and st["cooling"]["waited_s"] < 5


def test_bad_cooldown_until_is_one_line(tmp_path, x86_model):
    from tests.conftest import assert_one_line_error
    p = run_mlite("push", "--adb", "--model-dir", x86_model, "--cooldown-until", "-3")
    assert_one_line_error(p, "--cooldown-until", "between 0 and 120")
