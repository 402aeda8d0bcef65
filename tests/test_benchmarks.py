"""The benchmark driver runs end to end on a tiny configuration and writes its reports.

Benchmarks are not timed tests: this checks structure and that every figure is a positive,
finite number, not how fast anything is.
"""
import json
import math

import pytest

from benchmarks.__main__ import main
from benchmarks.train_step import crossover

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _torch_installed():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("with_torch", [False, pytest.param(True, marks=pytest.mark.skipif(
    not _torch_installed(), reason="the torch peer column needs torch"))])
def test_quick_benchmark_writes_reports(tmp_path, device, with_torch):
    devices = ["cpu"] if device == "cpu" else ["cuda", "cpu"]
    argv = ["--quick", "--workloads", "mlp", "--devices", *devices, "--batch-sizes", "1", "16",
            "--repeats", "1", "--out", str(tmp_path)]
    if not with_torch:
        argv.append("--no-torch")
    assert main(argv) == 0

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["machine"]["cpu"]["cores"] >= 1
    assert results["machine"]["versions"]["numpy"]
    assert (results["machine"]["gpu"] is not None) == (device != "cpu")
    assert results["errors"] == []
    rows = results["throughput"]
    frameworks = {"ours", "torch"} if with_torch else {"ours"}
    # torch's CUDA column only where torch sees a GPU (not on the CUDA stand-in)
    torch_cuda = with_torch and __import__("torch").cuda.is_available()
    expected = {(fw, d, b, m) for fw in frameworks for d in devices for b in (1, 16)
                for m in ("train", "infer") if fw == "ours" or d == "cpu" or torch_cuda}
    assert {(r["framework"], r["device"], r["batch_size"], r["mode"]) for r in rows} == expected
    for r in rows:
        assert r["workload"] == "mlp"
        for key in ("images_per_s", "images_per_s_min", "images_per_s_max", "ms_per_step"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert r["images_per_s_min"] <= r["images_per_s"] <= r["images_per_s_max"]
    assert results["crossover"]["mlp"]["train"]["measured"] == (device != "cpu")

    md = (tmp_path / "results.md").read_text()
    assert "| batch | ours CPU" in md and "mlp, train step" in md
    assert ("| ours GPU" in md) == (device != "cpu")
    pngs = list(tmp_path.glob("*.png"))
    assert (tmp_path / "throughput_mlp.png") in pngs
    assert ((tmp_path / "speedup_gpu_over_cpu.png") in pngs) == (device != "cpu")
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)


def _row(batch, device, ips):
    return {"workload": "w", "mode": "train", "batch_size": batch, "device": device,
            "framework": "ours", "images_per_s": ips}


def test_crossover_is_first_batch_from_which_gpu_stays_faster():
    rows = [_row(1, "cpu", 100), _row(1, "cuda", 50), _row(16, "cpu", 100), _row(16, "cuda", 150),
            _row(64, "cpu", 100), _row(64, "cuda", 90), _row(256, "cpu", 100), _row(256, "cuda", 900)]
    assert crossover(rows)["w"]["train"] == {"batch_size": 256, "measured": True}
    rows[5]["images_per_s"] = 110
    assert crossover(rows)["w"]["train"] == {"batch_size": 16, "measured": True}
    slow = [r for r in rows if r["device"] == "cpu"] + [_row(b, "cuda", 1) for b in (1, 16, 64, 256)]
    assert crossover(slow)["w"]["train"] == {"batch_size": None, "measured": True}


def test_memory_child_reports_peak_and_live_rss():
    from benchmarks import memory
    row = memory.measure("ours", batch_size=4, peak_steps=2, live_steps=(3, 5))
    assert row["framework"] == "ours" and row["peak_steps"] == 2
    assert 0 < row["baseline_rss_mib"] <= row["peak_rss_mib"]
    assert set(row["live_rss_mib"]) == {"3", "5"} and all(v > 0 for v in row["live_rss_mib"].values())
    assert row["growth_mib"] == row["live_rss_mib"]["5"] - row["live_rss_mib"]["3"]
    assert "| ours |" in memory.markdown([row])


def test_overhead_rows_are_positive():
    from benchmarks import overhead
    rows = overhead.run(quick=True, torch=False)
    assert {r["case"] for r in rows} == {"add_1elem", "tiny_mlp_fwd_bwd"}
    for r in rows:
        assert r["framework"] == "ours" and 0 < r["us_best"] <= r["us_median"]
        assert r["meets_target"] == (r["us_median"] <= r["target_us"])
