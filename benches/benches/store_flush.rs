//! S1: one flush of 10,000 dirty persistent SOs of 1 KiB each, as the
//! server's write-behind hands it to the store, on a fresh data directory
//! (every SO new) and again over it (every SO replaced). Wall time and
//! this process's CPU time (user + system), median of a few rounds.
//!
//! ```text
//! cargo bench -p benches --bench store_flush
//! ```
//!
//! The file-per-SO store this replaced (one file each, temp file, fsync,
//! rename, fsync the directory) took, in one run beside the SQLite store
//! (2026-12-07, load about 7 on 2 cores): 32.4 s wall and 5.7 s CPU for
//! 10,000 new SOs, 22.2 s and 2.5 s to replace them; on a quieter machine
//! earlier that day, 8.1 s / 5.0 s and 5.7 s / 2.4 s. See BENCHMARKS.md.

use std::time::{Duration, Instant};

use rtmp_proto::amf::Value;
use rustix::time::{ClockId, clock_gettime};
use so_engine::store::{Store, StoreOp};
use so_engine::{ScopePath, Snapshot, SoKey};
use so_store::{SqliteStore, Synchronous};

/// Dirty SOs per flush.
const SOS: usize = 10_000;
/// Bytes of the one string value each SO holds.
const VALUE_BYTES: usize = 1024;
/// Rounds whose median is printed.
const ROUNDS: usize = 5;

fn ops(version: u32) -> Vec<StoreOp> {
    let scope = ScopePath::new("bench/room").expect("a valid scope");
    let text = "x".repeat(VALUE_BYTES);
    (0..SOS)
        .map(|i| StoreOp::Save {
            so: SoKey::new(scope.clone(), format!("so{i}")),
            snapshot: Box::new(Snapshot {
                version,
                values: vec![("v".into(), Value::String(text.as_str().into()))],
            }),
        })
        .collect()
}

fn cpu_time() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec.unsigned_abs() as u32)
}

/// Times `flush` (wall, CPU).
fn timed(flush: impl FnOnce()) -> (Duration, Duration) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    flush();
    (wall.elapsed(), cpu_time() - cpu)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// (wall, CPU) per round.
type Runs = Vec<(Duration, Duration)>;

fn report(name: &str, runs: Runs) {
    let wall = median(runs.iter().map(|r| r.0).collect());
    let cpu = median(runs.iter().map(|r| r.1).collect());
    println!(
        "store_flush/{name:<24} wall {:>9.1} ms  cpu {:>9.1} ms",
        wall.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3
    );
}

fn sqlite_store(dir: &std::path::Path, synchronous: Synchronous) -> (Runs, Runs) {
    let (mut fresh, mut replace) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let path = dir.join(format!("sqlite-{round}"));
        let mut store = SqliteStore::new(&path).with_synchronous(synchronous);
        store.load_all().expect("load");
        for (version, out) in [(1, &mut fresh), (2, &mut replace)] {
            let batch = ops(version);
            out.push(timed(|| store.apply_batch(&batch).expect("flush")));
        }
        drop(store);
        std::fs::remove_dir_all(&path).expect("clean up");
    }
    (fresh, replace)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("store-flush-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, synchronous) in [("full", Synchronous::Full), ("normal", Synchronous::Normal)] {
        let (fresh, replace) = sqlite_store(&dir, synchronous);
        report(&format!("sqlite-{name}/new"), fresh);
        report(&format!("sqlite-{name}/replace"), replace);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
