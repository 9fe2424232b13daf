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
//! Several URLs (the processes of one cluster, docs/CLUSTER.md): the
//! writers connect to `--writer-server`, the other clients spread over
//! all; the client on `--owner-server` USEs the SO first, so that its
//! process owns it. Latency is reported per receiving server, the CPU
//! time summed over every `--server-pid`. `--kill-pid P --kill-after S`
//! sends SIGKILL to P S seconds into the measured window and reports when
//! the first write was acknowledged after it (a cluster's takeover).
//!
//! ```text
//! loadgen rtmp://127.0.0.1:19401/bench rtmp://127.0.0.1:19402/bench \
//!     rtmp://127.0.0.1:19403/bench --clients 300 --rate 200 \
//!     --server-pid $A --server-pid $B --server-pid $C
//! ```
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
use crate::report::{Report, ServerUsage, Takeover};

/// Load generator for RTMP SharedObject servers, with this machine's raw
/// fan-out floor for comparison.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(version)]
struct Args {
    /// The server and application: `rtmp://host[:port]/app[/room]`; for
    /// a cluster, one URL per process (the same application). Not needed
    /// with --floor.
    #[arg(required_unless_present = "floor", num_args = 1..)]
    urls: Vec<String>,
    /// With several URLs: the one (0 is the first) the writers connect to.
    #[arg(long, default_value_t = 0)]
    writer_server: usize,
    /// With several URLs: the one whose client USEs the SO before any
    /// other client connects, so that its process owns the SO.
    #[arg(long, default_value_t = 0)]
    owner_server: usize,
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
    /// The server's process id (Linux): report its CPU time and memory;
    /// repeat it for each process of a cluster (their CPU times are
    /// summed).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Send SIGKILL to this process during the run (Unix), and report
    /// when the first write was acknowledged after it.
    #[arg(long, requires = "kill_after")]
    kill_pid: Option<u32>,
    /// Seconds into the measured window at which --kill-pid is killed.
    #[arg(long, requires = "kill_pid")]
    kill_after: Option<f64>,
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
    /// Empty: the floor alone.
    urls: Vec<String>,
    writer_server: usize,
    owner_server: usize,
    clients: usize,
    writers: usize,
    /// Updates per second in all; `None`: as fast as the window allows.
    rate: Option<f64>,
    window: usize,
    duration: Duration,
    warmup: Duration,
    so: Str,
    value_bytes: usize,
    server_pids: Vec<u32>,
    /// The process to kill, and when (after the warm-up).
    kill: Option<(u32, Duration)>,
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
        let servers = args.urls.len();
        if !args.floor && (args.writer_server >= servers || args.owner_server >= servers) {
            return Err(format!(
                "--writer-server and --owner-server must be below the number of URLs ({servers})"
            ));
        }
        let duration = seconds("duration", args.duration, 0.1)?;
        let kill = match (args.kill_pid, args.kill_after) {
            (Some(pid), Some(after)) => {
                let after = seconds("kill-after", after, 0.0)?;
                if after >= duration {
                    return Err("--kill-after must be less than --duration".into());
                }
                Some((pid, after))
            }
            _ => None,
        };
        Ok(Self {
            urls: if args.floor { Vec::new() } else { args.urls },
            writer_server: args.writer_server,
            owner_server: args.owner_server,
            clients: args.clients,
            writers: args.writers,
            rate: args.rate,
            window: args.window,
            duration,
            warmup: seconds("warmup", args.warmup, 0.0)?,
            so: args.so.into(),
            value_bytes: args.value_bytes,
            server_pids: args.server_pid,
            kill,
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
    let sockets = options.clients as u64 * if options.urls.is_empty() { 0 } else { 1 };
    let floor = if options.floor_writes > 0 {
        2 * options.clients as u64
    } else {
        0
    };
    let fd_limit = sys::raise_open_files(sockets.max(floor) + SPARE_FDS)?;
    let mut report = Report::new(options.clients, fd_limit);
    if !options.urls.is_empty() {
        run_clients(options, &mut report)?;
    }
    if options.floor_writes > 0 {
        report.floor = floor::measure(options.clients, options.floor_writes, options.floor_gap)?;
        report.floor_writes = options.floor_writes;
    }
    Ok(report)
}

/// Connects every client, runs the writers, and fills `report`.
fn run_clients(options: &Options, report: &mut Report) -> Result<(), String> {
    let servers = options
        .urls
        .iter()
        .map(|url| {
            let params = ConnectParams::from_url(url, options.encoding)
                .ok_or_else(|| format!("not an rtmp://host[:port]/app URL: {url}"))?;
            Ok((resolve(url)?, params))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let config = Config {
        // The runs are short; pings and idle timeouts would only add
        // timers to every client.
        ping_interval: None,
        idle_timeout: None,
        ..Config::default()
    };
    let several = servers.len() > 1;
    let mut plan = Plan {
        servers,
        writer_server: options.writer_server,
        first: None,
        record_acks: options.kill.is_some(),
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
    };
    if several {
        plan.first = plan.first_on(options.owner_server, options.clients);
    }
    let plan = Arc::new(plan);
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
    // A killed process cannot be measured to the end: it is left out.
    let measured: Vec<u32> = options
        .server_pids
        .iter()
        .copied()
        .filter(|pid| options.kill.is_none_or(|(killed, _)| killed != *pid))
        .collect();
    let servers_before: Vec<_> = measured.iter().map(|pid| sys::cpu_sample(*pid)).collect();
    let me_before = sys::cpu_sample(std::process::id());
    let mut killed_at = None;
    if let Some((pid, after)) = options.kill {
        sleep_until(count_from + after);
        let killed = sys::kill_9(pid);
        killed_at = Some(Instant::now());
        if let Err(why) = killed {
            control.set_phase(Phase::Abort);
            join(threads);
            return Err(why);
        }
    }
    sleep_until(until);
    let servers_after: Vec<_> = measured.iter().map(|pid| sys::cpu_sample(*pid)).collect();
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
    for ((pid, before), after) in measured.iter().zip(servers_before).zip(servers_after) {
        let (Some(before), Some(after)) = (before, after) else {
            continue;
        };
        let (peak_kib, rss_kib) = sys::memory_kib(*pid).unwrap_or_default();
        report.servers.push(ServerUsage {
            pid: *pid,
            cpu: after.total.saturating_sub(before.total),
            threads: after.by_name_since(&before),
            peak_kib,
            rss_kib,
        });
    }
    if let Some(killed_at) = killed_at {
        report.takeover = Some(Takeover::from_acks(killed_at, &report.stats.ack_times));
    }
    report.describe_run(options);
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
        assert_eq!((o.urls.len(), o.clients), (0, 7));
        let o = parse(&[
            "rtmp://a/app",
            "rtmp://b/app",
            "--writer-server",
            "1",
            "--server-pid",
            "10",
            "--server-pid",
            "11",
            "--kill-pid",
            "10",
            "--kill-after",
            "2",
        ])
        .expect("valid");
        assert_eq!((o.urls.len(), o.writer_server, o.owner_server), (2, 1, 0));
        assert_eq!(o.server_pids, [10, 11]);
        assert_eq!(o.kill, Some((10, Duration::from_secs(2))));
        for bad in [
            &["rtmp://h/app", "--writers", "0"][..],
            &["rtmp://h/app", "--clients", "2", "--writers", "3"],
            &["rtmp://h/app", "--rate", "0"],
            &["rtmp://h/app", "--rate", "5", "--max"],
            &["rtmp://h/app", "--amf0", "--amf3"],
            &["rtmp://h/app", "--duration", "0"],
            &["rtmp://h/app", "--window", "0"],
            &["rtmp://h/app", "--writer-server", "1"],
            &["rtmp://a/app", "rtmp://b/app", "--owner-server", "2"],
            &["rtmp://h/app", "--kill-pid", "10"],
            &["rtmp://h/app", "--kill-pid", "10", "--kill-after", "5"],
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
            report.servers.len(),
            usize::from(cfg!(target_os = "linux")),
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

    /// Two independent servers (not a cluster): the writer on #1
    /// reaches only #1's clients, as the per-server latency says; a
    /// process killed mid-run is reported with the first write
    /// acknowledged after the kill.
    #[cfg(unix)]
    #[test]
    fn several_servers_and_a_kill() {
        use std::os::unix::process::ExitStatusExt;

        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let mut urls = Vec::new();
        let mut running = Vec::new();
        for _ in 0..2 {
            let server = runtime
                .block_on(Server::builder().bind_addr("127.0.0.1:0").bind())
                .expect("server");
            urls.push(format!("rtmp://{}/loadgen-test", server.local_addr()));
            let shutdown = server.shutdown_handle();
            running.push((
                shutdown,
                runtime.spawn(server.run_until(std::future::pending())),
            ));
        }
        let mut victim = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("a process to kill");
        let options = parse(&[
            &urls[0],
            &urls[1],
            "--clients",
            "5",
            "--writer-server",
            "1",
            "--rate",
            "200",
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--floor-messages",
            "0",
            "--kill-pid",
            &victim.id().to_string(),
            "--kill-after",
            "0.3",
        ])
        .expect("valid");
        let report = run(&options).expect("run");
        for (shutdown, serving) in running {
            shutdown.shutdown();
            runtime.block_on(serving).expect("join").expect("server");
        }
        assert_eq!(victim.wait().expect("reaped").signal(), Some(9));

        // Client 0 writes on #1; clients 1 and 3 are on #0, 2 and 4 on #1.
        let stats = &report.stats;
        assert_eq!((stats.errors, stats.refusals), (0, 0), "{report}");
        assert!(stats.deliveries > 0, "{report}");
        let at = |i: usize| stats.latency_by_server.get(i).map_or(0, |h| h.len());
        assert_eq!((at(0), at(1)), (0, stats.deliveries), "{report}");
        let takeover = report.takeover.expect("a kill");
        assert!(
            takeover.first_ack.is_some() && takeover.acks_after > 0,
            "{report}"
        );
        let text = report.to_string();
        for needle in ["2 servers", "at #0", "at #1", "takeover"] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
