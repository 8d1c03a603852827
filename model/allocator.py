"""Let a training step reuse the memory the previous step freed.

Every step allocates the same large tensors again: the logits of a 4,000-token batch over a 16k
vocabulary alone are over 100 MB. glibc serves an allocation above its mmap threshold with a fresh
mapping and unmaps it on free, so each step faults every page of those buffers in anew: about 390,000
page faults a step on the 2-core machine, and steps 1.7-3.1x slower (docs/benchmarks.md). With mmap off
for malloc and the heap never trimmed, the next step's tensors land on pages that are already mapped.
This covers the main arena, where the training loop allocates; other threads' arenas still map their
largest blocks afresh.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt parameters from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = -1  # glibc reads -1 as the largest size: free memory at the heap's top is never returned
SETTINGS = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, NEVER_TRIM))


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for a training loop; False where the C library is not glibc (nothing changes).

    The process keeps its peak heap until it exits, so call it where that is wanted: a training run.
    """
    if platform.libc_ver()[0] != "glibc":  # musl's mallopt is a stub; macOS and Windows have none
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    results = [mallopt(param, value) for param, value in SETTINGS]
    return all(result == 1 for result in results)


def untuned_environment() -> dict[str, str]:
    """This process's environment without glibc's malloc variables (MALLOC_*, GLIBC_TUNABLES), which
    would tune a child meant as the untuned baseline."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
