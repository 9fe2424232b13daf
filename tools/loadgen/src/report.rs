//! What a run found, and how it is printed: one labelled line per topic,
//! the ratios to the floor last.

use std::fmt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rtmp_proto::amf::Encoding;

use crate::Options;
use crate::clients::{Finals, Stats};
use crate::floor::{self, FloorCase};

/// The C1 targets (BENCHMARKS.md): the server's CPU per delivery at most
/// this many times the floor's, one writer against b1 (one update per
/// write) …
const TARGET_B1: f64 = 1.15;
/// … and 8 writers or more against b8 (8 updates per write).
const TARGET_B8: f64 = 1.5;

/// The server process's share of the measured window.
#[derive(Debug, Clone)]
pub(crate) struct ServerUsage {
    /// Its process id.
    pub(crate) pid: u32,
    /// utime + stime over the window.
    pub(crate) cpu: Duration,
    /// The same per thread name: name, CPU, thread count.
    pub(crate) threads: Vec<(String, Duration, usize)>,
    /// `VmHWM` at the end (KiB): peak resident memory of its whole life.
    pub(crate) peak_kib: u64,
    /// `VmRSS` at the end (KiB).
    pub(crate) rss_kib: u64,
}

/// What a `--kill-pid` run saw of the takeover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Takeover {
    /// From the kill to the first write acknowledged after it; `None`:
    /// none was.
    pub(crate) first_ack: Option<Duration>,
    /// Acknowledgements after the kill.
    pub(crate) acks_after: usize,
}

