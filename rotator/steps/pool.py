"""Run one piece of work per target, each identity in a thread pool of its own (``maxParallel`` at
once) and all identities side by side, so a tenant that throttles or hangs holds only its own
workers; results come back in target order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from rotator.model import AnyTarget

_T = TypeVar("_T")


def by_identity(
    targets: Sequence[AnyTarget],
    work: Callable[[AnyTarget], _T],
    max_parallel: Callable[[str], int],
    worker_init: Callable[[], None] | None,
    *,
    before: Callable[[str], object] | None = None,
) -> tuple[_T, ...]:
    """``work`` for every target, results in target order; ``before`` runs once per identity, in
    that identity's own worker, before its targets (the timer's keep-alive)."""
    groups: dict[str, list[int]] = {}
    for index, target in enumerate(targets):
        groups.setdefault(target.identity, []).append(index)
    results: list[_T | None] = [None] * len(targets)

    def run_group(indexes: list[int]) -> None:
        identity = targets[indexes[0]].identity
        if before is not None:
            before(identity)
        workers = min(max_parallel(identity), len(indexes))
        if workers <= 1:
            for index in indexes:
                results[index] = work(targets[index])
            return
        with ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="rotator", initializer=worker_init
        ) as pool:
            for index, result in zip(
                indexes, pool.map(work, [targets[i] for i in indexes]), strict=True
            ):
                results[index] = result

    if len(groups) == 1:
        run_group(next(iter(groups.values())))
    else:
        with ThreadPoolExecutor(
            max_workers=len(groups),
            thread_name_prefix="rotator-identity",
            initializer=worker_init,
        ) as identities:
            list(identities.map(run_group, groups.values()))
    return tuple(r for r in results if r is not None)
