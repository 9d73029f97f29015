"""The order in which ``tasks.py test`` hands out its slowest units of work (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from dgm.manifest import IDS
from tests import conftest

ROOT = Path(__file__).resolve().parent.parent


def test_every_unit_named_slowest_first_exists():
    for unit in conftest.SLOWEST_FIRST:
        module, _, parameter = unit.partition("[")
        assert (ROOT / module).is_file(), f"{unit}: no such test module; update SLOWEST_FIRST"
        if parameter:
            assert module in conftest.SPLIT_BY_PARAMETER and parameter.rstrip("]") in IDS, unit
    assert len(set(conftest.SLOWEST_FIRST)) == len(conftest.SLOWEST_FIRST)


def test_the_slowest_units_come_first_and_stay_whole():
    class Item:
        def __init__(self, nodeid):
            self.nodeid, self.path, self.fixturenames = nodeid, ROOT / nodeid.partition("::")[0], ()

    names = ["tests/test_data.py::test_a", "tests/test_roundtrip.py::test_x[01_vae]",
             "tests/test_tampering.py::test_b", "tests/test_data.py::test_c",
             "tests/test_roundtrip.py::test_x[06_inversion]", "tests/test_tampering.py::test_d"]
    items = [Item(n) for n in names]
    conftest.pytest_collection_modifyitems(items)
    assert [i.nodeid for i in items] == [
        "tests/test_tampering.py::test_b", "tests/test_tampering.py::test_d",
        "tests/test_roundtrip.py::test_x[06_inversion]", "tests/test_roundtrip.py::test_x[01_vae]",
        "tests/test_data.py::test_a", "tests/test_data.py::test_c"]
