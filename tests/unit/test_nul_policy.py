"""The document stores' last line against NUL (nul.may_hold's fast scan, then nul.find's walk for the place)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from convoinsight import nul
from convoinsight.storage.documents import refuse_nul


@pytest.mark.parametrize("data, where", [
    ({"answer": "a\x00b"}, "answer"),
    ({"table": {"rows": [["x", "y\x00"]]}}, "table.rows[0][1]"),
    ({"k\x00ey": 1}, "k\\u0000ey"),
    ({"when": dt.datetime(2026, 1, 1), "text": "\x00"}, "text"),  # not JSON: walked
])
def test_a_nul_anywhere_is_refused_with_its_place(data, where):
    assert nul.may_hold(data)
    with pytest.raises(ValueError, match=re.escape(f"(found at {where})")):
        refuse_nul("tenants/u/sessions", "s1", data)


@pytest.mark.parametrize("data", [
    {"answer": "no nul", "rows": [[1, 2.5, None, True]], "nested": {"list": ["a", "b"]}},
    {"text": "a backslash then u0000 as six characters: \\u0000"},  # scanned as maybe, walked: none
    {"when": dt.datetime(2026, 1, 1)},
])
def test_text_without_nul_is_stored(data):
    refuse_nul("tenants/u/sessions", "s1", data)  # raises nothing


def test_the_scan_says_no_only_when_there_is_none():
    assert not nul.may_hold({"a": "b", "c": [1, 2]})
    assert nul.may_hold({"a": "\\u0000"}) and nul.find({"a": "\\u0000"}) is None
