//! Content hashes. DataJoint 0.14 addresses external blobs by the MD5 of their stored bytes,
//! read as a UUID; attachments by the MD5 of `name + "\0" + contents`; filepath contents by the
//! MD5 of the file.
//!
//! MD5 is computed by the system's OpenSSL (libcrypto, which the MySQL client library links
//! anyway) when it offers MD5: its assembly is about a third faster than the portable
//! implementation (`md-5`), which is the fallback (e.g. where a FIPS policy disables MD5 in
//! OpenSSL). Both give the same digests.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use md5::{Digest, Md5};

/// Size of the reads of [`md5_file`]: large enough that the per-read system-call cost
/// vanishes next to hashing (MD5 runs at several hundred MB/s), small enough to stay in L2.
pub const FILE_CHUNK: usize = 1 << 20;

/// MD5 of `data`.
pub fn md5(data: &[u8]) -> [u8; 16] {
    let mut hasher = Md5Hasher::default();
    hasher.update(data);
    hasher.finish()
}

/// Incremental MD5 for data that arrives in pieces (files, streams).
pub struct Md5Hasher(Backend);

enum Backend {
    OpenSsl(EvpMd5),
    Portable(Md5),
}

impl Default for Md5Hasher {
    fn default() -> Self {
        Md5Hasher(match EvpMd5::new() {
            Some(evp) => Backend::OpenSsl(evp),
            None => Backend::Portable(Md5::default()),
        })
    }
}

impl Md5Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            Backend::OpenSsl(evp) => evp.update(data),
            Backend::Portable(md5) => md5.update(data),
        }
    }

    pub fn finish(self) -> [u8; 16] {
        match self.0 {
            Backend::OpenSsl(evp) => evp.finish(),
            Backend::Portable(md5) => md5.finalize().into(),
        }
    }
}

/// An OpenSSL `EVP_MD_CTX` set up for MD5; freed on drop.
struct EvpMd5(*mut openssl_sys::EVP_MD_CTX);

// SAFETY: the context is owned exclusively by this value and OpenSSL contexts may move
// between threads (they are not shared).
unsafe impl Send for EvpMd5 {}

impl EvpMd5 {
    /// None if OpenSSL cannot provide MD5 here.
    fn new() -> Option<Self> {
        // SAFETY: plain OpenSSL calls; a null context or a failed init is checked, and the
        // context is freed by Drop on every path once wrapped.
        unsafe {
            let ctx = openssl_sys::EVP_MD_CTX_new();
            if ctx.is_null() {
                return None;
            }
            let evp = EvpMd5(ctx);
            let md = openssl_sys::EVP_md5();
            if md.is_null() || openssl_sys::EVP_DigestInit_ex(ctx, md, std::ptr::null_mut()) != 1 {
                return None;
            }
            Some(evp)
        }
    }

    fn update(&mut self, data: &[u8]) {
        // SAFETY: the context was initialised for MD5; `data` is a valid slice. MD5 updates
        // cannot fail once the context is initialised.
        unsafe { openssl_sys::EVP_DigestUpdate(self.0, data.as_ptr().cast(), data.len()) };
    }

    fn finish(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut len = 0u32;
        // SAFETY: `out` has room for the 16 bytes of an MD5 digest.
        unsafe { openssl_sys::EVP_DigestFinal_ex(self.0, out.as_mut_ptr(), &mut len) };
        debug_assert_eq!(len, 16);
        out
    }
}

impl Drop for EvpMd5 {
    fn drop(&mut self) {
        // SAFETY: the context came from EVP_MD_CTX_new and is freed exactly once.
        unsafe { openssl_sys::EVP_MD_CTX_free(self.0) };
    }
}

/// MD5 of `prefix` followed by everything `reader` yields, read in [`FILE_CHUNK`] pieces
/// (constant memory, whatever the size).
pub fn md5_reader<R: Read>(mut reader: R, prefix: &[u8]) -> io::Result<([u8; 16], u64)> {
    let mut hasher = Md5Hasher::default();
    hasher.update(prefix);
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finish(), total))
}

/// Files at least this large are read on a second thread while the first hashes: reading
/// (from disk, or a network file system) and MD5 then overlap instead of adding up.
pub const OVERLAP_MIN: u64 = 8 << 20;

/// Buffers in flight between the reading and the hashing thread.
const IN_FLIGHT: usize = 3;

