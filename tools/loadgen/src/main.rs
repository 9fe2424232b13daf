//! End-to-end load generator for any RTMP SharedObject server (ours, Red5,
//! …; only RTMP and SharedObject wire behaviour are assumed), with the raw
//! socket fan-out floor of this machine measured in the same run
//! (BENCHMARKS.md, C1).
//!
//! ```text
//! cargo run --release -p adapter-tokio --example server -- --data-dir /tmp/so &
//! cargo run --release -p loadgen -- \
//!     rtmp://127.0.0.1:1935/bench --clients 1000 --writers 1 --max \
//!     --duration 5 --server-pid $(pgrep -n server)
//! cargo run --release -p loadgen -- --floor --clients 1000
//! ```
//!
//! N clients (cheap ones: a sans-IO `Connection` per socket, see
//! [`clients`]) connect, USE one SO, and wait until all are subscribed.
//! Then W of them write it, each its own key `w{i}`, at `--rate` updates
//! per second in all or as fast as `--window` unacknowledged writes per
//! writer allow (`--max`, the default); every client counts the CHANGEs it
//! receives. After `--warmup` seconds, `--duration` seconds are measured:
//! deliveries per second (CHANGEs received by all clients), propagation
//! latency (writer's send → receiver's read, one clock), bytes per update
//! on the wire, and with `--server-pid` (Linux) the server's CPU time per
//! thread name and its peak memory. Then the floor: one writer thread,
//! N loopback sockets, 100-byte messages, one `write` per delivery (b1)
//! and 8 per write (b8); the result is the ratio of our deliveries per
//! second to the floor's per core, and of the floor's CPU per delivery to
//! the server's.
//!
//! Everything is bounded: setup by a timeout, the run by its duration,
//! memory by fixed buffers per client and fixed-size histograms. All
//! traffic stays on loopback when the URL does.

mod clients;
mod floor;
mod report;
mod sys;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use rtmp_proto::amf::{Encoding, Str};
use rtmp_proto::connection::{Config, ConnectParams};

use crate::clients::{Control, Phase, Plan, Stats};
use crate::report::{Report, ServerUsage};

/// Load generator for RTMP SharedObject servers, with this machine's raw
/// fan-out floor for comparison.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(version)]
struct Args {
    /// The server and application: `rtmp://host[:port]/app[/room]`. Not
    /// needed with --floor.
    #[arg(required_unless_present = "floor")]
    url: Option<String>,
    /// Clients to open, all subscribed to the SO.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How many of them write (each its own key).
    #[arg(long, default_value_t = 1)]
    writers: usize,
    /// Updates per second, all writers together.
    #[arg(long, conflicts_with = "max")]
    rate: Option<f64>,
    /// Write as fast as the window allows (the default without --rate).
    #[arg(long)]
    max: bool,
    /// No client writes: the server's own code writes key `w0` (with a
    /// `seq` field, as a writer's values have), as adapter-tokio's
    /// `handle-fanout` example does; deliveries count as usual, latency is
    /// not measured.
    #[arg(long)]
    server_writes: bool,
    /// Most unacknowledged writes per writer (a writer waits for SUCCESS).
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of writing before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The SO's name.
    #[arg(long, default_value = "loadgen")]
    so: String,
    /// Padding bytes in each update's value; the default makes a CHANGE
    /// about 100 bytes on the wire, the floor's message size.
    #[arg(long, default_value_t = 20)]
    value_bytes: usize,
    /// The server's process id (Linux): report its CPU time and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Ask for AMF0 (the default: type 19 SO messages).
    #[arg(long, conflicts_with = "amf3")]
    amf0: bool,
    /// Ask for AMF3 (type 16 SO messages), as Flash Player 9+ does.
    #[arg(long)]
    amf3: bool,
    /// Threads for the clients (each a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Measure only the floor (no server needed).
    #[arg(long)]
    floor: bool,
    /// Writes per socket in each floor case (b1 writes one message each,
    /// b8 eight), so both cases time the same number of `write` calls;
    /// 0 skips the floor.
    #[arg(long, alias = "floor-messages", default_value_t = 256)]
    floor_writes: usize,
    /// Microseconds the floor's writer pauses after each round of writes
    /// to every socket (0: none). A pause like the server's delivery tick
    /// lets the readers fall asleep between rounds, as they do against
    /// the server.
    #[arg(long, default_value_t = 0)]
    floor_gap_us: u64,
    /// Seconds allowed, after the run, for the writers' last updates to be
    /// acknowledged and then for every client to reach the final state.
    #[arg(long, default_value_t = 30.0)]
    settle_timeout: f64,
    /// Seconds allowed for connecting and subscribing every client.
    #[arg(long, default_value_t = 60.0)]
    setup_timeout: f64,
}

