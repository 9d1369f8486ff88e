//! Large byte buffers that are recycled instead of handed back to the system.
//!
//! Fresh memory costs a page fault per 4 KiB page on first touch: about 0.35-0.45 s of
//! system time per GB on the VMs measured, close to a fifth of what inflating that GB takes.
//! Decoded blobs are the large buffers a pipeline allocates over and over (each key's fetch
//! in a populate loop, the same query run again), so a buffer of at least [`MIN_BYTES`] is
//! mapped here and, once dropped, kept in a pool after `madvise(MADV_FREE)`. The kernel may
//! take such pages back whenever it needs memory (they then read as zeros and fault again
//! when written); until it does, a buffer taken from the pool is written without faults.
//!
//! The pool holds at most [`limit`] bytes: an eighth of physical memory, at most 4 GiB, or
//! `DJ_BUFFER_POOL_MB` (0 turns recycling off). A buffer left in it for [`IDLE`] (or
//! `DJ_BUFFER_POOL_IDLE_MS`) is unmapped by a trimming thread, which runs only while the pool
//! is not empty.
//!
//! A buffer's contents before it is filled are unspecified (zeros, or an earlier buffer's
//! bytes), so buffers are only made through [`Buffer::fill`], which hands out the bytes to a
//! writer that must write all of them, and drops the buffer if it fails.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Buffers smaller than this come from the allocator as before (its own free lists reuse
/// them without faults).
pub const MIN_BYTES: usize = 1 << 20;

/// A pooled buffer unused for this long is unmapped.
pub const IDLE: Duration = Duration::from_secs(10);

const PAGE: usize = 4096;

/// Bytes of memory: a heap vector, or pages mapped for this buffer (recycled when dropped).
pub struct Buffer(Inner);

enum Inner {
    Heap(Vec<u8>),
    Mapped(Mapping),
}

/// `len` bytes at the start of a private anonymous mapping of `cap` bytes.
struct Mapping {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

// SAFETY: a Mapping is owned memory like a Vec's: nothing else refers to its pages while
// it exists (the pool only holds mappings that no Buffer owns).
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Buffer {
    /// A buffer of `len` bytes filled by `write`, which must write every byte (its error is
    /// returned, and the buffer recycled unseen).
    pub fn fill<E>(
        len: usize,
        write: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Buffer, E> {
        if len >= MIN_BYTES {
            if let Some(mut m) = pool().take(len) {
                // SAFETY: the mapping has at least `len` bytes, readable and writable, owned
                // by `m` alone; mapped pages are always initialised (zeros or earlier bytes).
                let out = unsafe { std::slice::from_raw_parts_mut(m.ptr, len) };
                write(out)?; // on error `m` is dropped, back to the pool
                m.len = len;
                return Ok(Buffer(Inner::Mapped(m)));
            }
        }
        let mut out: Vec<u8> = Vec::with_capacity(len);
        // SAFETY: the capacity is `len` bytes, and `write` must write all of them before
        // anything reads them (on error the length stays 0); u8 has no invalid bit patterns.
        write(unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr(), len) })?;
        unsafe { out.set_len(len) };
        Ok(Buffer(Inner::Heap(out)))
    }

    /// Bytes received elsewhere, kept as they are.
    pub fn from_vec(v: Vec<u8>) -> Buffer {
        Buffer(Inner::Heap(v))
    }

    /// Whether the bytes are pages that go back to the pool when dropped.
    pub fn is_recycled(&self) -> bool {
        matches!(self.0, Inner::Mapped(_))
    }
}

impl Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Heap(v) => v,
            // SAFETY: `len` bytes of the mapping were written by `fill`.
            Inner::Mapped(m) => unsafe { std::slice::from_raw_parts(m.ptr, m.len) },
        }
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Buffer({} bytes, recycled: {})",
            self.len(),
            self.is_recycled()
        )
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // a cap of 0: unmapped already, or handed on; otherwise the pages go to the pool
        if self.cap > 0 {
            pool().give_back(Mapping {
                ptr: self.ptr,
                len: 0,
                cap: std::mem::take(&mut self.cap),
            });
        }
    }
}

