"""Let a training step reuse the memory the previous step freed.

Every step allocates the same large tensors again: the logits of a 4,000-token batch over a 16k
vocabulary alone are over 100 MB. glibc serves an allocation above its mmap threshold with a fresh
mapping and unmaps it on free, so each step faults every page of those buffers in anew (250,000 page
faults a second on the 2-core machine, and about 2.5x slower steps; docs/models.md). With mmap off
for malloc and the heap never trimmed, the next step's tensors land on pages that are already mapped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
KEEP_UP_TO_BYTES = 2**31 - 1  # the largest trim threshold mallopt takes: freed memory stays
TOP_PAD_BYTES = 256 * 2**20  # grow the heap in large steps rather than one page-fault burst per step


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for a training loop; False where the C library is not glibc (nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # musl's mallopt is a stub that ignores everything
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, KEEP_UP_TO_BYTES), (M_TOP_PAD, TOP_PAD_BYTES))
    return all(mallopt(param, value) == 1 for param, value in settings)
