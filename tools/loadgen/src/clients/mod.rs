//! The RTMP clients: one small task per socket, each a sans-IO
//! [`Connection`], a read buffer and a few counters (no channels, no SO
//! mirror), all of one thread's clients on one current-thread runtime,
//! the shape of the floor's reader (`floor.rs`). Counters live per thread
//! and are merged once the threads end.
//!
//! Every client USEs the SO; writer `i` writes the key `w{i}` with an
//! object `{seq, sent, pad}`: its counter, its send time (µs since the
//! run's epoch, one clock for every thread) and padding. Receivers take
//! the propagation latency from `sent` and see updates skipped (coalesced
//! by the server for a slow reader) as gaps in `seq`.
//!
//! With several servers (the processes of one cluster), the writers
//! connect to one of them and the other clients spread over all, round
//! robin; one client, on the server that is to own the SO, USEs it before
//! any other client connects. Latency is also kept per server.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use rtmp_proto::amf::{Str, Value};
use rtmp_proto::connection::{Config, ConnectParams, Connection, Event, Side, call_failed};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::time::Sleep;

mod plan;
pub(crate) use plan::*;

/// Bytes per socket read. Updates are ~100 bytes; a slow reader's
/// backlog comes in several reads.
const READ_BUFFER: usize = 8 << 10;
/// Clients of one thread in handshake, connect or USE at once, so that
/// the server's listen backlog never overflows.
const CONNECTING_PER_THREAD: usize = 32;
/// Latencies are recorded in µs, up to a minute, 3 significant digits.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Runs clients `indices` on this thread until the run ends; returns
/// what they counted.
pub(crate) fn run_thread(plan: Arc<Plan>, control: Arc<Control>, indices: Vec<usize>) -> Stats {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let why = format!("no runtime for the clients: {e}");
            control.update(|p| {
                p.failed += indices.len();
                p.first_error.get_or_insert(why);
            });
            return Stats::new();
        }
    };
    let thread = Rc::new(ThreadCtx {
        plan,
        control,
        stats: RefCell::new(Stats::new()),
        connecting: Semaphore::new(CONNECTING_PER_THREAD),
    });
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let mut tasks = tokio::task::JoinSet::new();
        for index in indices {
            tasks.spawn_local(client(thread.clone(), index));
        }
        while tasks.join_next().await.is_some() {}
    });
    drop(local);
    match Rc::try_unwrap(thread) {
        Ok(thread) => thread.stats.into_inner(),
        Err(thread) => std::mem::take(&mut *thread.stats.borrow_mut()),
    }
}

/// What a thread's clients share.
struct ThreadCtx {
    plan: Arc<Plan>,
    control: Arc<Control>,
    stats: RefCell<Stats>,
    connecting: Semaphore,
}

/// One client's whole life; its failure is counted, never propagated.
async fn client(thread: Rc<ThreadCtx>, index: usize) {
    let mut phase = thread.control.phase.subscribe();
    let mut ready = false;
    let outcome = session(&thread, index, &mut phase, &mut ready).await;
    if let Err(why) = outcome {
        let why = format!("client {index}: {why}");
        if ready {
            let mut stats = thread.stats.borrow_mut();
            stats.errors += 1;
            stats.first_error.get_or_insert(why);
        } else {
            thread.control.update(|p| {
                p.failed += 1;
                p.first_error.get_or_insert(why);
            });
        }
    }
}