/// The settings of one run, checked.
#[derive(Debug, Clone)]
struct Options {
    url: Option<String>,
    clients: usize,
    writers: usize,
    /// Updates per second in all; `None`: as fast as the window allows.
    rate: Option<f64>,
    window: usize,
    duration: Duration,
    warmup: Duration,
    so: Str,
    value_bytes: usize,
    server_pid: Option<u32>,
    encoding: Encoding,
    threads: usize,
    floor_writes: usize,
    floor_gap: Duration,
    setup_timeout: Duration,
    settle_timeout: Duration,
    server_writes: bool,
}

/// The largest run: an hour.
const MAX_SECONDS: f64 = 3600.0;
/// The largest padding: 1 MiB.
const MAX_VALUE_BYTES: usize = 1 << 20;
/// File descriptors besides the sockets (std streams, runtimes, /proc).
const SPARE_FDS: u64 = 64;

impl TryFrom<Args> for Options {
    type Error = String;

    fn try_from(args: Args) -> Result<Self, String> {
        let seconds = |what: &str, s: f64, min: f64| {
            if (min..=MAX_SECONDS).contains(&s) {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(format!("--{what} must be {min} to {MAX_SECONDS} seconds"))
            }
        };
        if args.clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        if args.writers == 0 || args.writers > args.clients {
            return Err("--writers must be 1 to --clients".into());
        }
        if args.window == 0 {
            return Err("--window must be at least 1".into());
        }
        if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return Err("--rate must be a positive number".into());
        }
        if args.value_bytes > MAX_VALUE_BYTES {
            return Err(format!("--value-bytes must be at most {MAX_VALUE_BYTES}"));
        }
        if args.threads == 0 || args.threads > args.clients {
            return Err("--threads must be 1 to --clients".into());
        }
        Ok(Self {
            url: if args.floor { None } else { args.url },
            clients: args.clients,
            writers: args.writers,
            rate: args.rate,
            window: args.window,
            duration: seconds("duration", args.duration, 0.1)?,
            warmup: seconds("warmup", args.warmup, 0.0)?,
            so: args.so.into(),
            value_bytes: args.value_bytes,
            server_pid: args.server_pid,
            encoding: if args.amf3 {
                Encoding::Amf3
            } else {
                Encoding::Amf0
            },
            threads: args.threads,
            floor_writes: args.floor_writes,
            floor_gap: Duration::from_micros(args.floor_gap_us),
            setup_timeout: seconds("setup-timeout", args.setup_timeout, 1.0)?,
            settle_timeout: seconds("settle-timeout", args.settle_timeout, 0.1)?,
            server_writes: args.server_writes,
        })
    }
}

fn main() {
    let args = Args::parse();
    let result = Options::try_from(args).and_then(|options| {
        let report = run(&options)?;
        print!("{report}");
        Ok(())
    });
    if let Err(why) = result {
        eprintln!("loadgen: {why}");
        std::process::exit(1);
    }
}

/// The whole run: the clients against the server (unless there is no
/// URL), then the floor (unless `floor_writes` is 0).
fn run(options: &Options) -> Result<Report, String> {
    // The clients' sockets, then the floor's two ends of N sockets.
    let sockets = options.clients as u64 * if options.url.is_some() { 1 } else { 0 };
    let floor = if options.floor_writes > 0 {
        2 * options.clients as u64
    } else {
        0
    };
    let fd_limit = sys::raise_open_files(sockets.max(floor) + SPARE_FDS)?;
    let mut report = Report::new(options.clients, fd_limit);
    if let Some(url) = &options.url {
        run_clients(options, url, &mut report)?;
    }
    if options.floor_writes > 0 {
        report.floor = floor::measure(options.clients, options.floor_writes, options.floor_gap)?;
        report.floor_writes = options.floor_writes;
    }
    Ok(report)
}