impl Takeover {
    /// From the kill time and every acknowledgement's time.
    pub(crate) fn from_acks(killed_at: Instant, acks: &[Instant]) -> Self {
        let after = acks.iter().filter(|t| **t > killed_at);
        Self {
            first_ack: after.clone().min().map(|t| *t - killed_at),
            acks_after: after.count(),
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// N, for the clients and the floor alike.
    pub(crate) clients: usize,
    /// The open-files limit in force.
    pub(crate) fd_limit: u64,
    /// What was run, for the first line (empty: the floor alone).
    pub(crate) description: String,
    /// Time to connect and subscribe every client.
    pub(crate) setup: Duration,
    /// The measured window.
    pub(crate) window: Duration,
    /// What the clients counted in the window.
    pub(crate) stats: Stats,
    /// Each server's CPU time and memory, with `--server-pid`.
    pub(crate) servers: Vec<ServerUsage>,
    /// The servers' URLs, in `--writer-server` order.
    pub(crate) urls: Vec<String>,
    /// With `--kill-pid`.
    pub(crate) takeover: Option<Takeover>,
    /// This process's CPU time in the window.
    pub(crate) loadgen_cpu: Option<Duration>,
    /// The floor's cases, in [`floor::BATCHES`] order.
    pub(crate) floor: Vec<FloorCase>,
    /// Writes per socket per floor case.
    pub(crate) floor_writes: usize,
    /// The writers wrote as fast as they could (no `--rate`).
    pub(crate) saturated: bool,
    /// How many clients wrote.
    pub(crate) writers: usize,
    /// The state every client had to end at (`None`: not checked, the
    /// server wrote).
    pub(crate) finals: Option<Finals>,
    /// Time from the end of the run until every client converged or gave up.
    pub(crate) settle: Duration,
}

impl Report {
    /// An empty report for N = `clients`.
    pub(crate) fn new(clients: usize, fd_limit: u64) -> Self {
        Self {
            clients,
            fd_limit,
            ..Self::default()
        }
    }

    /// Records the run's settings for the first line.
    pub(crate) fn describe_run(&mut self, options: &Options) {
        let encoding = match options.encoding {
            Encoding::Amf0 => "AMF0",
            Encoding::Amf3 => "AMF3",
        };
        let pace = match options.rate {
            Some(rate) => format!("{rate} updates/s in all"),
            None => format!(
                "as fast as {} unacknowledged writes each allow",
                options.window
            ),
        };
        let url = match options.urls.as_slice() {
            [one] => one.clone(),
            several => format!(
                "{} servers ({}; writers on #{}, SO owner #{})",
                several.len(),
                several.join(" "),
                options.writer_server,
                options.owner_server
            ),
        };
        self.urls.clone_from(&options.urls);
        self.description = format!(
            "{url}, SO \"{}\" ({encoding}), {} clients on {} thread(s), {} writer(s) at {pace}, \
             {:.1} s measured after {:.1} s of warm-up",
            options.so,
            options.clients,
            options.threads,
            options.writers,
            options.duration.as_secs_f64(),
            options.warmup.as_secs_f64(),
        );
        self.saturated = options.rate.is_none();
        self.writers = options.writers;
    }

    /// The servers' CPU time in the window, summed; `None` without
    /// `--server-pid`.
    fn server_cpu(&self) -> Option<Duration> {
        (!self.servers.is_empty()).then(|| self.servers.iter().map(|s| s.cpu).sum())
    }

    /// CHANGEs received per second, all clients together.
    pub(crate) fn deliveries_per_second(&self) -> f64 {
        self.stats.deliveries as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// The C1 verdict for a saturated run (no `--rate`) at 1,000 clients
    /// or more with the server's CPU time: its CPU per delivery against
    /// the b1 floor's for one writer, the b8 floor's for 8 writers or more.
    /// Returns the floor case, the ratio, the target and the verdict.
    fn verdict(&self) -> Option<(usize, f64, f64, &'static str)> {
        let (batch, target) = match self.writers {
            1 => (1, TARGET_B1),
            w if w >= 8 => (8, TARGET_B8),
            _ => return None,
        };
        let floor = self.floor.iter().find(|c| c.batch == batch)?;
        let server_cpu = self.server_cpu()?;
        if !self.saturated || self.clients < 1000 || self.stats.deliveries == 0 {
            return None;
        }
        let ours = per(server_cpu, self.stats.deliveries);
        let ratio = ours.as_secs_f64() / floor.cpu_per_delivery().as_secs_f64().max(1e-12);
        let verdict = if ratio <= target { "met" } else { "missed" };
        Some((batch, ratio, target, verdict))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.description.is_empty() {
            self.fmt_run(f)?;
        }
        self.fmt_floor(f)
    }
}

impl Report {
    fn fmt_run(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let secs = self.window.as_secs_f64().max(1e-9);
        writeln!(f, "run         {}", self.description)?;
        writeln!(
            f,
            "setup       {} clients connected and subscribed in {:.2} s (open files allowed: {})",
            self.clients,
            self.setup.as_secs_f64(),
            self.fd_limit
        )?;
        writeln!(
            f,
            "updates     {} written = {}/s, {:.1} B each on the wire; {} acknowledged, SUCCESS after {}",
            count(s.updates as f64),
            count(s.updates as f64 / secs),
            ratio(s.update_bytes, s.updates),
            count(s.acks as f64),
            quantiles(&s.ack_rtt),
        )?;
        writeln!(
            f,
            "deliveries  {} CHANGEs = {}/s ({:.1} per update), {} updates skipped (coalesced)",
            count(s.deliveries as f64),
            count(self.deliveries_per_second()),
            ratio(s.deliveries, s.updates),
            count(s.skipped as f64),
        )?;
        writeln!(f, "latency     send → receive {}", quantiles(&s.latency))?;
        if self.urls.len() > 1 {
            for (i, url) in self.urls.iter().enumerate() {
                let at = s
                    .latency_by_server
                    .get(i)
                    .map_or_else(|| "-".into(), quantiles);
                writeln!(f, "            at #{i} {url}: {at}")?;
            }
        }
        // Several CHANGEs per read mean the server wrote several per write
        // (or TCP merged them): the batching the floor's b1/b8 stand for.
        writeln!(
            f,
            "wire        {:.1} B read per CHANGE, {:.2} CHANGEs per read",
            ratio(s.bytes_in, s.deliveries),
            ratio(s.deliveries, s.reads),
        )?;
        if let Some(finals) = &self.finals {
            let reported = finals.seqs.iter().filter(|s| s.is_some()).count();
            let verdict = if s.converged == self.clients as u64 {
                "every client"
            } else {
                "NOT every client"
            };
            writeln!(
                f,
                "converged   {} of {} clients ({verdict}) at the {reported} of {} writers' last values and version {}, {:.2} s after the run{}",
                s.converged,
                self.clients,
                self.writers,
                finals.version,
                self.settle.as_secs_f64(),
                s.first_divergence
                    .as_deref()
                    .map(|d| format!("; {d}"))
                    .unwrap_or_default(),
            )?;
        }
        if s.errors > 0 || s.refusals > 0 {
            writeln!(
                f,
                "problems    {} clients failed ({}), {} STATUS errors ({})",
                s.errors,
                s.first_error.as_deref().unwrap_or("-"),
                s.refusals,
                s.first_refusal.as_deref().unwrap_or("-"),
            )?;
        }
        if let Some(takeover) = &self.takeover {
            let first = takeover.first_ack.map_or_else(|| "none".into(), micros);
            writeln!(
                f,
                "takeover    first write acknowledged after the kill: {first} after it; \
                 {} acknowledged after it",
                takeover.acks_after
            )?;
        }
        if self.servers.len() > 1
            && let Some(cpu) = self.server_cpu()
        {
            writeln!(
                f,
                "servers     {} processes: {:.2} s CPU in all ({:.2} cores) = {} per delivery",
                self.servers.len(),
                cpu.as_secs_f64(),
                cpu.as_secs_f64() / secs,
                micros(per(cpu, s.deliveries)),
            )?;
        }
        for server in &self.servers {
            let per_delivery = per(server.cpu, s.deliveries);
            writeln!(
                f,
                "server      pid {}: {:.2} s CPU in {:.2} s ({:.2} cores) = {} per delivery; \
                 peak RSS {:.1} MiB (now {:.1} MiB)",
                server.pid,
                server.cpu.as_secs_f64(),
                secs,
                server.cpu.as_secs_f64() / secs,
                micros(per_delivery),
                server.peak_kib as f64 / 1024.0,
                server.rss_kib as f64 / 1024.0,
            )?;
            let threads: Vec<String> = server
                .threads
                .iter()
                .filter(|t| !t.1.is_zero())
                .map(|(name, cpu, n)| format!("{name} ×{n} {:.2} s", cpu.as_secs_f64()))
                .collect();
            writeln!(f, "            by thread: {}", threads.join(", "))?;
        }
        if let Some(cpu) = self.loadgen_cpu {
            writeln!(
                f,
                "loadgen     {:.2} s CPU ({:.2} cores)",
                cpu.as_secs_f64(),
                cpu.as_secs_f64() / secs
            )?;
        }
        Ok(())
    }

    fn fmt_floor(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.floor.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "floor       N={}, {} B messages, {} writes per socket per case, one writer thread, TCP_NODELAY:",
            self.clients,
            floor::MESSAGE_BYTES,
            self.floor_writes
        )?;
        for case in &self.floor {
            writeln!(
                f,
                "            b{}: {} writer CPU per delivery = {}/s per core (wall {:.2} s)",
                case.batch,
                micros(case.cpu_per_delivery()),
                count(case.deliveries_per_core_second()),
                case.wall.as_secs_f64(),
            )?;
        }
        if self.description.is_empty() {
            return Ok(());
        }
        // Ours per core: what the server delivered per second of its own
        // CPU time, the floor's measure; on a shared machine the wall rate
        // also depends on how much CPU the server was given.
        let per_core = self
            .server_cpu()
            .map(|cpu| self.stats.deliveries as f64 / cpu.as_secs_f64().max(1e-9));
        let wall = self.deliveries_per_second();
        let against = |ours: f64| {
            let ratios: Vec<String> = self
                .floor
                .iter()
                .map(|c| format!("{:.2}× b{}", ours / c.deliveries_per_core_second(), c.batch))
                .collect();
            format!("{}/s = {}", count(ours), ratios.join(", "))
        };
        if let Some(ours) = per_core {
            writeln!(
                f,
                "ratio       per server core (deliveries ÷ server CPU time): {}",
                against(ours)
            )?;
        }
        writeln!(
            f,
            "            wall (deliveries ÷ run time): {}",
            against(wall)
        )?;
        if let Some((batch, ratio, target, verdict)) = self.verdict() {
            writeln!(
                f,
                "verdict     C1: server CPU per delivery {ratio:.2}× the b{batch} floor's \
                 (target ≤ {target}× at 1,000 clients): {verdict}"
            )?;
        }
        Ok(())
    }
}

/// `p50 …, p99 …, max …` of a histogram in µs.
fn quantiles(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "-".into();
    }
    let us = |v: u64| micros(Duration::from_micros(v));
    format!(
        "p50 {}, p99 {}, max {}",
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.max())
    )
}

