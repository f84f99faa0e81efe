"""glibc's memory allocator, tuned for facerec's command-line processes.

By default glibc hands large blocks (from 128 kB, a threshold that then adapts) straight back to the operating system
when they are freed, and trims each thread's heap as soon as enough of its top is free. Tagging allocates and frees
the same large arrays for every photo (the decoded photo, its pyramid mosaic, the networks' inputs), so two threads
kept fetching fresh pages from the kernel, each zeroed and faulted in again: about a tenth of a tag run's CPU time
went to page faults. ``keep_freed_memory`` has the freed memory kept for reuse instead (``mallopt``).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 << 20
"""Blocks below this come from the heaps (32 MiB: glibc's largest allowed value; facerec's per-photo arrays are
smaller); larger ones are still mapped and unmapped on their own."""
TRIM_THRESHOLD = 1 << 30
"""A heap is given back to the system only when this much of its top is free (the process exits first)."""
ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse (``MMAP_THRESHOLD``, ``TRIM_THRESHOLD``): for short-lived processes
    that allocate the same large arrays again and again. Returns whether it was applied: not where the C library is
    not glibc, nor when the user tuned the allocator through its environment variables (``ENV``)."""
    if not sys.platform.startswith("linux") or any(os.environ.get(name) for name in ENV):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    log.debug("allocator: freed memory kept for reuse: %s", applied)
    return applied