/// Connects every client, runs the writers, and fills `report`.
fn run_clients(options: &Options, url: &str, report: &mut Report) -> Result<(), String> {
    let addr = resolve(url)?;
    let params = ConnectParams::from_url(url, options.encoding)
        .ok_or_else(|| format!("not an rtmp://host[:port]/app URL: {url}"))?;
    let config = Config {
        // The runs are short; pings and idle timeouts would only add
        // timers to every client.
        ping_interval: None,
        idle_timeout: None,
        ..Config::default()
    };
    let plan = Arc::new(Plan {
        addr,
        params,
        config: Arc::new(config),
        so: options.so.clone(),
        writers: options.writers,
        server_writes: options.server_writes,
        period: options
            .rate
            .map(|rate| Duration::from_secs_f64(options.writers as f64 / rate)),
        window: options.window,
        pad: "x".repeat(options.value_bytes).into(),
        epoch: Instant::now(),
    });
    let control = Arc::new(Control::new());
    let mut threads = Vec::with_capacity(options.threads);
    for t in 0..options.threads {
        let indices: Vec<usize> = (t..options.clients).step_by(options.threads).collect();
        let (plan, control) = (plan.clone(), control.clone());
        let handle = thread::Builder::new()
            .name(format!("loadgen-{t}"))
            .spawn(move || clients::run_thread(plan, control, indices))
            .map_err(|e| format!("no client thread: {e}"))?;
        threads.push(handle);
    }
    let setup_start = Instant::now();
    let progress = control.wait_setup(options.clients, setup_start + options.setup_timeout);
    report.setup = setup_start.elapsed();
    if progress.ready < options.clients {
        control.set_phase(Phase::Abort);
        join(threads);
        let why = progress
            .first_error
            .unwrap_or_else(|| format!("setup timed out after {:.0?}", options.setup_timeout));
        return Err(format!(
            "{} of {} clients subscribed, {} failed: {why}",
            progress.ready, options.clients, progress.failed
        ));
    }
    let count_from = Instant::now() + options.warmup;
    let until = count_from + options.duration;
    control.set_phase(Phase::Run { count_from, until });
    sleep_until(count_from);
    let server_before = options.server_pid.and_then(sys::cpu_sample);
    let me_before = sys::cpu_sample(std::process::id());
    sleep_until(until);
    let server_after = options.server_pid.and_then(sys::cpu_sample);
    let me_after = sys::cpu_sample(std::process::id());
    // Convergence: once the writers' last updates are acknowledged, every
    // client must end at each writer's last value and the SO's last
    // version, however much was coalesced on the way.
    if !options.server_writes {
        let settle_from = Instant::now();
        let finals = control.wait_finals(options.writers, until + options.settle_timeout);
        control.set_phase(Phase::Settle {
            finals: Arc::new(finals.clone()),
            until: Instant::now() + options.settle_timeout,
        });
        report.finals = Some(finals);
        report.stats = join(threads);
        report.settle = settle_from.elapsed();
    } else {
        report.stats = join(threads);
    }
    report.window = options.duration;
    report.loadgen_cpu = me_before
        .zip(me_after)
        .map(|(before, after)| after.total.saturating_sub(before.total));
    if let (Some(pid), Some(before), Some(after)) =
        (options.server_pid, server_before, server_after)
    {
        let (peak_kib, rss_kib) = sys::memory_kib(pid).unwrap_or_default();
        report.server = Some(ServerUsage {
            pid,
            cpu: after.total.saturating_sub(before.total),
            threads: after.by_name_since(&before),
            peak_kib,
            rss_kib,
        });
    }
    report.describe_run(options, url);
    Ok(())
}

/// Waits for the client threads and merges what they counted.
fn join(threads: Vec<thread::JoinHandle<Stats>>) -> Stats {
    let mut all = Stats::default();
    for handle in threads {
        match handle.join() {
            Ok(stats) => all.merge(stats),
            Err(_) => {
                all.errors += 1;
                all.first_error
                    .get_or_insert_with(|| "a client thread panicked".into());
            }
        }
    }
    all
}

fn sleep_until(at: Instant) {
    thread::sleep(at.saturating_duration_since(Instant::now()));
}

