#!/usr/bin/env python
"""Blob (de)serialization benchmark: datajoint_rs vs datajoint 0.14.9 vs a floor.

Run from the repo root, after ``.venv/bin/maturin develop --release``::

    .venv/bin/python benches/bench_blob.py              # full run (~4 min on 2 cores)
    .venv/bin/python benches/bench_blob.py --quick      # smoke run, a few seconds
    .venv/bin/python benches/bench_blob.py --markdown   # markdown tables for the README

The contenders of a case are interleaved within every repeat (in rotating order) and the
reported time is the median over repeats, so the ratios are robust on a shared/noisy machine.
``dj/ours`` > 1 means datajoint_rs is faster; ``ours/floor`` is how far we are from the cost
of the bare operation (memcpy, pickle, zlib). Byte-identity of our ``pack`` output with
datajoint's is verified (untimed) for every zlib case.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

ZL_HEADER = 6 + 8  # b"ZL123\0" + uint64 uncompressed length


# ---------------------------------------------------------------------------------------------
# contenders
# ---------------------------------------------------------------------------------------------


def load_datajoint():
    """The reference implementation; importing it does not connect to a database."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import datajoint
        import datajoint.blob

    datajoint.config["enable_python_native_blobs"] = True
    return datajoint


def load_ours():
    import datajoint_rs
    import datajoint_rs.blob

    return datajoint_rs


def ours_config(ours):
    cfg = getattr(ours, "config", None)
    if cfg is None:
        from datajoint_rs.settings import config as cfg
    return cfg


def build_profile(ours) -> str:
    try:
        from datajoint_rs import _native
    except ImportError:
        return "?"
    return str(getattr(_native, "BUILD_PROFILE", "?"))


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------


MIN_SAMPLE_S = 0.02  # calls faster than this are looped within one sample