/// MD5 of `prefix` followed by the contents of the file at `path`, and the number of content
/// bytes read. The file is streamed, never loaded whole; large files are read ahead on a
/// second thread (see [`OVERLAP_MIN`]).
pub fn md5_file(path: &Path, prefix: &[u8]) -> io::Result<([u8; 16], u64)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    if meta.len() < OVERLAP_MIN {
        return md5_reader(file, prefix);
    }
    md5_read_ahead(file, prefix)
}

/// [`md5_reader`] with the reads on a scoped second thread, passing filled buffers over a
/// bounded channel and getting them back empty (no allocation per chunk).
fn md5_read_ahead<R: Read + Send>(mut reader: R, prefix: &[u8]) -> io::Result<([u8; 16], u64)> {
    use std::sync::mpsc::sync_channel;

    let (full_tx, full_rx) = sync_channel::<io::Result<(Vec<u8>, usize)>>(IN_FLIGHT);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        // cannot fail: the receiver is alive and the channel has room for all of them
        let _ = empty_tx.send(vec![0u8; FILE_CHUNK]);
    }
    // `move`: the channel ends are owned by the closure and dropped when it returns, so the
    // reading thread always sees the other side go away and ends (the scope then joins it)
    std::thread::scope(move |scope| {
        scope.spawn(move || {
            while let Ok(mut buf) = empty_rx.recv() {
                let n = loop {
                    match reader.read(&mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let last = !matches!(n, Ok(k) if k > 0);
                if full_tx.send(n.map(|k| (buf, k))).is_err() || last {
                    return;
                }
            }
        });
        let mut hasher = Md5Hasher::default();
        hasher.update(prefix);
        let mut total = 0u64;
        for item in full_rx.iter() {
            let (buf, n) = item?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
            // the reader may have stopped after an error: then nobody needs the buffer back
            let _ = empty_tx.send(buf);
        }
        Ok((hasher.finish(), total))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_and_portable_agree() {
        let data: Vec<u8> = (0..100_000).map(|i| (i * 7 % 256) as u8).collect();
        let portable: [u8; 16] = Md5::digest(&data).into();
        assert_eq!(md5(&data), portable);
        if let Some(mut evp) = EvpMd5::new() {
            evp.update(&data[..10]);
            evp.update(&data[10..]);
            assert_eq!(evp.finish(), portable);
        }
    }

    #[test]
    fn known_digest() {
        let d = md5(b"abc");
        assert_eq!(d[0], 0x90);
        assert_eq!(d[15], 0x72);
        let mut h = Md5Hasher::default();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), d);
    }

    #[test]
    fn reader_matches_one_shot_across_chunk_boundaries() {
        for len in [
            0,
            1,
            FILE_CHUNK - 1,
            FILE_CHUNK,
            FILE_CHUNK + 1,
            3 * FILE_CHUNK + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut joined = b"name.txt\0".to_vec();
            joined.extend_from_slice(&data);
            let (digest, n) = md5_reader(&data[..], b"name.txt\0").unwrap();
            assert_eq!(n, len as u64);
            assert_eq!(digest, md5(&joined));
        }
    }

    #[test]
    fn read_ahead_matches_one_shot() {
        for len in [0, 1, FILE_CHUNK, 5 * FILE_CHUNK + 3] {
            let data: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
            let (digest, n) = md5_read_ahead(&data[..], b"p").unwrap();
            let mut joined = b"p".to_vec();
            joined.extend_from_slice(&data);
            assert_eq!((digest, n), (md5(&joined), len as u64));
        }
    }

    #[test]
    fn read_ahead_reports_read_errors() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                self.0 -= 1;
                buf[0] = 1;
                Ok(1)
            }
        }
        let err = md5_read_ahead(Failing(5), b"").unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn large_file_digest() {
        let dir = std::env::temp_dir().join(format!("dj_core_hash_big_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.bin");
        let data: Vec<u8> = (0..(OVERLAP_MIN as usize + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(md5_file(&path, b"x").unwrap().0, {
            let mut h = Md5Hasher::default();
            h.update(b"x");
            h.update(&data);
            h.finish()
        });
        let err = md5_file(&dir, b"").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_digest_and_missing_file() {
        let dir = std::env::temp_dir().join(format!("dj_core_hash_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.bin");
        std::fs::write(&path, b"hello world").unwrap();
        let (digest, n) = md5_file(&path, b"").unwrap();
        assert_eq!((digest, n), (md5(b"hello world"), 11));
        std::fs::remove_file(&path).unwrap();
        let err = md5_file(&path, b"").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir(&dir).unwrap();
    }
}
