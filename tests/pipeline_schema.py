"""A deep two-schema pipeline for the delete / drop / diagram tests.

``PIPELINE_SOURCE`` is a user's module text, executed as a fresh module with ``dj`` bound to
either package (``load_pipeline(datajoint_rs, prefix)`` or ``load_pipeline(datajoint,
prefix)``), so both packages declare literally the same classes. It has 7 levels
(Lab -> Subject -> Session -> Scan -> Analysis -> Summary -> Detail), parts (Session.Trial,
Analysis.Unit, whose rows also reference Session.Trial), renamed foreign keys (Session.buddy,
Pair's two references to Subject), nullable foreign keys (Subject.lab, Session.buddy,
Note.session) and a second schema referencing the first.

``FOREIGN_KEYS`` lists the same references by hand (child, parent, {child attr: parent
attr}), so tests can compute what a cascade must remove without asking datajoint_rs.
"""

from __future__ import annotations

import random
import types

PIPELINE_SOURCE = '''
schema_a = dj.Schema(PREFIX + "_a", connection=CONNECTION)
schema_b = dj.Schema(PREFIX + "_b", connection=CONNECTION)


@schema_a
class Lab(dj.Lookup):
    definition = """
    lab : varchar(8)
    """


@schema_a
class Subject(dj.Manual):
    definition = """
    subject_id : int
    ---
    -> [nullable] Lab
    """


@schema_a
class Session(dj.Manual):
    definition = """
    -> Subject
    session : int
    ---
    -> [nullable] Subject.proj(buddy="subject_id")
    """

    class Trial(dj.Part):
        definition = """
        -> master
        trial : int
        """


@schema_a
class Scan(dj.Imported):
    definition = """
    -> Session
    scan : int
    """


@schema_a
class Pair(dj.Manual):
    definition = """
    -> Subject.proj(subj_a="subject_id")
    -> Subject.proj(subj_b="subject_id")
    """


@schema_a
class Note(dj.Manual):
    definition = """
    note_id : int
    ---
    -> [nullable] Session
    """


@schema_b
class Param(dj.Lookup):
    definition = """
    param : int
    """


@schema_b
class Analysis(dj.Computed):
    definition = """
    -> Scan
    -> Param
    """

    class Unit(dj.Part):
        definition = """
        -> master
        unit : int
        ---
        -> Session.Trial
        """


@schema_b
class Summary(dj.Manual):
    definition = """
    -> Analysis
    summary : int
    """


@schema_b
class Detail(dj.Manual):
    definition = """
    -> Summary
    detail : int
    """
'''

#: (child, parent, {child attribute: parent attribute}) for every foreign key, by hand
FOREIGN_KEYS = [
    ("Subject", "Lab", {"lab": "lab"}),
    ("Session", "Subject", {"subject_id": "subject_id"}),
    ("Session", "Subject", {"buddy": "subject_id"}),
    ("Session.Trial", "Session", {"subject_id": "subject_id", "session": "session"}),
    ("Scan", "Session", {"subject_id": "subject_id", "session": "session"}),
    ("Pair", "Subject", {"subj_a": "subject_id"}),
    ("Pair", "Subject", {"subj_b": "subject_id"}),
    ("Note", "Session", {"subject_id": "subject_id", "session": "session"}),
    ("Analysis", "Scan", {"subject_id": "subject_id", "session": "session", "scan": "scan"}),
    ("Analysis", "Param", {"param": "param"}),
    (
        "Analysis.Unit",
        "Analysis",
        {"subject_id": "subject_id", "session": "session", "scan": "scan", "param": "param"},
    ),
    (
        "Analysis.Unit",
        "Session.Trial",
        {"subject_id": "subject_id", "session": "session", "trial": "trial"},
    ),
    (
        "Summary",
        "Analysis",
        {"subject_id": "subject_id", "session": "session", "scan": "scan", "param": "param"},
    ),
    (
        "Detail",
        "Summary",
        {
            "subject_id": "subject_id",
            "session": "session",
            "scan": "scan",
            "param": "param",
            "summary": "summary",
        },
    ),
]

TABLES = [
    "Lab",
    "Subject",
    "Session",
    "Session.Trial",
    "Scan",
    "Pair",
    "Note",
    "Param",
    "Analysis",
    "Analysis.Unit",
    "Summary",
    "Detail",
]


def load_pipeline(dj, prefix, connection=None):
    """Declare the pipeline with package ``dj`` on schemas ``<prefix>_a`` and ``<prefix>_b``;
    return the module."""
    module = types.ModuleType(f"pipeline_{prefix}_{dj.__name__}")
    module.__dict__.update(dj=dj, PREFIX=prefix, CONNECTION=connection or dj.conn())
    exec(compile(PIPELINE_SOURCE, module.__name__, "exec"), module.__dict__)
    return module


