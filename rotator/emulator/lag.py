"""Graph's read lag, shared by the emulator's stores: after a write, the next reads of an object
show its state before the write, a given number of times."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def use_stale_read(stale: dict[str, tuple[T, int]], key: str) -> T | None:
    """The pre-write state a lagging read of ``key`` shows (using up one such read), or None."""
    entry = stale.get(key)
    if entry is None:
        return None
    state, remaining = entry
    if remaining <= 1:
        del stale[key]
    else:
        stale[key] = (state, remaining - 1)
    return state
