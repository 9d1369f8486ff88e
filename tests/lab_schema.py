"""A realistic DataJoint 0.14 schema (a small lab) used by the table-layer tests.

``LAB_SOURCE`` is the text of a user's module: it is executed as a fresh module with ``dj``
bound to either package (``load_lab(datajoint_rs, name)`` or ``load_lab(datajoint, name)``),
so that both packages declare and use literally the same class definitions.
"""

from __future__ import annotations

import datetime
import decimal
import os
import types
import uuid

LAB_SOURCE = '''
schema = dj.Schema(SCHEMA_NAME, connection=CONNECTION)


@schema
class Species(dj.Lookup):
    definition = """
    # animal species
    species : varchar(32)              # latin name
    ---
    common_name = "" : varchar(64)
    """
    contents = [("mus musculus", "house mouse"), ("rattus norvegicus", "brown rat")]


@schema
class Lab(dj.Lookup):
    definition = """
    lab : char(8)
    ---
    lab_name : varchar(255)
    lab_code : smallint unsigned
    unique index (lab_code)
    """
    contents = [
        dict(lab="tolias", lab_name="Tolias Lab", lab_code=1),
        dict(lab="svoboda", lab_name="Svoboda Lab", lab_code=2),
    ]


@schema
class Subject(dj.Manual):
    definition = """
    # experimental subject
    subject_id : int unsigned          # unique subject id
    ---
    -> Species
    -> [nullable] Lab
    sex = "U" : enum('M', 'F', 'U')
    dob = null : date                  # date of birth
    weight = null : float              # grams
    note = "" : varchar(16)
    index (dob)
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session : smallint unsigned
    ---
    session_ts = CURRENT_TIMESTAMP : timestamp
    -> [nullable] Subject.proj(buddy="subject_id")
    operator = null : varchar(32)
    """

    class Trial(dj.Part):
        definition = """
        -> master
        trial : int
        ---
        outcome : enum('hit', 'miss', 'ignore')
        rt = null : double             # reaction time (s)
        """


@schema
class Rig(dj.Manual):
    definition = """
    rig : varchar(16)
    ---
    -> [unique] Lab
    """


@schema
class Recording(dj.Manual):
    definition = """
    -> Session
    rec_id : uuid
    ---
    -> Rig
    """


@schema
class AllTypes(dj.Manual):
    definition = """
    # one column of every attribute type
    id : int
    ---
    i8 : tinyint
    u8 : tinyint unsigned
    i16 : smallint
    u16 : smallint unsigned
    i24 : mediumint
    u24 : mediumint unsigned
    i32 : int
    u32 : int unsigned
    i64 : bigint
    u64 : bigint unsigned
    f32 : float
    f64 : double
    num : decimal(8,3)
    unum : decimal(5,2) unsigned
    ch : char(4)
    vc : varchar(32)
    en : enum('alpha', 'beta', 'gamma')
    d : date
    dt : datetime
    dt3 : datetime(3)
    t : time
    ts = CURRENT_TIMESTAMP : timestamp
    flag : bool
    j = null : json
    u : uuid
    lb = null : longblob
    mb = null : mediumblob
    bl = null : blob
    att = null : attach
    nint = null : int
    nfloat = null : double
    nstr = null : varchar(8)
    dint = 7 : int                     # a default
    dstr = "x y" : varchar(8)
    """


@schema
class Counter(dj.Manual):
    definition = """
    cid : int unsigned auto_increment
    ---
    label : varchar(16)
    """


@schema
class Release(dj.Lookup):
    definition = """
    release = 1 : smallint unsigned     # a primary key with a default
    ---
    label = "" : varchar(16)
    """


@schema
class Stim(dj.Imported):
    definition = """
    -> Session
    ---
    stim : longblob
    """

    def make(self, key):
        self.insert1(dict(key, stim=[1, 2, 3]))


@schema
class Analysis(dj.Computed):
    definition = """
    -> Stim
    ---
    score = null : double
    """

    def make(self, key):
        self.insert1(dict(key, score=1.0))
'''

TABLE_CLASSES = (
    "Species",
    "Lab",
    "Subject",
    "Session",
    "Session.Trial",
    "Rig",
    "Recording",
    "AllTypes",
    "Counter",
    "Release",
    "Stim",
    "Analysis",
)


def server_env():
    """(host, user, password) from DJ_HOST / DJ_USER / DJ_PASS, or None when unset."""
    if not os.environ.get("DJ_HOST"):
        return None
    return os.environ["DJ_HOST"], os.environ.get("DJ_USER", "root"), os.environ.get("DJ_PASS", "")


def s3_env():
    """The test S3 server from DJ_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY / _BUCKET (values
    None when unset; see ``scripts/s3server.sh env``)."""
    return {
        k: os.environ.get(f"DJ_S3_{k.upper()}")
        for k in ("endpoint", "access_key", "secret_key", "bucket")
    }


def remove_s3_prefix(prefix):
    """Delete the objects under ``prefix`` from the shared test bucket."""
    import minio

    env = s3_env()
    client = minio.Minio(
        env["endpoint"], access_key=env["access_key"], secret_key=env["secret_key"], secure=False
    )
    for obj in client.list_objects(env["bucket"], prefix=prefix, recursive=True):
        client.remove_object(env["bucket"], obj.object_name)


def load_lab(dj, schema_name, connection=None, module_name="lab"):
    """Execute ``LAB_SOURCE`` as a new module with ``dj`` bound to the given package."""
    module = types.ModuleType(module_name)
    module.__dict__.update(dj=dj, SCHEMA_NAME=schema_name, CONNECTION=connection)
    exec(compile(LAB_SOURCE, f"<{module_name}>", "exec"), module.__dict__)
    return module


def get_class(module, dotted):
    """``get_class(lab, "Session.Trial")``."""
    obj = module
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def all_types_values(**changes):
    """Values of every plain attribute of ``AllTypes`` (numbers at their ranges' ends,
    unicode, dates and times, json, uuid), with ``changes`` applied: the row the tests build
    theirs from."""
    row = dict(
        i8=-128,
        u8=255,
        i16=-32768,
        u16=65535,
        i24=-8388608,
        u24=16777215,
        i32=-2147483648,
        u32=4294967295,
        i64=-9223372036854775808,
        u64=9223372036854775807,
        f32=1.5,
        f64=-2.25e-300,
        num=decimal.Decimal("-12345.678"),
        unum="999.99",
        ch="abcd",
        vc="ünïcødé ✓ 日本",
        en="beta",
        d=datetime.date(2024, 2, 29),
        dt=datetime.datetime(2024, 2, 29, 23, 59, 58),
        dt3=datetime.datetime(2024, 2, 29, 1, 2, 3, 456000),
        t=datetime.timedelta(hours=25, minutes=1, seconds=2),
        flag=True,
        j={"a": [1, 2, {"b": None}], "c": "d"},
        u=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    )
    row.update(changes)
    return row
