"""benchmarks/gpu_check.py on a machine without a GPU: it runs what it can and says what it skipped."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
TINY = ["--sizes", "8", "--channels", "4", "--batch", "2", "--repeats", "1"]
TINY += ["--resolutions", "8", "--train-batch", "2", "--train-cmax", "16", "--train-repeats", "1"]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_check", None)


def read(out: Path) -> dict:
    payload = json.loads((out / "gpu_check.json").read_text())
    assert set(payload) == {"machine", "options", "seconds", "rows"}
    assert {"torch", "torch_cuda", "gpus", "compute_sanitizer"} <= set(payload["machine"])
    for row in payload["rows"]:
        assert set(row) == {"section", "check", "status", "result", "values"}
        assert row["status"] in ("pass", "FAIL", "slower", "skipped")
    return payload


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the rows of a machine without a GPU")
def test_without_a_gpu_every_gpu_part_is_a_skipped_row(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path), "--skip", "tests", *TINY]) == 0
    payload = read(tmp_path)
    rows = payload["rows"]
    assert [row["section"] for row in rows if row["section"] != "ops"] == [
        "tests",
        "sanitizer",
        "sanitizer",
        "graph",
        "graph",
        "devices",
        "train",
    ]
    assert {row["check"] for row in rows if row["section"] == "sanitizer"} == {"memcheck", "racecheck"}
    assert {row["check"].split()[0] for row in rows if row["section"] == "ops"} == {
        "upsample2d",
        "downsample2d",
        "filter2d",
        "bias_act",
    }
    assert all(row["status"] == "skipped" for row in rows)
    assert all("needs a CUDA GPU" in row["result"] for row in rows if row["section"] != "tests")
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| section | check | status | result |" in table and "11 skipped" in table
    assert "| sanitizer | memcheck | skipped |" in capsys.readouterr().out


def test_timings_run_on_the_cpu_with_device_cpu(gpu_check, tmp_path):
    skip = ["tests", "sanitizer", "graph", "devices"]
    assert gpu_check.main(["--out", str(tmp_path), "--device", "cpu", "--skip", *skip, *TINY]) == 0
    rows = read(tmp_path)["rows"]
    ops = [row for row in rows if row["section"] == "ops"]
    assert [row["values"]["op"] for row in ops] == ["upsample2d", "downsample2d", "filter2d", "bias_act"]
    for row in ops:
        assert row["status"] in ("pass", "slower"), row
        assert {"fwd_ms_cpp", "fwd_ms_ref", "fwd_speedup", "fwd+bwd_ms_cpp", "fwd+bwd_speedup"} <= set(row["values"])
    train = [row for row in rows if row["section"] == "train"]
    assert [row["values"]["memory_format"] for row in train] == ["contiguous", "channels_last"]
    for row in train:
        assert row["status"] in ("pass", "slower"), row
        assert row["values"]["img_s_cpp"] > 0 and row["values"]["img_s_ref"] > 0


def test_the_pytest_section_counts_the_cuda_tests(gpu_check, tmp_path):
    tests = tmp_path / "test_marked.py"
    tests.write_text(
        "import pytest\n\n"
        "@pytest.mark.cuda\ndef test_on_gpu():\n    pass\n\n"
        "@pytest.mark.cuda\ndef test_needs_more():\n    pytest.skip('needs a CUDA GPU')\n\n"
        "def test_not_selected():\n    raise AssertionError\n"
    )
    report = gpu_check.Report(echo=False)
    args = gpu_check.parse_args(["--out", str(tmp_path)])
    args.tests = [str(tests), "-W", "ignore::pytest.PytestUnknownMarkWarning"]
    gpu_check.check_tests(report, args)
    (row,) = report.rows
    assert row.status == "pass" and row.result.startswith("1 passed, 0 failed, 1 skipped"), row
    assert (tmp_path / "pytest-cuda.log").is_file()


def test_a_failing_check_is_a_row_not_a_crash(gpu_check, tmp_path):
    report = gpu_check.Report(echo=False)
    with report.guard("ops", "broken"):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    (row,) = report.rows
    assert row.status == "FAIL" and "illegal memory access" in row.result
