"""Fetch benchmark: the fetch engine of datajoint_rs vs datajoint 0.14.9, raw mysqlclient and
ConnectorX, on the same MariaDB server in one run (TLS off for every contender).

Cases (full sizes; ``--quick`` shrinks them for a smoke run, ``--scale`` multiplies rows):

1. 1,000,000 rows x 6 scalar columns (int, float, double, varchar, date, int) into numpy
   (``fetch()``) and into Arrow (``to_arrow()``); targets: >= 10x datajoint, and within 1.5x
   of ConnectorX (``read_sql(..., return_type="arrow")``).
2. 200 x 5 MB zlib-compressed float64 arrays: ``fetch()``; target >= 4x datajoint; peak
   memory growth <= 1.2x the fetched arrays (measured in a fresh subprocess). The arrays
   (also of case 3) are ``standard_normal`` (``--data normal``, the issue's data: stored at
   96%) or rounded to 3 decimals (``--data rounded``: stored at 30%).
3. 10,000 rows x 100 KB arrays: target >= 5x datajoint.

Floors: mysqlclient ``fetchall`` (a Python object per cell, blobs not decoded) and
ConnectorX 0.4 (Rust; ``return_type="arrow"`` beside ``to_arrow``, ``"pandas"`` beside
``fetch``, whose string and date columns are Python objects in both; blobs not decoded).
``ours (mysqlclient path)`` is datajoint_rs with the engine switched off
(``datajoint_rs.engine.disabled()``); ``ours (one connection)`` is the engine without
partitioned reads, where the scalar result is large enough to be partitioned.

4. (full mode only) streaming the big-blob result with ``fetch(as_iterator=True)``: peak
   memory growth of a fresh process stays under a 500 MB cap whatever the result size
   (the 200 x 5 MB case: 1 GB of arrays, read in chunks of 10 rows and dropped).

    .venv/bin/python benches/bench_fetch.py --quick       # smoke run, seconds
    .venv/bin/python benches/bench_fetch.py               # full sizes (minutes on 2 cores)
    .venv/bin/python benches/bench_fetch.py --markdown

Medians of interleaved repeats. Exit status 1 if datajoint_rs returns different data.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_tables as bt  # noqa: E402  (shared helpers: server params, loading, RSS)
from datajoint_rs import _native  # noqa: E402

SCALAR_DEF = bt.SCALAR_DEF
BLOB_DEF = bt.BLOB_DEF
TABLES = (("ScalarRow", SCALAR_DEF), ("BigBlob", BLOB_DEF), ("MedBlob", BLOB_DEF))
SQL_NAME = {"ScalarRow": "scalar_row", "BigBlob": "big_blob", "MedBlob": "med_blob"}


def sizes(quick: bool, scale: float) -> dict:
    if quick:
        base = dict(scalar_rows=20_000, big_n=6, big_floats=125_000, med_n=300, med_floats=12_500)
    else:
        base = dict(
            scalar_rows=1_000_000, big_n=200, big_floats=625_000, med_n=10_000, med_floats=12_500
        )
    base["scalar_rows"] = max(10, int(base["scalar_rows"] * scale))
    base["big_n"] = max(2, int(base["big_n"] * scale))
    base["med_n"] = max(10, int(base["med_n"] * scale))
    return base


def progress(msg: str) -> None:
    print(f"[bench_fetch] {msg}", file=sys.stderr, flush=True)


def bind(dj, database: str, create: bool):
    schema = dj.Schema(database, context={}, create_schema=create, create_tables=create)
    tables = {}
    for name, definition in TABLES:
        tables[name] = schema(type(name, (dj.Manual,), {"definition": definition}))()
    return schema, tables


def timed(fn, repeats: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
        if _ < repeats - 1:
            result = None
    return float(np.median(samples)), result


def run_case(contenders: dict, repeats: int) -> tuple[dict, dict]:
    """Interleaved repeats: each round runs every contender once (rotating order)."""
    samples = {k: [] for k in contenders}
    results = {}
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            # no recycled blob buffers for ours: every call writes fresh pages, like the first
            # fetch of a process and like everyone else here
            _native.buffer_pool_release()
            start = time.perf_counter()
            out = contenders[name]()
            samples[name].append(time.perf_counter() - start)
            if name not in results:
                results[name] = out
            del out
    return {k: float(np.median(v)) for k, v in samples.items()}, results


def fmt(t):
    return "-" if t is None else f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def run_child(spec: dict, what: str):
    """``child_memory(spec)`` in a fresh process: its JSON result, or None (reported)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    if out.returncode == 0:
        return json.loads(out.stdout.strip().splitlines()[-1])
    progress(f"{what} child failed:\n" + out.stderr[-2000:])
    return None


