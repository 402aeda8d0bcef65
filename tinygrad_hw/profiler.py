"""Time every op: forward and backward calls, self and total time, output bytes, input shapes.

    with thw.profiler.profile() as prof:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        with thw.profiler.record_function("optimizer.step"):
            opt.step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    prof.export_chrome_trace("trace.json")      # chrome://tracing or https://ui.perfetto.dev

Each recorded op gives one event per forward (named as its Function, e.g. ``Conv2d``) and one
per backward (``Conv2dBackward``); ``record_function`` adds a named region. Events nest: an
event's self time is its total less the total of the events inside it, so the self times of a
step add up to the time spent in recorded code. On a GPU each event is also timed on the
device with a pair of CUDA events, read after one synchronisation when the profile ends, so
``cuda_time`` is device time rather than the time to queue the kernels.

Off (outside ``profile``) the engine pays one check of a module global per op.
"""
import importlib
import json
import os
import threading
import time

from . import backend

# the module, not the thw.tensor() factory that shadows its name on the package
_tensor = importlib.import_module(".tensor", __package__)


class _Event:
    __slots__ = ("name", "kind", "start_ns", "end_ns", "child_ns", "bytes", "shapes", "tid",
                 "cuda", "cuda_us", "depth")

    def __init__(self, name, kind, shapes, depth):
        self.name, self.kind, self.shapes, self.depth = name, kind, shapes, depth
        self.child_ns = 0
        self.bytes = 0
        self.cuda = None
        self.cuda_us = 0.0
        self.tid = threading.get_ident()

    @property
    def cpu_us(self):
        return (self.end_ns - self.start_ns) / 1e3

    @property
    def self_cpu_us(self):
        return (self.end_ns - self.start_ns - self.child_ns) / 1e3


def _shapes(arrays):
    return tuple(tuple(a.shape) for a in arrays if hasattr(a, "shape"))


def _nbytes(out):
    if isinstance(out, (tuple, list)):
        return sum(_nbytes(o) for o in out)
    return int(getattr(out, "nbytes", 0))


def _cuda_device(arrays):
    """The CUDA Device of the first GPU array among ``arrays``, or None."""
    for a in arrays:
        if hasattr(a, "shape") and not isinstance(a, (int, float)):
            dev = backend.device_of_data(a)
            return dev if dev.type == "cuda" else None
    return None


class profile:
    """Context manager that records every op run inside it (forward and backward).

    ``record_shapes`` keeps each call's input shapes (for ``group_by_input_shape``).
    """

    def __init__(self, record_shapes=True):
        self.record_shapes = record_shapes
        self.events = []
        self._stack = []
        self._prev = None
        self._t0 = None

    def __enter__(self):
        self._prev = _tensor._profiler
        self._t0 = time.perf_counter_ns()
        _tensor._profiler = self
        return self

    def __exit__(self, *exc):
        _tensor._profiler = self._prev
        pending = [e for e in self.events if e.cuda is not None]
        for dev in {e.cuda[0] for e in pending}:
            backend.synchronize(dev)
        for e in pending:
            dev, start, end = e.cuda
            e.cuda_us = backend.event_elapsed_ms(start, end) * 1e3
            e.cuda = None
        return False

    # --- recording (called by the engine) -------------------------------------------------------
    def _open(self, name, kind, arrays):
        ev = _Event(name, kind, _shapes(arrays) if self.record_shapes else (), len(self._stack))
        dev = _cuda_device(arrays)
        if dev is not None:
            ev.cuda = (dev, backend.record_event(dev), None)
        self._stack.append(ev)
        ev.start_ns = time.perf_counter_ns()
        return ev

    def _close(self, ev, out=None):
        ev.end_ns = time.perf_counter_ns()
        if ev.cuda is not None:
            ev.cuda = (ev.cuda[0], ev.cuda[1], backend.record_event(ev.cuda[0]))
        ev.bytes = _nbytes(out)
        self._stack.pop()
        if self._stack:
            self._stack[-1].child_ns += ev.end_ns - ev.start_ns
        self.events.append(ev)

    def op(self, fn, phase, arrays, kwargs):
        """Run ``fn.forward(*arrays, **kwargs)`` or ``fn.backward(*arrays)`` as one event."""
        name = type(fn).__name__ + ("Backward" if phase == "backward" else "")
        ev = self._open(name, phase, arrays)
        try:
            out = fn.forward(*arrays, **kwargs) if phase == "forward" else fn.backward(*arrays)
        finally:
            self._close(ev)
        ev.bytes = _nbytes(out)
        return out

    # --- results ----------------------------------------------------------------------------------
    def key_averages(self, group_by_input_shape=False):
        """One row per op name (and per input shapes when asked), summed over calls."""
        rows = {}
        for e in self.events:
            key = (e.name, e.shapes) if group_by_input_shape else e.name
            r = rows.get(key)
            if r is None:
                r = rows[key] = FunctionEventAvg(e.name, e.shapes if group_by_input_shape else None)
            r.add(e)
        return EventList(rows.values(), group_by_input_shape)

    def total_self_cpu_us(self):
        return sum(e.self_cpu_us for e in self.events)

    def export_chrome_trace(self, path):
        """Write the events as Chrome trace-event JSON (complete events, microseconds)."""
        pid = os.getpid()
        trace = []
        for e in self.events:
            args = {"self_us": round(e.self_cpu_us, 3), "bytes": e.bytes}
            if e.shapes:
                args["input_shapes"] = [list(s) for s in e.shapes]
            if e.cuda_us:
                args["cuda_us"] = round(e.cuda_us, 3)
            trace.append({"name": e.name, "cat": e.kind, "ph": "X", "pid": pid, "tid": e.tid,
                          "ts": (e.start_ns - self._t0) / 1e3, "dur": e.cpu_us, "args": args})
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)
        os.replace(tmp, path)
        return path


