"""datajoint_rs on SQLite: insert / fetch / populate vs raw sqlite3 (the floor), beside the same
operations of datajoint_rs on MariaDB (when DJ_HOST is set), in one run.

Cases (row counts scale down with ``--quick``):

1. insert 200 × 5 MB float64 arrays into a longblob (``standard_normal``, zlib as in 0.14);
   floor: ``executemany`` of the pre-packed blobs.
2. ``fetch("id", "arr")`` of those arrays; floor: ``fetchall`` of the stored (packed) bytes.
3. insert 1,000,000 rows × 6 scalars (int key, float, double, varchar, date, int) as dicts;
   floor: ``executemany`` of pre-built tuples (dates as ISO text, as the backend stores them).
4. ``fetch()`` of those 1,000,000 rows (a numpy record array); floor: ``fetchall``.
5. ``populate(reserve_jobs=True)`` with a trivial ``make`` over 2,000 keys: time per key;
   floor: one ``BEGIN; INSERT; COMMIT`` per key (a committed transaction per key is what
   populate must do at least).

SQLite: a temporary file; the floor writes to an identical table declared by datajoint_rs in
a second schema of the same file (same STRICT table, same CHECKs, same WAL journal and
synchronous setting). MariaDB: DJ_HOST / DJ_USER / DJ_PASS, schema ``djbench_sqlite_<pid>``,
TLS off, dropped at the end. Method as the other benches: within every repeat the
contenders run interleaved in rotating order, with the GC collected before each call and the
heap frozen; tables show medians and ratios.

    python benches/bench_sqlite.py [--quick] [--repeats 3] [--markdown] [--cases 1,2,5]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import pathlib
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

BLOB_DEF = """
id : int
---
arr : longblob
"""
SCALAR_DEF = """
id : int
---
a : float
b : double
name : varchar(32)
day : date
n : int
"""
KEY_DEF = """
k : int
"""
TRIVIAL_DEF = """
-> Key
---
v : int
"""
SCALAR_COLS = ("id", "a", "b", "name", "day", "n")
CASES = ("blob_insert", "blob_fetch", "scalar_insert", "scalar_fetch", "populate")


def progress(msg: str) -> None:
    print(f"[bench_sqlite] {msg}", file=sys.stderr, flush=True)


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


def run_interleaved(contenders: dict, repeats: int) -> dict[str, Timing]:
    """``contenders``: name -> (fn, setup or None, check or None). Median seconds of each;
    within a repeat they run in rotating order. A failing contender is not run again."""
    names = list(contenders)
    res = {name: Timing() for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn, setup, check = contenders[name]
            t = res[name]
            if t.error:
                continue
            try:
                if setup is not None:
                    setup()
                gc.collect()
                gc.freeze()
                try:
                    t0 = time.perf_counter()
                    out = fn()
                    dt = time.perf_counter() - t0
                finally:
                    gc.unfreeze()
                if not t.samples and check is not None:
                    check(out)
                del out
            except Exception:
                t.error = traceback.format_exc()
                progress(f"   {name}: FAILED ({t.error.strip().splitlines()[-1]})")
                continue
            t.samples.append(dt)
    return res


def fmt_t(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


class Bench:
    def __init__(self, args, dj):
        self.args = args
        self.dj = dj
        q = args.quick
        self.blob_rows = 10 if q else 200
        self.blob_elems = 62_500 if q else 625_000  # 0.5 MB / 5 MB float64
        self.scalar_rows = 20_000 if q else 1_000_000
        self.keys = 100 if q else 2000
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="djbench_sqlite_"))
        self.path = self.folder / "bench.sqlite"
        self.rows: list[tuple] = []  # (case, sqlite, floor name, floor, mariadb)
        self.failures: list[str] = []
        self.checks: list[str] = []
        from datajoint_rs.sqlite import SQLiteConnection

        self.lite = SQLiteConnection(self.path)
        self.schemas = {"sqlite": dj.Schema("bench", connection=self.lite)}
        floor_schema = dj.Schema("floor", connection=self.lite)
        self.tables = {"sqlite": self.declare(self.schemas["sqlite"]), "floor": {}}
        self.tables["floor"] = self.declare(floor_schema)
        self.schemas["floor"] = floor_schema
        # the floor: a plain sqlite3 connection to the same file, set up as datajoint_rs's
        self.raw = sqlite3.connect(self.path, isolation_level=None)
        self.raw.execute("PRAGMA foreign_keys = ON")
        self.raw.execute("PRAGMA journal_mode = WAL")
        lite_sync = self.lite.query("PRAGMA synchronous").fetchone()[0]
        self.raw.execute(f"PRAGMA synchronous = {lite_sync}")
        self.mariadb = None
        if os.environ.get("DJ_HOST"):
            host = os.environ["DJ_HOST"]
            self.mariadb = dj.Connection(
                host,
                os.environ.get("DJ_USER", "root"),
                os.environ.get("DJ_PASS", "password"),
                use_tls=False,
            )
            self.schemas["mariadb"] = dj.Schema(
                f"djbench_sqlite_{os.getpid()}", connection=self.mariadb
            )
            self.tables["mariadb"] = self.declare(self.schemas["mariadb"])
        self.backends = [b for b in ("sqlite", "mariadb") if b in self.tables]
        self._blobs = None

    def declare(self, schema) -> dict:
        dj = self.dj
        ctx = {}
        for name, definition in (
            ("BlobRow", BLOB_DEF),
            ("ScalarRow", SCALAR_DEF),
            ("Key", KEY_DEF),
        ):
            ctx[name] = schema(type(name, (dj.Manual,), {"definition": definition}), context=ctx)

        def make(self, key):
            self.insert1(dict(key, v=key["k"]))

        ctx["Trivial"] = schema(
            type("Trivial", (dj.Computed,), {"definition": TRIVIAL_DEF, "make": make}),
            context=ctx,
        )
        return ctx

    def raw_table(self, name: str) -> str:
        return f"`floor.{name}`"

    def raw_delete(self, name: str) -> None:
        self.raw.execute(f"DELETE FROM {self.raw_table(name)}")

    def add(self, case, t: dict[str, Timing], floor_name: str, per: int = 1) -> None:
        def med(name):
            m = t[name].median if name in t else None
            return None if m is None else m / per

        for name, timing in t.items():
            if timing.error:
                self.failures.append(f"{case} / {name}:\n{timing.error}")
        self.rows.append((case, med("sqlite"), floor_name, med("floor"), med("mariadb")))

    # ---- cases -----------------------------------------------------------------------------
    def blobs(self):
        if self._blobs is None:
            n, elems = self.blob_rows, self.blob_elems
            progress(f"generating {n} arrays of {elems * 8 / 1e6:.1f} MB")
            rng = np.random.default_rng(2024)
            arrays = [rng.standard_normal(elems) for _ in range(n)]
            packed = [(i, self.dj.blob.pack(a)) for i, a in enumerate(arrays)]
            self._blobs = arrays, packed
        return self._blobs

    def case_blob_insert(self):
        arrays, packed = self.blobs()
        n = len(arrays)
        progress(f"1. insert {n} arrays")
        rows = [dict(id=i, arr=a) for i, a in enumerate(arrays)]
        contenders = {
            b: (
                lambda b=b: self.tables[b]["BlobRow"].insert(rows),
                lambda b=b: self.tables[b]["BlobRow"].delete_quick(),
                None,
            )
            for b in self.backends
        }
        sql = f"INSERT INTO {self.raw_table('blob_row')} (id, arr) VALUES (?, ?)"
        contenders["floor"] = (
            lambda: self.raw.executemany(sql, packed),
            lambda: self.raw_delete("blob_row"),
            None,
        )
        t = run_interleaved(contenders, self.args.repeats)
        mb = self.blob_elems * 8 / 1e6
        self.add(f"insert {n} × {mb:.3g} MB float64 arrays (zlib)", t, "executemany of packed")

    def case_blob_fetch(self):
        arrays, packed = self.blobs()
        n = len(arrays)
        for b in self.backends:
            if len(self.tables[b]["BlobRow"]()) != n:
                self.tables[b]["BlobRow"].delete_quick()
                self.tables[b]["BlobRow"].insert(dict(id=i, arr=a) for i, a in enumerate(arrays))
        if (
            self.raw.execute(f"SELECT count(*) FROM {self.raw_table('blob_row')}").fetchone()[0]
            != n
        ):
            self.raw_delete("blob_row")
            self.raw.executemany(
                f"INSERT INTO {self.raw_table('blob_row')} (id, arr) VALUES (?, ?)", packed
            )
        progress(f"2. fetch {n} arrays")

        def check(b):
            def run(out):
                ids, arrs = out
                ok = len(ids) == n and all(
                    np.array_equal(arrays[i], a) for i, a in zip(ids, arrs, strict=True)
                )
                self.checks.append(f"blob fetch on {b}: arrays {'equal' if ok else 'DIFFER'}")
                if not ok:
                    raise AssertionError(f"fetched arrays differ on {b}")

            return run

        contenders = {
            b: (
                lambda b=b: self.tables[b]["BlobRow"].fetch("id", "arr"),
                None,
                check(b),
            )
            for b in self.backends
        }
        sql = f"SELECT id, arr FROM {self.raw_table('blob_row')}"
        contenders["floor"] = (lambda: self.raw.execute(sql).fetchall(), None, None)
        t = run_interleaved(contenders, self.args.repeats)
        self.add(f"fetch those {n} arrays", t, "fetchall of packed")

    def scalar_data(self):
        n = self.scalar_rows
        rng = np.random.default_rng(7)
        a, b = rng.random(n).tolist(), rng.standard_normal(n).tolist()
        day0 = datetime.date(2020, 1, 1)
        days = [day0 + datetime.timedelta(days=d) for d in range(3000)]
        rows = [
            {
                "id": i,
                "a": a[i],
                "b": b[i],
                "name": f"session_{i % 997}",
                "day": days[i % 3000],
                "n": (i * 7919) % 1_000_003,
            }
            for i in range(n)
        ]
        iso = [d.isoformat() for d in days]
        tuples = [
            (i, a[i], b[i], f"session_{i % 997}", iso[i % 3000], rows[i]["n"]) for i in range(n)
        ]
        return rows, tuples

    def case_scalar_insert(self):
        n = self.scalar_rows
        progress(f"3. insert {n:,} scalar rows")
        rows, tuples = self.scalar_data()
        contenders = {
            b: (
                lambda b=b: self.tables[b]["ScalarRow"].insert(rows),
                lambda b=b: self.tables[b]["ScalarRow"].delete_quick(),
                None,
            )
            for b in self.backends
        }
        sql = f"INSERT INTO {self.raw_table('scalar_row')} VALUES (?, ?, ?, ?, ?, ?)"

        def floor():  # one transaction, as datajoint_rs's insert
            self.raw.execute("BEGIN")
            self.raw.executemany(sql, tuples)
            self.raw.execute("COMMIT")

        contenders["floor"] = (floor, lambda: self.raw_delete("scalar_row"), None)
        t = run_interleaved(contenders, self.args.repeats)
        self.add(f"insert {n:,} rows × 6 scalars (dicts)", t, "executemany")

    def case_scalar_fetch(self):
        n = self.scalar_rows
        rows, tuples = None, None
        for b in self.backends:
            if len(self.tables[b]["ScalarRow"]()) != n:
                rows, tuples = rows or self.scalar_data()[0], None
                self.tables[b]["ScalarRow"].delete_quick()
                self.tables[b]["ScalarRow"].insert(rows)
        if (
            self.raw.execute(f"SELECT count(*) FROM {self.raw_table('scalar_row')}").fetchone()[0]
            != n
        ):
            tuples = self.scalar_data()[1]
            self.raw_delete("scalar_row")
            self.raw.execute("BEGIN")
            self.raw.executemany(
                f"INSERT INTO {self.raw_table('scalar_row')} VALUES (?, ?, ?, ?, ?, ?)", tuples
            )
            self.raw.execute("COMMIT")
        del rows, tuples
        progress(f"4. fetch {n:,} scalar rows")
        kept = {}

        def keep(b):
            return lambda out: kept.__setitem__(b, out)

        contenders = {
            b: (lambda b=b: self.tables[b]["ScalarRow"].fetch(), None, keep(b))
            for b in self.backends
        }
        sql = f"SELECT {','.join(SCALAR_COLS)} FROM {self.raw_table('scalar_row')}"
        contenders["floor"] = (lambda: self.raw.execute(sql).fetchall(), None, None)
        t = run_interleaved(contenders, self.args.repeats)
        self.add(f"fetch() {n:,} rows × 6 scalars", t, "fetchall")
        # the results: SQLite's against MariaDB's (float is single precision on MariaDB)
        if "sqlite" in kept:
            lite = kept["sqlite"]
            self.checks.append(
                f"scalar fetch on sqlite: {len(lite):,} rows, dtypes "
                + ", ".join(f"{c}:{lite.dtype[c]}" for c in SCALAR_COLS)
            )
            if "mariadb" in kept:
                # MariaDB's float is single precision (6 significant digits come back)
                my = kept["mariadb"]
                differ = [
                    c
                    for c in SCALAR_COLS
                    if len(my) != len(lite)
                    or not (
                        np.allclose(lite[c], my[c], rtol=1e-5 if c == "a" else 1e-12)
                        if c in ("a", "b")
                        else bool(np.all(lite[c] == my[c]))
                    )
                ]
                self.checks.append(
                    "scalar fetch: sqlite == mariadb "
                    + (f"NO (columns {differ})" if differ else "yes (float to 6 digits)")
                )
                if differ:
                    self.failures.append(f"scalar fetch: SQLite and MariaDB differ in {differ}")
        kept.clear()

    def case_populate(self):
        n = self.keys
        progress(f"5. populate {n} keys")
        for b in (*self.backends, "floor"):
            key = self.tables[b]["Key"]
            if len(key()) != n:
                key.delete_quick()
                key.insert(dict(k=i) for i in range(n))

        def setup(b):
            def run():
                self.tables[b]["Trivial"].delete_quick()
                self.schemas[b].jobs.delete_quick()

            return run

        def check(out):
            assert out["success_count"] == n, out

        contenders = {
            b: (
                lambda b=b: self.tables[b]["Trivial"].populate(reserve_jobs=True),
                setup(b),
                check,
            )
            for b in self.backends
        }
        sql = f"INSERT INTO {self.raw_table('__trivial')} (k, v) VALUES (?, ?)"

        def floor():
            for k in range(n):
                self.raw.execute("BEGIN")
                self.raw.execute(sql, (k, k))
                self.raw.execute("COMMIT")

        contenders["floor"] = (floor, lambda: self.raw_delete("__trivial"), None)
        t = run_interleaved(contenders, self.args.repeats)
        self.add(
            f"populate(reserve_jobs=True), trivial make, {n} keys: per key",
            t,
            "BEGIN/INSERT/COMMIT per key",
            per=n,
        )

    # ---- output ------------------------------------------------------------------------------
    def report(self) -> None:
        head = ["case", "datajoint_rs SQLite", "floor: sqlite3", "ours/floor"]
        if self.mariadb is not None:
            head += ["datajoint_rs MariaDB", "MariaDB/SQLite"]
        body = []
        for case, lite, floor_name, floor, my in self.rows:
            row = [case, fmt_t(lite), f"{floor_name} {fmt_t(floor)}", fmt_ratio(lite, floor)]
            if self.mariadb is not None:
                row += [fmt_t(my), fmt_ratio(my, lite)]
            body.append(row)
        if self.args.markdown:
            print("| " + " | ".join(head) + " |")
            print("|" + "---|" * len(head))
            for row in body:
                print("| " + " | ".join(row) + " |")
        else:
            widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
            for row in [head, *body]:
                print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        print(
            f"\nmedians of {self.args.repeats} interleaved repeats; SQLite {sqlite3.sqlite_version}"
            f" (file {self.path}, WAL); MariaDB/SQLite > 1: SQLite is faster"
        )
        for line in self.checks:
            print(f"check: {line}")

    def close(self) -> None:
        for name in ("mariadb",):
            if name in self.schemas:
                try:
                    self.schemas[name].drop(force=True)
                except Exception:
                    self.failures.append(f"dropping the MariaDB schema:\n{traceback.format_exc()}")
        self.raw.close()
        self.lite.close()
        if not self.args.keep:
            shutil.rmtree(self.folder, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repeats (seconds)")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--cases", help="comma-separated numbers or names: " + ", ".join(CASES), default=""
    )
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    wanted = []
    for item in filter(None, args.cases.split(",")):
        wanted.append(CASES[int(item) - 1] if item.isdigit() else item)
    cases = [c for c in CASES if not wanted or c in wanted]

    import datajoint_rs as dj

    dj.config["safemode"] = False
    bench = Bench(args, dj)
    try:
        for case in cases:
            getattr(bench, f"case_{case}")()
        bench.report()
    finally:
        bench.close()
    for failure in bench.failures:
        print(f"\nFAILED: {failure}", file=sys.stderr)
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
