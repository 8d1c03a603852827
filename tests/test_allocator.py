"""The training allocator setting: freed buffers are reused instead of faulted in again each step."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from model.allocator import untuned_environment

ROOT = Path(__file__).resolve().parents[1]
BUFFER_BYTES = 64 * 2**20  # like one training step's logits
PROBE = """
import ctypes, json, resource, sys
from model.allocator import keep_freed_memory
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
size = int(sys.argv[2])
faults = []
for _ in range(6):  # written, then freed, as a training step does with its largest tensors
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = libc.malloc(size)
    ctypes.memset(buffer, 1, size)
    libc.free(buffer)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"tuned": tuned, "faults": faults}))
"""


def _faults(mode: str) -> tuple[bool | None, list[int]]:
    argv = [sys.executable, "-c", PROBE, mode, str(BUFFER_BYTES)]
    env = untuned_environment()
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT, env=env, timeout=60)
    result = json.loads(out.stdout)
    return result["tuned"], result["faults"]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
def test_a_freed_buffer_is_reused_without_page_faults() -> None:
    _, plain = _faults("plain")
    tuned_ok, tuned = _faults("tuned")
    assert tuned_ok is True
    # Each run against its own first allocation, which must fault its pages in (whatever the page size):
    # untuned, every later allocation maps fresh pages and faults them in again ...
    assert min(plain[1:]) > plain[0] // 2
    # ... tuned, the later ones reuse the first one's pages
    assert max(tuned[1:]) < tuned[0] // 20