def child_memory(spec: dict) -> int:
    """In a fresh process: peak RSS growth of fetch() of the big blobs, over their nbytes
    (with ``stream``: of iterating over them in chunks of 10 rows)."""
    dj = bt.load("ours")
    dj.conn()
    _, tables = bind(dj, spec["db"], create=False)
    table = tables["BigBlob"]
    if spec.get("table"):  # the replicated table of --stream-gb
        table = dj.FreeTable(dj.conn(), f"`{spec['db']}`.`{spec['table']}`")
    table.fetch("id", limit=1)  # engine connected, everything imported
    gc.collect()
    base = bt.proc_status("VmRSS")
    bt.reset_peak_rss()
    if spec.get("stream"):
        nbytes = 0
        start = time.perf_counter()
        for chunk in table.fetch(as_iterator=True, chunk_rows=10):
            nbytes += sum(a.nbytes for a in chunk["arr"])
            del chunk
        seconds = time.perf_counter() - start
        peak = bt.proc_status("VmHWM") - base
        print(json.dumps(dict(peak=peak, nbytes=nbytes, seconds=seconds)))
        return 0
    else:
        result = table.fetch()
        nbytes = sum(a.nbytes for a in result["arr"])
    peak = bt.proc_status("VmHWM") - base
    print(json.dumps(dict(peak=peak, nbytes=nbytes)))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--data",
        choices=("normal", "rounded"),
        default="normal",
        help="blob arrays: standard_normal (the issue's data: zlib stores them at 96%%; "
        "default) or rounded to 3 decimals (stored at 30%%)",
    )
    parser.add_argument(
        "--stream-gb",
        type=float,
        default=0,
        help="stream a table of about this many GB (the big blobs copied by the server) "
        "instead of the 1 GB big-blob table",
    )
    parser.add_argument(
        "--stream-only",
        action="store_true",
        help="only the streaming case (with --stream-gb: the issue's 5 GB under 500 MB)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_memory(json.loads(args.child))
    if not os.environ.get("DJ_HOST"):
        os.environ.setdefault("DJ_HOST", "127.0.0.1")
        os.environ.setdefault("DJ_USER", "root")
        os.environ.setdefault("DJ_PASS", "password")
    size = sizes(args.quick, args.scale)
    repeats = args.repeats or 3

    ours = bt.load("ours")
    from datajoint_rs import engine

    try:
        ref = bt.load("ref")
        bt.disable_ref_tls(ref)
    except ImportError:
        ref = None
        progress("datajoint 0.14.9 is not installed: no reference column")
    try:
        import connectorx
    except ImportError:
        connectorx = None
        progress("connectorx is not installed: no ConnectorX column")

    params = bt.server_params()
    db = f"djbench_fetch_{os.getpid()}"
    raw = bt.raw_connect(params)
    failures = []
    rows_out = []
    try:
        ours.conn()
        _, tables = bind(ours, db, create=True)
        ref_tables = bind(ref, db, create=False)[1] if ref else None
        rng = np.random.default_rng(0)

        # ---- data
        n = 0 if args.stream_only else size["scalar_rows"]
        if args.stream_only:
            size["med_n"] = 0
        progress(f"inserting {n:,} scalar rows")
        days = np.datetime64("2020-01-01") + rng.integers(0, 3000, n).astype("timedelta64[D]")
        scalar = [
            dict(id=i, a=float(a), b=float(b), name=f"name{i % 997}", day=str(d), n=int(k))
            for i, a, b, d, k in zip(
                range(n),
                rng.standard_normal(n).round(3),
                rng.standard_normal(n),
                days,
                rng.integers(-(2**31), 2**31 - 1, n),
                strict=True,
            )
        ]
        for start in range(0, n, 100_000):
            tables["ScalarRow"].insert(scalar[start : start + 100_000])
        del scalar

        def array(floats):
            values = rng.standard_normal(floats)
            return values.round(3) if args.data == "rounded" else values

        for name, count, floats in (
            ("BigBlob", size["big_n"], size["big_floats"]),
            ("MedBlob", size["med_n"], size["med_floats"]),
        ):
            progress(f"inserting {count} x {floats * 8 / 1e6:.1f} MB arrays into {name}")
            batch = max(1, (64 << 20) // (floats * 8))
            for start in range(0, count, batch):
                tables[name].insert(
                    dict(id=i, arr=array(floats)) for i in range(start, min(count, start + batch))
                )

        def fq(name):
            return f"`{db}`.`{SQL_NAME[name]}`"

        def raw_fetchall(sql):
            cur = raw.cursor()
            cur.execute(sql)
            out = cur.fetchall()
            cur.close()
            return out

        cx_uri = (
            f"mysql://{params['user']}:{params['password']}@{params['host']}:{params['port']}/{db}"
        )

        def case(title, name, targets, arrow=False):
            progress(f"case: {title}")
            table = tables[name]
            contenders = {
                "ours": (lambda: table.to_arrow()) if arrow else (lambda: table.fetch()),
            }

            def ours_mysqlclient():
                with engine.disabled():
                    return table.to_arrow() if arrow else table.fetch()

            contenders["ours (mysqlclient path)"] = ours_mysqlclient
            if engine.partitions(table, table.heading):

                def ours_one_connection():
                    saved = engine.PARTITIONS
                    engine.PARTITIONS = 1
                    try:
                        return table.to_arrow() if arrow else table.fetch()
                    finally:
                        engine.PARTITIONS = saved

                contenders["ours (one connection)"] = ours_one_connection
            if ref_tables:
                contenders["datajoint 0.14.9"] = lambda: ref_tables[name].fetch()
            contenders["mysqlclient fetchall"] = lambda: raw_fetchall(f"SELECT * FROM {fq(name)}")
            if connectorx is not None:
                # the like-for-like output: Arrow for to_arrow, pandas (numpy columns, a
                # Python object per string) for fetch
                cx_kind = "arrow" if arrow else "pandas"
                contenders["connectorx"] = lambda: connectorx.read_sql(
                    cx_uri, f"SELECT * FROM {fq(name)}", return_type=cx_kind
                )
            medians, results = run_case(contenders, repeats)
            # same data through both of our paths, and the reference's
            same = "ok"
            a, b = results["ours"], results["ours (mysqlclient path)"]
            if arrow:
                if not a.equals(b):
                    same = "DIFFERENT"
            else:
                cols = a.dtype.names
                for c in cols:
                    for x, y in zip(a[c], b[c], strict=True):
                        eq = np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
                        if not eq and not (x != x and y != y):
                            same = "DIFFERENT"
                            break
                if "datajoint 0.14.9" in results:
                    r = results["datajoint 0.14.9"]
                    if len(r) != len(a) or list(r.dtype.names) != list(cols):
                        same = "DIFFERENT from datajoint"
            if same != "ok":
                failures.append(f"{title}: {same}")
            t_ours = medians["ours"]
            row = dict(case=title, same=same, **{k: v for k, v in medians.items()})
            dj_ratio = medians.get("datajoint 0.14.9", float("nan")) / t_ours
            cx = medians.get("connectorx")
            row["dj/ours"] = dj_ratio
            row["ours/cx"] = t_ours / cx if cx else float("nan")
            verdicts = []
            if "dj" in targets:
                verdicts.append("ok" if dj_ratio >= targets["dj"] else "MISS")
            if "cx" in targets and cx:
                verdicts.append("ok" if t_ours / cx <= targets["cx"] else "MISS")
            row["targets"] = " ".join(verdicts)
            rows_out.append(row)
            del results

        mb = size["big_floats"] * 8 / 1e6
        memory = streamed = None
        if not args.stream_only:
            case(f"{n:,} rows x 6 scalars -> numpy", "ScalarRow", {"dj": 10, "cx": 1.5})
            case(f"{n:,} rows x 6 scalars -> Arrow", "ScalarRow", {"dj": 10, "cx": 1.5}, arrow=True)
            case(f"{size['big_n']} x {mb:.0f} MB compressed arrays", "BigBlob", {"dj": 4})
            kb = size["med_floats"] * 8 / 1e3
            case(f"{size['med_n']:,} rows x {kb:.0f} KB arrays", "MedBlob", {"dj": 5})

            progress("peak memory of the big-blob fetch (fresh subprocess)")
            memory = run_child(dict(db=db), "memory")
        if not args.quick:
            progress("streaming the big blobs (fresh subprocess)")
            spec = dict(db=db, stream=True)
            if args.stream_gb:
                # the big blobs copied by the server until the table holds about N GB
                copies = max(1, round(args.stream_gb * 1e9 / (size["big_n"] * mb * 1e6)))
                progress(f"replicating the big blobs {copies}x on the server (untimed)")
                big, stream = f"`{db}`.`{SQL_NAME['BigBlob']}`", f"`{db}`.`stream_blob`"
                raw.query(f"CREATE TABLE {stream} LIKE {big}")
                for k in range(copies):
                    raw.query(
                        f"INSERT INTO {stream} SELECT id + {k * size['big_n']}, arr FROM {big}"
                    )
                    raw.commit()
                spec["table"] = "stream_blob"
            streamed = run_child(spec, "streaming")
    finally:
        try:
            ours.conn().query(f"DROP DATABASE IF EXISTS `{db}`")
        except Exception as exc:  # report, but keep the results
            progress(f"could not drop {db}: {exc}")
        raw.close()

    columns = [
        "ours",
        "ours (one connection)",
        "ours (mysqlclient path)",
        "datajoint 0.14.9",
        "mysqlclient fetchall",
        "connectorx",
    ]
    head = ["case", *columns, "dj/ours", "ours/cx", "targets", "same"]
    body = []
    for r in rows_out:
        body.append(
            [r["case"]]
            + [fmt(r.get(c)) for c in columns]
            + [
                f"{r['dj/ours']:.1f}x" if r["dj/ours"] == r["dj/ours"] else "-",
                f"{r['ours/cx']:.2f}" if r["ours/cx"] == r["ours/cx"] else "-",
                r["targets"],
                r["same"],
            ]
        )
    print(bt.render(head, body, args.markdown))
    if memory:
        ratio = memory["peak"] / max(memory["nbytes"], 1)
        verdict = "ok" if ratio <= 1.2 else "MISS"
        print(
            f"\nbig-blob fetch: peak memory growth {memory['peak'] / 1e6:.0f} MB for "
            f"{memory['nbytes'] / 1e6:.0f} MB of arrays = {ratio:.2f}x (target <= 1.2x: {verdict})"
        )
    if streamed:
        verdict = "ok" if streamed["peak"] <= 500e6 else "MISS"
        print(
            f"streaming {streamed['nbytes'] / 1e6:.0f} MB of arrays in chunks of 10 rows "
            f"({streamed['seconds']:.1f} s): peak "
            f"memory growth {streamed['peak'] / 1e6:.0f} MB (cap 500 MB: {verdict})"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(
            f"\n{repeats} interleaved repeats, medians; TLS off for every contender; "
            f"{os.cpu_count()} cores; blob arrays: --data {args.data}"
        )
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
