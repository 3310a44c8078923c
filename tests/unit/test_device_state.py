"""Device state text from /sys and the throttling rule (#15, work in progress)."""
import subprocess

from toolkit import device_state as ds


def test_parse_zones_and_cores():
    s = ds.parse("zone cpu-0-0 41500\nzone battery 33\nzone cpu-0-0 43000\n"
                 "cpu 0 schedutil 1785600 1785600 1785600\ncpu 4 ? ? ? ?\nnoise line\n")
    assert s.zones == {"cpu-0-0": 41.5, "battery": 33.0, "cpu-0-0#2": 43.0} and s.hottest_c == 43.0
    assert (s.cpus[0].governor, s.cpus[0].cur_mhz, s.cpus[0].allowed_mhz) == ("schedutil", 1785, 1785)
    assert s.cpus[1].governor is None and s.cpus[1].max_mhz is None


def test_throttling_rule():
    cool = ds.parse("zone cpu 40000\ncpu 4 schedutil 2841600 2841600 2841600")
    hot = ds.parse("zone cpu 47000\ncpu 4 schedutil 2323200 2841600 2323200")
    why = ds.throttled(cool, hot)
    assert len(why) == 2 and "rose 7.0 °C" in why[0] and "cpu4 allowed frequency fell 18%" in why[1]
    assert ds.throttled(cool, cool) == [] and ds.throttled(ds.DeviceState(), hot) == []


def test_the_probe_runs_in_a_posix_shell_and_never_fails():
    r = subprocess.run(["sh", "-c", ds.PROBE], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    s = ds.parse(r.stdout)
    assert all(c.cpu >= 0 for c in s.cpus)
