//! B1 and B2 (BENCHMARKS.md): the SharedObject engine, no I/O (what is
//! included: `benches/src/engine.rs`).
//!
//! - `so_engine/update_fanout/N=…`: one `object10` setProperty delivered
//!   to N subscribers, through hub and outbound queues. Throughput is N
//!   elements: criterion's elements/s is deliveries/s, and ns per delivery
//!   is the median divided by N. Target ≤ 20 ns per delivery.
//! - `so_engine/update_fanout_engine_only/N=…`: the same update through
//!   `Engine::handle_input` alone.
//! - `so_engine/initial_sync/K=…`: a new subscriber's USE of an SO holding
//!   K attributes. Record only.
//!
//! Each update or join is timed on its own (`iter_custom`): its input is
//! built, and the queues drained, outside the timing. Allocations per
//! update and per join are printed before the timings (this binary counts
//! them, see `alloc_count`).
//!
//! `BENCH_CLOCK=thread` times with this thread's CPU time instead of wall
//! time: on a shared machine it leaves out the time other processes hold
//! the core. Reading that clock is a system call; its cost, which partly
//! lands inside every interval, is printed first.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use rustix::time::{ClockId, clock_gettime};

use benches::alloc_count::{self, Counting};
use benches::engine::{
    self, EngineOnly, FANOUT_SUBSCRIBERS, Fanout, InitialSync, Measured, SYNC_SLOTS,
};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Updates or joins whose allocations are averaged.
const COUNTED: u64 = 16;

fn print_allocations() {
    assert!(
        alloc_count::installed(),
        "the counting allocator is installed"
    );
    for n in FANOUT_SUBSCRIBERS {
        let per_update = engine::allocations_per_run(&mut Fanout::new(n), COUNTED);
        println!("so_engine/update_fanout/N={n}: {per_update} allocations per update");
        let per_update = engine::allocations_per_run(&mut EngineOnly::new(n), COUNTED);
        println!("so_engine/update_fanout_engine_only/N={n}: {per_update} allocations per update");
    }
    for k in SYNC_SLOTS {
        let mut sync = InitialSync::new(k);
        let per_join = engine::allocations_per_run(&mut sync, COUNTED);
        let input = sync.input();
        sync.join(input);
        let bytes = sync.settle();
        println!(
            "so_engine/initial_sync/K={k}: {per_join} allocations per join, {bytes} bytes to the joiner"
        );
    }
}

/// What the timings measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Wall,
    Thread,
}

impl Clock {
    fn from_env() -> Self {
        match std::env::var("BENCH_CLOCK").as_deref() {
            Ok("thread") => Self::Thread,
            _ => Self::Wall,
        }
    }

    /// How long `f` took.
    fn time(self, f: impl FnOnce()) -> Duration {
        match self {
            Self::Wall => {
                let start = Instant::now();
                f();
                start.elapsed()
            }
            Self::Thread => {
                let start = thread_cpu();
                f();
                thread_cpu().saturating_sub(start)
            }
        }
    }
}

fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The median of timing nothing, so many times.
fn clock_overhead(clock: Clock) -> Duration {
    let mut samples: Vec<Duration> = (0..1001).map(|_| clock.time(|| ())).collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn so_engine(c: &mut Criterion) {
    let clock = Clock::from_env();
    println!(
        "clock {clock:?}: timing nothing takes {:?} (median)",
        clock_overhead(clock)
    );
    print_allocations();
    let mut group = c.benchmark_group("so_engine");
    for n in FANOUT_SUBSCRIBERS {
        group.throughput(Throughput::Elements(n as u64));
        let id = BenchmarkId::new("update_fanout", format!("N={n}"));
        bench(&mut group, id, clock, Fanout::new(n));
        let id = BenchmarkId::new("update_fanout_engine_only", format!("N={n}"));
        bench(&mut group, id, clock, EngineOnly::new(n));
    }
    group.throughput(Throughput::Elements(1));
    for k in SYNC_SLOTS {
        let id = BenchmarkId::new("initial_sync", format!("K={k}"));
        bench(&mut group, id, clock, InitialSync::new(k));
    }
    group.finish();
}

/// Times `case`'s measured call alone, `iters` runs per sample.
fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    clock: Clock,
    mut case: impl Measured,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    engine::run_once(&mut case, |run| {
                        clock.time(|| {
                            black_box(run());
                        })
                    })
                })
                .sum()
        });
    });
}

criterion_group!(benches, so_engine);
criterion_main!(benches);