def table_of(module, name):
    """The class of ``name`` ("Session.Trial" for a part) in a loaded pipeline module."""
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def make_rows(seed=0, subjects=6):
    """Rows for every table (lists of dicts), deterministic for a seed; every kind of
    reference is exercised: shared and NULL nullable references, parts referencing parts of
    other masters, pairs across subjects."""
    rng = random.Random(seed)
    rows = {name: [] for name in TABLES}
    rows["Lab"] = [dict(lab=f"lab{i}") for i in range(3)]
    rows["Param"] = [dict(param=p) for p in (1, 2)]
    for s in range(1, subjects + 1):
        rows["Subject"].append(dict(subject_id=s, lab=rng.choice([None, "lab0", "lab1", "lab2"])))
    for s in range(1, subjects + 1):
        for sess in range(1, rng.randint(2, 3) + 1):
            buddy = rng.choice([None] + list(range(1, subjects + 1)))
            rows["Session"].append(dict(subject_id=s, session=sess, buddy=buddy))
            trials = rng.randint(1, 3)
            for t in range(1, trials + 1):
                rows["Session.Trial"].append(dict(subject_id=s, session=sess, trial=t))
            for scan in range(1, rng.randint(1, 2) + 1):
                rows["Scan"].append(dict(subject_id=s, session=sess, scan=scan))
                for param in rng.sample([1, 2], rng.randint(1, 2)):
                    key = dict(subject_id=s, session=sess, scan=scan, param=param)
                    rows["Analysis"].append(key)
                    for unit in range(1, rng.randint(1, 3) + 1):
                        rows["Analysis.Unit"].append(
                            dict(key, unit=unit, trial=rng.randint(1, trials))
                        )
                    for summary in range(rng.randint(0, 2)):
                        rows["Summary"].append(dict(key, summary=summary))
                        for detail in range(rng.randint(0, 2)):
                            rows["Detail"].append(dict(key, summary=summary, detail=detail))
    sessions = [(r["subject_id"], r["session"]) for r in rows["Session"]]
    for n in range(12):
        s = rng.choice([None] + sessions)
        rows["Note"].append(
            dict(note_id=n, subject_id=s and s[0], session=s and s[1])
            if s
            else dict(note_id=n, subject_id=None, session=None)
        )
    for a in range(1, subjects + 1):
        for b in rng.sample(range(1, subjects + 1), 2):
            rows["Pair"].append(dict(subj_a=a, subj_b=b))
    return rows


def clear(module):
    """Remove every row of the pipeline (no cascade needed: dependents first)."""
    for name in reversed(TABLES):
        table_of(module, name).delete_quick()


def insert_rows(module, rows):
    """Insert ``rows`` (from ``make_rows``) in dependency order."""
    for name in TABLES:
        if rows[name]:
            table_of(module, name).insert(rows[name], allow_direct_insert=True)


def expected_remaining(rows, deleted):
    """What a cascading delete must leave: ``rows`` minus the rows in ``deleted`` (table
    name -> rows removed at the start) and, to a fixpoint, every row referencing a removed
    row through ``FOREIGN_KEYS`` (NULL references reference nothing)."""
    gone = {name: set() for name in TABLES}
    keyset = {name: _pk_of(name) for name in TABLES}

    def ident(name, row):
        return tuple(row[k] for k in keyset[name])

    for name, removed in deleted.items():
        gone[name] = {ident(name, r) for r in removed}
    changed = True
    while changed:
        changed = False
        for child, parent, attr_map in FOREIGN_KEYS:
            parent_pk = keyset[parent]
            dead = {
                tuple(r[a] for a in parent_pk)
                for r in rows[parent]
                if ident(parent, r) in gone[parent]
            }
            for r in rows[child]:
                ref = tuple(r[next(c for c, p in attr_map.items() if p == a)] for a in parent_pk)
                if None in ref or ref not in dead:
                    continue
                if ident(child, r) not in gone[child]:
                    gone[child].add(ident(child, r))
                    changed = True
    return {
        name: sorted(ident(name, r) for r in rows[name] if ident(name, r) not in gone[name])
        for name in TABLES
    }


_PRIMARY_KEYS = {
    "Lab": ["lab"],
    "Subject": ["subject_id"],
    "Session": ["subject_id", "session"],
    "Session.Trial": ["subject_id", "session", "trial"],
    "Scan": ["subject_id", "session", "scan"],
    "Pair": ["subj_a", "subj_b"],
    "Note": ["note_id"],
    "Param": ["param"],
    "Analysis": ["subject_id", "session", "scan", "param"],
    "Analysis.Unit": ["subject_id", "session", "scan", "param", "unit"],
    "Summary": ["subject_id", "session", "scan", "param", "summary"],
    "Detail": ["subject_id", "session", "scan", "param", "summary", "detail"],
}


def _pk_of(name):
    return _PRIMARY_KEYS[name]


def remaining(module):
    """The primary keys left in every table, as sorted tuples (comparable with
    ``expected_remaining``)."""
    out = {}
    for name in TABLES:
        keys = table_of(module, name).fetch(*_PRIMARY_KEYS[name], order_by=_PRIMARY_KEYS[name])
        if len(_PRIMARY_KEYS[name]) == 1:
            keys = (keys,)
        out[name] = sorted(zip(*[k.tolist() for k in keys], strict=True))
    return out
