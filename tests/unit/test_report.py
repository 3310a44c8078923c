"""Reports from hand-written result files (the format `mlite push` / `bench --local` stores)."""
import json

import pytest

from toolkit import api
from toolkit.errors import MliteError

DEVICE = {"serial": "abc123", "kind": "adb", "model": "MI 9", "soc": "SM8150", "soc_name": "Snapdragon 855",
          "abi": "arm64-v8a", "android": "11"}


def _result(root, model, threads, avg, *, warmup=10, repeats=30, device=DEVICE, backend="arm", storage=11_890_742,
            stamp="2026-11-22T00:00:00+00:00", weights="random weights (latency/size only)", extra=None):
    d = root / model / "bench"
    d.mkdir(parents=True, exist_ok=True)
    data = {"device": device, "model": model, "model_file": f"{model}.nb", "precision": "fp32", "weights": weights,
            "backend": backend, "threads": threads, "warmup": warmup, "repeats": repeats, "power_mode": 0,
            "perf": {"avg_ms": avg, "min_ms": avg * 0.9, "max_ms": avg * 1.1}, "storage_bytes": storage,
            "runner": {}, "timestamp": stamp, "settings": {"input_shape": [1, 3, 224, 224]}, "key": "", **(extra or {})}
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
    assert cells[13] == "11.89" and cells[14] == "12.0" and cells[16:18] == ["-", "-"] and cells[18] == "68.2" \
        and cells[19] == "published by PaddleClas for its weights, not this random-weight file"
    assert "random (latency/size only)" in row
    assert "MI 9 (Snapdragon 855" in md and "MB (10^6 bytes)" in md
    assert "published ShuffleNetV2_swish thread=1 = 31.21 ms: R1" in md


def test_throttled_cells_load_times_and_peak_memory(tmp_path):
    hot = {"throttled": True, "reasons": ["hottest zone rose 7.0 °C (40.0 -> 47.0)"]}
    _result(tmp_path, "MobileNetV1", 1, 30.0, extra={"state": {"throttled": False, "reasons": []},
                                                     "load": {"init_ms": 80.5, "cache": "cold"}})
    _result(tmp_path, "MobileNetV1", 2, 18.0, extra={"state": hot, "load": {"init_ms": 21.25, "cache": "warm"}})
    _result(tmp_path, "MobileNetV1", 4, 11.0, extra={"state": {"throttled": False}, "load": {"init_ms": 24.0,
                                                                                             "cache": "warm"}})
    md = api.report([tmp_path])
    row = next(ln for ln in md.splitlines() if ln.startswith("| MobileNetV1 "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:7] == ["30.00", "18.00 (throttled)", "11.00"] and cells[8] == "80.5/21.2"
    assert "Throttled cells" in md and "MobileNetV1 [arm] thread=2: hottest zone rose 7.0 °C" in md
    rows = json.loads(api.report([tmp_path], fmt="json"))["tables"][0]["rows"]
    assert rows[0]["throttled"] == {"2": hot["reasons"]} and rows[0]["load_ms"] == {"cold": 80.5, "warm": 21.25}
    # a newer run of the same cell that was not throttled clears the flag
    _result(tmp_path, "MobileNetV1", 2, 17.0, stamp="2026-11-23T00:00:00+00:00", extra={"state": {"throttled": False}})
    assert "(throttled)" not in api.report([tmp_path]) and "Throttled" not in api.report([tmp_path], fmt="html")


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


@pytest.mark.parametrize("field, value, needle", [
    ("threads", "two", "threads = 'two' is not an integer"), ("threads", 0, "threads = 0 is below 1"),
    ("warmup", -1, "warmup = -1 is negative"), ("repeats", 1.5, "repeats = 1.5 is not an integer"),
    ("storage_bytes", None, "storage_bytes = None is not an integer"),
    ("perf", [1, 2], r"perf = \[1, 2\] is not a mapping"),
    ("perf", {"avg_ms": "fast", "min_ms": 1, "max_ms": 2}, "perf.avg_ms = 'fast' is not a number"),
    ("perf", {"avg_ms": -1.0, "min_ms": -2.0, "max_ms": 2}, "perf.avg_ms = -1.0 is negative"),
    ("perf", {"avg_ms": float("nan"), "min_ms": 1, "max_ms": 2}, "perf.avg_ms = nan is not finite"),
    ("perf", {"avg_ms": 30.0, "min_ms": 31.0, "max_ms": 32.0}, "break min <= avg <= max"),
    ("device", "MI 9", "device = 'MI 9' is not a mapping with a 'serial' string"),
    ("device", {"model": "MI 9"}, "is not a mapping with a 'serial' string"),
    ("model", 5, "model = 5 is not a string"), ("backend", None, "backend = None is not a string"),
    ("weights", None, "weights = None is not a string"), ("emulated", "yes", "emulated = 'yes' is not true"),
    ("settings", {"input_shape": "224"}, "settings.input_shape = '224' is not a list"),
])
def test_wrong_types_in_result_files_are_refused(tmp_path, field, value, needle):
    from toolkit.results import ReportError
    f = _result(tmp_path, "MobileNetV1", 1, 30.0)
    data = json.loads(f.read_text())
    data[field] = value
    f.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=needle) as e:
        api.report([tmp_path])
    msg = str(e.value)
    assert str(f) in msg and "rerun the benchmark or remove the file" in msg and "\n" not in msg


