"""A device farm (#15): two adb servers on loopback ports, four loopback phones (three of one SoC, one of
another), `mlite run --serial all` spreading four models; one phone loses power mid-run."""
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_mlite
from tests.fixtures.loopback import SD855, SD865, extra_adb_server, free_port, isolated_adb_server, loopback_device

pytestmark = pytest.mark.slow
FAST = ("--warmup", "1", "--repeats", "3")
MODELS = ["MobileNetV1_x0_25", "MobileNetV3_small_x0_35", "ShuffleNetV2_x0_25", "MobileNetV2_x0_25"]


@pytest.fixture(scope="module")
def servers():
    if shutil.which("adb") is None:
        pytest.fail("Debian's adb is not installed; 'make install' installs it")
    with isolated_adb_server() as port, extra_adb_server() as other:
        yield f"127.0.0.1:{port}", other


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The four x86 exports `mlite run --adb` makes for x86 phones, made beforehand (the run reuses them)."""
    out = tmp_path_factory.mktemp("farm_out")
    for m in MODELS:
        p = run_mlite("export", "--model", m, "--weights", "random", "--target", "x86", "--out", out)
        assert p.returncode == 0, p.stderr
    return out


def _results(out: Path) -> list[dict]:
    return [json.loads(f.read_text()) for f in out.glob("*/bench/*.json")]


def test_farm_spreads_models_per_soc_and_reruns_a_lost_device(servers, exported, tmp_path):
    a, b = servers
    with loopback_device(tmp_path / "d1", SD855) as d1, loopback_device(tmp_path / "d2", SD855) as d2, \
            loopback_device(tmp_path / "d3", SD855, server=b, flags=("--die-after", "2")) as d3, \
            loopback_device(tmp_path / "d4", SD865, server=b) as d4:
        listed = json.loads(run_mlite("devices", "--adb-server", a, "--adb-server", b, "--json").stdout)
        assert {(r["serial"], r["adb_server"], r["soc_name"]) for r in listed} == {
            (d1.serial, a, "Snapdragon 855"), (d2.serial, a, "Snapdragon 855"),
            (d3.serial, b, "Snapdragon 855"), (d4.serial, b, "Snapdragon 865")}
        p = run_mlite("run", "--models", ",".join(MODELS), "--weights", "random", "--adb", "--serial", "all",
                      "--adb-server", a, "--adb-server", b, "--threads", "1,2", *FAST, "--out", exported, "--json")
        assert p.returncode == 0, p.stderr
        assert d3.proc.poll() is not None, "the third phone lost power during its second run"
    outcomes = json.loads(p.stdout)
    assert [o["model"] for o in outcomes] == MODELS and all(o["error"] is None for o in outcomes)
    # every model measured once per SoC at each thread count: none missing, none duplicated
    soc = {d1.serial: "855", d2.serial: "855", d3.serial: "855", d4.serial: "865"}
    counts = Counter((r["model"], soc[r["device"]["serial"]], r["threads"]) for r in _results(exported))
    assert counts == Counter({(m, s, t): 1 for m in MODELS for s in ("855", "865") for t in (1, 2)})
    # the SD865 measured all four alone; the three SD855 phones shared them
    by_serial = Counter(r["device"]["serial"] for r in _results(exported))
    assert by_serial[d4.serial] == 8 and by_serial[d1.serial] > 0 and by_serial[d2.serial] > 0
    attempts = [a for o in outcomes for a in o["attempts"]]
    (lost,) = [x for x in attempts if x["status"] == "lost"]
    assert lost["device"] == f"{d3.serial} (server {b})" and d3.serial in lost["error"]
    assert lost["rerun_on"] in (d1.serial + f" (server {a})", d2.serial + f" (server {a})")
    assert len(lost["set_aside"]) == 1 and "superseded" in lost["set_aside"][0] and Path(lost["set_aside"][0]).is_file()
    rerun = [x for x in attempts if x["item"] == lost["item"] and x["status"] == "ok" and "855" in x["group"]]
    assert len(rerun) == 1 and rerun[0]["measured"] == 2
    # reports keep each phone in its own table, or pool the phones of one SoC (--by soc): SoCs never share one
    rep = json.loads(run_mlite("report", exported, "--format", "json").stdout)
    assert {t["device"]["serial"] for t in rep["tables"]} <= set(soc) and len(rep["tables"]) >= 3
    pooled = json.loads(run_mlite("report", exported, "--by", "soc", "--format", "json").stdout)["tables"]
    assert sorted(len(t["devices"]) for t in pooled) == [1, 3] or sorted(len(t["devices"]) for t in pooled) == [1, 2]
    for t in pooled:
        assert {soc[s] for s in t["devices"]} in ({"855"}, {"865"})
        assert sorted(r["model"] for r in t["rows"]) == sorted(MODELS)
        assert all(set(r["latency_ms"]) == {"1", "2"} for r in t["rows"])


def test_push_over_a_second_adb_server_and_its_errors(servers, x86_model, tmp_path):
    a, b = servers
    with loopback_device(tmp_path / "far", SD855, server=b) as far:
        p = run_mlite("push", "--adb", "--adb-server", b, "--model-dir", x86_model, "--threads", "1", *FAST, "--json")
        assert p.returncode == 0, p.stderr
        (run,) = json.loads(p.stdout)
        assert run["device"]["serial"] == far.serial and run["device"]["adb_server"] == b
        assert run["results"][0]["device"]["adb_server"] == b
        text = run_mlite("devices", "--adb-server", b).stdout
        assert far.serial in text and f"[server {b}]" in text
        # ADB_SERVER_SOCKET (adb's own variable) picks the server when no --adb-server is given
        (row,) = json.loads(run_mlite("devices", "--json", env={"ADB_SERVER_SOCKET": f"tcp:{b}"}).stdout)
        assert (row["serial"], row["adb_server"]) == (far.serial, b)
    assert_one_line_error(run_mlite("devices", "--adb-server", "nohost"), "--adb-server 'nohost'", "HOST:PORT")
    dead = f"127.0.0.1:{free_port()}"
    assert_one_line_error(run_mlite("devices", "--adb-server", dead), f"adb server {dead} does not answer")
