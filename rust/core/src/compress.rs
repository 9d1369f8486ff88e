//! Compression envelopes of blobs.
//!
//! Writing uses **real zlib** (libz-sys) at level 6: DataJoint 0.14 calls Python's
//! `zlib.compress`, and external-store content hashes are MD5s of the compressed bytes, so
//! any other deflate implementation (miniz_oxide, zlib-ng, libdeflate) would give valid but
//! different bytes and break deduplication against data written by the real package.
//! Reading uses libdeflate: inflate output is unique, so a faster inflater is safe.

use crate::blob::header::Envelope;
use crate::error::{BlobError, Result};
use crate::pages::Buffer;

/// Blobs of at most this many bytes (protocol header included) are never compressed.
pub const COMPRESS_THRESHOLD: usize = 1000;
/// zlib level of DataJoint 0.14 (`zlib.compress` default, Z_DEFAULT_COMPRESSION).
pub const ZLIB_LEVEL: i32 = 6;
/// zstd level of the opt-in zstd envelope (zstd's own default).
pub const ZSTD_LEVEL: i32 = 3;
/// Envelope prefix (6 bytes) + u64 plain length.
pub const ENVELOPE_OVERHEAD: usize = 14;

/// deflate cannot expand data by more than ~1032:1, zstd by more than 32768:1 (RLE blocks):
/// a claimed length beyond that is a lie and is refused before anything is allocated.
pub fn max_plain_len(envelope: Envelope, stream_len: usize) -> u64 {
    let ratio: u64 = match envelope {
        Envelope::Zlib => 1032,
        Envelope::Zstd => 32_768,
    };
    (stream_len as u64)
        .saturating_mul(ratio)
        .saturating_add(1024)
}

/// Check a claimed plain length against the stream it is said to come from.
pub fn check_plain_len(envelope: Envelope, stream_len: usize, plain_len: u64) -> Result<usize> {
    if plain_len > max_plain_len(envelope, stream_len) || plain_len > isize::MAX as u64 {
        return Err(BlobError::Decompress {
            codec: envelope.name(),
            detail: format!(
                "envelope claims {plain_len} bytes from a {stream_len}-byte stream, impossible"
            ),
        });
    }
    Ok(plain_len as usize)
}

/// Inflate `stream` into `out`, which must be exactly the claimed plain length.
pub fn decompress_into(envelope: Envelope, stream: &[u8], out: &mut [u8]) -> Result<()> {
    let err = |detail: String| BlobError::Decompress {
        codec: envelope.name(),
        detail,
    };
    let n = match envelope {
        Envelope::Zlib => libdeflater::Decompressor::new()
            .zlib_decompress(stream, out)
            .map_err(|e| {
                err(match e {
                    libdeflater::DecompressionError::InsufficientSpace => {
                        "inflated data is longer than the envelope says".into()
                    }
                    other => other.to_string(),
                })
            })?,
        Envelope::Zstd => {
            zstd::bulk::decompress_to_buffer(stream, out).map_err(|e| err(e.to_string()))?
        }
    };
    if n != out.len() {
        return Err(BlobError::Length(format!(
            "compressed blob inflates to {n} bytes but its envelope says {}",
            out.len()
        )));
    }
    Ok(())
}

/// Inflate `stream` into a new buffer of `n` bytes (a length checked by `check_plain_len`):
/// large ones are recycled pages (see `pages`), so inflating costs no page faults once a
/// process has freed blobs of similar sizes.
pub fn decompress_buffer(envelope: Envelope, stream: &[u8], n: usize) -> Result<Buffer> {
    Buffer::fill(n, |out| decompress_into(envelope, stream, out))
}

/// Inflate into a new buffer (after checking the claimed length).
pub fn decompress(envelope: Envelope, stream: &[u8], plain_len: u64) -> Result<Vec<u8>> {
    let n = check_plain_len(envelope, stream.len(), plain_len)?;
    let mut out = vec![0u8; n];
    decompress_into(envelope, stream, &mut out)?;
    Ok(out)
}

/// Apply DataJoint's rule: compress only blobs longer than 1000 bytes, and keep the envelope
/// only if it is strictly shorter than the plain blob. Returns the envelope, or `None` when
/// the plain blob is to be stored.
pub fn envelope(plain: &[u8], envelope: Envelope) -> Result<Option<Vec<u8>>> {
    if plain.len() <= COMPRESS_THRESHOLD {
        return Ok(None);
    }
    // The envelope must end up shorter than `plain`: give the compressor exactly that much room
    // and give up as soon as it runs out (incompressible data never gets a full copy).
    let limit = plain.len() - 1;
    let mut out = Vec::with_capacity(limit.min(plain.len() / 2 + 4096));
    out.extend_from_slice(envelope.prefix());
    out.extend_from_slice(&(plain.len() as u64).to_le_bytes());
    let fits = match envelope {
        Envelope::Zlib => zlib_compress_limited(plain, &mut out, limit)?,
        Envelope::Zstd => zstd_compress_limited(plain, &mut out, limit)?,
    };
    Ok(fits.then_some(out))
}

