"""Data-parallel training: collectives, DistributedDataParallel, DistributedSampler, the mpiexec
mode of the training command, and a failing rank.

The multi-process cases launch ``mpiexec -n 2`` (tests/dist_scripts/worker.py) as a subprocess
with a timeout; they skip only where mpi4py or mpiexec is missing. Each launch takes about a
second.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tinygrad_hw as thw
import tinygrad_hw.distributed as dist
from tinygrad_hw import train
from tinygrad_hw.data import ArrayDataset, DataLoader, DistributedSampler
from tinygrad_hw.nn.parallel import DistributedDataParallel

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "dist_scripts"
sys.path.insert(0, str(SCRIPTS))
import dist_common as C  # noqa: E402

MPIEXEC = shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
                               reason="needs mpi4py and mpiexec: pip install tinygrad-hw[dist]")
WORLD = 2


def _env():
    # one BLAS thread per rank, this checkout first on the path, the scripts' helpers importable
    path = os.pathsep.join([str(ROOT), str(SCRIPTS), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def mpirun(*argv, n=WORLD, timeout=60):
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *argv], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def run_case(case, out, backend="mpi", n=WORLD):
    r = mpirun(str(SCRIPTS / "worker.py"), case, str(out), backend, n=n)
    assert r.returncode == 0, f"mpiexec exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return [dict(np.load(out / f"{case}_rank{rank}.npz")) for rank in range(n)]


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("dist")


# --- (a) collectives ------------------------------------------------------------------------------
@needs_mpi
def test_collectives_equal_their_definitions(outdir):
    """all_reduce (SUM, AVG, MAX, MIN, PRODUCT), reduce to each rank, broadcast from each rank and
    all_gather, on float32/float64/int64 tensors of six shapes (0-d to 64x33) and transposed
    views, each against its NumPy definition on every rank (asserted in the worker)."""
    ranks = run_case("collectives", outdir)
    # 3 dtypes x 6 shapes with every op and layout: nothing was skipped on either rank
    assert [int(r["checked"]) for r in ranks] == [349, 349]


# --- (b) DistributedDataParallel -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ddp_ranks(outdir):
    return run_case("ddp", outdir)


@needs_mpi
@pytest.mark.parametrize("dtype,rtol,atol", [("float64", 1e-10, 1e-12), ("float32", 2e-5, 1e-6)])
def test_ddp_on_two_ranks_equals_one_process_on_full_batches(ddp_ranks, dtype, rtol, atol):
    """5 SGD-momentum steps (weight decay too) on 2 ranks with half batches end where one process
    ends on the full batches; the replicas start from different seeds, so this also checks the
    broadcast from rank 0 at construction. float32 differs only in summation order."""
    want = C.train_single("plain", np.dtype(dtype), seed=100)
    for rank in range(WORLD):
        got = {k.split("/", 1)[1]: v for k, v in ddp_ranks[rank].items() if k.startswith(dtype + "/")}
        assert got.keys() == want.keys()
        for k in want:
            assert got[k].dtype == want[k].dtype
            np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=f"rank {rank} {k}")
    for k in want:      # the replicas agree bit for bit
        np.testing.assert_array_equal(ddp_ranks[0][f"{dtype}/{k}"], ddp_ranks[1][f"{dtype}/{k}"])


@needs_mpi
def test_ddp_no_sync_accumulation_equals_full_batches(ddp_ranks):
    """Two micro-batches per step, the first backward inside no_sync() (its gradients stay local,
    checked in the worker), equal the full-batch run."""
    want = C.train_single("plain", np.dtype("float64"), seed=100)
    for rank in range(WORLD):
        for k in want:
            np.testing.assert_allclose(ddp_ranks[rank][f"accumulate/{k}"], want[k], rtol=1e-10, atol=1e-12)


@needs_mpi
def test_ddp_parameters_without_gradient_on_some_or_all_ranks(outdir):
    """A parameter used on one rank only gets that rank's gradient averaged over the world (the
    others contribute zeros); one used nowhere keeps grad None (asserted in the worker)."""
    assert [int(r["checked"]) for r in run_case("unused", outdir)] == [4, 4]


@needs_mpi
def test_ddp_with_batch_norm_uses_per_rank_batch_statistics(outdir):
    """With batch norm, each rank normalises with its own half-batch's statistics (there is no
    SyncBatchNorm), and before each forward the running statistics are rank 0's. So:
    - the parameters equal a one-process simulation of exactly that (float64, rtol 1e-10), and
      differ from training on the full batches;
    - after training, rank 0's buffers are the simulation's replica 0 and rank 1's are rank 0's
      from before the last step, updated with rank 1's last half-batch."""
    ranks = run_case("bn", outdir)
    sim = C.simulate_bn_ranks(np.dtype("float64"), seed=100, world=WORLD)
    full = C.train_single("bn", np.dtype("float64"), seed=100)
    params = [k for k in full if not k.startswith("1.")] + ["1.weight", "1.bias"]
    for rank in range(WORLD):
        for k in sim[rank]:
            np.testing.assert_allclose(ranks[rank][k], sim[rank][k], rtol=1e-10, atol=1e-12,
                                       err_msg=f"rank {rank} {k}")
    assert not np.allclose(ranks[0]["1.running_mean"], ranks[1]["1.running_mean"])
    assert max(np.abs(ranks[0][k] - full[k]).max() for k in params) > 1e-4


