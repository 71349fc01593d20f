"""Plan sync's sizes: one OCI index request per formula version, each group as it answers.

Plan sync (Step Functions) waits for them all; a local sync (pipeline.py) starts a formula's
bottles as soon as its index answered, on the same pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass

from bottlesync.bottle import Bottle, PlanItem, key_for
from bottlesync.config import Settings
from bottlesync.errors import BottlesyncError, Failure
from bottlesync.pacing import small_requests
from bottlesync.transfer import refuse_oversized
from bottlesync.upstream import Upstream, index_sizes

log = logging.getLogger(__name__)


def sized_items(bottles: list[Bottle], copies: dict[str, str], settings: Settings, day: str,
                upstream: Upstream, *, pool: Executor | None = None,
                on_sized: Callable[[list[PlanItem]], None] | None = None,
                ) -> tuple[list[PlanItem], list[Failure], dict[str, bytes]]:
    """Plan items in `bottles` order sized from their OCI indexes, the oversized ones refused,
    and the raw indexes; `on_sized` gets each formula version's kept items as soon as its
    index answered (a local sync starts mirroring them while other indexes are in flight)."""
    kept: dict[str, PlanItem] = {}
    refused: dict[str, Failure] = {}
    indexes: dict[str, bytes] = {}
    with _workers(pool, settings.concurrency) as workers:
        for group in sized_groups(bottles, upstream, workers):
            indexes.update(group.index)
            items, oversized = refuse_oversized(
                [PlanItem(b, key_for(b, settings.layout, day), group.sizes.get(b.file),
                          copy_from=copies.get(b.file)) for b in group.bottles],
                settings.max_bottle_size)
            kept.update((item.bottle.file, item) for item in items)
            refused.update((failure.bottle, failure) for failure in oversized)
            if on_sized is not None and items:
                on_sized(items)
    return ([kept[b.file] for b in bottles if b.file in kept],
            [refused[b.file] for b in bottles if b.file in refused], indexes)


@contextmanager
def _workers(pool: Executor | None, concurrency: int) -> Iterator[Executor]:
    """The caller's shared pool, or one of our own for the index requests alone."""
    if pool is not None:
        yield pool
        return
    with ThreadPoolExecutor(max_workers=small_requests(concurrency)) as own:
        yield own


@dataclass(frozen=True)
class SizedGroup:
    """The bottles of one formula version and what its OCI index said (nothing when it failed)."""

    bottles: list[Bottle]
    sizes: dict[str, int]  # file -> sh.brew.bottle.size
    index: dict[str, bytes]  # "<image>/<vr>" -> raw OCI index


def sized_groups(bottles: Iterable[Bottle], upstream: Upstream, pool: Executor
                 ) -> Iterator[SizedGroup]:
    """One OCI index request per formula version on `pool`; each group as soon as it answered.

    A failed or malformed index leaves those sizes unknown and nothing to publish.
    """
    groups: dict[tuple[str, str, str], dict[str, Bottle]] = {}
    for b in bottles:
        ref = f"{b.pkgver}.{b.tag}" + (f".{b.rebuild}" if b.rebuild > 0 else "")
        groups.setdefault((b.root_url, b.image, b.version_rebuild), {})[ref] = b
    futures = [pool.submit(_size_group, upstream, *key, by_ref) for key, by_ref in groups.items()]
    for future in as_completed(futures):
        yield future.result()


def _size_group(upstream: Upstream, root_url: str, image: str, version_rebuild: str,
                by_ref: dict[str, Bottle]) -> SizedGroup:
    """Fetch and read one OCI index for the bottles it lists (by ref name)."""
    bottles = list(by_ref.values())
    refs = {ref: b.tag for ref, b in by_ref.items()}
    try:
        raw = upstream.oci_index(root_url, image, version_rebuild)
        sizes = index_sizes(raw, refs, f"OCI index of {image} {version_rebuild}")
    except BottlesyncError as exc:
        log.warning("size of %s unknown: %s", image, exc)
        return SizedGroup(bottles, {}, {})
    return SizedGroup(bottles, {b.file: sizes[b.tag] for b in bottles if b.tag in sizes},
                      {f"{image}/{version_rebuild}": raw})
