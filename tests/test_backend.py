import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Page faults taken while 4 MiB and 64 MiB arrays are made and freed again after a first round.
_FAULTS = """
import resource, sys
import numpy as np
import tinygrad_hw as thw
applied = thw.keep_host_memory() if sys.argv[1] == "keep" else False
def cycle():
    for n in (2**20, 2**24):
        a = np.ones(n, np.float32)
        del a
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    cycle()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode):
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not GLIBC, reason="keep_host_memory tunes glibc's malloc")
def test_keep_host_memory_reuses_freed_pages():
    applied, kept = _faults("keep")
    _, stock = _faults("stock")
    assert applied
    # freed arrays come back from the heap already mapped: no page is faulted in again
    assert kept <= 4, (kept, stock)
    assert kept <= stock
