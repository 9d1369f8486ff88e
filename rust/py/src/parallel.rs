//! A small scoped-thread `parallel_map`: inflating or compressing many blobs on all cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Below this much work (bytes), threads cost more than they save.
const PARALLEL_MIN_BYTES: usize = 4 << 20;

/// `items.map(f)` on up to `available_parallelism` scoped threads (work claimed item by item
/// through an atomic counter), or inline when `work_bytes` is small. Order is preserved.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    work_bytes: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len());
    if threads <= 1 || work_bytes < PARALLEL_MIN_BYTES {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(i) else { break };
        *slots[i].lock().unwrap() = Some(f(item));
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap().expect("every item was processed"))
        .collect()
}