impl Mapping {
    /// Unmap (a Mapping whose `cap` is 0 has handed its pages on and does nothing).
    fn unmap(mut self) {
        if self.cap > 0 {
            // SAFETY: ptr..ptr+cap is a mapping this value owns, and nothing refers to it.
            unsafe { libc::munmap(self.ptr.cast(), self.cap) };
            self.cap = 0;
        }
    }
}

/// The mapped size for a buffer of `len` bytes: whole pages, rounded up to one of eight
/// steps per power of two, so that buffers of similar sizes share a class (the pages past
/// `len` are address space only, never touched unless a later buffer needs them).
fn class(len: usize) -> usize {
    let pages = len.div_ceil(PAGE).max(1);
    let top = usize::BITS - 1 - pages.leading_zeros();
    let step = if top > 3 { 1usize << (top - 3) } else { 1 };
    pages.next_multiple_of(step) * PAGE
}

/// The default limit: an eighth of physical memory, at most 4 GiB.
fn default_limit() -> usize {
    // SAFETY: sysconf only reads system constants.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let phys = if pages > 0 && size > 0 {
        (pages as u64).saturating_mul(size as u64)
    } else {
        0
    };
    (phys / 8).min(4 << 30) as usize
}

/// The limit from `DJ_BUFFER_POOL_MB` (0: no recycling), or the default.
fn limit_from_env() -> usize {
    match std::env::var("DJ_BUFFER_POOL_MB") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(mb) => mb.saturating_mul(1 << 20),
            Err(_) => default_limit(),
        },
        Err(_) => default_limit(),
    }
}

struct Free {
    ptr: usize,
    since: Instant,
}

struct State {
    /// idle mappings by size
    free: BTreeMap<usize, Vec<Free>>,
    /// total size of the idle mappings
    bytes: usize,
    limit: usize,
    idle: Duration,
    /// the process whose trimming thread is running (0: none); a forked child starts its own
    trimmer: u32,
}

