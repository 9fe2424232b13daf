//! B1's allocation target (BENCHMARKS.md): O(1) allocations per SO
//! update, however many subscribers receive it. A test binary of its own,
//! so that the counting allocator is installed and no other test
//! allocates while it counts.

use benches::alloc_count::{self, Counting};
use benches::engine::{self, EngineOnly, Fanout};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Updates averaged per count.
const UPDATES: u64 = 8;

#[test]
fn allocations_per_update_do_not_grow_with_subscribers() {
    assert!(alloc_count::installed(), "the counting allocator counts");
    let few = engine::allocations_per_run(&mut Fanout::new(10), UPDATES);
    let many = engine::allocations_per_run(&mut Fanout::new(1000), UPDATES);
    println!("allocations per update: {few} at N=10, {many} at N=1000");
    // Encoding two bodies allocates, so 0 would mean nothing was counted.
    assert!(few > 0.0, "{few}");
    assert_eq!(few, many, "allocations per update grow with subscribers");
    // One test only: the count is global, a test in parallel would skew it.
    let few = engine::allocations_per_run(&mut EngineOnly::new(10), UPDATES);
    let many = engine::allocations_per_run(&mut EngineOnly::new(1000), UPDATES);
    println!("engine allocations per update: {few} at N=10, {many} at N=1000");
    assert!(few > 0.0, "{few}");
    assert_eq!(few, many, "the engine's allocations grow with subscribers");
}