def _table(device, rows, emulated=False):
    from toolkit.results import Row, Table
    settings = {"warmup": 10, "repeats": 30, "power_mode": 0, "input_shape": [1, 3, 224, 224]}
    t = Table(device, settings, emulated=emulated)
    for model, lat, top1, source in rows:
        t.rows[(model, "arm")] = Row(model, "arm", "fp32", "random weights (latency/size only)", 4_000_000,
                                     latency_ms=lat, top1=top1, top1_source=source, family="MobileNet")
    return t


def test_plot_leaves_out_rows_without_the_thread_count():
    from toolkit import plots
    t = _table(DEVICE, [("A", {1: 10.0, 2: 6.0}, 0.7, "eval"), ("B", {1: 5.0}, 0.6, "eval"),
                        ("C", {1: 3.0, 2: 0.0}, 0.5, "eval")])
    (panel,) = plots.select([t], 2)
    assert [(p.model, p.latency_ms) for p in panel.points] == [("A", 6.0), ("B", None), ("C", 0.0)]
    assert [p.model for p in panel.latency_points] == ["A", "C"]          # 0 ms is data, not "missing"
    assert [p.model for p in plots.select([t], 1)[0].latency_points] == ["A", "B", "C"]


def test_plot_at_a_missing_thread_count_fails_clearly(tmp_path):
    from toolkit.plots import PlotError
    _result(tmp_path, "MobileNetV1", 1, 30.0)
    _result(tmp_path, "MobileNetV1", 2, 18.0)
    with pytest.raises(PlotError, match=r"no results at 3 thread\(s\).* exist at 1, 2 thread\(s\)\); pass --threads 1"):
        api.report([tmp_path], plot=tmp_path / "p.png", plot_threads=3)
    assert not (tmp_path / "p.png").exists()


