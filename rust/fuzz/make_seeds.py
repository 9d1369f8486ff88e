#!/usr/bin/env python3
"""Regenerate rust/fuzz/seeds/ from the shared DataJoint blob test vectors.

seeds/decode/      every vector blob as is, plus zstd ("ZS123") envelopes of the compressed
                   ones (the vectors, written by DataJoint 0.14, only have zlib envelopes);
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
print(f"{len(list(dec.iterdir()))} decode seeds, {len(list(dco.iterdir()))} decompress seeds")
