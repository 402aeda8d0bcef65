"""What the numbers were measured on: CPU, BLAS and its threads, GPU, library versions, date.

Throughput means little without the machine beside it, so every report embeds ``describe()``.
"""
import datetime
import os
import platform
import sys

import numpy as np


def cpu_model():
    """The CPU's marketing name ('Intel(R) Xeon(R) ...'), or the platform's best guess."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_count():
    """Cores this process may run on (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def blas_info():
    """NumPy's BLAS: library, version, kernel (core type) and threads.

    threadpoolctl reads the live library (its chosen kernel and thread count); without it we fall
    back to NumPy's build configuration and the usual environment variables.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                return {"library": lib.get("internal_api"), "version": lib.get("version"),
                        "kernel": lib.get("architecture"), "threads": lib.get("num_threads"),
                        "threading_layer": lib.get("threading_layer"), "source": "threadpoolctl"}
    info = {"library": None, "version": None, "kernel": None, "threads": None,
            "threading_layer": None, "source": "numpy.show_config"}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["library"], info["version"] = blas.get("name"), blas.get("version")
        info["kernel"] = blas.get("openblas configuration")
    except Exception:  # older NumPy without mode="dicts"
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            info["threads"] = int(os.environ[var])
            break
    else:
        info["threads"] = cpu_count()
    return info


def set_blas_threads(n):
    """Limit NumPy's BLAS to ``n`` threads for the rest of the process (needs threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise RuntimeError("setting BLAS threads needs threadpoolctl (pip install threadpoolctl); "
                           "or start Python with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS set") from None
    threadpool_limits(limits=n, user_api="blas")   # not used as a context: it stays in force


def blas_threads():
    return blas_info()["threads"] or cpu_count()


def _version(module_name):
    try:
        module = __import__(module_name)
    except Exception:
        return None
    return getattr(module, "__version__", "unknown")


def gpu_info():
    """Name, memory and driver of the first CUDA GPU through CuPy, or None when there is none."""
    import tinygrad_hw as thw
    if not thw.cuda.is_available():
        return None
    cupy = thw.backend.cuda_module()
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    return {"name": name.decode() if isinstance(name, bytes) else name,
            "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
            "count": cupy.cuda.runtime.getDeviceCount(),
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "driver": cupy.cuda.runtime.driverGetVersion()}


def describe(torch_threads=None, kept_memory=False):
    """A JSON-ready description of this machine and software; ``kept_memory``: whether malloc was
    told to keep freed memory (``thw.keep_host_memory``)."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": {"model": cpu_model(), "arch": platform.machine(), "cores": cpu_count()},
        "blas": blas_info(),
        "torch_threads": torch_threads,
        "malloc": "keeps freed memory" if kept_memory else "default",
        "gpu": gpu_info(),
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "cupy": _version("cupy"),
                     "torch": _version("torch") if "torch" in sys.modules else None,
                     "tinygrad_hw": _version("tinygrad_hw")},
    }


def summary_line(info):
    """One line for the head of a report: CPU, BLAS (kernel, threads), torch threads, GPU."""
    blas = info["blas"]
    gpu = info["gpu"]["name"] if info.get("gpu") else "no GPU"
    return (f"{info['cpu']['cores']} x {info['cpu']['model']} ({info['cpu']['arch']}); "
            f"BLAS {blas['library']} {blas['version']} "
            f"(kernel {blas['kernel']}, threads: {blas['threads']}); "
            f"torch threads: {info.get('torch_threads')}; malloc: {info.get('malloc', 'default')}; "
            f"GPU: {gpu}")
