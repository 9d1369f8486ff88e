//! Framing: the protocol name in front of every plain blob and the optional compression
//! envelope around it.
//!
//! ```text
//! blob     := envelope | plain
//! plain    := "mYm\0" value | "dj0\0" value
//! envelope := "ZL123\0" u64 plain_len zlib(plain)      -- DataJoint 0.14 (the default)
//!           | "ZS123\0" u64 plain_len zstd(plain)      -- datajoint_rs opt-in, see docs
//! ```

use crate::error::{BlobError, Result};

pub const MYM: &[u8; 4] = b"mYm\0";
pub const DJ0: &[u8; 4] = b"dj0\0";
pub const ZLIB_PREFIX: &[u8; 6] = b"ZL123\0";
/// datajoint_rs's zstd envelope. DataJoint 0.14 does not know it (and would read such a
/// blob as `None`), so it is only written when `blob.compression = "zstd"` is configured.
pub const ZSTD_PREFIX: &[u8; 6] = b"ZS123\0";

/// The two protocols of a plain blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// MATLAB-compatible (mYm / datajoint-matlab can read it).
    MYm,
    /// Python extensions (dj0).
    Dj0,
}

impl Protocol {
    pub fn header(self) -> &'static [u8; 4] {
        match self {
            Protocol::MYm => MYM,
            Protocol::Dj0 => DJ0,
        }
    }
}

/// Compression envelopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Zlib,
    Zstd,
}

impl Envelope {
    pub fn prefix(self) -> &'static [u8; 6] {
        match self {
            Envelope::Zlib => ZLIB_PREFIX,
            Envelope::Zstd => ZSTD_PREFIX,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Envelope::Zlib => "zlib",
            Envelope::Zstd => "zstd",
        }
    }
}

/// A blob split into its envelope (if any) and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing<'a> {
    Plain(&'a [u8]),
    Compressed {
        envelope: Envelope,
        /// Length of the plain blob once inflated, as the envelope claims it.
        plain_len: u64,
        stream: &'a [u8],
    },
}

/// Split `buf` into envelope and payload. `dims32` reads `plain_len` as u32 (old 32-bit mYm).
pub fn frame(buf: &[u8], dims32: bool) -> Result<Framing<'_>> {
    for envelope in [Envelope::Zlib, Envelope::Zstd] {
        if let Some(rest) = buf.strip_prefix(&envelope.prefix()[..]) {
            let width = if dims32 { 4 } else { 8 };
            if rest.len() < width {
                return Err(BlobError::Truncated {
                    what: "compressed blob length",
                    offset: 6,
                    needed: width as u64,
                    available: rest.len(),
                });
            }
            let plain_len = if dims32 {
                u32::from_le_bytes(rest[..4].try_into().unwrap()) as u64
            } else {
                u64::from_le_bytes(rest[..8].try_into().unwrap())
            };
            return Ok(Framing::Compressed {
                envelope,
                plain_len,
                stream: &rest[width..],
            });
        }
    }
    Ok(Framing::Plain(buf))
}

/// Read the protocol name (the bytes before the first NUL) of a plain blob and return the
/// protocol and the offset of the first value.
pub fn protocol(plain: &[u8]) -> Result<(Protocol, usize)> {
    if plain.starts_with(MYM) {
        return Ok((Protocol::MYm, 4));
    }
    if plain.starts_with(DJ0) {
        return Ok((Protocol::Dj0, 4));
    }
    if plain.is_empty() {
        return Err(BlobError::Length("empty blob".into()));
    }
    let end = plain
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(plain.len())
        .min(16);
    Err(BlobError::UnknownProtocol(
        String::from_utf8_lossy(&plain[..end]).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(frame(b"mYm\0A", false).unwrap(), Framing::Plain(b"mYm\0A"));
        let mut z = b"ZL123\0".to_vec();
        z.extend_from_slice(&7u64.to_le_bytes());
        z.extend_from_slice(b"xyz");
        assert_eq!(
            frame(&z, false).unwrap(),
            Framing::Compressed {
                envelope: Envelope::Zlib,
                plain_len: 7,
                stream: b"xyz"
            }
        );
        assert!(frame(b"ZL123\0\x01", false).is_err());
    }

    #[test]
    fn protocols() {
        assert_eq!(protocol(b"dj0\0\xff").unwrap(), (Protocol::Dj0, 4));
        assert!(matches!(protocol(b"xyz\0"), Err(BlobError::UnknownProtocol(p)) if p == "xyz"));
        assert!(protocol(b"").is_err());
    }
}