def test_plot_keeps_tables_apart_one_row_each(tmp_path):
    from PIL import Image
    from toolkit import plots, results
    _result(tmp_path / "a", "MobileNetV1", 1, 30.0)
    f = _result(tmp_path / "b", "GhostNet_x1_0", 1, 900.0, device=DEVICE | {"serial": "emu", "model": "QEMU"})
    f.write_text(json.dumps(json.loads(f.read_text()) | {"emulated": True}))
    panels = plots.select(results.build_tables([tmp_path]), 1)
    assert sorted((p.title.split(" (")[0], p.emulated, [q.model for q in p.points]) for p in panels) == \
        [("MI 9", False, ["MobileNetV1"]), ("QEMU", True, ["GhostNet_x1_0"])]
    fig = plots.draw(panels, 1)
    titles = [sub._suptitle.get_text() for sub in fig.subfigs]
    assert titles == [p.title for p in panels] and sum(results.EMULATED_NOTE in t for t in titles) == 1
    api.report([tmp_path], plot=tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as im:
        assert im.size == (1600, 1400) and im.format == "PNG"


def test_published_top1_is_marked_in_plot_and_tables(tmp_path):
    from toolkit import plots
    t = _table(DEVICE, [("Measured", {1: 10.0}, 0.7, "eval"), ("Paper", {1: 5.0}, 0.6, "published")])
    (panel,) = plots.select([t], 1)
    assert [(p.model, p.published) for p in panel.points] == [("Measured", False), ("Paper", True)]
    fig = plots.draw([panel], 1)
    for ax in fig.subfigs[0].axes:
        assert plots.PUBLISHED_LABEL in [x.get_text() for x in ax.get_legend().get_texts()]
        hollow = [c for c in ax.collections if len(c.get_offsets()) and not len(c.get_facecolor())]
        assert [list(c.get_offsets()[:, 1]) for c in hollow] == [[60.0]]     # only the published point
    _result(tmp_path, "MobileNetV1", 1, 30.0)          # random weights, top-1 from PaddleClas
    md_row = next(ln for ln in api.report([tmp_path]).splitlines() if ln.startswith("| MobileNetV1 "))
    # a random-weight file next to PaddleClas's number for its own weights: said plainly in the row
    assert md_row.rstrip(" |").endswith("published by PaddleClas for its weights, not this random-weight file")
    assert "random (latency/size only)" in md_row
    assert api.report([tmp_path], fmt="csv").splitlines()[1].endswith(',"published by PaddleClas for its weights, '
                                                                       'not this random-weight file"')


def test_results_of_a_replaced_artifact_are_kept_but_not_reported_as_the_new_one(tmp_path):
    _result(tmp_path, "MobileNetV1", 1, 9.0)
    old = _result(tmp_path, "MobileNetV1", 2, 99.0)
    kept = tmp_path / "MobileNetV1" / "superseded" / "0123456789ab" / "bench"
    kept.mkdir(parents=True)
    old.rename(kept / old.name)
    text = api.report([tmp_path], fmt="json")
    assert "99.0" not in text and "9.0" in text
    assert "99.0" in api.report([kept / old.name], fmt="json")      # still reportable when asked for


def _manifest(root, model, precision="fp32", source=None, fp32_layers=(), evals=()):
    from toolkit.artifacts import Manifest
    extra = {"precision": precision, "family": "MobileNetV3", "fp32_layers": list(fp32_layers),
             "eval": [{"top1": t, "backend": b, "images": n, "data_sha256": sha, "device": dev, "engine": eng}
                      for t, b, n, sha, dev, eng in evals]}
    if source:
        extra["source"] = {"model": source, "directory": str(root / source)}
    Manifest(stage="quantize" if source else "export", model=model, key="k", settings={}, tools={},
             extra=extra).write(root / model)


def test_precisions_side_by_side_with_the_engine_of_each_number(tmp_path):
    base = "MobileNetV3_small_x1_0"
    lite_arm = ("paddle-lite-arm", 539, "d1", {"serial": "abc123"}, "paddle-lite-arm v2.13-rc (mlite-arm-runner, native)")
    for name, prec, src, layers, ms, size, evals in [
            (base, "fp32", None, (), 6.0, 11_880_000, [(0.944, "paddle", 539, "d1", None, None)]),
            (f"{base}_int8", "int8", base, (), 4.0, 3_200_000,
             [(0.90, "paddle", 539, "d1", None, None), (0.89, *lite_arm)]),
            (f"{base}_int8_mixed", "int8", base, ("conv1.w",), 4.5, 3_600_000,
             [(0.93, "onnxruntime", 100, "d2", None, None)])]:
        (tmp_path / name).mkdir()
        _manifest(tmp_path, name, prec, src, layers, evals)
        f = _result(tmp_path, name, 1, ms, storage=size)
        f.write_text(json.dumps(json.loads(f.read_text()) | {"precision": prec}))
    md = api.report([tmp_path])
    main = {c[0]: c for c in ([x.strip() for x in ln.strip("|").split("|")] for ln in md.splitlines()
                              if ln.startswith(f"| {base}") and "[arm]" not in ln)}
    assert main[f"{base}_int8"][2] == "int8" and main[f"{base}_int8_mixed"][2] == "int8-mixed"
    # the device's own runtime measured this INT8 top-1: preferred over the host's simulation
    assert main[f"{base}_int8"][-2:] == ["89.0", "eval: paddle-lite-arm v2.13-rc (mlite-arm-runner, native) on abc123, 539 images"]
    assert main[base][-1] == "eval: paddle, 539 images"
    head = next(ln for ln in md.splitlines() if ln.startswith("| Models | fp32 [arm] MB"))
    assert [c.strip() for c in head.strip("|").split("|")][1::3] == \
        ["fp32 [arm] MB", "int8 [arm] MB", "int8-mixed [arm] MB"]
    side = next(ln for ln in md.splitlines() if ln.startswith(f"| {base} †"))   # mixed image sets are marked
    cells = [c.strip() for c in side.strip("|").split("|")]
    assert cells[1:] == ["11.88", "6.00", "94.4 (paddle)", "3.20", "4.00", "89.0 (paddle-lite-arm v2.13-rc on abc123)",
                         "3.60", "4.50", "93.0 (onnxruntime)"]
    assert "come from different image sets" in md
    view = json.loads(api.report([tmp_path], fmt="json"))["tables"][0]["by_precision"]
    (m,) = view["models"]
    assert m["model"] == base and not m["same_images"] and view["threads"] == [1] and view["emulated"] is False
    assert [p["latency_ms"] for p in m["precisions"]] == [{"1": 6.0}, {"1": 4.0}, {"1": 4.5}]
    assert [(p["precision"], p["top1_engine"]) for p in m["precisions"]] == [
        ("fp32", "paddle"), ("int8", "paddle-lite-arm v2.13-rc (mlite-arm-runner, native) on abc123"),
        ("int8-mixed", "onnxruntime")]
    assert "Precisions side by side" in api.report([tmp_path], fmt="html")


def test_fp32_fp16_int8_side_by_side_at_every_thread_count_and_emulated_times_said(tmp_path):
    """Paddle Lite's table shape: per model FP32 / FP16 / INT8 next to each other, latency per thread count."""
    base = "MobileNetV1"
    for name, prec, src, backend, scale in [(f"{base}_int8", "int8", base, "arm", 0.5), (base, "fp32", None, "arm", 1.0),
                                            (f"{base}_fp16", "fp16", base, "arm", 0.6)]:
        (tmp_path / name).mkdir()
        _manifest(tmp_path, name, prec, src)
        for t in (1, 2, 4):
            _result(tmp_path, name, t, 30.0 * scale / t, backend=backend,
                        extra={"precision": prec, "emulated": True})
    md = api.report([tmp_path])
    head = next(ln for ln in md.splitlines() if ln.startswith("| Models | fp32 [arm] MB"))
    cols = [c.strip() for c in head.strip("|").split("|")]
    assert cols[1:6] == ["fp32 [arm] MB", "fp32 [arm] emulated ms t=1", "fp32 [arm] emulated ms t=2",
                         "fp32 [arm] emulated ms t=4", "fp32 [arm] top-1 (engine)"]
    assert cols[6] == "fp16 [arm] MB" and cols[11] == "int8 [arm] MB" and len(cols) == 16
    row = next(ln for ln in md.splitlines() if ln.startswith(f"| {base} |") and len(ln.split("|")) == 18)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["30.00", "15.00", "7.50"] and cells[7:10] == ["18.00", "9.00", "4.50"]
    assert "Times are emulated (qemu-user)" in md
    view = json.loads(api.report([tmp_path], fmt="json"))["tables"][0]["by_precision"]
    assert view["threads"] == [1, 2, 4] and view["emulated"] is True
    assert [p["precision"] for p in view["models"][0]["precisions"]] == ["fp32", "fp16", "int8"]


def test_no_side_by_side_view_for_a_single_precision(tmp_path):
    _result(tmp_path, "MobileNetV1", 1, 30.0)
    assert "side by side" not in api.report([tmp_path])
    assert json.loads(api.report([tmp_path], fmt="json"))["tables"][0]["by_precision"] is None
