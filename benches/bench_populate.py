"""populate() overhead: ours vs datajoint 0.14.9 on the same server, in one run.

1. Per-key overhead of ``populate(reserve_jobs=True)`` with a trivial ``make`` (N keys,
   default 2,000): target at most half of datajoint's.
2. Throughput of ``populate()`` over 200 keys whose ``make`` fetches a 5 MB array and inserts
   a derived one (``--blob-keys``; scaled down by ``--quick``).

Both packages declare the same tables in their own schema (DJ_HOST/DJ_USER/DJ_PASS, default
127.0.0.1/root/password, TLS off for both); schemas are dropped at the end.

    python benches/bench_populate.py [--keys 2000] [--blob-keys 200] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def declare(dj, name, n_keys, n_blob_keys, arr_len):
    dj.config["database.host"] = os.environ.get("DJ_HOST", "127.0.0.1")
    dj.config["database.user"] = os.environ.get("DJ_USER", "root")
    dj.config["database.password"] = os.environ.get("DJ_PASS", "password")
    dj.config["database.use_tls"] = False
    dj.config["safemode"] = False
    schema = dj.Schema(name)

    @schema
    class Key(dj.Manual):
        definition = """
        k : int
        """

    @schema
    class Trivial(dj.Computed):
        definition = """
        -> Key
        ---
        v : int
        """

        def make(self, key):
            self.insert1(dict(key, v=key["k"]))

    @schema
    class Raw(dj.Manual):
        definition = """
        r : int
        ---
        arr : longblob
        """

    @schema
    class Derived(dj.Computed):
        definition = """
        -> Raw
        ---
        smooth : longblob
        """

        def make(self, key):
            arr = (Raw & key).fetch1("arr")
            self.insert1(dict(key, smooth=np.cumsum(arr) / len(arr)))

    Key.insert([dict(k=i) for i in range(n_keys)])
    rng = np.random.default_rng(0)
    for r in range(n_blob_keys):
        Raw.insert1(dict(r=r, arr=rng.standard_normal(arr_len).round(3)))
    return schema, Trivial, Derived


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--blob-keys", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the per-key case")
    parser.add_argument("--quick", action="store_true", help="100 keys, 10 blob keys of 0.5 MB")
    args = parser.parse_args()
    arr_len = 625_000
    if args.quick:
        args.keys, args.blob_keys, arr_len, args.rounds = 100, 10, 62_500, 1

    import datajoint as ref
    import datajoint_rs as ours

    pid = os.getpid()
    setups = {
        "datajoint_rs": declare(
            ours, f"djbench_pop_ours_{pid}", args.keys, args.blob_keys, arr_len
        ),
        "datajoint 0.14.9": declare(
            ref, f"djbench_pop_ref_{pid}", args.keys, args.blob_keys, arr_len
        ),
    }
    try:
        per_key = {name: [] for name in setups}
        blob_rate = {}
        # rounds alternate between the packages (the machine is shared and noisy): medians
        for _ in range(args.rounds):
            for name, (schema, trivial, _derived) in setups.items():
                trivial.delete_quick()
                schema.jobs.delete_quick()
                dt, result = timed(lambda t=trivial: t.populate(reserve_jobs=True))
                assert result["success_count"] == args.keys, (name, result)
                per_key[name].append(dt / args.keys)
        per_key = {name: statistics.median(times) for name, times in per_key.items()}
        for name, (_schema, _trivial, derived) in setups.items():
            dt, result = timed(lambda d=derived: d.populate())
            assert result["success_count"] == args.blob_keys, (name, result)
            blob_rate[name] = args.blob_keys / dt
        ours_k, ref_k = per_key["datajoint_rs"], per_key["datajoint 0.14.9"]
        print("| case | datajoint_rs | datajoint 0.14.9 | ours/dj |")
        print("|---|---|---|---|")
        print(
            f"| populate(reserve_jobs=True), trivial make, {args.keys} keys: time per key "
            f"(median of {args.rounds}) | "
            f"{ours_k * 1e3:.2f} ms | {ref_k * 1e3:.2f} ms | {ours_k / ref_k:.2f} |"
        )
        print(
            f"| populate(), make fetches {arr_len * 8 / 1e6:.1f} MB and inserts a derived array, "
            f"{args.blob_keys} keys: keys per second | {blob_rate['datajoint_rs']:.1f} | "
            f"{blob_rate['datajoint 0.14.9']:.1f} | "
            f"{blob_rate['datajoint 0.14.9'] / blob_rate['datajoint_rs']:.2f} |"
        )
        if ours_k > ref_k / 2:
            print("MISS: per-key overhead is more than half of datajoint's")
    finally:
        for schema, _, _ in setups.values():
            schema.drop(force=True)


if __name__ == "__main__":
    main()
