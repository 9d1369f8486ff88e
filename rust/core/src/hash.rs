//! Content hashes. DataJoint 0.14 addresses external blobs by the MD5 of their stored bytes,
//! read as a UUID.

use md5::{Digest, Md5};

/// MD5 of `data`.
pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// Incremental MD5 for data that arrives in pieces (files, streams).
#[derive(Default, Clone)]
pub struct Md5Hasher(Md5);

impl Md5Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 16] {
        self.0.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
