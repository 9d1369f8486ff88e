"""Query construction and SQL rendering: ours vs datajoint 0.14.9, in one run.

Builds ``(A * B * C * D * E) & r1 & r2 & r3`` and renders its SQL, on the same five tables
declared by each package in its own schema on the same server (DJ_HOST/DJ_USER/DJ_PASS,
default 127.0.0.1/root/password); reports the median time per build+render and the ratio,
and checks that ``len()`` and ``bool()`` issue one query each.

    python benches/bench_query.py [--repeats 7] [--calls 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

DEFINITIONS = [
    ("A", "a : int\n---\nx_a : int"),
    ("B", "-> A\nb : int\n---\nx_b : float"),
    ("C", "-> B\nc : int\n---\nx_c : varchar(16)"),
    ("D", "-> C\nd : int\n---\nx_d : int"),
    ("E", "-> D\ne : int\n---\nx_e : double"),
]


def build(dj, schema_name):
    dj.config["database.host"] = os.environ.get("DJ_HOST", "127.0.0.1")
    dj.config["database.user"] = os.environ.get("DJ_USER", "root")
    dj.config["database.password"] = os.environ.get("DJ_PASS", "password")
    dj.config["database.use_tls"] = False
    schema = dj.Schema(schema_name)
    context = {}
    for name, definition in DEFINITIONS:
        cls = type(name, (dj.Manual,), {"definition": definition})
        context[name] = schema(cls, context=context)
    return schema, [context[n] for n, _ in DEFINITIONS]


def query(tables):
    a, b, c, d, e = tables
    return (a * b * c * d * e) & "x_a > 3" & {"x_c": "abc"} & [{"b": 1}, {"b": 2}]


def per_call(tables, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        query(tables).make_sql()
    return (time.perf_counter() - t0) / calls


def count_queries(conn_owner, fn):
    conn = conn_owner.connection
    original, count = conn.query, [0]

    def spy(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    conn.query = spy
    try:
        fn()
    finally:
        conn.query = original
    return count[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="3 repeats of 200 calls")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.calls = 3, 200

    import datajoint as ref
    import datajoint_rs as ours

    suffix = os.getpid()
    contenders = {
        "datajoint_rs": build(ours, f"djbench_q_ours_{suffix}"),
        "datajoint 0.14.9": build(ref, f"djbench_q_ref_{suffix}"),
    }
    try:
        samples = {name: [] for name in contenders}
        for _ in range(args.repeats):
            for name, (_, tables) in contenders.items():
                samples[name].append(per_call(tables, args.calls))
        med = {name: statistics.median(v) for name, v in samples.items()}
        ratio = med["datajoint 0.14.9"] / med["datajoint_rs"]
        print("| case | datajoint_rs | datajoint 0.14.9 | dj/ours |")
        print("|---|---|---|---|")
        print(
            "| build + render a 5-table join with 3 restrictions | "
            f"{med['datajoint_rs'] * 1e6:.0f} µs | {med['datajoint 0.14.9'] * 1e6:.0f} µs | "
            f"{ratio:.2f}× |"
        )
        _, tables = contenders["datajoint_rs"]
        q = query(tables)
        n_len = count_queries(tables[0], lambda: len(q))
        n_bool = count_queries(tables[0], lambda: bool(q))
        print(f"queries issued by len(): {n_len}, by bool(): {n_bool} (expected 1 each)")
        if med["datajoint_rs"] > 1e-3 or n_len != 1 or n_bool != 1:
            print("MISS: build+render must stay under 1 ms; len()/bool() one query each")
    finally:
        for schema, _ in contenders.values():
            schema.drop(force=True)


if __name__ == "__main__":
    main()
