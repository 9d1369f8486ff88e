//! Pure-Rust core of `datajoint_rs`.
//!
//! Nothing here knows about Python: the blob codec works on byte slices and a plain
//! [`blob::Value`] tree, so it can be unit-tested, benchmarked and fuzzed on its own.
//! The `datajoint-py` crate is the thin PyO3 layer over it.

pub mod blob;
pub mod compress;
pub mod error;
pub mod hash;
pub mod pages;
pub mod sql;

pub use error::BlobError;
