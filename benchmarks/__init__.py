"""Benchmarks of tinygrad_hw: train-step and inference throughput on CPU (NumPy) and GPU (CuPy)
beside torch as the peer column, per-op overhead, and host memory.

    python -m benchmarks --quick            # smoke run, < 1 minute
    python -m benchmarks --out bench_out    # the full sweep; writes results.json/.md and PNGs

Modules: ``workloads`` (the models and their torch twins as step functions), ``timing`` (CPU and
CUDA-event timers), ``train_step`` (interleaved measurement, GPU/CPU crossover), ``overhead``,
``memory``, ``machine`` (what the numbers were measured on), ``report`` (JSON, markdown, plots).
torch is imported only inside these modules, and only when installed.
"""
