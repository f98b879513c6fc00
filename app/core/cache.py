"""One bounded, thread-safe cache for results that never change for their key.

A report snapshot is immutable, so its charts, its page body and its PDF are pure functions of
the snapshot (and the language, the review state, ...): they are rendered once and kept in a
least-recently-used cache of a fixed number of entries::

    @lru_cached(32, key=lambda report, locale: (report.id, report.results_digest, locale))
    def body_html(report: Report, locale: str) -> str: ...

Built on ``cachetools`` (``LRUCache`` behind ``cached(..., lock=...)``). The lock guards the
lookups and the stores, not the work: a slow render never blocks a reader of another key, and
two threads missing the same key may both render it (the first result stored is kept).
``body_html.cache_clear()`` empties the cache; ``body_html.cache`` is the cache itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import ParamSpec, TypeVar

import cachetools

P = ParamSpec("P")
R = TypeVar("R")


def lru_cached(
    maxsize: int, *, key: Callable[P, Hashable]
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Memoise a function in an LRU cache of ``maxsize`` entries, keyed by ``key`` called
    with the function's own arguments (so arguments that are not hashable, or that do not
    change the result, such as a render callback, can stay out of the key)."""
    return cachetools.cached(cachetools.LRUCache(maxsize=maxsize), key=key, lock=threading.Lock())