async fn session(
    thread: &Rc<ThreadCtx>,
    index: usize,
    phase: &mut watch::Receiver<Phase>,
    ready: &mut bool,
) -> Result<(), String> {
    let plan = &thread.plan;
    if plan.first.is_some_and(|first| first != index) {
        let mut first_ready = thread.control.first_ready.subscribe();
        tokio::select! {
            _ = first_ready.wait_for(|ready| *ready) => {}
            _ = phase.wait_for(|p| *p == Phase::Abort) => return Ok(()),
        }
    }
    let permit = thread
        .connecting
        .acquire()
        .await
        .map_err(|e| e.to_string())?;
    let server = plan.server_of(index);
    let (addr, params) = plan
        .servers
        .get(server)
        .ok_or_else(|| format!("no server {server}"))?;
    let mut stream = tokio::select! {
        connected = TcpStream::connect(*addr) => connected.map_err(|e| format!("TCP connect: {e}"))?,
        _ = phase.wait_for(|p| *p == Phase::Abort) => return Ok(()),
    };
    // Updates are small: send them now, not after Nagle's delay.
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let now = Instant::now();
    let mut conn = Connection::new(plan.config.clone(), Side::Client, now, seed(index));
    conn.connect(now, params.clone())
        .map_err(|e| format!("connect: {e}"))?;
    let mut me = Client {
        thread: thread.clone(),
        server,
        conn,
        out: BytesMut::new(),
        writer: (index < plan.writers && !plan.server_writes)
            .then(|| Writer::new(index, plan.window)),
        last_seq: vec![0; plan.writers],
        version: 0,
        subscribed: false,
        window: None,
    };
    let (mut reader, mut writer) = stream.split();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut permit = Some(permit);
    // Both timers are made once and moved, not made per turn: a turn is a
    // delivery, and registering timers would cost more than the delivery.
    let mut stop = pin!(tokio::time::sleep(Duration::from_secs(3600)));
    let mut next_write = pin!(tokio::time::sleep(Duration::from_secs(3600)));
    let mut write_armed = false;
    // After the run: writing is over, the client waits for the finals.
    let mut settling = false;
    let mut reported = false;
    let mut finals: Option<Arc<Finals>> = None;
    loop {
        if me.subscribed && !*ready {
            *ready = true;
            drop(permit.take());
            thread.control.update(|p| p.ready += 1);
            if plan.first == Some(index) {
                thread.control.first_ready.send_replace(true);
            }
        }
        if settling
            && !reported
            && let Some(w) = &me.writer
            && w.in_flight.is_empty()
        {
            reported = true;
            let seq = w.next_seq - 1;
            thread
                .control
                .report_final(plan.writers, index, seq, me.version);
        }
        if let Some(f) = &finals
            && f.reached(me.writer.as_ref().map(|_| index), &me.last_seq, me.version)
        {
            thread.stats.borrow_mut().converged += 1;
            return Ok(());
        }
        let due = match me.writer {
            Some(_) => me.write_due(Instant::now())?,
            None => None,
        };
        if let Some(at) = due {
            arm(next_write.as_mut(), at, &mut write_armed);
        } else {
            write_armed = false;
        }
        me.conn.poll_transmit(&mut me.out);
        let running = me.window.is_some();
        tokio::select! {
            biased;
            read = reader.read(&mut buf) => match read {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => me.input(Instant::now(), buf.get(..n).unwrap_or_default())?,
                Err(e) => return Err(format!("read failed: {e}")),
            },
            written = writer.write(&me.out), if !me.out.is_empty() => match written {
                Ok(n) => me.out.advance(n),
                Err(e) => return Err(format!("write failed: {e}")),
            },
            () = &mut next_write, if write_armed => write_armed = false,
            changed = phase.changed(), if !running || settling => {
                if changed.is_err() {
                    return Ok(()); // the coordinator is gone
                }
                let now = phase.borrow_and_update().clone();
                match now {
                    Phase::Setup => {}
                    Phase::Abort => return Ok(()),
                    Phase::Run { count_from, until } => {
                        me.window = Some((count_from, until));
                        stop.as_mut().reset(until.into());
                        if let Some(w) = &mut me.writer {
                            w.start(Instant::now(), index, plan);
                        }
                    }
                    Phase::Settle { finals: f, until } => {
                        finals = Some(f);
                        stop.as_mut().reset(until.into());
                    }
                }
            }
            () = &mut stop, if running && (!settling || finals.is_some()) => {
                // The server writes without end: there is no last value.
                if plan.server_writes {
                    return Ok(());
                }
                let Some(f) = &finals else {
                    settling = true;
                    continue;
                };
                let mut stats = thread.stats.borrow_mut();
                stats.diverged += 1;
                stats.first_divergence.get_or_insert_with(|| {
                    format!(
                        "client {index} holds seqs {:?} at version {}, not {:?} at {}",
                        me.last_seq, me.version, f.seqs, f.version
                    )
                });
                return Ok(());
            }
        }
    }
}

/// Points `sleep` at `at` unless it already is and still armed.
fn arm(sleep: std::pin::Pin<&mut Sleep>, at: Instant, armed: &mut bool) {
    let at = tokio::time::Instant::from_std(at);
    if !*armed || sleep.deadline() != at {
        sleep.reset(at);
    }
    *armed = true;
}

/// One client's state.
struct Client {
    thread: Rc<ThreadCtx>,
    /// Which server it is connected to.
    server: usize,
    conn: Connection,
    /// Bytes for the socket.
    out: BytesMut,
    writer: Option<Writer>,
    /// Per writer: the last `seq` seen (0: none yet).
    last_seq: Vec<u64>,
    /// The SO's version, as the last server message gave it.
    version: u32,
    subscribed: bool,
    /// The counting window, once the run started.
    window: Option<(Instant, Instant)>,
}

