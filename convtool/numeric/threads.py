"""Threads for the numeric engine: how many a layer may use, the pool that runs its shares, and
control of numpy's BLAS thread count so that each share's products stay on its own core.

The BLAS control is bought cleverness: numpy's OpenBLAS is found through the process's memory
map and its thread count set through `ctypes`. It fails safe: when the library cannot be
identified, `blas_threads()` is None and only work BLAS runs on one core anyway is shared.
"""

from __future__ import annotations

import ctypes
import functools
import operator
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_threads = _usable_cpus()


def set_num_threads(threads: int) -> None:
    """How many threads a layer may share its work out to (as `torch.set_num_threads`): each
    runs a share (images, bands of rows, output channels or groups), numpy passes and matrix
    products alike, when the work is worth it (see `cost.split`); a layer not shared runs its
    products on BLAS's own threads.

    >>> before = get_num_threads(); set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(before)
    """
    global _threads
    try:
        count = operator.index(threads)
    except TypeError:
        count = 0
    if isinstance(threads, bool) or count < 1:
        raise ConfigError(f"set_num_threads expects a positive integer, but got {threads!r}")
    _threads = count


def get_num_threads() -> int:
    """The threads a layer may use: every usable CPU unless set_num_threads said otherwise."""
    return _threads



def balanced(total: int, most: int) -> Iterator[tuple[int, int]]:
    """[start, end) ranges covering range(total), as few as allowed by `most`, equal in size."""
    parts = -(-total // max(most, 1))
    for i in range(parts):
        yield total * i // parts, total * (i + 1) // parts

def shares(total: int, parts: int) -> Iterator[tuple[int, int]]:
    """[start, end) ranges splitting range(total) into at most `parts` near-equal shares."""
    return balanced(total, -(-total // parts))


def side_by_side(jobs: list[Callable[[], None]]) -> None:
    """Run the jobs, all but the first on the thread pool, with numpy's BLAS on one thread
    meanwhile (each job's products on its own core); waits for all, then re-raises the first
    failure. The BLAS thread count is process-wide: shared calls take turns, and other threads'
    products run on one core while one is under way."""
    blas = blas_threads()
    cpus = _cpus_each(len(jobs))
    if cpus:
        jobs = [functools.partial(_on_cpu, job, cpu) for job, cpu in zip(jobs, cpus)]
    with _SHARING:
        before = blas.get() if blas else 1
        if before != 1:
            blas.set(1)  # type: ignore[union-attr]
        try:
            pool = _pool()
            futures = [pool.submit(job) for job in jobs[1:]]
            try:
                jobs[0]()
            finally:
                wait(futures)
            for future in futures:
                future.result()
        finally:
            if before != 1:
                blas.set(before)  # type: ignore[union-attr]


_SHARING = threading.Lock()


def _cpus_each(jobs: int) -> list[int]:
    """A CPU of its own for each job, when the process may run on exactly that many CPUs, else none.

    Linux wakes a pool thread on its waker's CPU and moves it away only some milliseconds
    later: two shares left on one core took twice as long in one call out of three after a
    pause (measured on a 2-core machine). There each share is kept on its own CPU meanwhile.
    With more CPUs than shares the scheduler keeps its freedom: a pinned share could not leave
    a core that another process keeps busy.

    >>> _cpus_each(1)
    []
    """
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return []
    return allowed if len(allowed) == jobs > 1 else []


def _on_cpu(job: Callable[[], None], cpu: int) -> None:
    """Run the job with its thread kept on one CPU, then let the thread run anywhere again."""
    try:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
    except OSError:  # a CPU taken away meanwhile: run where the thread is
        before = None
    try:
        job()
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


@dataclass(frozen=True)
class BlasThreads:
    get: Callable[[], int]
    set: Callable[[int], None]


MAPS = "/proc/self/maps"
_THREAD_SYMBOLS = (  # (get, set) in OpenBLAS's builds: numpy's wheels, 64-bit ints, plain
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


@functools.lru_cache(maxsize=1)
def blas_threads() -> BlasThreads | None:
    """The thread count of numpy's BLAS when it is an OpenBLAS convtool can identify (numpy's
    own copy, or the only one loaded), else None. With it, the threads that share a layer out
    run their products one core each; without it, BLAS spreads every product over the cores
    (and keeps them busy a while after), so only the groups of depthwise-like layers, whose
    products BLAS runs on one core anyway, are shared."""
    try:
        with open(MAPS, "rb") as maps:
            paths = {os.fsdecode(f[5].strip()) for f in (line.split(None, 5) for line in maps) if len(f) == 6}
        loaded = sorted(p for p in paths if "openblas" in os.path.basename(p).lower())
        numpy_dir = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))
        own = [p for p in loaded if os.path.realpath(p).startswith(numpy_dir + os.sep + "numpy")]
        if len(own) != 1 and len(loaded) != 1:
            return None  # none, or several and none of them numpy's
        library = ctypes.CDLL((own or loaded)[0])
        for get_name, set_name in _THREAD_SYMBOLS:
            if hasattr(library, get_name) and hasattr(library, set_name):
                get, set_ = getattr(library, get_name), getattr(library, set_name)
                get.argtypes, get.restype = [], ctypes.c_int
                set_.argtypes, set_.restype = [ctypes.c_int], None
                return BlasThreads(get, set_)
    except Exception:  # no /proc, an unreadable map, a library that will not load: no control
        return None
    return None


_executor: tuple[int, ThreadPoolExecutor] | None = None  # (workers, pool)


def _pool() -> ThreadPoolExecutor:
    """The pool of get_num_threads() - 1 workers (made again when that number changes)."""
    global _executor
    workers = max(_threads - 1, 1)
    if _executor is None or _executor[0] != workers:
        if _executor is not None:
            _executor[1].shutdown(wait=False)
        _executor = (workers, ThreadPoolExecutor(workers, thread_name_prefix="convtool"))
    return _executor[1]


def _forget_pool() -> None:
    global _executor
    _executor = None


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's pool threads
    os.register_at_fork(after_in_child=_forget_pool)


