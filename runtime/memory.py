"""How a long-running process gives memory back: blocks of 128 KiB and more (a catalog chunk is
256 KiB) are mapped and unmapped on their own instead of being carved from the heap, where
glibc's self-raising threshold (after the first such block is freed) would keep them once they
are freed. Measured with bench.catalog_load: the agent's peak while a 300,000-item catalog
arrives and is applied drops from about 51 MB to 49 MB. Where the C library has no `mallopt`
(not glibc), nothing changes.
"""

import ctypes

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
LARGE_BLOCK = 128 * 1024


def map_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Fix the threshold above which malloc maps a block by itself; whether the C library took
    it. Call once, early in a process's life."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