/// A writing client's state.
struct Writer {
    key: Str,
    next_seq: u64,
    /// Send times of the unacknowledged updates, oldest first (a server
    /// answers one connection's requests in order).
    in_flight: VecDeque<Instant>,
    window: usize,
    period: Option<Duration>,
    next_due: Option<Instant>,
}

impl Writer {
    fn new(index: usize, window: usize) -> Self {
        Self {
            key: format!("w{index}").into(),
            next_seq: 1,
            in_flight: VecDeque::with_capacity(window),
            window: window.max(1),
            period: None,
            next_due: None,
        }
    }

    /// Starts writing at `now`; rate-limited writers spread their first
    /// writes over one period so that they do not all write at once.
    fn start(&mut self, now: Instant, index: usize, plan: &Plan) {
        self.period = plan.period;
        let offset = plan.period.map_or(Duration::ZERO, |p| {
            p.mul_f64(index as f64 / plan.writers.max(1) as f64)
        });
        self.next_due = Some(now + offset);
    }
}

impl Client {
    fn counting(&self, now: Instant) -> bool {
        self.window
            .is_some_and(|(from, until)| now >= from && now < until)
    }

    /// Writes what is due at `now`; returns when the next write is due
    /// (`None`: not writing, or the window is full).
    fn write_due(&mut self, now: Instant) -> Result<Option<Instant>, String> {
        let counting = self.counting(now);
        let plan = self.thread.plan.clone();
        let Some(w) = &mut self.writer else {
            return Ok(None);
        };
        let Some(mut due) = w.next_due else {
            return Ok(None);
        };
        if self.window.is_some_and(|(_, until)| now >= until) {
            return Ok(None);
        }
        while due <= now && w.in_flight.len() < w.window {
            let seq = w.next_seq;
            w.next_seq += 1;
            let sent_us = micros_since(plan.epoch, now);
            let value = Value::object([
                ("seq", Value::Number(seq as f64)),
                ("sent", Value::Number(sent_us as f64)),
                ("pad", Value::String(plan.pad.clone())),
            ]);
            let message = SharedObjectMessage {
                name: plan.so.clone(),
                version: self.version,
                persistent: false,
                events: vec![SoEvent::RequestChange {
                    key: w.key.clone(),
                    value,
                }],
            };
            let before = self.conn.pending_transmit();
            self.conn
                .send_shared_object(now, &message)
                .map_err(|e| format!("cannot send an update: {e}"))?;
            w.in_flight.push_back(now);
            if counting {
                let mut stats = self.thread.stats.borrow_mut();
                stats.updates += 1;
                stats.update_bytes += (self.conn.pending_transmit() - before) as u64;
            }
            due = match w.period {
                // More than a period behind (the window was full): start
                // again from now rather than write a burst.
                Some(p) if due + p + p < now => now,
                Some(p) => due + p,
                None => now,
            };
        }
        w.next_due = Some(due);
        Ok((w.in_flight.len() < w.window).then_some(due))
    }

