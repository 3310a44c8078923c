"""The study table and Pareto front from a hand-made StudyResult."""
import json

from toolkit.study import StudyResult, StudyRow
from toolkit import study_report


def _result(emulated=False):
    rows = [StudyRow(model="A", precision="fp32", init="pretrained", top1=0.90, device_top1=0.91, flops_g=0.12,
                     params_m=2.9, activation_peak_mb=1.8, peak_rss_mb=40, size_mb=11.9, ncnn_size_mb=11.7,
                     latency_ms={"lite": {1: 10.0, 2: 6.0}, "ncnn": {1: 9.0}}, train_s=30, epochs=2),
            StudyRow(model="B", precision="fp32", init="scratch", init_note="from scratch: no weights", top1=0.80,
                     latency_ms={"lite": {1: 5.0}}, train_s=10, epochs=2),
            StudyRow(model="C", precision="fp32", init="scratch", top1=0.70, latency_ms={"lite": {1: 8.0}}),  # dominated
            StudyRow(model="D", precision="int8", error="PTQ failed")]
    return StudyResult(rows=rows, device={"serial": "pi@h", "model": "Raspberry Pi 4", "soc": "Cortex-A72",
                                          "abi": "aarch64"}, emulated=emulated,
                       settings={"image_size": 32, "epochs": 2, "warmup": 1, "repeats": 3},
                       split={"train_images": 100, "val_images": 25, "classes": 10})


def test_pareto_front_uses_the_device_top1_when_measured():
    front = study_report.pareto_rows(_result())
    assert [r.model for r in front] == ["B", "A"]        # C is slower than B and less accurate
    assert [p[2] for p in study_report.points(_result()) if p[0].model == "A"] == [91.0]


def test_table_columns_and_cells():
    res = _result()
    cols = study_report.columns(res)
    assert cols[:3] == ["model", "precision", "top-1 %"] and "ncnn size (MB)" in cols
    assert [c for c in cols if " ms t=" in c] == ["lite ms t=1", "lite ms t=2", "ncnn ms t=1"]
    md = study_report.to_markdown(res)
    row_a = next(ln for ln in md.splitlines() if ln.startswith("| A |"))
    cells = [c.strip() for c in row_a.strip("|").split("|")]
    assert cells[2:5] == ["90.0", "91.0", "120.0"] and cells[cols.index("ncnn ms t=1")] == "9.00"
    assert "| D | int8 | FAILED: PTQ failed |" in md and "- B: from scratch: no weights" in md
    assert "Pareto front (top-1 vs latency): B [fp32], A [fp32]" in md
    assert len(study_report.to_csv(res).splitlines()) == 5
    d = json.loads(study_report.to_json(res))
    assert d["pareto"] == [["B", "fp32"], ["A", "fp32"]] and d["rows"][0]["latency_ms"]["lite"] == {"1": 10.0, "2": 6.0}


def test_emulated_studies_say_so_in_caption_and_plot():
    res = _result(emulated=True)
    assert "emulated CPU (qemu-user)" in study_report.caption(res)
    png = study_report.figure(res)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"<img" in study_report.to_html(res, png).encode()


def test_the_runner_copy_knows_mlites_version():
    from importlib.metadata import version
    from toolkit import runner
    assert runner.VERSION == version("mlite")
