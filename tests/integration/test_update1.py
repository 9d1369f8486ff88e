"""``update1`` with DataJoint 0.14's rules, on a real server."""

from __future__ import annotations

import os

import numpy as np
import pytest

if not os.environ.get("DJ_HOST"):
    pytest.skip("needs a database server (DJ_HOST)", allow_module_level=True)

import datajoint_rs as dj  # noqa: E402


@pytest.fixture(scope="module")
def table():
    dj.config["database.host"] = os.environ["DJ_HOST"]
    dj.config["database.user"] = os.environ.get("DJ_USER", "root")
    dj.config["database.password"] = os.environ.get("DJ_PASS", "password")
    schema = dj.Schema(f"djtest_update1_{os.getpid()}")

    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int
        ---
        count = 5 : int
        label = "none" : varchar(16)
        data = null : longblob
        """

    Item.insert1(dict(item_id=1, count=1, label="a"))
    Item.insert1(dict(item_id=2))
    yield Item
    schema.drop(force=True)


def test_update_values_and_defaults(table):
    table.update1(dict(item_id=1, count=2, label="b%c'd\"", data=np.arange(3)))
    row = (table & "item_id=1").fetch1()
    assert row["count"] == 2 and row["label"] == "b%c'd\""
    np.testing.assert_array_equal(row["data"], [0, 1, 2])
    table.update1(dict(item_id=1, count=None, data=None))  # None resets to the default
    assert (table & "item_id=1").fetch1("count", "data") == (5, None)
    assert (table & "item_id=2").fetch1("label") == "none"  # other rows untouched


@pytest.mark.parametrize(
    "row, message",
    [
        (dict(count=3), "must supply all primary key values"),
        (dict(item_id=9, count=1), "one existing entry"),
        (dict(item_id=1, nope=1), "Attribute `nope` not found"),
        ([1, 2], "must be dict-like"),
    ],
)
def test_update_errors(table, row, message):
    with pytest.raises(dj.DataJointError, match=message):
        table.update1(row)


def test_update_on_restricted_table(table):
    with pytest.raises(dj.DataJointError, match="restricted table"):
        (table & "item_id=1").update1(dict(item_id=1, count=1))
