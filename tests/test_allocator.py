"""The training allocator setting: freed buffers are reused instead of faulted in again each step."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import ctypes, json, resource, sys
from model.allocator import keep_freed_memory
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
size = 64 * 2**20  # written, then freed: like one training step's logits
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = libc.malloc(size)
    ctypes.memset(buffer, 1, size)
    libc.free(buffer)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"tuned": tuned, "faults": faults}))
"""
PAGES_PER_BUFFER = 64 * 2**20 // 4096


def _faults(mode: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_freed_buffer_is_reused_without_page_faults() -> None:
    plain, tuned = _faults("plain"), _faults("tuned")
    assert tuned["tuned"] is True
    plain_faults, tuned_faults = plain["faults"], tuned["faults"]
    assert isinstance(plain_faults, list) and isinstance(tuned_faults, list)
    # untuned, every allocation maps fresh pages and faults each of them in
    assert min(plain_faults[1:]) > PAGES_PER_BUFFER // 2
    # tuned, only the first allocation faults; the rest reuse its pages
    assert max(tuned_faults[1:]) < PAGES_PER_BUFFER // 20