# --- the NCCL backend (CUDA tensors, one GPU per rank) ------------------------------------------------
# Named 'nccl', not 'cuda': the CUDA stand-in (THW_TEST_CUDA_STANDIN=1 -k cuda) cannot reach the
# processes mpiexec starts. On a GPU machine: pytest tests/test_distributed.py -k nccl
def _gpus():
    return thw.cuda.device_count() if thw.cuda.is_available() and dist.is_nccl_available() else 0


needs_nccl = pytest.mark.skipif(MPIEXEC is None or _gpus() == 0,
                                reason="needs mpiexec, mpi4py, CuPy with NCCL and a GPU")


@needs_nccl
def test_nccl_collectives_on_gpus(tmp_path):
    """The collectives' cases on CUDA tensors over NCCL, one rank per GPU (up to 2)."""
    ranks = run_case("collectives", tmp_path, "nccl", n=min(2, _gpus()))
    assert all(int(r["checked"]) > 0 for r in ranks)


@needs_nccl
def test_nccl_ddp_on_gpus_equals_one_process_on_full_batches(tmp_path):
    n = min(2, _gpus())
    ranks = run_case("ddp", tmp_path, "nccl", n=n)
    want = C.train_single("plain", np.dtype("float64"), seed=100)
    for r in ranks:
        for k in want:
            np.testing.assert_allclose(r[f"float64/{k}"], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


# --- (d) a failing rank ---------------------------------------------------------------------------------
@needs_mpi
def test_a_failing_rank_ends_the_job_quickly(outdir):
    """Rank 1 raises mid-step while rank 0 waits in the gradient all-reduce (then would sleep 60 s):
    the job exits non-zero in under 30 s, with rank 1's traceback."""
    start = time.perf_counter()
    r = mpirun(str(SCRIPTS / "worker.py"), "fail", str(outdir), timeout=90)
    elapsed = time.perf_counter() - start
    assert r.returncode != 0
    assert elapsed < 30, elapsed
    assert "[rank 1] RuntimeError: deliberate failure on rank 1 at step 2" in r.stderr, r.stderr


# --- the training command --------------------------------------------------------------------------------
# 4 steps an epoch: float32 summation order differs between 2 ranks and 1 process, and max-pool
# ties turn that drift into larger gradient differences step by step; over 12 steps (384 images)
# the first conv's weights differed by up to 2.3e-4 on an AMD EPYC VM (OpenBLAS's Haswell kernel)
TRAIN = ["--model", "lenet5", "--epochs", "2", "--batch-size", "64", "--limit-train", "256",
         "--limit-test", "301", "--augment", "0", "--no-progress"]


@needs_mpi
def test_train_command_on_two_ranks_matches_one_process_and_resumes(tmp_path):
    """``mpiexec -n 2 python -m tinygrad_hw.train``: interrupted after epoch 1 and resumed, it ends
    with the parameters (float32 summation order aside) and the test accuracy of an uninterrupted
    one-process run with the same global batch; only rank 0 prints."""
    ck = tmp_path / "dist.npz"
    first = mpirun("-m", "tinygrad_hw.train", *TRAIN, "--checkpoint", str(ck), "--stop-after", "1", timeout=120)
    assert first.returncode == 0, first.stderr
    assert len(re.findall(r"^epoch 1/2:", first.stdout, re.M)) == 1, first.stdout
    second = mpirun("-m", "tinygrad_hw.train", *TRAIN, "--checkpoint", str(ck), "--resume", timeout=120)
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stdout and len(re.findall(r"^epoch 2/2:", second.stdout, re.M)) == 1

    single = tmp_path / "single.npz"
    result = train.run(train.parse_args(TRAIN + ["--checkpoint", str(single)]), log=lambda *a: None)
    got, want = thw.load(ck), thw.load(single)
    arr = lambda v: v.numpy() if hasattr(v, "numpy") else np.asarray(v)   # noqa: E731
    for k in want["model"]:
        np.testing.assert_allclose(arr(got["model"][k]), arr(want["model"][k]), rtol=1e-4, atol=1e-5, err_msg=k)
    acc = float(re.search(r"test accuracy: (\d+\.\d\d)%", second.stdout).group(1))
    assert abs(acc - result["test_acc"]) < 0.7     # at most two of 301 test images flip


@needs_mpi
def test_train_command_rejects_a_global_batch_the_ranks_cannot_share():
    r = mpirun("-m", "tinygrad_hw.train", *TRAIN, "--batch-size", "63")
    assert r.returncode != 0
    assert "must be a multiple of the number of processes, 2" in r.stderr


# --- (c) DistributedSampler ---------------------------------------------------------------------------
@pytest.mark.parametrize("n,replicas", [(10, 2), (11, 2), (10, 3), (7, 4), (2, 5), (100, 7)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_without_shuffle_partitions_as_torch(n, replicas, drop_last):
    import torch.utils.data as tud
    ds = list(range(n))
    for rank in range(replicas):
        theirs = tud.DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        ours = DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)
        assert ours.total_size == theirs.total_size


@pytest.mark.parametrize("n,replicas", [(10, 2), (11, 2), (10, 3), (7, 4), (2, 5)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_with_shuffle_has_torch_sizes_and_padding(n, replicas, drop_last):
    """Shuffled: every rank has torch's length; together the ranks take each index once, plus
    (without drop_last) torch's padding: the permutation's first indices again, in order."""
    import torch.utils.data as tud
    ds = list(range(n))
    for epoch in (0, 3):
        parts = []
        for rank in range(replicas):
            s = DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=True, seed=5, drop_last=drop_last)
            s.set_epoch(epoch)
            parts.append(list(s))
            assert len(parts[-1]) == len(s) == len(tud.DistributedSampler(ds, replicas, rank, drop_last=drop_last))
        # rank r holds positions r, r + R, ... of the (padded or truncated) shuffled list
        merged = [parts[i % replicas][i // replicas] for i in range(sum(map(len, parts)))]
        perm = np.random.default_rng([5, epoch]).permutation(n).tolist()
        if drop_last:
            assert merged == perm[:len(merged)] and len(set(merged)) == len(merged)
        else:
            assert sorted(set(merged)) == list(range(n))
            assert merged == (perm * (len(merged) // n + 1))[:len(merged)]


def test_sampler_epochs_differ_and_repeat():
    ds = list(range(50))
    a, b = DistributedSampler(ds, 2, 0, seed=1), DistributedSampler(ds, 2, 0, seed=1)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b)
    b.set_epoch(2)
    assert list(a) != list(b)
    assert list(DistributedSampler(ds, 2, 0, seed=2)) != list(DistributedSampler(ds, 2, 0, seed=1))


def test_sampler_rejects_bad_rank_and_needs_a_group_or_arguments():
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(list(range(4)), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(list(range(4)))


def test_loader_with_sampler_keeps_the_vectorised_path():
    """The loader gathers each batch of the sampler's indices with one index (rank 1 of 2 here)."""
    images = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2)
    ds = ArrayDataset(images, np.arange(10))
    sampler = DistributedSampler(ds, 2, 1, shuffle=False)
    loader = DataLoader(ds, 2, sampler=sampler)
    assert len(loader) == 3
    labels = [y.tolist() for _, y in loader]
    assert labels == [[1, 3], [5, 7], [9]]
    x, _ = next(iter(loader))
    whole, _ = next(iter(DataLoader(ds, 10)))
    np.testing.assert_array_equal(x.numpy(), whole.numpy()[[1, 3]])
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, 2, shuffle=True, sampler=sampler)


# --- without a process group / without mpi4py --------------------------------------------------------
def test_uninitialised_group_raises_torch_errors():
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            fn()
    with pytest.raises(ValueError, match="Default process group"):
        dist.all_reduce(thw.ones(2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedDataParallel(thw.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")


def test_without_mpi4py_import_works_and_use_says_what_to_install():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import tinygrad_hw as thw, tinygrad_hw.distributed as dist\n"
            "from tinygrad_hw.nn.parallel import DistributedDataParallel\n"
            "try:\n    dist.init_process_group('mpi')\n"
            "except RuntimeError as e:\n    print('ERROR', e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ERROR" in r.stdout and "pip install tinygrad-hw[dist]" in r.stdout, r.stdout


def test_post_backward_callbacks_run_once_after_the_gradients():
    """The engine's seam DistributedDataParallel uses: a callback queued (even twice) before a
    backward runs once at its end, when every leaf already holds its gradient."""
    from tinygrad_hw.tensor import queue_post_backward
    w = thw.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def callback():
        seen.append(w.grad.tolist())
    queue_post_backward(callback)
    queue_post_backward(callback)
    (w * w).sum().backward()
    (w * w).sum().backward()
    assert seen == [[2.0, 4.0]]


@needs_mpi
def test_distributed_benchmark_quick_run_writes_its_report(tmp_path):
    r = subprocess.run([sys.executable, "-m", "benchmarks.distributed", "--quick", "--workloads", "lenet5",
                        "--out", str(tmp_path)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    import json
    rows = {row["config"]: row for row in json.loads((tmp_path / "distributed.json").read_text())["rows"]}
    assert set(rows) == {"1x1", "1x2", "2x1"}
    assert all(row["images_per_s"] > 0 for row in rows.values())
    # LeNet-5's gradients: 44,426 float32 values plus one count per parameter tensor, in one bucket
    assert rows["2x1"]["buckets"] == 1
    assert rows["2x1"]["allreduce_mb"] == pytest.approx((44426 + 10) * 4 / 2**20)
    assert "| lenet5 |" in (tmp_path / "distributed.md").read_text()


@needs_mpi
@pytest.mark.slow
def test_lenet5_default_run_on_two_ranks_clears_its_bar():
    """The full default LeNet-5 run, data-parallel on 2 ranks, reaches the one-process bar (99.1%)."""
    r = mpirun("-m", "tinygrad_hw.train", "--model", "lenet5", "--no-progress", timeout=1800)
    assert r.returncode == 0, r.stderr
    assert float(re.search(r"test accuracy: (\d+\.\d\d)%", r.stdout).group(1)) >= 99.1, r.stdout
