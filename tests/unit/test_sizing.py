"""Sizes from OCI indexes: each formula version's items handed on as its index answers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bottlesync.bottle import PlanItem
from bottlesync.catalog import load_catalog
from bottlesync.sizing import sized_items
from bottlesync.upstream import Upstream
from tests.conftest import TEST_TAGS, fast_settings
from tests.fakes.homebrew import FakeFormula, FakeHomebrew
from tests.unit.conftest import select

FORMULAE = [FakeFormula("a", "1.0", tags=TEST_TAGS), FakeFormula("b", "1.0", tags=TEST_TAGS),
            FakeFormula("huge", "1.0", tags=TEST_TAGS, payload_size=9000)]


def test_each_group_is_handed_on_sized_and_the_plan_keeps_catalogue_order(tmp_path: Path
                                                                          ) -> None:
    """GIVEN three formulae, one too big WHEN sized on a shared pool THEN `on_sized` gets each
    fitting formula's bottles together, sized, never the oversized ones; the items keep the
    bottles' order and the oversized ones are refused."""
    with FakeHomebrew(FORMULAE) as fake:
        settings = fast_settings(fake.source_url, tmp_path, max_bottle_size=8000)
        handed: list[list[PlanItem]] = []
        lock = threading.Lock()

        def on_sized(items: list[PlanItem]) -> None:
            with lock:
                handed.append(items)

        with Upstream(settings) as upstream, ThreadPoolExecutor(4) as pool:
            bottles = select(load_catalog(settings.source, upstream), tags=TEST_TAGS)
            items, refused, indexes = sized_items(bottles, {}, settings, "2026-11-28", upstream,
                                                  pool=pool, on_sized=on_sized)
    assert sorted([sorted({i.bottle.name for i in group}) for group in handed]) == [["a"], ["b"]]
    assert all(len(group) == len(TEST_TAGS) for group in handed)
    assert sorted(i.bottle.file for group in handed for i in group) \
        == sorted(i.bottle.file for i in items)
    assert [i.bottle.file for i in items] == [b.file for b in bottles if b.name != "huge"]
    assert all(i.size == fake.size(i.bottle.name, i.bottle.tag) for i in items)
    assert [f.bottle for f in refused] == [b.file for b in bottles if b.name == "huge"]
    assert len(indexes) == 3
