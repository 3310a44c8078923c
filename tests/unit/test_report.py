"""Reports from hand-written result files (the format `mlite push` / `bench --local` stores)."""
import json

import pytest

from toolkit import api
from toolkit.errors import MliteError

DEVICE = {"serial": "abc123", "kind": "adb", "model": "MI 9", "soc": "SM8150", "soc_name": "Snapdragon 855",
          "abi": "arm64-v8a", "android": "11"}


def _result(root, model, threads, avg, *, warmup=10, repeats=30, device=DEVICE, backend="arm", storage=11_890_742,
            stamp="2026-11-22T00:00:00+00:00", weights="random weights (latency/size only)"):
    d = root / model / "bench"
    d.mkdir(parents=True, exist_ok=True)
    data = {"device": device, "model": model, "model_file": f"{model}.nb", "precision": "fp32", "weights": weights,
            "backend": backend, "threads": threads, "warmup": warmup, "repeats": repeats, "power_mode": 0,
            "perf": {"avg_ms": avg, "min_ms": avg * 0.9, "max_ms": avg * 1.1}, "storage_bytes": storage,
            "runner": {}, "timestamp": stamp, "settings": {"input_shape": [1, 3, 224, 224]}, "key": ""}
    f = d / f"{device['serial']}__{model}__t{threads}__{stamp[:19].replace(':', '')}.json"
    f.write_text(json.dumps(data))
    return f


def test_markdown_table_with_reference_ratios_and_flags(tmp_path):
    for t, v in ((1, 5.63), (2, 3.65), (4, 2.60)):
        _result(tmp_path, "MobileNetV3_small_x1_0", t, v * 1.1)
    _result(tmp_path, "MobileNetV3_small_x1_0", 1, 99.0, stamp="2026-11-21T00:00:00+00:00")   # older: ignored
    md = api.report([tmp_path], reference=True)
    row = next(ln for ln in md.splitlines() if ln.startswith("| MobileNetV3_small_x1_0 "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:7] == ["6.19", "5.63", "1.10x"] and cells[7:10] == ["4.02", "3.65", "1.10x"]
    assert cells[13] == "11.89" and cells[14] == "12.0" and cells[16] == "68.2" and cells[17] == "published"
    assert "random (latency/size only)" in row
    assert "MI 9 (Snapdragon 855" in md and "MB (10^6 bytes)" in md
    assert "published ShuffleNetV2_swish thread=1 = 31.21 ms: R1" in md


def test_measured_cells_are_flagged_too(tmp_path):
    _result(tmp_path, "MobileNetV1", 1, 30.0)
    _result(tmp_path, "MobileNetV1", 2, 35.0)
    data = json.loads(api.report([tmp_path], fmt="json"))
    assert [(f["model"], f["column"], f["rule"]) for f in data["tables"][0]["suspect_measured"]] == \
        [("MobileNetV1 [arm]", "t2", "R3")]


def test_mixed_settings_are_split_and_said(tmp_path):
    _result(tmp_path, "MobileNetV1", 1, 30.0)
    _result(tmp_path, "MobileNetV2", 1, 20.0, warmup=1, repeats=3)
    md = api.report([tmp_path])
    assert "2 different devices or settings" in md and md.count("### ") == 2
    csv_text = api.report([tmp_path], fmt="csv")
    assert csv_text.splitlines()[0].startswith("device,serial,warmup,repeats,power_mode,Models")
    assert len(csv_text.splitlines()) == 3


def test_html_embeds_the_plot_and_png_has_the_right_size(tmp_path):
    from PIL import Image
    _result(tmp_path, "MobileNetV1", 1, 30.0)
    _result(tmp_path, "GhostNet_x1_0", 1, 13.0)
    page = api.report([tmp_path], fmt="html", reference=True, plot=tmp_path / "p.png")
    assert "<img" in page and "data:image/png;base64," in page and "<table>" in page
    with Image.open(tmp_path / "p.png") as im:
        assert im.size == (1600, 700) and im.format == "PNG"
    api.report([tmp_path], plot=tmp_path / "p.svg")
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("case, needle", [("empty", "no benchmark results"), ("corrupt", "is not valid JSON"),
                                          ("foreign", "not an mlite benchmark result"), ("format", "unknown --format"),
                                          ("missing", "does not exist"), ("plotname", ".png or .svg")])
def test_bad_input(tmp_path, case, needle):
    kwargs = {}
    if case == "corrupt":
        (tmp_path / "m" / "bench").mkdir(parents=True)
        (tmp_path / "m" / "bench" / "x.json").write_text("{not json")
    elif case == "foreign":
        (tmp_path / "m" / "bench").mkdir(parents=True)
        (tmp_path / "m" / "bench" / "x.json").write_text('{"hello": 1}')
    elif case in ("format", "plotname"):
        _result(tmp_path, "MobileNetV1", 1, 30.0)
        kwargs = {"fmt": "pdf"} if case == "format" else {"plot": tmp_path / "plot.jpg"}
    target = tmp_path / "nope" if case == "missing" else tmp_path
    with pytest.raises(MliteError, match=needle):
        api.report([target], **kwargs)


def test_emulated_results_get_their_own_table(tmp_path):
    _result(tmp_path / "a", "MobileNetV3_small_x1_0", 1, 5.0)
    f = _result(tmp_path / "b", "MobileNetV3_small_x1_0", 1, 180.0)
    data = json.loads(f.read_text())
    data["emulated"] = True
    f.write_text(json.dumps(data))
    md = api.report([tmp_path])
    titles = [ln for ln in md.splitlines() if ln.startswith("### ")]
    assert len(titles) == 2, md
    assert sum("emulated CPU (qemu-user): not a phone latency" in t for t in titles) == 1
    tables = json.loads(api.report([tmp_path], fmt="json"))["tables"]
    assert sorted(t["emulated"] for t in tables) == [False, True]
