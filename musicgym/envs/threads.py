"""Row-parallel kernel calls: a large batch's rows split over a few threads.

The vector envs' kernels are numba functions compiled with ``nogil=True``. Some of them (the listener's
response, the greedy oracle, the observation) read and write only the state of the rows they are given
and draw nothing: called on disjoint chunks of the rows from several threads, they run at once and
write the same numbers as one call on all the rows. The generator's draws stay in one thread, in
order, so a seed gives the same trajectories whatever the number of threads (tested).

A batch is split only where every chunk gets at least `MIN_ROWS` rows: a single env (one row) and a
small vector env never pay for a thread. How many threads: `set_num_threads`, else the environment
variable ``MUSICGYM_NUM_THREADS``, else the CPUs this process may run on, at most `MAX_DEFAULT`. Set 1
where processes already fill the cores (e.g. a sweep with one worker per core).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from musicgym.checks import check_int

#: the fewest rows a chunk gets (a smaller chunk would spend more of its time on the hand-over to a thread)
MIN_ROWS = 256
#: the fewest rows a piece of `pieces` gets (`run_beside` hands pieces out as threads come free)
MIN_PIECE = 64
#: the most threads used by default (a setting or ``MUSICGYM_NUM_THREADS`` may ask for more)
MAX_DEFAULT = 8
ENV_VAR = "MUSICGYM_NUM_THREADS"

T = TypeVar("T")

_setting: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] = (-1, 0)  # (process id, threads) of `_pool`
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: a fresh lock (one held at the fork would stay held)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def set_num_threads(n: int | None) -> None:
    """Use `n` threads for a large batch's kernels (1: never split); None: back to the default."""
    global _setting
    _setting = None if n is None else check_int("num_threads", n, 1, None)


def num_threads() -> int:
    """The threads a large batch is split over (`set_num_threads`, ``MUSICGYM_NUM_THREADS`` or the CPUs)."""
    if _setting is not None:
        return _setting
    text = os.environ.get(ENV_VAR, "").strip()
    if text:
        try:
            n = int(text)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"{ENV_VAR} must be a positive integer (the threads a vector env's kernels use), "
                             f"got {text!r}")
        return n
    return max(1, min(_cpus(), MAX_DEFAULT))


_cpus_of: tuple[int, int] = (-1, 0)  # (process id, CPUs it may run on) (a system call: asked once per process)


def _cpus() -> int:
    """The CPUs this process may run on."""
    global _cpus_of
    pid = os.getpid()
    if _cpus_of[0] != pid:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cpus = os.cpu_count() or 1
        _cpus_of = (pid, cpus)
    return _cpus_of[1]


def chunks(n_rows: int) -> list[slice]:
    """Consecutive slices of ``range(n_rows)``, one per thread, each of at least `MIN_ROWS` rows (or one slice)."""
    if n_rows < 2 * MIN_ROWS:
        return [slice(0, n_rows)]
    k = min(num_threads(), n_rows // MIN_ROWS)
    return [slice(i * n_rows // k, (i + 1) * n_rows // k) for i in range(k)]


def pieces(n_rows: int) -> list[slice]:
    """Consecutive slices of ``range(n_rows)`` for `run_beside`, large first, then smaller (one with one thread).

    Each takes 1 / (2 x threads) of the rows still left, at least `MIN_PIECE` (the last, what remains), so
    the threads, taking them as they come free, finish close together (guided self-scheduling).
    """
    threads = num_threads()
    if threads == 1:
        return [slice(0, n_rows)]
    out = []
    start = 0
    while start < n_rows:
        left = n_rows - start
        stop = start + min(left, max(MIN_PIECE, -(-left // (2 * threads))))
        out.append(slice(start, stop))
        start = stop
    return out or [slice(0, 0)]


def _executor(workers: int) -> ThreadPoolExecutor:
    """A pool of `num_threads` - 1 threads (at least `workers`), kept while that holds; a forked child makes its own.

    A pool that is replaced is not shut down: a thread that still holds it finishes with it, and its
    threads end once it is collected.
    """
    global _pool, _pool_key
    size = max(workers, num_threads() - 1)
    with _lock:
        key = (os.getpid(), size)
        if _pool is None or _pool_key != key:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="musicgym")
            _pool_key = key
        return _pool


def run(fn: Callable[[slice], T], parts: list[slice]) -> list[T]:
    """``fn(part)`` for each part (`chunks`' slices), in threads where there are several; the results in order.

    The first part runs in the calling thread. Every part has finished when this returns or raises (the
    first error is raised), so no thread still writes to the rows' state.
    """
    if len(parts) == 1:
        return [fn(parts[0])]
    pool = _executor(len(parts) - 1)
    futures: list[Future[T]] = [pool.submit(fn, part) for part in parts[1:]]
    error: BaseException | None = None
    try:
        first = fn(parts[0])
    except BaseException as e:  # noqa: BLE001 (re-raised once the other chunks are done)
        error = e
    results: list[T] = []
    for f in futures:
        try:
            results.append(f.result())
        except BaseException as e:  # noqa: BLE001
            error = error or e
    if error is not None:
        raise error
    return [first, *results]


def run_beside(first: Callable[[], None], fn: Callable[[slice], T], parts: list[slice]) -> list[T]:
    """``first()`` in the calling thread while the other threads take the parts; then it takes parts too.

    For a serial piece of work (e.g. one that draws from a generator, in order) beside row-parallel work
    (`pieces`' slices) on rows that piece does not touch: the threads take the parts as they come free, so
    the serial piece costs its share of the time, not more. With one thread: ``first()``, then each part
    in order (an error stops it there). The results come in the parts' order. Nothing runs any more when
    this returns or raises: with threads, ``first`` and every part have finished (the first error raised:
    ``first``'s, else the earliest part's).
    """
    workers = min(num_threads() - 1, len(parts))
    if workers < 1:
        first()
        return [fn(p) for p in parts]
    results: list[T | None] = [None] * len(parts)
    errors: list[tuple[int, BaseException]] = []
    taken = [0]
    take_lock = threading.Lock()

    def take() -> None:
        while True:
            with take_lock:
                i = taken[0]
                taken[0] += 1
            if i >= len(parts):
                return
            try:
                results[i] = fn(parts[i])
            except BaseException as e:  # noqa: BLE001 (raised once every part is done)
                errors.append((i, e))

    pool = _executor(workers)
    futures = [pool.submit(take) for _ in range(workers)]
    try:
        first()
    except BaseException as e:  # noqa: BLE001
        errors.append((-1, e))
    take()
    for f in futures:
        f.result()  # take() keeps its errors: this only waits
    if errors:
        raise min(errors, key=lambda item: item[0])[1]
    return results  # type: ignore[return-value]
