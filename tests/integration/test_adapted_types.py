"""Adapted attribute types (``dj.AttributeAdapter``): declared, inserted and fetched as in
DataJoint 0.14, and interchangeable with the reference on the same server."""

from __future__ import annotations

import os

import numpy as np
import pytest

if not os.environ.get("DJ_HOST"):
    pytest.skip("needs a database server (DJ_HOST)", allow_module_level=True)

import datajoint_rs as dj  # noqa: E402

SCHEMA = f"djtest_adapted_{os.getpid()}"


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


class PointAdapter(dj.AttributeAdapter):
    attribute_type = "varchar(64)"

    def put(self, obj):
        return f"{obj.x},{obj.y}"

    def get(self, value):
        x, y = value.split(",")
        return Point(float(x), float(y))


class TraceAdapter(dj.AttributeAdapter):
    """A blob-based adapter: stores a dict as a packed blob."""

    attribute_type = "longblob"

    def put(self, obj):
        return {"samples": np.asarray(obj), "n": len(obj)}

    def get(self, value):
        return value["samples"]


point = PointAdapter()
trace = TraceAdapter()


@pytest.fixture(scope="module")
def schema(monkeypatch_module):
    monkeypatch_module.setenv("DJ_SUPPORT_ADAPTED_TYPES", "TRUE")
    dj.config["database.host"] = os.environ["DJ_HOST"]
    dj.config["database.user"] = os.environ.get("DJ_USER", "root")
    dj.config["database.password"] = os.environ.get("DJ_PASS", "password")
    schema = dj.Schema(SCHEMA, context=dict(point=point, trace=trace))
    yield schema
    schema.drop(force=True)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_adapted_types_round_trip(schema):
    @schema
    class Shape(dj.Manual):
        definition = """
        shape_id : int
        ---
        center : <point>
        signal = null : <trace>
        """

    heading = Shape.heading
    # as in 0.14, the heading shows the adapted type and keeps the adapter
    assert heading["center"].adapter is point and heading["center"].type == "<point>"
    Shape.insert1(dict(shape_id=1, center=Point(1.5, -2.0), signal=[1.0, 2.0, 3.0]))
    Shape.insert1(dict(shape_id=2, center=Point(0, 0)))
    row = (Shape & "shape_id=1").fetch1()
    assert row["center"] == Point(1.5, -2.0)
    np.testing.assert_array_equal(row["signal"], [1.0, 2.0, 3.0])
    centers = Shape.fetch("center", order_by="shape_id")
    assert list(centers) == [Point(1.5, -2.0), Point(0.0, 0.0)]
    assert (Shape & "shape_id=2").fetch1("signal") is None
    # the stored column is the adapter's plain representation
    raw = schema.connection.query(
        f"SELECT center FROM `{SCHEMA}`.`shape` WHERE shape_id=1"
    ).fetchone()[0]
    assert raw == "1.5,-2.0"


def test_adapted_type_needs_the_switch(schema, monkeypatch):
    monkeypatch.delenv("DJ_SUPPORT_ADAPTED_TYPES", raising=False)
    with pytest.raises(dj.DataJointError):

        @schema
        class Other(dj.Manual):
            definition = """
            other_id : int
            ---
            where_ : <point>
            """
