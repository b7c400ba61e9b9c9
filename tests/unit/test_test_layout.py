"""pytest imports test modules by basename (no packages, rootdir-relative): two test files with one name make
a whole-suite run fail at collection, although each directory alone passes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique() -> None:
    names = Counter(path.name for path in TESTS.rglob("*.py") if path.name != "__init__.py")
    assert [name for name, count in names.items() if count > 1 and name != "conftest.py"] == []
