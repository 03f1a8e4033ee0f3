"""`musicgym.envs.threads`: how a large batch's rows are split, the thread count's settings, errors."""

from __future__ import annotations

import threading
import time

import pytest

from musicgym.envs import threads


@pytest.fixture(autouse=True)
def _default_setting():
    yield
    threads.set_num_threads(None)


def test_small_batches_are_never_split():
    threads.set_num_threads(8)
    assert threads.chunks(1) == [slice(0, 1)]
    assert threads.chunks(2 * threads.MIN_ROWS - 1) == [slice(0, 2 * threads.MIN_ROWS - 1)]


def test_chunks_cover_the_rows_in_order_with_at_least_min_rows_each():
    threads.set_num_threads(3)
    for n in (2 * threads.MIN_ROWS, 1_000, 1_024, 5_001):
        parts = threads.chunks(n)
        assert len(parts) == min(3, n // threads.MIN_ROWS)
        assert parts[0].start == 0 and parts[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(parts[:-1], parts[1:], strict=True))
        assert all(p.stop - p.start >= threads.MIN_ROWS for p in parts)
    threads.set_num_threads(1)
    assert threads.chunks(5_001) == [slice(0, 5_001)]


def test_thread_count_from_setting_then_environment(monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "5")
    assert threads.num_threads() == 5
    threads.set_num_threads(2)
    assert threads.num_threads() == 2
    threads.set_num_threads(None)
    monkeypatch.delenv(threads.ENV_VAR)
    assert 1 <= threads.num_threads() <= threads.MAX_DEFAULT


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5"])
def test_bad_environment_variable_is_named(monkeypatch, text):
    monkeypatch.setenv(threads.ENV_VAR, text)
    with pytest.raises(ValueError, match=threads.ENV_VAR):
        threads.num_threads()


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (2.0, TypeError), (True, TypeError)])
def test_bad_setting_is_refused(value, error):
    with pytest.raises(error, match="num_threads"):
        threads.set_num_threads(value)


def test_run_returns_each_chunks_result_in_order_from_several_threads():
    threads.set_num_threads(4)
    n = 4 * threads.MIN_ROWS
    names = set()

    def part(p):
        names.add(threading.current_thread().name)
        return (p.start, p.stop)

    assert threads.run(part, threads.chunks(n)) == [(p.start, p.stop) for p in threads.chunks(n)]
    assert len(names) >= 2  # the first chunk in this thread, the others in the pool


def test_an_error_is_raised_once_every_chunk_has_finished():
    threads.set_num_threads(3)
    finished = []

    def part(p):
        if p.start == 0:
            raise RuntimeError("first chunk failed")
        time.sleep(0.05)
        finished.append(p.start)

    with pytest.raises(RuntimeError, match="first chunk failed"):
        threads.run(part, threads.chunks(3 * threads.MIN_ROWS))
    assert len(finished) == 2


def test_the_pool_is_kept_across_batches_of_other_sizes():
    """A vector env's active rows change from step to step (sessions waiting to reset): the pool stays."""
    threads.set_num_threads(4)
    threads.run(lambda p: None, threads.chunks(4 * threads.MIN_ROWS))
    pool = threads._pool
    for n in (2 * threads.MIN_ROWS, 3 * threads.MIN_ROWS + 5, 4 * threads.MIN_ROWS):
        threads.run(lambda p: None, threads.chunks(n))
        assert threads._pool is pool
    threads.set_num_threads(2)
    threads.run(lambda p: None, threads.chunks(4 * threads.MIN_ROWS))
    assert threads._pool is not pool  # a new setting: a pool of its size


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_splits_in_a_pool_of_its_own():
    import multiprocessing as mp

    threads.set_num_threads(2)
    assert threads.run(lambda p: p.start, threads.chunks(2 * threads.MIN_ROWS)) == [0, threads.MIN_ROWS]  # the parent's pool
    with mp.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_split_in_child).get(timeout=60) == [0, threads.MIN_ROWS]  # a hang fails


def _split_in_child():
    threads.set_num_threads(2)
    return threads.run(lambda p: p.start, threads.chunks(2 * threads.MIN_ROWS))


def test_pieces_cover_the_rows_in_order_large_first():
    threads.set_num_threads(2)
    for n in (1, threads.MIN_PIECE, 1_000, 1_024, 5_001):
        parts = threads.pieces(n)
        sizes = [p.stop - p.start for p in parts]
        assert parts[0].start == 0 and parts[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(parts[:-1], parts[1:], strict=True))
        assert sizes == sorted(sizes, reverse=True)  # the threads finish on small pieces
        assert all(s >= threads.MIN_PIECE for s in sizes[:-1])
        assert sizes[0] == max(threads.MIN_PIECE, -(-n // 4)) or len(parts) == 1
    threads.set_num_threads(1)
    assert threads.pieces(5_001) == [slice(0, 5_001)]


def test_run_beside_runs_first_here_while_another_thread_takes_parts():
    threads.set_num_threads(2)
    parts = threads.pieces(1_024)
    started = threading.Event()
    where = {}

    def first():
        where["first"] = threading.current_thread().name
        assert started.wait(timeout=30)  # a part began while this still runs (else this fails, not hangs)

    def part(p):
        started.set()
        return (p.start, p.stop)

    assert threads.run_beside(first, part, parts) == [(p.start, p.stop) for p in parts]
    assert where["first"] == threading.current_thread().name


def test_run_beside_with_one_thread_runs_first_then_the_parts_in_order():
    threads.set_num_threads(1)
    order = []
    out = threads.run_beside(lambda: order.append("first"), lambda p: order.append(p.start) or p.start,
                             [slice(0, 2), slice(2, 4), slice(4, 6)])
    assert out == [0, 2, 4] and order == ["first", 0, 2, 4]


@pytest.mark.parametrize("failing", ["first", "part"])
def test_run_beside_raises_once_first_and_every_part_have_finished(failing):
    threads.set_num_threads(2)
    parts = threads.pieces(1_024)
    done = []

    def first():
        time.sleep(0.05)
        if failing == "first":
            raise RuntimeError("first failed")
        done.append("first")

    def part(p):
        time.sleep(0.01)
        if failing == "part" and p.start == parts[1].start:
            raise RuntimeError("part failed")
        done.append(p.start)

    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        threads.run_beside(first, part, parts)
    finished = {p.start for p in parts}
    if failing == "part":
        finished = (finished - {parts[1].start}) | {"first"}
    assert sorted(map(str, done)) == sorted(map(str, finished))