/// The socket address of `rtmp://host[:port]/...` (port 1935 by default;
/// an IPv6 host in brackets).
fn resolve(url: &str) -> Result<SocketAddr, String> {
    let invalid = || format!("not an rtmp://host[:port]/app URL: {url}");
    let rest = url.strip_prefix("rtmp://").ok_or_else(invalid)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or_else(invalid)?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port: u16 = match port {
        Some(port) => port.parse().map_err(|_| invalid())?,
        None => 1935,
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

#[cfg(test)]
mod tests {
    use adapter_tokio::Server;

    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        let args =
            Args::try_parse_from(["loadgen"].iter().chain(args)).map_err(|e| e.to_string())?;
        Options::try_from(args)
    }

    #[test]
    fn arguments() {
        let o = parse(&["rtmp://h/app"]).expect("valid");
        assert_eq!((o.clients, o.writers, o.rate, o.window), (100, 1, None, 4));
        assert_eq!(o.encoding, Encoding::Amf0);
        assert_eq!(o.duration, Duration::from_secs(5));
        let o = parse(&[
            "rtmp://h/app",
            "--clients",
            "10",
            "--writers",
            "3",
            "--rate",
            "50",
            "--amf3",
        ])
        .expect("valid");
        assert_eq!((o.clients, o.writers, o.rate), (10, 3, Some(50.0)));
        assert_eq!(o.encoding, Encoding::Amf3);
        let o = parse(&["--floor", "--clients", "7"]).expect("valid");
        assert_eq!((o.url, o.clients), (None, 7));
        for bad in [
            &["rtmp://h/app", "--writers", "0"][..],
            &["rtmp://h/app", "--clients", "2", "--writers", "3"],
            &["rtmp://h/app", "--rate", "0"],
            &["rtmp://h/app", "--rate", "5", "--max"],
            &["rtmp://h/app", "--amf0", "--amf3"],
            &["rtmp://h/app", "--duration", "0"],
            &["rtmp://h/app", "--window", "0"],
            &[],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_resolve() {
        assert_eq!(
            resolve("rtmp://127.0.0.1:19350/app/room"),
            Ok("127.0.0.1:19350".parse().expect("addr"))
        );
        assert_eq!(
            resolve("rtmp://[::1]/app"),
            Ok("[::1]:1935".parse().expect("addr"))
        );
        assert!(resolve("http://127.0.0.1/app").is_err());
        assert!(resolve("rtmp://127.0.0.1:x/app").is_err());
    }

    /// A second against an in-process server with a handful of clients:
    /// every count must add up (no timing is asserted).
    #[test]
    fn runs_end_to_end() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let server = runtime
            .block_on(Server::builder().bind_addr("127.0.0.1:0").bind())
            .expect("server");
        let url = format!("rtmp://{}/loadgen-test", server.local_addr());
        let shutdown = server.shutdown_handle();
        let serving = runtime.spawn(server.run_until(std::future::pending()));
        let options = parse(&[
            &url,
            "--clients",
            "6",
            "--writers",
            "2",
            "--rate",
            "200",
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--threads",
            "2",
            "--floor-writes",
            "16",
            "--server-pid",
            &std::process::id().to_string(),
        ])
        .expect("valid");
        let report = run(&options).expect("run");
        shutdown.shutdown();
        runtime.block_on(serving).expect("join").expect("server");

        let stats = &report.stats;
        assert_eq!((stats.errors, stats.refusals), (0, 0), "{report}");
        assert!(stats.updates > 0, "{report}");
        assert!(stats.deliveries > 0, "{report}");
        // Every update reaches the 5 other clients, give or take the
        // ones in flight at the window's edges, unless the server coalesced
        // it away for a client that had not yet taken the one before (as
        // it does on a loaded machine): those show as skipped.
        let expected = stats.updates * 5;
        assert!(
            stats.deliveries + stats.skipped + 50 >= expected && stats.deliveries <= expected + 50,
            "{report}"
        );
        assert_eq!(stats.latency.len(), stats.deliveries);
        // Whatever was coalesced, every client ends at the same state.
        assert_eq!((stats.converged, stats.diverged), (6, 0), "{report}");
        let finals = report.finals.as_ref().expect("checked");
        assert!(finals.complete() && finals.version > 0, "{report}");
        assert!(stats.acks > 0 && stats.update_bytes > 0 && stats.bytes_in > 0);
        // /proc is Linux's.
        assert_eq!(
            report.server.is_some(),
            cfg!(target_os = "linux"),
            "{report}"
        );
        assert_eq!(report.floor.len(), 2);
        // 16 writes per socket in each case: 16 messages in b1, 128 in b8.
        assert_eq!(report.floor[0].deliveries, 6 * 16);
        assert_eq!(report.floor[1].deliveries, 6 * 16 * 8);
        let text = report.to_string();
        for needle in ["deliveries", "latency", "floor", "ratio", "converged"] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