/// A duration in the unit that reads best: ns, µs or ms.
fn micros(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

/// A count with thousands separators, rounded.
fn count(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b.max(1) as f64
}

fn per(total: Duration, n: u64) -> Duration {
    total.div_f64(n.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.4), "999");
        assert_eq!(count(1000.0), "1,000");
        assert_eq!(count(1_234_567.0), "1,234,567");
        assert_eq!(micros(Duration::from_nanos(297)), "297 ns");
        assert_eq!(micros(Duration::from_nanos(2_280)), "2.28 µs");
        assert_eq!(micros(Duration::from_micros(3_400)), "3.40 ms");
    }

    #[test]
    fn floor_alone_prints_no_ratio() {
        let mut report = Report::new(10, 1024);
        report.floor = vec![FloorCase {
            batch: 1,
            deliveries: 1000,
            writer_cpu: Duration::from_millis(2),
            wall: Duration::from_millis(3),
        }];
        let text = report.to_string();
        assert!(text.contains("b1: 2.00 µs writer CPU per delivery = 500,000/s per core"));
        assert!(!text.contains("ratio"));
    }

    #[test]
    fn ratios_and_verdict() {
        let mut report = Report::new(1000, 4096);
        report.description = "a run".into();
        report.saturated = true;
        report.writers = 1;
        report.window = Duration::from_secs(2);
        report.stats.deliveries = 200_000;
        report.servers = vec![ServerUsage {
            pid: 1,
            cpu: Duration::from_secs(1),
            threads: vec![("w".into(), Duration::from_secs(1), 2)],
            peak_kib: 2048,
            rss_kib: 1024,
        }];
        report.floor = vec![
            FloorCase {
                batch: 1,
                deliveries: 1_000_000,
                writer_cpu: Duration::from_secs(3),
                wall: Duration::from_secs(3),
            },
            FloorCase {
                batch: 8,
                deliveries: 1_000_000,
                writer_cpu: Duration::from_millis(500),
                wall: Duration::from_secs(1),
            },
        ];
        let text = report.to_string();
        // 200,000 per CPU second against 333,333 and 2,000,000 per core.
        assert!(
            text.contains(
                "per server core (deliveries ÷ server CPU time): 200,000/s = 0.60× b1, 0.10× b8"
            ),
            "{text}"
        );
        assert!(text.contains("wall (deliveries ÷ run time): 100,000/s = 0.30× b1, 0.05× b8"));
        // 5 µs per delivery against the floor's 3 µs (b1) and 0.5 µs (b8).
        assert!(
            text.contains("server CPU per delivery 1.67× the b1 floor's (target ≤ 1.15× at 1,000 clients): missed"),
            "{text}"
        );
        report.stats.deliveries = 1_000_000;
        assert!(report.to_string().contains("0.33× the b1 floor's"));
        assert!(report.to_string().contains("): met"));
        report.writers = 8;
        assert!(
            report
                .to_string()
                .contains("2.00× the b8 floor's (target ≤ 1.5× at 1,000 clients): missed")
        );
        report.writers = 2;
        assert!(!report.to_string().contains("verdict"));
        report.writers = 1;
        report.saturated = false;
        assert!(!report.to_string().contains("verdict"));
        report.saturated = true;
        report.servers.clear();
        assert!(!report.to_string().contains("verdict"));
    }
}
