"""`mlite --help` must stay fast: the CLI module may not import heavy libraries at start-up."""
import json
import subprocess
import sys

from tests.conftest import run_mlite

HEAVY = ("paddle", "paddlelite", "paddleslim", "paddle2onnx", "onnx", "onnxruntime", "numpy", "matplotlib",
         "rich", "paddleclas")


def test_cli_import_pulls_no_heavy_modules():
    code = ("import sys; from toolkit import cli; "
            "import json; print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_help_lists_commands():
    p = run_mlite("--help")
    assert p.returncode == 0
    assert "export" in p.stdout and "models" in p.stdout


def test_models_json_has_the_reference_numbers():
    p = run_mlite("models", "--json")
    rows = json.loads(p.stdout)
    assert len(rows) == 37
    v3 = next(r for r in rows if r["name"] == "MobileNetV3_small_x1_0")
    assert v3["reference"]["sd855_ms_t4"] == 2.6 and v3["reference"]["storage_mb"] == 12.0
    assert v3["family"] == "MobileNetV3" and v3["input_shape"] == [1, 3, 224, 224]


def test_models_table_shows_every_model():
    p = run_mlite("models")
    assert p.returncode == 0
    assert "GhostNet_x1_3_ssld" in p.stdout and "MobileNetV3_large_x1_0_ssld_int8" in p.stdout
