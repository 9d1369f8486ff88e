#!/usr/bin/env python3
"""Regenerate rust/fuzz/seeds/ from the shared DataJoint blob test vectors.

seeds/decode/      every vector blob as is, zstd ("ZS123") envelopes of the compressed ones
                   (the vectors, written by DataJoint 0.14, only have zlib envelopes), and a
                   few hand-made blobs: each container nested to the deepest accepted level
                   (400) and one beyond, stray NULs after empty field lists, a dims32 envelope;
seeds/decompress/  inputs of the `decompress` target: u64 LE claimed length + stream, for
                   each zlib / zstd envelope above, and a few plain blobs > 1000 bytes (which
                   exercise the envelope() round trip).

Usage: python3 make_seeds.py [VECTOR_DIR]   (default /work/shared/vectors/blob; needs the
`zstd` command line tool for the zstd seeds).
"""
import pathlib
import shutil
import struct
import subprocess
import sys
import zlib

here = pathlib.Path(__file__).resolve().parent
src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/vectors/blob")
dec, dco = here / "seeds" / "decode", here / "seeds" / "decompress"
for d in (dec, dco):
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)

have_zstd = shutil.which("zstd") is not None
for blob in sorted(src.glob("*.blob")):
    data = blob.read_bytes()
    (dec / blob.name).write_bytes(data)
    if data.startswith(b"ZL123\0"):
        (dco / f"zl_{blob.stem}").write_bytes(data[6:])
        plain = zlib.decompress(data[14:])
        if len(plain) <= 65536:
            (dco / f"plain_{blob.stem}").write_bytes(plain)
        if have_zstd:
            stream = subprocess.run(
                ["zstd", "-3", "-q", "-c", "--content-size"], input=plain,
                stdout=subprocess.PIPE, check=True,
            ).stdout
            header = struct.pack("<Q", len(plain))
            (dec / f"zs_{blob.stem}.blob").write_bytes(b"ZS123\0" + header + stream)
            (dco / f"zs_{blob.stem}").write_bytes(header + stream)

Q = lambda n: struct.pack("<Q", n)
I = lambda n: struct.pack("<I", n)
F64 = b"A" + Q(2) + Q(1) + Q(1) + I(6) + I(0) + struct.pack("<d", 1.0)  # 1x1 double


def item(b):
    return Q(len(b)) + b


def wrap(kind, inner):
    return {
        "tuple": lambda: b"\x01" + Q(1) + item(inner),
        "dict": lambda: b"\x04" + Q(1) + item(b"\xff") + item(inner),
        "cell": lambda: b"C" + Q(2) + Q(1) + Q(1) + item(inner),
        "struct": lambda: b"S" + Q(2) + Q(1) + Q(1) + I(1) + b"a\0" + item(inner),
        "objarr": lambda: b"A" + Q(2) + Q(1) + Q(1) + I(5) + I(0) + item(inner),
        "record": lambda: b"F" + I(1) + b"a\0" + inner,
    }[kind]()


for kind in ["tuple", "dict", "cell", "struct", "objarr", "record"]:
    for levels in (400, 401):  # MAX_DEPTH = 400 levels are accepted, 401 are not
        b = F64 if kind in ("record", "cell") else b"\xff"
        for _ in range(levels - 1):
            b = wrap(kind, b)
        (dec / f"hand_deep_{kind}_{levels}.blob").write_bytes(b"dj0\0" + b)
# DataJoint 0.14's stray NUL after an empty name list, at the top level and inside an item
(dec / "hand_struct_stray_nul.blob").write_bytes(b"mYm\0S" + Q(2) + Q(1) + Q(1) + I(0) + b"\0")
(dec / "hand_record_stray_nul.blob").write_bytes(b"dj0\0F" + I(0) + b"\0")
(dec / "hand_tuple_struct_stray_nul.blob").write_bytes(
    b"dj0\0\x01" + Q(1) + item(b"S" + Q(2) + Q(1) + Q(1) + I(0) + b"\0"))
# 32-bit dims inside a 32-bit-length zlib envelope (unpack with dims32)
plain = b"mYm\0A" + I(2) + I(1) + I(2) + I(6) + I(0) + struct.pack("<2d", 1.0, 2.0)
(dec / "hand_dims32_zlib.blob").write_bytes(b"ZL123\0" + I(len(plain)) + zlib.compress(plain))
print(f"{len(list(dec.iterdir()))} decode seeds, {len(list(dco.iterdir()))} decompress seeds")
