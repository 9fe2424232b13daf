//! Counting heap allocations, for B1's "O(1) allocations per update"
//! (BENCHMARKS.md).
//!
//! A binary that wants the counts installs [`Counting`] as its global
//! allocator (`#[global_allocator] static A: Counting = Counting;`): the
//! `so_engine` bench and the `allocations` test do; the other benches and
//! `insn` do not, so their timings and instruction counts are unchanged.
//! Without it every count is 0, which [`installed`] detects.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// Allocations (`alloc`, `alloc_zeroed` and `realloc` calls) since the
/// process started. Relaxed: a count, not a synchronisation point; the
/// measured code runs on the thread that reads it.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// [`System`], counting every allocation and reallocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

// The only unsafe code of the workspace outside dependencies: a global
// allocator cannot be written without it. Each method forwards its
// arguments unchanged to `System`, so `System`'s guarantees are ours.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `layout` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this `layout` (every
        // allocation above is `System`'s).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; `new_size` is the caller's, unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations counted so far (0 forever unless [`Counting`] is the
/// global allocator).
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Runs `f` and counts the allocations it made.
pub fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = allocations();
    let result = f();
    (result, allocations() - before)
}

/// Whether [`Counting`] is this process's global allocator.
pub fn installed() -> bool {
    let (boxed, counted) = count(|| std::hint::black_box(Box::new(1u64)));
    drop(boxed);
    counted > 0
}