struct Pool(Mutex<State>);

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        Pool(Mutex::new(State {
            free: BTreeMap::new(),
            bytes: 0,
            limit: limit_from_env(),
            idle: std::env::var("DJ_BUFFER_POOL_IDLE_MS")
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(IDLE, Duration::from_millis),
            trimmer: 0,
        }))
    })
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        // the state stays consistent even if a holder panicked (no user code runs under it)
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A mapping of at least `len` bytes: an idle one of the same class or up to twice its
    /// size, else a new one (None when recycling is off or the system refuses).
    fn take(&self, len: usize) -> Option<Mapping> {
        let cap = class(len);
        {
            let mut st = self.lock();
            if st.limit == 0 {
                return None;
            }
            let found = st
                .free
                .range_mut(cap..=cap.saturating_mul(2))
                .find(|(_, list)| !list.is_empty())
                .map(|(&size, list)| (size, list.pop().map(|f| f.ptr)));
            if let Some((size, Some(ptr))) = found {
                if st.free.get(&size).is_some_and(Vec::is_empty) {
                    st.free.remove(&size);
                }
                st.bytes -= size;
                return Some(Mapping {
                    ptr: ptr as *mut u8,
                    len: 0,
                    cap: size,
                });
            }
        }
        // SAFETY: a new private anonymous mapping; checked for failure below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                cap,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Mapping {
            ptr: ptr.cast(),
            len: 0,
            cap,
        })
    }

    /// Keep a dropped buffer's mapping for reuse (its pages lazily freed), or unmap it when
    /// the pool is full or recycling is off.
    fn give_back(&self, m: Mapping) {
        let fits = {
            let st = self.lock();
            st.limit > 0 && st.bytes + m.cap <= st.limit
        };
        // SAFETY: the range is the mapping `m` owns; MADV_FREE only lets the kernel drop
        // the pages' contents (they read as zeros afterwards), which a pooled buffer allows.
        if !fits || unsafe { libc::madvise(m.ptr.cast(), m.cap, libc::MADV_FREE) } != 0 {
            return m.unmap();
        }
        let mut st = self.lock();
        if st.bytes + m.cap > st.limit {
            drop(st);
            return m.unmap();
        }
        st.bytes += m.cap;
        st.free.entry(m.cap).or_default().push(Free {
            ptr: m.ptr as usize,
            since: Instant::now(),
        });
        std::mem::forget(m); // the pool owns the pages now
        let pid = std::process::id();
        if st.trimmer != pid {
            st.trimmer = pid;
            let spawned = std::thread::Builder::new()
                .name("dj-pages".into())
                .spawn(|| pool().trim_loop());
            if spawned.is_err() {
                st.trimmer = 0;
            }
        }
    }

    /// Remove the idle mappings older than `age` (all of them for zero) and unmap them.
    fn trim(&self, age: Duration) -> bool {
        let now = Instant::now();
        let mut gone = Vec::new();
        let empty = {
            let mut st = self.lock();
            let mut freed = 0;
            st.free.retain(|&size, list| {
                list.retain(|f| {
                    let old = now.duration_since(f.since) >= age;
                    if old {
                        gone.push((f.ptr, size));
                        freed += size;
                    }
                    !old
                });
                !list.is_empty()
            });
            st.bytes -= freed;
            st.free.is_empty()
        };
        for (ptr, cap) in gone {
            Mapping {
                ptr: ptr as *mut u8,
                len: 0,
                cap,
            }
            .unmap();
        }
        empty
    }

    fn trim_loop(&self) {
        let idle = self.lock().idle;
        loop {
            std::thread::sleep(idle / 4);
            if self.trim(idle) {
                let mut st = self.lock();
                if st.free.is_empty() {
                    st.trimmer = 0;
                    return;
                }
            }
        }
    }
}

/// The pool's idle buffers and their total size in bytes.
pub fn stats() -> (usize, usize) {
    let st = pool().lock();
    (st.free.values().map(Vec::len).sum(), st.bytes)
}

/// The most the pool keeps, in bytes.
pub fn limit() -> usize {
    pool().lock().limit
}

/// Unmap every idle buffer now.
pub fn release() {
    pool().trim(Duration::ZERO);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_in_eighths() {
        assert_eq!(class(1), PAGE);
        assert_eq!(class(8 * PAGE), 8 * PAGE);
        assert_eq!(class(9 * PAGE), 9 * PAGE);
        assert_eq!(class(16 * PAGE + 1), 18 * PAGE);
        let five_mb = 5_000_000;
        let c = class(five_mb);
        assert!(c >= five_mb && c < five_mb + five_mb / 8 + PAGE);
    }

    #[test]
    fn buffers_are_recycled_and_refilled() {
        let n = 3 * MIN_BYTES + 123;
        let a = Buffer::fill(n, |out| {
            out.fill(7);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(a.is_recycled());
        assert!(a.iter().all(|&b| b == 7));
        drop(a);
        // the same mapping comes back, and the writer sees all of it (whatever it held)
        let b = Buffer::fill(n - 1000, |out| {
            assert_eq!(out.len(), n - 1000);
            out.fill(9);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(b.len(), n - 1000);
        assert!(b.iter().all(|&x| x == 9));
        // a failed fill returns nothing and loses nothing
        let e = Buffer::fill(n, |_| Err("bad"));
        assert_eq!(e.unwrap_err(), "bad");
        let small = Buffer::fill(10, |out| {
            out.copy_from_slice(b"0123456789");
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(!small.is_recycled());
        assert_eq!(&*small, b"0123456789");
        drop(b);
        assert!(stats().1 > 0);
        release();
        assert_eq!(stats(), (0, 0));
    }
}
