//! Errors of the core crate. The binding crate maps each variant to a Python exception of
//! the `DataJointError` hierarchy in one place (`rust/py/src/errors.rs`).

use thiserror::Error;

/// Everything that can go wrong while reading or writing a blob.
///
/// Decoding never panics on bad input: every malformed byte sequence ends in one of these.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BlobError {
    /// The data ended before a field that its header announced.
    #[error("Blob length check failed! Invalid blob: truncated {what} at byte {offset} (needs {needed} bytes, {available} left)")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: u64,
        available: usize,
    },
    /// A value (or the whole blob) did not occupy exactly the bytes its length prefix said.
    #[error("Blob length check failed! Invalid blob: {0}")]
    Length(String),
    /// A type code that no DataJoint version writes.
    #[error("Unknown data structure code {0}. Upgrade datajoint.")]
    UnknownCode(String),
    /// The protocol name before the first NUL is neither `mYm` nor `dj0`.
    #[error("Unknown blob protocol {0:?}: not a DataJoint blob (expected mYm or dj0)")]
    UnknownProtocol(String),
    /// An `'A'` array class id that has no numpy dtype.
    #[error("Unknown array class id {0} in blob")]
    UnknownClass(u32),
    /// A MATLAB construct that DataJoint cannot represent (sparse arrays, function handles, ...).
    #[error("{0}")]
    Unsupported(String),
    /// A count or size that cannot fit in the bytes that follow, or in memory.
    #[error("Invalid blob: {0}")]
    Corrupt(String),
    /// Text that must be UTF-8 (str, field names, Decimal) is not.
    #[error("Invalid blob: {what} at byte {offset} is not valid UTF-8")]
    Utf8 { what: &'static str, offset: usize },
    /// Nesting deeper than the decoder or encoder accepts.
    #[error("Blob nesting is deeper than {0} levels")]
    TooDeep(usize),
    /// The compressed envelope is damaged.
    #[error("Invalid blob: corrupt {codec} stream: {detail}")]
    Decompress { codec: &'static str, detail: String },
    /// Packing needs the `dj0` protocol but `enable_python_native_blobs` is off.
    #[error("v0.12+ python native blobs disabled. See also: https://github.com/datajoint/datajoint-python#python-native-blobs")]
    NativeBlobsDisabled,
    /// A value that cannot be written (integer too large, compression failure, ...).
    #[error("{0}")]
    Pack(String),
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;
