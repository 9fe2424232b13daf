//! The raw socket fan-out floor of this machine, measured as
//! BENCHMARKS.md (C1) describes it: one writer thread (std,
//! blocking sockets, `TCP_NODELAY`) owns N accepted loopback sockets and
//! writes every message to every one of them, `batch` messages per
//! `write`; one reader thread (a tokio current-thread runtime, one task
//! per socket) drains them. The cost is the writer thread's CPU time per
//! delivery (`CLOCK_THREAD_CPUTIME_ID`), which loopback TCP charges with
//! the receiver's TCP processing too. No RTMP: only what any server must
//! pay to put small messages into N sockets.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::sys;

/// The size of one message, as in the C1 floor of BENCHMARKS.md.
pub(crate) const MESSAGE_BYTES: usize = 100;
/// Messages per `write` in each case: one per delivery, and 8 coalesced
/// (the b1 and b8 rows of the C1 floor in BENCHMARKS.md).
pub(crate) const BATCHES: [usize; 2] = [1, 8];
/// The longest a single blocking write may take before the floor gives
/// up (the reader would be stuck).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// What each reader task reads at once.
const READ_BUFFER: usize = 16 << 10;

/// One case of the floor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FloorCase {
    /// Messages per `write`.
    pub(crate) batch: usize,
    /// Messages written, all sockets together.
    pub(crate) deliveries: u64,
    /// The writer thread's CPU time for them (wall time where no thread
    /// clock exists).
    pub(crate) writer_cpu: Duration,
    /// Wall time for them.
    pub(crate) wall: Duration,
}

impl FloorCase {
    /// Writer CPU per delivery.
    pub(crate) fn cpu_per_delivery(&self) -> Duration {
        self.writer_cpu.div_f64(self.deliveries.max(1) as f64)
    }

    /// Deliveries per second one core sustains: 1 / CPU per delivery.
    pub(crate) fn deliveries_per_core_second(&self) -> f64 {
        self.deliveries as f64 / self.writer_cpu.as_secs_f64().max(1e-9)
    }
}

/// Measures every case of [`BATCHES`] at `clients` sockets with
/// `writes` writes per socket per case (a loopback `write` costs about
/// the same whether it carries one message or eight, so each case times
/// the same number of them), pausing `gap` after each round of writes to
/// every socket (the pause is not the writer's CPU time).
pub(crate) fn measure(
    clients: usize,
    writes: usize,
    gap: Duration,
) -> Result<Vec<FloorCase>, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("floor: cannot listen: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("floor: no local address: {e}"))?;
    let (connected_tx, connected_rx) = mpsc::channel();
    let reader = thread::Builder::new()
        .name("floor-reader".into())
        .spawn(move || read_all(addr, clients, connected_tx))
        .map_err(|e| format!("floor: no reader thread: {e}"))?;
    // The listener and the writer's sockets are closed when this returns:
    // the reader sees EOF (or a refused connect) everywhere and ends.
    let result = write_cases(listener, clients, writes, gap, &connected_rx);
    let read = reader
        .join()
        .map_err(|_| "floor: the reader thread panicked".to_owned())??;
    let cases = result?;
    let written: u64 = cases
        .iter()
        .map(|c| c.deliveries * MESSAGE_BYTES as u64)
        .sum();
    if read != written {
        return Err(format!("floor: {written} bytes written but {read} read"));
    }
    Ok(cases)
}

/// The writer's side: accept, then time each case.
fn write_cases(
    listener: TcpListener,
    clients: usize,
    writes: usize,
    gap: Duration,
    connected: &mpsc::Receiver<Result<(), String>>,
) -> Result<Vec<FloorCase>, String> {
    let mut sockets = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (socket, _) = listener
            .accept()
            .map_err(|e| format!("floor: accept failed: {e}"))?;
        socket
            .set_nodelay(true)
            .and_then(|()| socket.set_write_timeout(Some(WRITE_TIMEOUT)))
            .map_err(|e| format!("floor: socket options: {e}"))?;
        sockets.push(socket);
    }
    connected
        .recv()
        .map_err(|_| "floor: the reader thread ended".to_owned())??;
    let mut cases = Vec::with_capacity(BATCHES.len());
    for batch in BATCHES {
        let payload = vec![0x5Au8; MESSAGE_BYTES * batch];
        cases.push(time_case(&mut sockets, &payload, batch, writes, gap)?);
        // Let the reader drain before the next case starts.
        thread::sleep(Duration::from_millis(100));
    }
    Ok(cases)
}

fn time_case(
    sockets: &mut [TcpStream],
    payload: &[u8],
    batch: usize,
    rounds: usize,
    gap: Duration,
) -> Result<FloorCase, String> {
    let wall_start = Instant::now();
    let cpu_start = sys::thread_cpu();
    for _ in 0..rounds {
        for socket in sockets.iter_mut() {
            socket
                .write_all(payload)
                .map_err(|e| format!("floor: write failed: {e}"))?;
        }
        if !gap.is_zero() {
            thread::sleep(gap);
        }
    }
    let wall = wall_start.elapsed();
    let writer_cpu = match (cpu_start, sys::thread_cpu()) {
        (Some(start), Some(end)) => end.saturating_sub(start),
        _ => wall,
    };
    Ok(FloorCase {
        batch,
        deliveries: (rounds * batch * sockets.len()) as u64,
        writer_cpu,
        wall,
    })
}

/// The reader's side: connect `clients` sockets, say so, drain them all
/// until EOF; returns the bytes read.
fn read_all(
    addr: SocketAddr,
    clients: usize,
    connected: mpsc::Sender<Result<(), String>>,
) -> Result<u64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("floor: no reader runtime: {e}"))?;
    runtime.block_on(async move {
        let mut streams = Vec::with_capacity(clients);
        for _ in 0..clients {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(stream) => streams.push(stream),
                Err(e) => {
                    let why = format!("floor: connect failed: {e}");
                    let _ = connected.send(Err(why.clone()));
                    return Err(why);
                }
            }
        }
        let _ = connected.send(Ok(()));
        let mut tasks = tokio::task::JoinSet::new();
        for mut stream in streams {
            tasks.spawn(async move {
                let mut buf = vec![0u8; READ_BUFFER];
                let mut total = 0u64;
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return total,
                        Ok(n) => total += n as u64,
                    }
                }
            });
        }
        let mut read = 0;
        while let Some(done) = tasks.join_next().await {
            read += done.map_err(|e| format!("floor: a reader task failed: {e}"))?;
        }
        Ok(read)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_arrives() {
        let cases = measure(3, 16, Duration::ZERO).expect("floor");
        assert_eq!(cases.len(), 2);
        // 16 writes per socket in each case.
        assert_eq!((cases[0].batch, cases[0].deliveries), (1, 48));
        assert_eq!((cases[1].batch, cases[1].deliveries), (8, 384));
    }

    #[test]
    fn the_gap_pauses_between_rounds() {
        let gap = Duration::from_millis(2);
        let cases = measure(3, 4, gap).expect("floor");
        // 4 rounds of writes in each case.
        assert!(cases.iter().all(|c| c.wall >= gap * 4), "{cases:?}");
        assert_eq!((cases[0].deliveries, cases[1].deliveries), (12, 96));
    }
}
