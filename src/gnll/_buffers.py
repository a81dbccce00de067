"""Reuse of large result arrays between calls: :func:`set_buffer_cache`.

A new array of many megabytes costs more than the kernel that fills it: the
allocator hands large blocks back to the operating system when they are
freed, and the system zeroes every page again on first touch of the next
block.  On the development machine (a VM), two fresh float64 gradient arrays
cost about 13 ms at 10M elements, as much as the kernel; at 1M elements,
where the glibc heap returns them too, their page faults cost three times
the kernel.  Far smaller arrays meet the same fate: once glibc has raised its
mmap threshold to their size, they come from the heap, and freeing a few of
them at its top returns that memory too.  In a loop of calls on 40,000 to
120,000 float64 elements (gradients only) or from 20,000 (with the loss of
``reduction="none"``), every call paid 3.5 to 5.5 times its kernel's time.

So the result arrays of at least ``MIN_BYTES`` are drawn from a small cache.
An array handed out stays in the cache, and is handed out again only once
nothing else refers to it: its reference count shows that the cache holds
the last reference (the caller dropped the array and every view of it).
Arrays in use are never touched; the cache merely remembers them.  Its total
size, in use or idle, is bounded by ``max_bytes`` (the oldest entries are
forgotten first), so the memory it keeps alive after the caller has let go
is at most that.  ``set_buffer_cache(0)`` turns it off and frees it.
"""
import os
import sys
import threading

import numpy as np

MIN_BYTES = 64 << 10  # smaller arrays: malloc's own free lists serve them well
MAX_ENTRIES = 8
_SMALL = MIN_BYTES // 8  # elements: fewer than this are below MIN_BYTES

_lock = threading.Lock()
_entries = []  # the cached arrays, oldest first
_max_bytes = 512 << 20


def _new_lock_after_fork():
    """A forked child starts with a free lock (another thread of the parent
    may have held it at the fork)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)


def _refs(entries, i):
    """The reference count of ``entries[i]`` as seen from :func:`take`."""
    return sys.getrefcount(entries[i])


def _baseline():
    """The count :func:`_refs` reports for an array only the cache holds
    (measured, not assumed: interpreters count borrowed references
    differently)."""
    return _refs([np.empty(1)], 0)


_IDLE = _baseline() if hasattr(sys, "getrefcount") else None


def take(n, dtype):
    """A 1-D array of `n` elements of `dtype` (contents undefined), reused
    from the cache when an idle one of that size and dtype is there."""
    if n < _SMALL:  # below MIN_BYTES whatever the dtype: no more checks
        return np.empty(n, dtype)
    dtype = np.dtype(dtype)
    nbytes = n * dtype.itemsize
    if nbytes < MIN_BYTES or _IDLE is None or nbytes > _max_bytes:
        return np.empty(n, dtype)
    # Never wait for the lock: a holder may be this very thread (a __del__
    # or weakref callback run by the garbage collector, or a signal handler,
    # calling gnll while the cache is being edited), or another thread for a
    # few microseconds; either way, fresh memory is the correct answer.
    if not _lock.acquire(blocking=False):
        return np.empty(n, dtype)
    try:
        for i in range(len(_entries) - 1, -1, -1):
            if _entries[i].size == n and _entries[i].dtype == dtype \
                    and _refs(_entries, i) == _IDLE:
                array = _entries.pop(i)
                _entries.append(array)  # most recently used last
                return array
    finally:
        _lock.release()
    array = np.empty(n, dtype)
    dropped = None
    if _lock.acquire(blocking=False):
        try:
            _entries.append(array)
            dropped = _trim(_max_bytes)
        finally:
            _lock.release()
    del dropped  # freed outside the lock
    return array


def _trim(limit):
    """Forget the oldest entries until at most `limit` bytes and
    ``MAX_ENTRIES`` entries are cached (the lock is held); returns them, to
    be released after the lock is."""
    total = 0
    for a in _entries:
        total += a.nbytes
    dropped = []
    while _entries and (total > limit or len(_entries) > MAX_ENTRIES):
        a = _entries.pop(0)
        total -= a.nbytes
        dropped.append(a)
    return dropped


def set_buffer_cache(max_bytes):
    """Set how much memory gnll may keep for reuse as result arrays.

    Large result arrays (gradients, the per-element loss of
    ``reduction="none"`` and the arrays of :func:`gnll.gaussian_nll_curvature`,
    64 KiB or more each) and large temporaries are drawn from a cache: once a
    caller has dropped an array and every view of it, the next call that
    needs an array of the same size and dtype writes into it instead of
    asking the operating system for fresh, zeroed pages, which at millions of
    elements costs more than the loss itself.  An array still referenced
    anywhere is never reused.

    Parameters
    ----------
    max_bytes : int
        The most memory the cache may hold, in use or idle, in bytes
        (default 512 MiB). ``0`` turns the cache off and frees what it
        holds; a smaller limit frees the oldest arrays beyond it at once.

    Returns
    -------
    int
        The previous limit.

    Raises
    ------
    ValueError
        If `max_bytes` is not a non-negative integer.

    See Also
    --------
    gnll.gaussian_nll_loss_and_grad : its ``out=`` writes gradients into arrays
        the caller owns, the explicit alternative.

    Notes
    -----
    The cache holds at most eight arrays.  Memory it keeps alive after the
    caller has let go of its arrays is bounded by `max_bytes`;
    :func:`gnll.show_config` reports the limit and what is held.

    Examples
    --------
    >>> import gnll
    >>> previous = gnll.set_buffer_cache(0)  # off: every result is new memory
    >>> gnll.set_buffer_cache(previous)
    0
    """
    global _max_bytes
    if isinstance(max_bytes, (bool, np.bool_)) or not isinstance(max_bytes, (int, np.integer)) \
            or max_bytes < 0:
        raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
    with _lock:
        previous, _max_bytes = _max_bytes, int(max_bytes)
        dropped = _trim(_max_bytes)
    del dropped  # freed outside the lock
    return previous


def cache_info():
    """The limit, and the bytes held in use and idle (for show_config)."""
    held = idle = 0
    with _lock:
        for i in range(len(_entries)):
            held += _entries[i].nbytes
            if _refs(_entries, i) == _IDLE:
                idle += _entries[i].nbytes
    return {"max_bytes": _max_bytes, "held_bytes": held, "idle_bytes": idle}