    /// Feeds bytes from the socket, read at `now`.
    fn input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), String> {
        let counting = self.counting(now);
        if counting {
            let mut stats = self.thread.stats.borrow_mut();
            stats.bytes_in += bytes.len() as u64;
            stats.reads += 1;
        }
        // A fatal error also arrives as Event::Closed, with the reason.
        let _ = self.conn.handle_input(now, bytes);
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Connected { .. } => {
                    let use_so = SharedObjectMessage {
                        name: self.thread.plan.so.clone(),
                        version: 0,
                        persistent: false,
                        events: vec![SoEvent::Use],
                    };
                    self.conn
                        .send_shared_object(now, &use_so)
                        .map_err(|e| format!("cannot send USE: {e}"))?;
                }
                Event::SharedObject(message) => self.shared_object(now, counting, &message)?,
                Event::Call(call) if call.transaction_id != 0.0 => {
                    let info = call_failed("the load generator answers no calls");
                    let _ = self.conn.reply_error(now, call.transaction_id, info);
                }
                Event::Closed(reason) => return Err(format!("connection closed: {reason:?}")),
                _ => {}
            }
        }
        Ok(())
    }

    fn shared_object(
        &mut self,
        now: Instant,
        counting: bool,
        message: &SharedObjectMessage,
    ) -> Result<(), String> {
        let plan = self.thread.plan.clone();
        if message.name != plan.so {
            return Ok(());
        }
        if message.version != 0 {
            self.version = message.version;
        }
        for event in &message.events {
            match event {
                SoEvent::UseSuccess => self.subscribed = true,
                SoEvent::Change { key, value } => {
                    let Some(writer) = writer_index(key, plan.writers) else {
                        continue;
                    };
                    let field = |name| value.property(name).and_then(Value::as_f64);
                    let (Some(seq), Some(sent)) = (field("seq"), field("sent")) else {
                        continue;
                    };
                    let (seq, sent) = (seq as u64, sent as u64);
                    let last = self
                        .last_seq
                        .get_mut(writer)
                        .map_or(0, |l| std::mem::replace(l, seq.max(*l)));
                    if counting {
                        let mut stats = self.thread.stats.borrow_mut();
                        stats.deliveries += 1;
                        if last != 0 && seq > last + 1 {
                            stats.skipped += seq - last - 1;
                        }
                        // The server's own writes carry no send time.
                        if !plan.server_writes {
                            let latency = micros_since(plan.epoch, now).saturating_sub(sent);
                            stats.latency.saturating_record(latency.max(1));
                            while stats.latency_by_server.len() <= self.server {
                                stats.latency_by_server.push(histogram());
                            }
                            if let Some(h) = stats.latency_by_server.get_mut(self.server) {
                                h.saturating_record(latency.max(1));
                            }
                        }
                    }
                }
                SoEvent::Success { key } => {
                    let Some(w) = &mut self.writer else {
                        continue;
                    };
                    if *key != w.key {
                        continue;
                    }
                    let sent = w.in_flight.pop_front();
                    if plan.record_acks && self.window.is_some() {
                        self.thread.stats.borrow_mut().ack_times.push(now);
                    }
                    if let Some(sent) = sent
                        && counting
                    {
                        let mut stats = self.thread.stats.borrow_mut();
                        stats.acks += 1;
                        let rtt = now.saturating_duration_since(sent).as_micros();
                        stats
                            .ack_rtt
                            .saturating_record(u64::try_from(rtt).unwrap_or(u64::MAX).max(1));
                    }
                }
                SoEvent::Status { code, level } if level == "error" => {
                    if !self.subscribed {
                        return Err(format!("USE refused: {code}"));
                    }
                    // A writer's write was refused (a cluster without Redis,
                    // say): it no longer takes a place in the window.
                    if let Some(w) = &mut self.writer {
                        w.in_flight.pop_front();
                    }
                    let mut stats = self.thread.stats.borrow_mut();
                    stats.refusals += 1;
                    stats.first_refusal.get_or_insert_with(|| code.to_string());
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `w{i}` with `i < writers` → `i`.
fn writer_index(key: &str, writers: usize) -> Option<usize> {
    let index: usize = key.strip_prefix('w')?.parse().ok()?;
    (index < writers).then_some(index)
}

fn micros_since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX)
}

fn histogram() -> Histogram<u64> {
    // Valid constant bounds: this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).unwrap_or_else(|_| unreachable!())
}

/// 32 handshake bytes, different per client. RTMP's handshake has no
/// secret: they only need to differ.
fn seed(index: usize) -> [u8; 32] {
    let mut x = (u64::from(std::process::id()) << 32) ^ index as u64 ^ 0x9E37_79B9_7F4A_7C15;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_keys() {
        assert_eq!(writer_index("w0", 2), Some(0));
        assert_eq!(writer_index("w1", 2), Some(1));
        assert_eq!(writer_index("w2", 2), None);
        assert_eq!(writer_index("x1", 2), None);
        assert_eq!(writer_index("w", 2), None);
    }

    #[test]
    fn finals_are_reached_at_every_other_writers_last_seq_and_the_version() {
        let finals = Finals {
            seqs: vec![Some(7), Some(0), Some(3)],
            version: 40,
        };
        assert!(finals.complete());
        assert!(finals.reached(None, &[7, 0, 3], 40));
        assert!(!finals.reached(None, &[7, 0, 3], 39), "an older version");
        assert!(!finals.reached(None, &[6, 0, 3], 40), "an older value");
        // A writer gets no CHANGE of its own key.
        assert!(finals.reached(Some(0), &[0, 0, 3], 40));
        assert!(!finals.reached(Some(1), &[0, 0, 3], 40));
        // A writer that did not report is not waited for.
        let partial = Finals {
            seqs: vec![Some(7), None],
            version: 40,
        };
        assert!(!partial.complete());
        assert!(partial.reached(None, &[7, 0], 40));
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(seed(0), seed(1));
    }

    #[test]
    fn stats_merge() {
        let mut a = Stats::new();
        a.deliveries = 3;
        a.latency.record(10).expect("in range");
        let mut b = Stats::new();
        b.deliveries = 4;
        b.first_error = Some("x".into());
        b.latency.record(1000).expect("in range");
        a.merge(b);
        assert_eq!(a.deliveries, 7);
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.latency.max(), 1000);
        assert_eq!(a.first_error.as_deref(), Some("x"));
    }
}
