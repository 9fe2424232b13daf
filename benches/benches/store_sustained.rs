//! S2: sustained writes to 1,000 persistent SOs at 1,000 updates/s (each
//! SO once a second, from fifty client tasks), against the tokio server in
//! this process, with the SQLite store and with the memory store ("store
//! off"). Prints, per store: the flushes (transactions) and their SOs,
//! the flush duration p50/p99/max, and the server's CPU (this process's
//! CPU time less the client thread's).
//!
//! ```text
//! cargo bench -p benches --bench store_sustained
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapter_tokio::{Client, ClientOptions, Server};
use rustix::time::{ClockId, clock_gettime};
use so_engine::store::{LoadReport, MemoryStore, Store, StoreError, StoreOp};
use so_engine::{Snapshot, SoKey};
use so_store::SqliteStore;

/// SOs written.
const OBJECTS: usize = 1_000;
/// Client tasks, each writing its share of the SOs in turn.
const WRITERS: usize = 50;
/// Updates per second, all writers together.
const RATE: u64 = 1_000;
/// Writing before the measurement starts.
const WARMUP: Duration = Duration::from_secs(2);
/// The measured stretch.
const MEASURED: Duration = Duration::from_secs(10);

/// A store that times each flush.
struct Timed<S> {
    inner: S,
    /// When each flush started, how long it took, how many SOs it held.
    flushes: Arc<Mutex<Vec<(Instant, Duration, usize)>>>,
}

impl<S: Store> Store for Timed<S> {
    fn load_all(&mut self) -> Result<LoadReport, StoreError> {
        self.inner.load_all()
    }
    fn save(&mut self, so: &SoKey, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save(so, snapshot)
    }
    fn delete(&mut self, so: &SoKey) -> Result<(), StoreError> {
        self.inner.delete(so)
    }
    fn apply_batch(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        let start = Instant::now();
        let done = self.inner.apply_batch(ops);
        let took = start.elapsed();
        self.flushes.lock().unwrap().push((start, took, ops.len()));
        done
    }
}

fn cpu(clock: ClockId) -> Duration {
    let t = clock_gettime(clock);
    Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec.unsigned_abs() as u32)
}

/// What the writer saw of the measured stretch.
struct Measured {
    from: Instant,
    to: Instant,
    acked: u64,
    /// The writer thread's CPU time.
    client_cpu: Duration,
    /// The whole process's.
    process_cpu: Duration,
}

/// Writes for [`WARMUP`] + [`MEASURED`].
async fn write(url: String) -> Measured {
    let client = Client::connect(&url, ClientOptions::default())
        .await
        .unwrap();
    let mut objects = Vec::with_capacity(OBJECTS);
    for i in 0..OBJECTS {
        objects.push(client.shared_object(format!("so{i}"), true).await.unwrap());
    }
    let start = Instant::now() + Duration::from_millis(100);
    let measure_from = start + WARMUP;
    let end = measure_from + MEASURED;
    let period = Duration::from_micros(1_000_000 * WRITERS as u64 / RATE);
    let mut tasks = Vec::new();
    let mut shares: Vec<Vec<_>> = (0..WRITERS).map(|_| Vec::new()).collect();
    for (i, so) in objects.into_iter().enumerate() {
        shares[i % WRITERS].push(so);
    }
    for (w, share) in shares.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let offset = period * w as u32 / WRITERS as u32;
            let mut tick = tokio::time::interval_at((start + offset).into(), period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut acked = 0u64;
            let mut n = 0u64;
            loop {
                let at = tick.tick().await.into_std();
                if at >= end {
                    return acked;
                }
                let so = &share[(n as usize) % share.len()];
                so.set("v", n as f64).await.unwrap();
                n += 1;
                if at >= measure_from {
                    acked += 1;
                }
            }
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let (client_from, process_from) = (cpu(ClockId::ThreadCPUTime), cpu(ClockId::ProcessCPUTime));
    let mut acked = 0;
    for task in tasks {
        acked += task.await.unwrap();
    }
    Measured {
        from: measure_from,
        to: Instant::now(),
        acked,
        client_cpu: cpu(ClockId::ThreadCPUTime) - client_from,
        process_cpu: cpu(ClockId::ProcessCPUTime) - process_from,
    }
}

fn run(name: &str, store: impl Store + Send + 'static) {
    let flushes = Arc::new(Mutex::new(Vec::new()));
    let timed = Timed {
        inner: store,
        flushes: flushes.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async {
        Server::builder()
            .bind_addr("127.0.0.1:0")
            .store(timed)
            .bind()
            .await
            .unwrap()
    });
    let url = format!("rtmp://{}/bench/room", server.local_addr());
    let shutdown = server.shutdown_handle();
    let served = runtime.spawn(server.run());
    let writer = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(write(url))
    });
    let m = writer.join().unwrap();
    shutdown.shutdown();
    runtime.block_on(served).unwrap().unwrap();
    let mut times: Vec<_> = flushes
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _, _)| (m.from..m.to).contains(at))
        .map(|&(_, took, n)| (took, n))
        .collect();
    let ops: usize = times.iter().map(|(_, n)| n).sum();
    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q) as usize)
            .map_or(0.0, |t| t.0.as_secs_f64() * 1e3)
    };
    let (acked, wall) = (m.acked, m.to - m.from);
    let server_cpu = m.process_cpu.saturating_sub(m.client_cpu);
    println!(
        "store_sustained/{name:<8} {:.0} updates/s, {} flushes of {:.0} SOs avg, flush p50 {:.2} ms p99 {:.2} ms max {:.2} ms, server CPU {:.1}% of a core",
        acked as f64 / MEASURED.as_secs_f64(),
        times.len(),
        ops as f64 / times.len().max(1) as f64,
        at(0.5),
        at(0.99),
        at(1.0),
        server_cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
    );
}

fn main() {
    let dir = std::env::temp_dir().join(format!("store-sustained-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for round in 0..2 {
        run("memory", MemoryStore::new());
        run("sqlite", SqliteStore::new(dir.join(format!("r{round}"))));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
