//! Compression envelopes.
//!
//! 1. Input bytes 0..8 are a claimed plain length (u64 LE), the rest is taken as a zlib and
//!    as a zstd stream. `decompress` must return `Ok` (with exactly the claimed length) or
//!    `Err`, never panic, and refuse a claimed length beyond `max_plain_len` (before
//!    allocating). Besides the claimed length as is (mostly absurd), a copy folded into the
//!    admissible range is tried so that the inflaters really run.
//! 2. The whole input, as a plain blob, must round trip through `envelope()` (both codecs),
//!    `frame()` and `decompress()`.
#![no_main]

use dj_core::blob::header::{frame, Envelope, Framing};
use dj_core::compress::{decompress, envelope, max_plain_len, COMPRESS_THRESHOLD};
use libfuzzer_sys::fuzz_target;

/// Cap of the folded length: bigger buffers only slow the fuzzer down (calloc and the
/// inflaters' bounds are what is being tested, not the page allocator).
const FOLD_CAP: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Some((head, stream)) = data.split_first_chunk::<8>() {
        let claimed = u64::from_le_bytes(*head);
        for codec in [Envelope::Zlib, Envelope::Zstd] {
            let bound = max_plain_len(codec, stream.len());
            let folded = claimed % (bound.min(FOLD_CAP) + 1);
            for len in [claimed, folded] {
                if let Ok(out) = decompress(codec, stream, len) {
                    assert_eq!(out.len() as u64, len);
                }
                assert!(len <= bound || decompress(codec, stream, len).is_err());
            }
        }
    }

    for codec in [Envelope::Zlib, Envelope::Zstd] {
        let Some(env) = envelope(data, codec).expect("compression cannot fail") else {
            // Stored plain: too short, or the envelope would not be strictly shorter.
            continue;
        };
        assert!(data.len() > COMPRESS_THRESHOLD && env.len() < data.len());
        let Framing::Compressed { envelope: e, plain_len, stream } = frame(&env, false).unwrap()
        else {
            panic!("envelope without its prefix");
        };
        assert_eq!((e, plain_len), (codec, data.len() as u64));
        let back = decompress(e, stream, plain_len).expect("own envelope must decompress");
        assert!(back == data, "envelope round trip changed the data");
    }
});