def _time_once(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn``, over ``number`` back-to-back calls."""
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # like timeit: the same for every contender
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            out = fn()
        dt = time.perf_counter() - t0
    finally:
        if gc_was_enabled:
            gc.enable()
    del out
    return dt / number


def run_interleaved(
    contenders: dict[str, Callable[[], object]],
    repeats: int,
    per: int = 1,
    warmup: bool = True,
) -> dict[str, float]:
    """Median seconds per call (/``per``) of each contender; they alternate within each repeat.

    With ``warmup``, each contender is called once untimed first, and fast ones are looped
    within a sample (at least ``MIN_SAMPLE_S``); skip it for multi-second calls.
    """
    gc.collect()
    gc.freeze()  # so the per-call gc.collect() only scans what the contenders allocate
    names = list(contenders)
    number = dict.fromkeys(names, 1)
    if warmup:
        for name in names:
            t = _time_once(contenders[name], 1)
            number[name] = max(1, min(100_000, int(MIN_SAMPLE_S / max(t, 1e-9))))
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            samples[name].append(_time_once(contenders[name], number[name]) / per)
    return {n: statistics.median(s) for n, s in samples.items()}


# ---------------------------------------------------------------------------------------------
# results & formatting
# ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    ours: float
    dj: float | None
    floors: list[tuple[str, float]] = field(default_factory=list)
    target_dj: float | None = None  # required dj/ours
    target_floor: float | None = None  # required ours/floor (first floor)
    identical: str = ""  # "yes" / "no" / "" (n/a)
    note: str = ""

    @property
    def dj_ratio(self) -> float | None:
        return None if self.dj is None else self.dj / self.ours

    def misses(self) -> list[str]:
        out = []
        if self.target_dj is not None and self.dj_ratio < self.target_dj:
            out.append(f"dj/ours {self.dj_ratio:.2f}x < {self.target_dj:g}x")
        if self.target_floor is not None and self.floors:
            r = self.ours / self.floors[0][1]
            if r > self.target_floor:
                out.append(f"ours/{self.floors[0][0]} {r:.2f} > {self.target_floor:g}")
        if self.identical == "no":
            out.append("pack bytes differ from datajoint")
        return out


@dataclass
class ZRow:
    case: str
    zlib_t: float
    zstd_t: float
    zlib_size: int | None = None
    zstd_size: int | None = None
    raw_size: int | None = None


def fmt_t(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.1f} µs" if s < 1e-4 else f"{s * 1e6:.0f} µs"
    return f"{s * 1e9:.0f} ns"


def fmt_mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.3g} MB"


def fmt_size(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


def main_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    head = [
        "case",
        "ours",
        "datajoint",
        "dj/ours",
        "target",
        "floor",
        "floor time",
        "ours/floor",
        "bytes ==",
        "note",
    ]
    body = []
    for r in rows:
        target = []
        if r.target_dj is not None:
            target.append(f"≥{r.target_dj:g}x")
        if r.target_floor is not None:
            target.append(f"≤{r.target_floor:g} floor")
        miss = r.misses()
        tgt = ", ".join(target)
        if tgt:
            tgt += " MISS" if miss else " ok"
        body.append(
            [
                r.case,
                fmt_t(r.ours),
                fmt_t(r.dj),
                "-" if r.dj_ratio is None else f"{r.dj_ratio:.2f}x",
                tgt or "-",
                " / ".join(n for n, _ in r.floors) or "-",
                " / ".join(fmt_t(t) for _, t in r.floors) or "-",
                " / ".join(f"{r.ours / t:.3g}" for _, t in r.floors) or "-",
                r.identical or "-",
                r.note,
            ]
        )
    return head, body


def zstd_table(rows: list[ZRow]) -> tuple[list[str], list[list[str]]]:
    head = ["case (ours)", "zlib", "zstd", "zlib/zstd", "raw", "zlib size", "zstd size"]
    body = []
    for r in rows:
        body.append(
            [
                r.case,
                fmt_t(r.zlib_t),
                fmt_t(r.zstd_t),
                f"{r.zlib_t / r.zstd_t:.2f}x",
                fmt_size(r.raw_size),
                "-"
                if r.zlib_size is None
                else f"{fmt_size(r.zlib_size)} ({r.zlib_size / r.raw_size:.1%})",
                "-"
                if r.zstd_size is None
                else f"{fmt_size(r.zstd_size)} ({r.zstd_size / r.raw_size:.1%})",
            ]
        )
    return head, body


def render(head: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), "  ".join("-" * w for w in widths)]
    lines += [fmt.format(*row) for row in body]
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def make_tree(n_records: int, seed: int = 7) -> list[dict]:
    """A deterministic nested list/dict tree with strings, ints, floats and small arrays."""
    rng = np.random.default_rng(seed)
    brain_areas = ["V1", "V2", "LGN", "CA1", "CA3", "PFC", "M1", "S1", "MEC", "LEC"]
    stimuli = ["grating", "natural_movie", "dots", "noise", "blank", "checkerboard"]
    tree = []
    for i in range(n_records):
        n = 8 + (i % 9)  # 8..16 elements
        tree.append(
            {
                "subject": f"mouse_{i % 97:03d}",
                "session_date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "area": brain_areas[i % len(brain_areas)],
                "unit_id": i,
                "depth_um": int(rng.integers(0, 3000)),
                "snr": float(rng.random() * 10),
                "firing_rate": float(rng.gamma(2.0, 3.0)),
                "stimuli": [stimuli[(i + k) % len(stimuli)] for k in range(1 + i % 4)],
                "waveform": rng.standard_normal(n),
                "comment": "passed QC"
                if i % 5
                else "flagged: drift in the last third of the session",
            }
        )
    return tree


def tree_equal(a, b) -> bool:
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(tree_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(tree_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def shares(result: np.ndarray, blob: bytes) -> str:
    """Does the unpacked array view the blob's buffer? (np.shares_memory and the base chain)"""
    mem = np.shares_memory(result, np.frombuffer(blob, np.uint8))
    base, chain = result, False
    while base is not None:
        if base is blob or (isinstance(base, memoryview) and base.obj is blob):
            chain = True
            break
        base = getattr(base, "base", None) if not isinstance(base, memoryview) else base.obj
    return "yes" if mem and chain else ("shares memory" if mem else "no (copy)")


# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------


@dataclass
class Bench:
    o_pack: Callable
    o_unpack: Callable
    d_pack: Callable
    d_unpack: Callable
    cfg: object  # datajoint_rs.config
    rep_small: int
    rep_large: int
    rep_huge: int
    quick: bool  # small sizes: warm up (and loop) every case
    rows: list[Row] = field(default_factory=list)
    zrows: list[ZRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_T0 = time.perf_counter()


def progress(msg: str) -> None:
    sys.stdout.flush()
    print(f"  [{time.perf_counter() - _T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def yes_no(b: bool) -> str:
    return "yes" if b else "no"


def case_large_f64(b: Bench, arr: np.ndarray) -> bytes:
    """Cases 1 and 2: pack/unpack a large float64 array. Returns the compressed blob."""
    mb = fmt_mb(arr.nbytes)
    progress(f"1. pack {mb} float64, compress=False")
    blob_u = b.d_pack(arr, compress=False)
    ident = b.o_pack(arr, compress=False) == blob_u
    t = run_interleaved(
        {
            "ours": lambda: b.o_pack(arr, compress=False),
            "dj": lambda: b.d_pack(arr, compress=False),
            "memcpy": arr.tobytes,
            "pickle5": lambda: pickle.dumps(arr, protocol=5),
        },
        b.rep_large,
    )
    b.rows.append(
        Row(
            f"pack {mb} f64, compress=False",
            t["ours"],
            t["dj"],
            [("memcpy", t["memcpy"]), ("pickle5", t["pickle5"])],
            identical=yes_no(ident),
        )
    )

    progress(f"1. pack {mb} float64, compress=True")
    blob_z = b.d_pack(arr)  # default compress=True
    ident = b.o_pack(arr) == blob_z
    t = run_interleaved(
        {
            "ours": lambda: b.o_pack(arr),
            "dj": lambda: b.d_pack(arr),
            "zlib": lambda: zlib.compress(blob_u),
        },
        b.rep_huge,
        warmup=b.quick,
    )
    b.rows.append(
        Row(
            f"pack {mb} f64, compress=True",
            t["ours"],
            t["dj"],
            [("zlib.compress", t["zlib"])],
            identical=yes_no(ident),
            note="zlib-6 bound",
        )
    )
    b.notes.append(
        "compress=True packs are bound by single-threaded zlib level 6 in both implementations "
        "(ours must reproduce datajoint's ZL123 stream byte-exactly, so no faster codec/level)."
    )

    progress(f"2. unpack {mb} float64, uncompressed")
    assert np.array_equal(b.o_unpack(blob_u), arr), "ours: f64 round trip differs"
    zero_copy = shares(b.o_unpack(blob_u), blob_u)
    dj_zero_copy = shares(b.d_unpack(blob_u), blob_u)
    p5 = pickle.dumps(arr, protocol=5)
    offset = len(blob_u) - arr.nbytes
    t = run_interleaved(
        {
            "ours": lambda: b.o_unpack(blob_u),
            "dj": lambda: b.d_unpack(blob_u),
            "frombuffer": lambda: np.frombuffer(blob_u, np.float64, offset=offset),
            "pickle5": lambda: pickle.loads(p5),
        },
        b.rep_large,
    )
    b.rows.append(
        Row(
            f"unpack {mb} f64, uncompressed",
            t["ours"],
            t["dj"],
            [("frombuffer", t["frombuffer"]), ("pickle5", t["pickle5"])],
            note=f"zero-copy: ours {zero_copy}, dj {dj_zero_copy}",
        )
    )

    progress(f"2. unpack {mb} float64, compressed")
    assert np.array_equal(b.o_unpack(blob_z), arr), "ours: compressed f64 round trip differs"
    zstream = memoryview(blob_z)[ZL_HEADER:]
    t = run_interleaved(
        {
            "ours": lambda: b.o_unpack(blob_z),
            "dj": lambda: b.d_unpack(blob_z),
            "zlib": lambda: zlib.decompress(zstream),
        },
        b.rep_large,
        warmup=b.quick,
    )
    b.rows.append(
        Row(
            f"unpack {mb} f64, compressed",
            t["ours"],
            t["dj"],
            [("zlib.decompress", t["zlib"])],
            note=f"ratio {len(blob_z) / len(blob_u):.1%}",
        )
    )
    return blob_z


def case_small_arrays(b: Bench, smalls: list[np.ndarray]) -> None:
    """Case 3: many 100-element float64 arrays, per-call time."""
    n = len(smalls)
    progress(f"3. {n} x 100 floats")
    blobs = [b.d_pack(a) for a in smalls]
    ident = all(b.o_pack(a) == x for a, x in zip(smalls, blobs, strict=True))
    assert all(np.array_equal(b.o_unpack(x), a) for a, x in zip(smalls, blobs, strict=True))
    p5 = [pickle.dumps(a, protocol=5) for a in smalls]
    t = run_interleaved(
        {
            "ours": lambda: [b.o_pack(a) for a in smalls],
            "dj": lambda: [b.d_pack(a) for a in smalls],
            "pickle5": lambda: [pickle.dumps(a, protocol=5) for a in smalls],
        },
        b.rep_small,
        per=n,
    )
    b.rows.append(
        Row(
            "pack 100 f64 (per call)",
            t["ours"],
            t["dj"],
            [("pickle5", t["pickle5"])],
            target_dj=4,
            identical=yes_no(ident),
            note=f"{n} arrays",
        )
    )
    t = run_interleaved(
        {
            "ours": lambda: [b.o_unpack(x) for x in blobs],
            "dj": lambda: [b.d_unpack(x) for x in blobs],
            "pickle5": lambda: [pickle.loads(x) for x in p5],
        },
        b.rep_small,
        per=n,
    )
    b.rows.append(
        Row(
            "unpack 100 f64 (per call)",
            t["ours"],
            t["dj"],
            [("pickle5", t["pickle5"])],
            target_dj=8,
            note=f"{n} arrays",
        )
    )


def case_tree(b: Bench, tree: list[dict]) -> None:
    """Case 4: a ~1 MB nested dict/list tree, with and without compression."""
    raw_len = len(b.d_pack(tree, compress=False))
    tmb = fmt_mb(raw_len)
    p5 = pickle.dumps(tree, protocol=5)
    p5z = zlib.compress(p5)
    for compress in (False, True):
        progress(f"4. {tmb} tree, compress={compress}")
        blob = b.d_pack(tree, compress=compress)
        ident = b.o_pack(tree, compress=compress) == blob
        assert tree_equal(b.o_unpack(blob), tree), "ours: tree round trip differs"
        if compress:
            floor_name = "pickle5+zlib"
            floor_pack = lambda: zlib.compress(pickle.dumps(tree, protocol=5))  # noqa: E731
            floor_unpack = lambda: pickle.loads(zlib.decompress(p5z))  # noqa: E731
        else:
            floor_name = "pickle5"
            floor_pack = lambda: pickle.dumps(tree, protocol=5)  # noqa: E731
            floor_unpack = lambda: pickle.loads(p5)  # noqa: E731
        label = f"{tmb} tree, compress={compress}"
        extra = f", ratio {len(blob) / raw_len:.1%}" if compress else ""
        t = run_interleaved(
            {
                "ours": lambda c=compress: b.o_pack(tree, compress=c),
                "dj": lambda c=compress: b.d_pack(tree, compress=c),
                "floor": floor_pack,
            },
            b.rep_small,
        )
        b.rows.append(
            Row(
                f"pack {label}",
                t["ours"],
                t["dj"],
                [(floor_name, t["floor"])],
                target_dj=13,
                target_floor=None if compress else 1.0,
                identical=yes_no(ident),
                note=f"{len(tree)} records{extra}",
            )
        )
        t = run_interleaved(
            {
                "ours": lambda x=blob: b.o_unpack(x),
                "dj": lambda x=blob: b.d_unpack(x),
                "floor": floor_unpack,
            },
            b.rep_small,
        )
        b.rows.append(
            Row(
                f"unpack {label}",
                t["ours"],
                t["dj"],
                [(floor_name, t["floor"])],
                target_dj=30,
                target_floor=None if compress else 1.0,
                note=f"{len(tree)} records",
            )
        )


def case_i16(b: Bench, i16: np.ndarray) -> bytes:
    """Case 5: unpack of a compressed int16 array. Returns its (zlib) blob."""
    imb = fmt_mb(i16.nbytes)
    progress(f"5. unpack {imb} int16, compressed")
    blob = b.d_pack(i16)
    ident = b.o_pack(i16) == blob
    assert blob.startswith(b"ZL123\0")
    assert np.array_equal(b.o_unpack(blob), i16), "ours: i16 round trip differs"
    stream = memoryview(blob)[ZL_HEADER:]
    t = run_interleaved(
        {
            "ours": lambda: b.o_unpack(blob),
            "dj": lambda: b.d_unpack(blob),
            "zlib": lambda: zlib.decompress(stream),
        },
        b.rep_large,
        warmup=b.quick,
    )
    b.rows.append(
        Row(
            f"unpack {imb} i16, compressed",
            t["ours"],
            t["dj"],
            [("zlib.decompress", t["zlib"])],
            target_dj=1.5,
            identical=yes_no(ident),
            note=f"ratio {len(blob) / i16.nbytes:.1%}; bytes == refers to pack",
        )
    )
    return blob


def case_zstd(b: Bench, name: str, arr: np.ndarray, blob_zlib: bytes, rep_pack: int) -> None:
    """Case 6: ours with blob.compression = "zstd" vs the default "zlib"."""
    progress(f"6. zstd vs zlib, {name}")

    def pack_with(codec):
        b.cfg["blob.compression"] = codec
        try:
            return b.o_pack(arr)
        finally:
            b.cfg["blob.compression"] = "zlib"

    blob_zstd = pack_with("zstd")
    assert np.array_equal(b.o_unpack(blob_zstd), arr), "ours: zstd round trip differs"
    if blob_zstd.startswith(b"ZL123\0"):
        b.notes.append(f'blob.compression="zstd" produced a ZL123 blob for {name}')
    t = run_interleaved(
        {"zlib": lambda: pack_with("zlib"), "zstd": lambda: pack_with("zstd")},
        rep_pack,
        warmup=b.quick,
    )
    b.zrows.append(
        ZRow(f"pack {name}", t["zlib"], t["zstd"], len(blob_zlib), len(blob_zstd), arr.nbytes)
    )
    t = run_interleaved(
        {"zlib": lambda: b.o_unpack(blob_zlib), "zstd": lambda: b.o_unpack(blob_zstd)},
        b.rep_large,
        warmup=b.quick,
    )
    b.zrows.append(ZRow(f"unpack {name}", t["zlib"], t["zstd"], raw_size=arr.nbytes))


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 repeats (CI smoke run)")
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats for every case (default: 7 small, 5 large, 3 for 100 MB zlib packs)",
    )
    ap.add_argument("--markdown", action="store_true", help="print markdown tables")
    ap.add_argument("--no-zstd", action="store_true", help="skip the zstd vs zlib comparison")
    args = ap.parse_args(argv)

    if args.quick:
        rep_small = rep_large = rep_huge = args.repeats or 3
        n_f64, n_i16, n_small, n_records = 125_000, 250_000, 1_000, 200
    else:
        rep_small = args.repeats or 7
        rep_large = args.repeats or 5
        rep_huge = args.repeats or 3
        n_f64, n_i16, n_small, n_records = 12_500_000, 25_000_000, 10_000, 2_000

    dj = load_datajoint()
    try:
        ours = load_ours()
    except ImportError as e:
        print(f"cannot import datajoint_rs ({e}); build it: maturin develop --release")
        return 2
    cfg = ours_config(ours)
    if cfg.get("blob.compression", "zlib") != "zlib":
        print(f'note: blob.compression was {cfg["blob.compression"]!r}; using "zlib"')
    cfg["blob.compression"] = "zlib"

    ncpu = os.cpu_count()
    try:
        ncpu_avail = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu_avail = ncpu
    print(
        f"# machine: {platform.machine()} {platform.system()}, cpus {ncpu_avail}/{ncpu}, "
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"datajoint {dj.__version__}, datajoint_rs {getattr(ours, '__version__', '?')} "
        f"(build {build_profile(ours)}), zlib {zlib.ZLIB_RUNTIME_VERSION}"
    )
    print(
        f"# {'quick' if args.quick else 'full'} run; medians of {rep_small}/{rep_large}/"
        f"{rep_huge} interleaved repeats (small/large/100 MB zlib pack); dj/ours > 1: ours faster",
        flush=True,
    )

    b = Bench(
        ours.blob.pack,
        ours.blob.unpack,
        dj.blob.pack,
        dj.blob.unpack,
        cfg,
        rep_small,
        rep_large,
        rep_huge,
        args.quick,
    )
    rng = np.random.default_rng(12345)
    arr = rng.standard_normal(n_f64)
    blob_f64 = case_large_f64(b, arr)
    case_small_arrays(b, [rng.standard_normal(100) for _ in range(n_small)])
    case_tree(b, make_tree(n_records))
    i16 = (rng.standard_normal(n_i16) * 100).astype(np.int16)
    blob_i16 = case_i16(b, i16)
    if not args.no_zstd:
        case_zstd(b, f"{fmt_mb(i16.nbytes)} i16", i16, blob_i16, rep_large)
        case_zstd(b, f"{fmt_mb(arr.nbytes)} f64", arr, blob_f64, rep_huge)

    # -- report -------------------------------------------------------------------------------
    print()
    print(render(*main_table(b.rows), args.markdown))
    if b.zrows:
        print()
        print(render(*zstd_table(b.zrows), args.markdown))
    print()
    for n in b.notes:
        print(f"note: {n}")
    zl_rows = [r for r in b.rows if r.identical]
    print(
        f"bytes identical (ours pack == datajoint pack, {len(zl_rows)} zlib cases): "
        f"{yes_no(all(r.identical == 'yes' for r in zl_rows))}"
    )
    misses = [(r.case, m) for r in b.rows for m in r.misses()]
    for case, m in misses:
        print(f"MISS: {case}: {m}")
    if not misses:
        print("all targets met")
    elif args.quick:
        print("(quick run: the targets are set for the full sizes; these are indicative only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
