//! Strided n-d arrays -> column-major (Fortran / MATLAB) element order.
//!
//! The blob format stores every numeric payload column-major, whatever the memory layout of
//! the array being written (C order, F order, transposed views, negative strides).

use crate::error::{BlobError, Result};

/// A view of array memory: `base` covers every byte the array can reach, element
/// `[0, 0, ...]` starts at `base[start]`, and `strides` are in bytes (possibly negative).
#[derive(Debug, Clone, Copy)]
pub struct Strided<'a> {
    pub base: &'a [u8],
    pub start: usize,
    pub shape: &'a [usize],
    pub strides: &'a [isize],
    pub itemsize: usize,
}

impl Strided<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the elements already lie in column-major order, back to back.
    pub fn is_fortran_contiguous(&self) -> bool {
        let mut expect = self.itemsize as isize;
        for (&n, &s) in self.shape.iter().zip(self.strides) {
            if n > 1 && s != expect {
                return false;
            }
            expect *= n as isize;
        }
        true
    }

    /// Check that every element lies inside `base` (the binding builds `base` from numpy's
    /// extent, this guards the unsafe-free indexing below against a wrong extent).
    fn check(&self) -> Result<()> {
        if self.shape.len() != self.strides.len() {
            return Err(BlobError::Pack("shape and strides differ in length".into()));
        }
        if self.is_empty() {
            return Ok(());
        }
        let (mut lo, mut hi) = (self.start as isize, self.start as isize);
        for (&n, &s) in self.shape.iter().zip(self.strides) {
            let span = s * (n as isize - 1);
            if span < 0 {
                lo += span;
            } else {
                hi += span;
            }
        }
        if lo < 0 || hi as usize + self.itemsize > self.base.len() {
            return Err(BlobError::Pack(
                "array strides reach outside its buffer".into(),
            ));
        }
        Ok(())
    }

    /// Append the elements to `out` in column-major order.
    pub fn gather_fortran(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.reserve(self.len() * self.itemsize);
        self.gather(out);
        Ok(())
    }

    /// Write the elements in column-major order into `out`, which must be exactly
    /// `len() * itemsize` bytes (e.g. the inside of a preallocated Python bytes object).
    pub fn gather_fortran_into(&self, out: &mut [u8]) -> Result<()> {
        self.check()?;
        if out.len() != self.len() * self.itemsize {
            return Err(BlobError::Pack(format!(
                "output of {} bytes for {} elements of {} bytes",
                out.len(),
                self.len(),
                self.itemsize
            )));
        }
        let mut cursor = SliceSink { out, pos: 0 };
        self.gather(&mut cursor);
        Ok(())
    }

    fn gather<S: Sink>(&self, out: &mut S) {
        let n = self.len();
        if n == 0 {
            return;
        }
        if self.is_fortran_contiguous() {
            out.put(&self.base[self.start..self.start + n * self.itemsize]);
            return;
        }
        match self.itemsize {
            1 => self.gather_items::<1, S>(out),
            2 => self.gather_items::<2, S>(out),
            4 => self.gather_items::<4, S>(out),
            8 => self.gather_items::<8, S>(out),
            16 => self.gather_items::<16, S>(out),
            _ => self.gather_dyn(out),
        }
    }

    /// Offsets of the first element of every column-major "column" (dimension 0 runs inside).
    fn for_each_line(&self, mut f: impl FnMut(usize)) {
        let ndim = self.shape.len();
        if ndim == 0 {
            f(self.start);
            return;
        }
        let mut index = vec![0usize; ndim];
        let mut offset = self.start as isize;
        loop {
            f(offset as usize);
            // odometer over dimensions 1.. (dimension 0 is the inner loop)
            let mut d = 1;
            loop {
                if d == ndim {
                    return;
                }
                index[d] += 1;
                offset += self.strides[d];
                if index[d] < self.shape[d] {
                    break;
                }
                offset -= self.strides[d] * self.shape[d] as isize;
                index[d] = 0;
                d += 1;
            }
        }
    }

    fn inner(&self) -> (usize, isize) {
        match self.shape.first() {
            Some(&n0) => (n0, self.strides[0]),
            None => (1, 0),
        }
    }

    fn gather_items<const N: usize, S: Sink>(&self, out: &mut S) {
        let (n0, s0) = self.inner();
        let base = self.base;
        self.for_each_line(|first| {
            let mut off = first as isize;
            for _ in 0..n0 {
                let o = off as usize;
                let item: &[u8; N] = base[o..o + N].try_into().unwrap();
                out.put(item);
                off += s0;
            }
        });
    }

    fn gather_dyn<S: Sink>(&self, out: &mut S) {
        let (n0, s0) = self.inner();
        let size = self.itemsize;
        self.for_each_line(|first| {
            let mut off = first as isize;
            for _ in 0..n0 {
                let o = off as usize;
                out.put(&self.base[o..o + size]);
                off += s0;
            }
        });
    }
}

/// Where gathered bytes go: a growing Vec, or a preallocated slice.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

struct SliceSink<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Sink for SliceSink<'_> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_order_matrix_is_transposed() {
        // 2x3 C-order of u8: [[0,1,2],[3,4,5]] -> column-major 0,3,1,4,2,5
        let data = [0u8, 1, 2, 3, 4, 5];
        let s = Strided {
            base: &data,
            start: 0,
            shape: &[2, 3],
            strides: &[3, 1],
            itemsize: 1,
        };
        let mut out = vec![];
        s.gather_fortran(&mut out).unwrap();
        assert_eq!(out, [0, 3, 1, 4, 2, 5]);
        let mut fixed = [0u8; 6];
        s.gather_fortran_into(&mut fixed).unwrap();
        assert_eq!(fixed, [0, 3, 1, 4, 2, 5]);
        assert!(s.gather_fortran_into(&mut [0u8; 5]).is_err());
    }

    #[test]
    fn negative_strides_and_bounds() {
        let data = [0u8, 1, 2, 3];
        let rev = Strided {
            base: &data,
            start: 3,
            shape: &[4],
            strides: &[-1],
            itemsize: 1,
        };
        let mut out = vec![];
        rev.gather_fortran(&mut out).unwrap();
        assert_eq!(out, [3, 2, 1, 0]);
        let bad = Strided { start: 2, ..rev };
        assert!(bad.gather_fortran(&mut vec![]).is_err());
    }

    #[test]
    fn fortran_contiguous_is_copied_whole() {
        let data: Vec<u8> = (0..24).collect();
        let s = Strided {
            base: &data,
            start: 0,
            shape: &[2, 3],
            strides: &[4, 8],
            itemsize: 4,
        };
        assert!(s.is_fortran_contiguous());
        let mut out = vec![];
        s.gather_fortran(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
