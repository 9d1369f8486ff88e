#!/usr/bin/env python
"""External storage benchmark: datajoint_rs vs datajoint 0.14.9 vs the bare storage client.

Run from the repo root, after ``.venv/bin/maturin develop --release``::

    bash scripts/mariadb.sh start
    bash scripts/s3server.sh start && eval "$(bash scripts/s3server.sh env)"
    .venv/bin/python benches/bench_external.py            # full sizes (a few minutes)
    .venv/bin/python benches/bench_external.py --quick    # CI smoke run, seconds
    .venv/bin/python benches/bench_external.py --markdown

Cases (``--quick``: 20 rows x 256 KB, 100 x 16 KB, a 32 MB file, one repeat):

1. insert of 500 rows x 2 MB int16 arrays (noise), and of 2000 rows x 16 KB ones, into a
   ``blob@store`` attribute of an S3 store
   (the S3-protocol server of scripts/s3server.sh, DJ_S3_* variables; skipped when unset)
   and of a ``file`` store; floor: the bare transfers of the pre-packed blobs (minio
   ``put_object`` on 8 threads; file writes).
2. ``fetch("arr")`` of those rows; floor: the bare downloads (minio ``get_object`` on 8
   threads; file reads).
3. checksum (MD5) of a 1 GB ``filepath`` file: ours (``_native.md5_file``: OpenSSL's MD5,
   reads on a second thread, GIL released) vs datajoint 0.14.9's ``hash.uuid_from_file``
   (hashlib over 16 KB reads) and vs ``hashlib.md5`` over 1 MB reads; floor: reading the
   file (page-cached: the memory limit).

Both packages use the same server and the same stores, each its own schema
(``djbench_ext_{ours,ref}_<pid>``, dropped at the end); the objects of each repeat are
removed (untimed) before the next. Within a repeat the contenders run in rotating order; the
table reports the **median** over repeats and ``dj/ours`` (> 1: datajoint_rs faster) and
``ours/floor``. Fetched arrays are checked against the inserted ones (untimed).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import hashlib
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

TARGET_S3 = 4.0  # dj/ours, insert and fetch on S3
WORKERS = 8


def timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def make_floor(store, packed, schema, floor_dir, pid):
    """(put, get, clean) of the bare transfers of the packed blobs: minio on WORKERS threads
    (S3), plain file writes and reads (file)."""
    rows = len(packed)
    if store == "sbench":
        folder = schema.external[store].s3
        name = f"djbench/{pid}/floor/{{}}".format

        def put():
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
                list(pool.map(lambda ib: folder.put(name(ib[0]), ib[1]), enumerate(packed)))

        def get():
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
                list(pool.map(lambda i: folder.get(name(i)), range(rows)))

        def clean():
            for i in range(rows):
                folder.remove_object(name(i))

        return put, get, clean

    def put():
        floor_dir.mkdir(exist_ok=True)
        for i, b in enumerate(packed):
            (floor_dir / str(i)).write_bytes(b)

    def get():
        for i in range(rows):
            (floor_dir / str(i)).read_bytes()

    def clean():
        for i in range(rows):
            (floor_dir / str(i)).unlink()

    return put, get, clean


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one repeat (CI)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--markdown", action="store_true")
    return p.parse_args()


def main():
    args = parse_args()
    # (rows, bytes per array): the large arrays of the issue, and many small objects, where
    # the per-object round trips (one HTTP request and one tracking-row INSERT each in 0.14)
    # dominate, as in the users' reports (787 rows: 24 s on S3, 1.5 s on a file store)
    workloads = (
        [(args.rows or 20, 256 << 10), (100, 16 << 10)]
        if args.quick
        else [
            (args.rows or 500, 2 << 20),
            (2000, 16 << 10),
        ]
    )
    repeats = args.repeats or (1 if args.quick else 3)
    file_size = (32 << 20) if args.quick else (1 << 30)

    warnings.simplefilter("ignore")
    import datajoint as ref_dj
    import datajoint_rs as dj
    from datajoint.hash import uuid_from_file as ref_uuid_from_file
    from datajoint_rs import _native

    host = os.environ.get("DJ_HOST", "127.0.0.1")
    user = os.environ.get("DJ_USER", "root")
    password = os.environ.get("DJ_PASS", "password")
    for pkg in (dj, ref_dj):
        pkg.config["database.host"] = host
        pkg.config["database.user"] = user
        pkg.config["database.password"] = password
        pkg.config["safemode"] = False
    s3_env = {
        k: os.environ.get(f"DJ_S3_{k.upper()}")
        for k in ("endpoint", "access_key", "secret_key", "bucket")
    }
    have_s3 = all(s3_env.values())
    tmp = Path(tempfile.mkdtemp(prefix="djbench_ext_"))
    pid = os.getpid()

    def stores():
        out = {"fbench": dict(protocol="file", location=str(tmp / "store"), stage=str(tmp))}
        if have_s3:
            out["sbench"] = dict(
                protocol="s3",
                endpoint=s3_env["endpoint"],
                bucket=s3_env["bucket"],
                access_key=s3_env["access_key"],
                secret_key=s3_env["secret_key"],
                location=f"djbench/{pid}",
                stage=str(tmp),
            )
        return out

    (tmp / "store").mkdir()
    for pkg in (dj, ref_dj):
        pkg.config["stores"] = stores()
    rng = np.random.default_rng(0)
    results = []  # (case, {contender: median seconds})
    failures = []

    schemas = {}
    classes = {}
    for name, pkg in (("ours", dj), ("dj", ref_dj)):
        database = f"djbench_ext_{name}_{pid}"
        pkg.conn().query(f"DROP DATABASE IF EXISTS `{database}`")
        schema = pkg.Schema(database, context={})
        schemas[name] = schema
        for store in stores():
            cls = type(
                f"Arr{store.title()}",
                (pkg.Manual,),
                {"definition": f"id : int\n---\narr : blob@{store}\n"},
            )
            classes[(name, store)] = schema(cls)

    def clear(name, store):
        classes[(name, store)].delete_quick()
        schemas[name].external[store].delete(delete_external_files=True, display_progress=False)

    try:
        for rows, nbytes in workloads:
            # int16 "recordings" (noise): zlib packs them to ~78%, as it does real ephys data
            data = [(rng.standard_normal(nbytes // 2) * 300).astype(np.int16) for _ in range(rows)]
            for store in stores():
                label = "S3" if store == "sbench" else "file"
                packed = [dj.blob.pack(a) for a in data]
                floor_put, floor_get, floor_clean = make_floor(
                    store, packed, schemas["ours"], tmp / "floor", pid
                )
                times = {
                    "insert": {"ours": [], "dj": [], "floor": []},
                    "fetch": {"ours": [], "dj": [], "floor": []},
                }
                order = ["ours", "dj", "floor"]
                for r in range(repeats):
                    order = order[1:] + order[:1]
                    for who in order:
                        if who == "floor":
                            times["insert"]["floor"].append(timed(floor_put))
                            times["fetch"]["floor"].append(timed(floor_get))
                            floor_clean()
                            continue
                        table = classes[(who, store)]
                        clear(who, store)
                        times["insert"][who].append(
                            timed(
                                lambda t=table, data=data: t.insert(
                                    dict(id=i, arr=a) for i, a in enumerate(data)
                                )
                            )
                        )
                        out = {}

                        def fetch(t=table, out=out):
                            out["v"] = t.fetch("id", "arr", order_by="id")

                        times["fetch"][who].append(timed(fetch))
                        if r == 0:
                            ids, arrs = out["v"]
                            if list(ids) != list(range(rows)) or not all(
                                np.array_equal(a, b) for a, b in zip(arrs, data, strict=True)
                            ):
                                failures.append(f"{who} {label}: fetched arrays differ")
                        del out
                        clear(who, store)
                for op in ("insert", "fetch"):
                    results.append(
                        (
                            f"{op} {rows} x {nbytes >> 10} KB blob@store, {label}",
                            {k: statistics.median(v) for k, v in times[op].items()},
                            TARGET_S3 if store == "sbench" else None,
                        )
                    )
        if not have_s3:
            print("(S3 cases skipped: DJ_S3_ENDPOINT etc. unset; see scripts/s3server.sh)")

        # checksum of a large file
        big = tmp / "big.bin"
        with big.open("wb") as f:
            chunk = np.random.default_rng(1).bytes(16 << 20)
            for _ in range(file_size // len(chunk)):
                f.write(chunk)

        def ours_md5():
            return _native.md5_file(big)

        def hashlib_md5():
            h = hashlib.md5()
            with big.open("rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
            return h.digest()

        def read_only():
            buf = bytearray(1 << 20)
            with big.open("rb", buffering=0) as f:
                while f.readinto(buf):
                    pass

        def reference_md5():  # what datajoint 0.14.9 runs for filepath / attach checksums
            return ref_uuid_from_file(big).bytes

        if not ours_md5() == hashlib_md5() == reference_md5():
            failures.append("md5_file differs from hashlib / datajoint")
        for contender, name in (
            (reference_md5, "datajoint.hash.uuid_from_file"),
            (hashlib_md5, "hashlib.md5, 1 MB reads"),
        ):
            t = {"ours": [], "dj": [], "floor": []}
            for _ in range(max(repeats, 3)):
                t["ours"].append(timed(ours_md5))
                t["dj"].append(timed(contender))
                t["floor"].append(timed(read_only))
            results.append(
                (
                    f"MD5 of a {file_size >> 20} MB file (dj: {name})",
                    {k: statistics.median(v) for k, v in t.items()},
                    None,
                )
            )
    finally:
        for name, pkg in (("ours", dj), ("dj", ref_dj)):
            pkg.conn().query(f"DROP DATABASE IF EXISTS `djbench_ext_{name}_{pid}`")
        for path in sorted(tmp.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        tmp.rmdir()

    header = ("case", "ours s", "dj 0.14.9 s", "floor s", "dj/ours", "ours/floor", "target")
    lines = []
    for case, m, target in results:
        ratio = m["dj"] / m["ours"]
        verdict = (
            "" if target is None else (f">={target:g}x " + ("ok" if ratio >= target else "MISS"))
        )
        lines.append(
            (
                case,
                f"{m['ours']:.3f}",
                f"{m['dj']:.3f}",
                f"{m['floor']:.3f}",
                f"{ratio:.2f}",
                f"{m['ours'] / m['floor']:.2f}",
                verdict,
            )
        )
    print(f"\nexternal storage, medians of {repeats} repeat(s), {WORKERS} transfer workers\n")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for line in lines:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
    if failures:
        print("FAILED:", *failures, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