class record_function:
    """A named region inside a ``profile`` (nothing happens outside one); as torch's."""

    def __init__(self, name):
        self.name = name
        self._ev = None

    def __enter__(self):
        prof = _tensor._profiler
        if prof is not None:
            self._prof, self._ev = prof, prof._open(self.name, "region", ())
        return self

    def __exit__(self, *exc):
        if self._ev is not None:
            self._prof._close(self._ev)
            self._ev = None
        return False


class FunctionEventAvg:
    """The summed events of one op name: calls, self/total CPU and CUDA time, output bytes."""

    def __init__(self, key, input_shapes=None):
        self.key, self.input_shapes = key, input_shapes
        self.count = 0
        self.self_cpu_time_total = self.cpu_time_total = 0.0
        self.cuda_time_total = 0.0
        self.cpu_memory_usage = 0

    def add(self, e):
        self.count += 1
        self.self_cpu_time_total += e.self_cpu_us
        self.cpu_time_total += e.cpu_us
        self.cuda_time_total += e.cuda_us
        self.cpu_memory_usage += e.bytes

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} calls={self.count} "
                f"self_cpu_time_total={self.self_cpu_time_total:.1f}us>")


def _fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _fmt_bytes(b):
    for unit, size in (("Gb", 2**30), ("Mb", 2**20), ("Kb", 2**10)):
        if abs(b) >= size:
            return f"{b / size:.2f} {unit}"
    return f"{b} b"


class EventList(list):
    """Rows of ``key_averages``; ``table()`` prints them with torch-like columns."""

    def __init__(self, rows, group_by_input_shape=False):
        super().__init__(rows)
        self.group_by_input_shape = group_by_input_shape

    def table(self, sort_by="self_cpu_time_total", row_limit=100):
        if sort_by not in ("self_cpu_time_total", "cpu_time_total", "cuda_time_total", "count",
                           "cpu_memory_usage"):
            raise ValueError(f"table: cannot sort by {sort_by!r}")
        rows = sorted(self, key=lambda r: getattr(r, sort_by), reverse=True)[:row_limit]
        self_total = sum(r.self_cpu_time_total for r in self) or 1.0
        cuda = any(r.cuda_time_total for r in self)
        head = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
        if cuda:
            head += ["Self CUDA", "CUDA total"]
        head += ["CPU Mem", "# of Calls"]
        if self.group_by_input_shape:
            head.append("Input Shapes")
        body = []
        for r in rows:
            line = [r.key, f"{100 * r.self_cpu_time_total / self_total:.2f}%", _fmt_us(r.self_cpu_time_total),
                    f"{100 * r.cpu_time_total / self_total:.2f}%", _fmt_us(r.cpu_time_total),
                    _fmt_us(r.cpu_time)]
            if cuda:
                line += [_fmt_us(r.cuda_time_total), _fmt_us(r.cuda_time_total)]
            line += [_fmt_bytes(r.cpu_memory_usage), str(r.count)]
            if self.group_by_input_shape:
                line.append(str([list(s) for s in r.input_shapes]))
            body.append(line)
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
        sep = "  ".join("-" * w for w in widths)

        def fmt(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        out = [sep, fmt(head), sep] + [fmt(b) for b in body] + [sep, f"Self CPU time total: {_fmt_us(self_total)}"]
        return "\n".join(out)
