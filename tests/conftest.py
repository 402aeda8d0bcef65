import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import tinygrad_hw as thw

# CI sets CI=true and gets a derandomised, smaller run; locally "dev" explores more.
settings.register_profile("ci", derandomize=True, max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# THW_TEST_CUDA_STANDIN=1: the 'cuda' cases run on the strict NumPy-backed stand-in (CuPy's rules
# for host conversion, host/device mixing and devices); otherwise on a real GPU, or they skip.
CUDA_STANDIN = os.environ.get("THW_TEST_CUDA_STANDIN", "") not in ("", "0")
if CUDA_STANDIN:
    import cuda_standin
    thw.backend.set_cuda_module(cuda_standin, cuda_standin.cupyx)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not thw.cuda.is_available(), reason="CUDA tests need CuPy and an NVIDIA GPU"))]


@pytest.fixture(params=DEVICES, scope="session")
def device(request):
    """Run a test once per available device: 'cpu' always, 'cuda' where a GPU is present.

    Session-scoped (it is only a name), so hypothesis tests may use it without a health-check
    failure for function-scoped fixtures."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    thw.manual_seed(0)
    np.random.seed(0)


_standin_skips = []


def pytest_runtest_logreport(report):
    """On the stand-in no CUDA case may skip: that would hide the very paths it is there to run."""
    if CUDA_STANDIN and report.skipped and "cuda" in report.nodeid and not hasattr(report, "wasxfail"):
        _standin_skips.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _standin_skips:
        print(f"\nCUDA stand-in run: {len(_standin_skips)} CUDA case(s) skipped, which counts as a "
              "failure:\n  " + "\n  ".join(_standin_skips))
        session.exitstatus = 1
