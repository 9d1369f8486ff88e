"""Cascading delete: ours vs datajoint 0.14.9 vs plain SQL on the same server, in one run.

A 5-level chain L1 -> L2 -> L3 -> L4 -> L5 (fan-out 10, 5, 4, 3 below 120 top rows: 103,320
rows in all) is filled with ``INSERT ... SELECT`` from MariaDB's sequence tables before every
repeat (untimed), then every row is removed by one cascading ``delete(safemode=False)`` of the
top table, restricted

1. by a primary-key attribute (``a > 0``): the restriction is inherited by every level;
2. by a secondary attribute (``grp >= 0``): every level is restricted through its parent.

3. a table of 100,000 rows with 6 child tables that reference only its last 1% (10 rows
   each; a session table of which only recent sessions were processed further), deleted
   whole. DataJoint 0.14 finds each child by letting the server refuse the DELETE, so the
   server deletes (and rolls back) the unreferenced 99% once per child table.

The floor is the same work as plain SQL in one transaction, leaves first, each table
restricted by ``a > 0`` / ``w > 0`` (what a person writing the statements by hand would send).

Each package has its own schema (identical definitions), all dropped at the end
(DJ_HOST/DJ_USER/DJ_PASS, default 127.0.0.1/root/password). Medians over ``--repeats``.

    python benches/bench_delete.py [--repeats 3] [--top 120] [--wide 100000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

FANOUT = [10, 5, 4, 3]


def connect(dj):
    dj.config["database.host"] = os.environ.get("DJ_HOST", "127.0.0.1")
    dj.config["database.user"] = os.environ.get("DJ_USER", "root")
    dj.config["database.password"] = os.environ.get("DJ_PASS", "password")
    dj.config["database.use_tls"] = False
    dj.config["safemode"] = False


def declare(dj, name):
    connect(dj)
    schema = dj.Schema(name)

    @schema
    class L1(dj.Manual):
        definition = """
        a : int
        ---
        grp : int
        """

    @schema
    class L2(dj.Manual):
        definition = """
        -> L1
        b : int
        """

    @schema
    class L3(dj.Manual):
        definition = """
        -> L2
        c : int
        """

    @schema
    class L4(dj.Manual):
        definition = """
        -> L3
        d : int
        """

    @schema
    class L5(dj.Manual):
        definition = """
        -> L4
        e : int
        """

    @schema
    class Wide(dj.Manual):
        definition = """
        w : int
        """

    for i in range(1, WIDE_CHILDREN + 1):
        schema(
            type(f"Child{i}", (dj.Manual,), dict(definition="-> Wide\nk : int\n")),
            context=dict(Wide=Wide),
        )
    return schema, L1, Wide


WIDE_CHILDREN = 6
LEVELS = ["l1", "l2", "l3", "l4", "l5"]
WIDE = ["wide"] + [f"child{i}" for i in range(1, WIDE_CHILDREN + 1)]
KEYS = ["a", "b", "c", "d", "e"]


def fill(conn, db, top):
    """Fill the chain with INSERT ... SELECT from sequence tables; return the row count."""
    q = conn.query
    q(f"INSERT INTO `{db}`.`l1` (a, grp) SELECT seq, MOD(seq, 2) FROM `{db}`.seq_1_to_{top}")
    for level, fan in enumerate(FANOUT, start=1):
        cols = ", ".join(KEYS[: level + 1])
        parent_cols = ", ".join(f"p.{k}" for k in KEYS[:level])
        q(
            f"INSERT INTO `{db}`.`{LEVELS[level]}` ({cols}) SELECT {parent_cols}, s.seq "
            f"FROM `{db}`.`{LEVELS[level - 1]}` p JOIN `{db}`.seq_1_to_{fan} s"
        )
    return sum(q(f"SELECT count(*) FROM `{db}`.`{t}`").fetchone()[0] for t in LEVELS)


def fill_wide(conn, db, rows):
    """``rows`` rows in Wide; each child table references the last 1% of them, 10 rows each
    (a session table of which only recent sessions were processed further)."""
    q = conn.query
    q(f"INSERT INTO `{db}`.`wide` (w) SELECT seq FROM `{db}`.seq_1_to_{rows}")
    first = rows - rows // 100 + 1
    for child in WIDE[1:]:
        q(
            f"INSERT INTO `{db}`.`{child}` (w, k) SELECT p.seq, s.seq "
            f"FROM `{db}`.seq_{first}_to_{rows} p JOIN `{db}`.seq_1_to_10 s"
        )
    return sum(q(f"SELECT count(*) FROM `{db}`.`{t}`").fetchone()[0] for t in WIDE)


def count(conn, db, tables=LEVELS):
    return sum(conn.query(f"SELECT count(*) FROM `{db}`.`{t}`").fetchone()[0] for t in tables)


def floor_delete(conn, db, tables=LEVELS, key="a"):
    conn.query("START TRANSACTION")
    for t in reversed(tables):
        conn.query(f"DELETE FROM `{db}`.`{t}` WHERE {key} > 0")
    conn.query("COMMIT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top", type=int, default=120, help="rows of the top table")
    parser.add_argument("--wide", type=int, default=100_000, help="rows of the wide table")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.top, args.wide, args.repeats = 12, 10_000, 1

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import datajoint as ref
    import datajoint_rs as ours

    pid = os.getpid()
    setups = {
        "datajoint_rs": (ours, *declare(ours, f"djbench_del_ours_{pid}")),
        "datajoint 0.14.9": (ref, *declare(ref, f"djbench_del_ref_{pid}")),
    }
    floor_db = f"djbench_del_ours_{pid}"  # the floor reuses our tables (plain SQL)
    cases = {
        "restricted by the primary key (a > 0)": "a > 0",
        "restricted by a secondary attribute (grp >= 0)": "grp >= 0",
    }
    try:
        wide_case = f"one table with {WIDE_CHILDREN} children, only its last 1% referenced"
        times = {
            case: {name: [] for name in [*setups, "plain SQL"]} for case in [*cases, wide_case]
        }
        total = wide_total = None
        for _ in range(args.repeats):
            for name, (dj, schema, _top, wide) in setups.items():
                conn = dj.conn()
                wide_total = fill_wide(conn, schema.database, args.wide)
                t0 = time.perf_counter()
                wide.delete(safemode=False)
                times[wide_case][name].append(time.perf_counter() - t0)
                left = count(conn, schema.database, WIDE)
                assert left == 0, f"{name} left {left} rows"
            conn = ours.conn()
            fill_wide(conn, floor_db, args.wide)
            t0 = time.perf_counter()
            floor_delete(conn, floor_db, WIDE, "w")
            times[wide_case]["plain SQL"].append(time.perf_counter() - t0)
            for case, condition in cases.items():
                for name, (dj, schema, top, _wide) in setups.items():
                    conn = dj.conn()
                    total = fill(conn, schema.database, args.top)
                    t0 = time.perf_counter()
                    (top & condition).delete(safemode=False)
                    times[case][name].append(time.perf_counter() - t0)
                    left = count(conn, schema.database)
                    assert left == 0, f"{name} left {left} rows"
                conn = ours.conn()
                fill(conn, floor_db, args.top)
                t0 = time.perf_counter()
                floor_delete(conn, floor_db)
                times[case]["plain SQL"].append(time.perf_counter() - t0)
        print(
            f"Cascading deletes, median of {args.repeats}: {total:,} rows across 5 levels "
            f"(first two cases), {wide_total:,} rows in {WIDE_CHILDREN + 1} tables (last case)"
        )
        print("| case | datajoint_rs | datajoint 0.14.9 | plain SQL | dj/ours | ours/SQL |")
        print("|---|---|---|---|---|---|")
        for case in times:
            med = {k: statistics.median(v) for k, v in times[case].items()}
            ours_t, ref_t, sql_t = med["datajoint_rs"], med["datajoint 0.14.9"], med["plain SQL"]
            print(
                f"| {case} | {ours_t:.3f} s | {ref_t:.3f} s | {sql_t:.3f} s | "
                f"{ref_t / ours_t:.2f} | {ours_t / sql_t:.2f} |"
            )
    finally:
        for _dj, schema, _top, _wide in setups.values():
            schema.drop(force=True)


if __name__ == "__main__":
    main()
