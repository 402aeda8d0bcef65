"""thw.profiler: every op's forward and backward is recorded, times add up, the trace is valid."""
import importlib
import json
import time

import pytest

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw.models import LeNet5


def _step(model, opt, x, y):
    with thw.profiler.record_function("zero_grad"):     # frees the last step's gradient arrays
        opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    with thw.profiler.record_function("optimizer.step"):
        opt.step()


def test_lenet5_step_lists_conv_forward_and_backward_and_times_add_up():
    model = LeNet5()
    opt = thw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    # batch 128 as the benchmarks: at batch 32 the per-op bookkeeping outside every op (about
    # 20 us an op, 0.8 ms a step) is already 15% of a 6 ms step
    x, y = thw.randn(128, 1, 28, 28), thw.randint(0, 10, (128,))
    _step(model, opt, x, y)                                 # warm up
    # the share of the step that ops cover is what is checked; on a loaded machine a preemption
    # can land outside every op, so the best of a few profiled steps is taken
    best = 0.0
    for _ in range(5):
        with thw.profiler.profile() as prof:
            start = time.perf_counter()
            _step(model, opt, x, y)
            wall_us = (time.perf_counter() - start) * 1e6
        recorded = prof.total_self_cpu_us()
        assert recorded <= wall_us
        best = max(best, recorded / wall_us)
        if best >= 0.8:
            break
    assert best >= 0.8, f"ops cover only {100 * best:.0f}% of the step"
    rows = {r.key: r for r in prof.key_averages()}
    assert rows["Conv2d"].count == 2 and rows["Conv2dBackward"].count == 2
    assert rows["Linear"].count == 3 and rows["LinearBackward"].count == 3
    assert rows["optimizer.step"].count == 1
    assert rows["Conv2d"].self_cpu_time_total > 0 and rows["Conv2dBackward"].self_cpu_time_total > 0
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=5)
    lines = table.splitlines()
    assert "Self CPU %" in lines[1] and "# of Calls" in lines[1]
    assert len([ln for ln in lines if ln.startswith(("Conv", "Linear", "Max", "ReLU", "Cross", "optim",
                                                     "Reshape", "Flatten"))]) == 5


def test_output_bytes_input_shapes_and_nesting():
    a = thw.ones(1000, requires_grad=True)
    b = thw.ones(1000, requires_grad=True)
    with thw.profiler.profile() as prof:
        with thw.profiler.record_function("region"):
            c = a + b
            time.sleep(0.002)
        c.sum().backward()
    by_name = {r.key: r for r in prof.key_averages()}
    assert by_name["Add"].cpu_memory_usage == 4000           # one float32 output of 1000 values
    assert by_name["Sum"].cpu_memory_usage == 4
    region, add = by_name["region"], by_name["Add"]
    assert region.cpu_time_total >= 2000
    assert region.self_cpu_time_total == pytest.approx(region.cpu_time_total - add.cpu_time_total)
    shaped = {(r.key, tuple(r.input_shapes)) for r in prof.key_averages(group_by_input_shape=True)}
    assert ("Add", ((1000,), (1000,))) in shaped and ("SumBackward", ((),)) in shaped


def test_chrome_trace_is_valid_json_with_complete_events(tmp_path):
    x = thw.randn(4, 3, requires_grad=True)
    with thw.profiler.profile() as prof:
        (x * 2).relu().sum().backward()
    path = prof.export_chrome_trace(tmp_path / "trace.json")
    trace = json.loads(path.read_text())
    names = [e["name"] for e in trace["traceEvents"]]
    assert sorted(names) == sorted(["Mul", "ReLU", "Sum", "SumBackward", "ReLUBackward", "MulBackward"])
    for e in trace["traceEvents"]:
        assert e["ph"] == "X" and e["dur"] >= 0 and e["ts"] >= 0


def test_profiler_is_off_outside_and_after_an_error():
    mod = importlib.import_module("tinygrad_hw.tensor")     # the module, not the thw.tensor factory
    assert mod._profiler is None
    with pytest.raises(ValueError):
        with thw.profiler.profile():
            raise ValueError("boom")
    assert mod._profiler is None
    with thw.profiler.profile() as outer:
        with thw.profiler.profile() as inner:
            thw.ones(2) + 1
        thw.ones(2) * 2
    assert [e.name for e in inner.events] == ["Add"] and [e.name for e in outer.events] == ["Mul"]
    with thw.profiler.record_function("nothing"):     # no profile: records nothing, no error
        thw.ones(1) + 1


def test_table_rejects_unknown_sort_key():
    with thw.profiler.profile() as prof:
        thw.ones(2) + 1
    with pytest.raises(ValueError, match="cannot sort by"):
        prof.key_averages().table(sort_by="nonsense")


def test_device_time_is_recorded_on_gpus(device):
    x = thw.randn(64, 64, device=device, requires_grad=True)
    with thw.profiler.profile() as prof:
        (x @ x).relu().sum().backward()
    rows = {r.key: r for r in prof.key_averages()}
    assert rows["MatMul"].count == 1 and rows["MatMulBackward"].count == 1
    table = prof.key_averages().table()
    if device == "cpu":
        assert all(r.cuda_time_total == 0 for r in rows.values()) and "CUDA" not in table
    else:       # CUDA events around each op, read after one synchronisation at the end
        assert rows["MatMul"].cuda_time_total > 0 and "Self CUDA" in table