/// Append the zlib stream of `data` (level 6, default window, memLevel and strategy, as
/// Python's `zlib.compress`) to `out`; false if `out` would grow beyond `limit` bytes.
pub fn zlib_compress_limited(data: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<bool> {
    use libz_sys as z;
    use std::mem::MaybeUninit;

    let fail = |what: &str, code: i32| BlobError::Pack(format!("zlib {what} failed ({code})"));
    let mut strm = MaybeUninit::<z::z_stream>::zeroed();
    // SAFETY: a zeroed z_stream (null zalloc/zfree/opaque) is the documented initial state;
    // deflateInit2_ receives the library's own version string and struct size.
    let rc = unsafe {
        z::deflateInit2_(
            strm.as_mut_ptr(),
            ZLIB_LEVEL,
            z::Z_DEFLATED,
            15,
            8,
            z::Z_DEFAULT_STRATEGY,
            z::zlibVersion(),
            std::mem::size_of::<z::z_stream>() as i32,
        )
    };
    if rc != z::Z_OK {
        return Err(fail("init", rc));
    }
    // SAFETY: initialised by deflateInit2_ above.
    let strm = unsafe { strm.assume_init_mut() };
    // Reserving address space is cheap: pages are only touched as zlib writes them.
    out.reserve(limit.saturating_sub(out.len()));
    let mut input = data;
    let result = 'feed: loop {
        // zlib counts in u32: feed in chunks (chunking does not change the output).
        let chunk = input.len().min(u32::MAX as usize);
        strm.next_in = input.as_ptr() as *mut u8;
        strm.avail_in = chunk as u32;
        let flush = if chunk == input.len() {
            z::Z_FINISH
        } else {
            z::Z_NO_FLUSH
        };
        loop {
            let room = limit.saturating_sub(out.len()).min(u32::MAX as usize);
            if room == 0 {
                break 'feed Ok(false);
            }
            let before = out.len();
            // SAFETY: capacity >= limit, so next_out has `room` writable bytes; zlib writes
            // at most avail_out bytes and the length grows by exactly what it wrote.
            strm.next_out = unsafe { out.as_mut_ptr().add(before) };
            strm.avail_out = room as u32;
            let rc = unsafe { z::deflate(strm, flush) };
            unsafe { out.set_len(before + room - strm.avail_out as usize) };
            match rc {
                z::Z_STREAM_END => break 'feed Ok(true),
                z::Z_OK | z::Z_BUF_ERROR => {
                    if strm.avail_in == 0 && flush == z::Z_NO_FLUSH {
                        break;
                    }
                }
                other => break 'feed Err(fail("deflate", other)),
            }
        }
        input = &input[chunk..];
    };
    // SAFETY: end the stream initialised above (on every path).
    unsafe { z::deflateEnd(strm) };
    result
}

/// Append a zstd frame of `data` to `out`; false if it would make `out` exceed `limit`.
pub fn zstd_compress_limited(data: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<bool> {
    let bound = zstd::zstd_safe::compress_bound(data.len());
    let start = out.len();
    out.resize(start + bound, 0);
    let n = zstd::bulk::Compressor::new(ZSTD_LEVEL)
        .and_then(|mut c| {
            c.include_contentsize(true)?;
            c.compress_to_buffer(data, &mut out[start..])
        })
        .map_err(|e| BlobError::Pack(format!("zstd compression failed: {e}")))?;
    out.truncate(start + n);
    Ok(out.len() <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn zlib_round_trip_and_header() {
        let data = sample();
        let env = envelope(&data, Envelope::Zlib).unwrap().unwrap();
        assert_eq!(&env[..6], b"ZL123\0");
        assert_eq!(&env[14..16], &[0x78, 0x9C]);
        let back = decompress(Envelope::Zlib, &env[14..], data.len() as u64).unwrap();
        assert_eq!(back, data);
        assert!(decompress(Envelope::Zlib, &env[14..], data.len() as u64 + 1).is_err());
        assert!(decompress(Envelope::Zlib, &env[14..env.len() - 3], data.len() as u64).is_err());
    }

    #[test]
    fn zstd_round_trip() {
        let data = sample();
        let env = envelope(&data, Envelope::Zstd).unwrap().unwrap();
        let back = decompress(Envelope::Zstd, &env[14..], data.len() as u64).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn thresholds() {
        assert!(envelope(&[0u8; 1000], Envelope::Zlib).unwrap().is_none());
        assert!(envelope(&[0u8; 1001], Envelope::Zlib).unwrap().is_some());
        // pseudo-random bytes do not shrink
        let mut x = 0x12345678u32;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert!(envelope(&noise, Envelope::Zlib).unwrap().is_none());
    }

    #[test]
    fn bombs_are_refused_before_allocation() {
        assert!(decompress(Envelope::Zlib, &[0x78, 0x9C], u64::MAX).is_err());
        assert!(decompress(Envelope::Zstd, &[0; 4], 1 << 40).is_err());
    }
}
