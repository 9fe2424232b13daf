//! Fan-out to N subscribers over WebSocket or RTMP, against a running
//! server: one RTMP writer sets a key R times; every subscriber records
//! the latency of each change; the server's CPU time (from /proc) is
//! divided by the deliveries.
//!
//! ```text
//! cargo run --release -p adapter-tokio --example server -- --data-dir /tmp/d &
//! cargo run --release -p adapter-tokio --example ws-fanout -- --transport ws \
//!     --clients 1000 --rounds 300 --server-pid $(pgrep -n server)
//! ```
//!
//! WebSocket subscribers are blocking threads with `tungstenite`; RTMP
//! subscribers are the tokio client library's. Either way the client side
//! runs in this process, so the server's CPU is its own.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapter_core::{Received, Runtime};
use adapter_tokio::{Client, ClientOptions, Tokio};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use rtmp_proto::amf::Value;
use rtmp_proto::mirror::RemoteEvent;
use tungstenite::client::IntoClientRequest;

/// Which transport the subscribers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    Ws,
    Rtmp,
}

/// Fan-out latency and server CPU per delivery, WebSocket or RTMP subscribers.
#[derive(Debug, Parser)]
struct Args {
    /// The subscribers' transport.
    #[arg(long, value_enum)]
    transport: Transport,
    /// The server's RTMP address (the writer always uses RTMP).
    #[arg(long, default_value = "127.0.0.1:1935")]
    rtmp: String,
    /// The server's HTTP address (for WebSocket subscribers).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// Subscribers.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Updates the writer makes.
    #[arg(long, default_value_t = 300)]
    rounds: u64,
    /// Pause between updates, in milliseconds.
    #[arg(long, default_value_t = 10)]
    gap_ms: u64,
    /// The server's process id, for its CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// What every subscriber adds to.
struct Tally {
    start: Instant,
    latency: Mutex<Histogram<u64>>,
    received: AtomicU64,
}

impl Tally {
    /// A change whose value is the writer's microseconds since `start`.
    fn record(&self, sent_micros: f64) {
        let now = self.start.elapsed().as_micros() as f64;
        let micros = (now - sent_micros).max(0.0) as u64;
        let _ = self.latency.lock().unwrap().record(micros);
        self.received.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let args = Args::parse();
    let tally = Arc::new(Tally {
        start: Instant::now(),
        latency: Mutex::new(Histogram::new(3).expect("a histogram")),
        received: AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let ready = Arc::new(AtomicUsize::new(0));
    let url = format!("rtmp://{}/bench/fanout", args.rtmp);
    match args.transport {
        Transport::Ws => {
            for _ in 0..args.clients {
                let (http, tally, ready) = (args.http.clone(), tally.clone(), ready.clone());
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn(move || ws_subscriber(&http, &tally, &ready))
                    .expect("a thread");
            }
        }
        Transport::Rtmp => {
            for _ in 0..args.clients {
                let (url, tally, ready) = (url.clone(), tally.clone(), ready.clone());
                runtime.spawn(async move {
                    let client = Client::connect(&url, ClientOptions::default())
                        .await
                        .expect("connect");
                    let so = client.shared_object("fan", false).await.expect("use");
                    let mut events = so.events();
                    ready.fetch_add(1, Ordering::Relaxed);
                    loop {
                        match Tokio::next_event(&mut events).await {
                            Received::Item(RemoteEvent::Changed { value, .. }) => {
                                if let Some(sent) = value.as_f64() {
                                    tally.record(sent);
                                }
                            }
                            Received::Closed => break,
                            _ => {}
                        }
                    }
                    drop((so, client));
                });
            }
        }
    }
    while ready.load(Ordering::Relaxed) < args.clients {
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("{} {:?} subscribers ready", args.clients, args.transport);
    let cpu_before = args.server_pid.map(server_cpu);
    let expected = args.rounds * args.clients as u64;
    runtime.block_on(async {
        let writer = Client::connect(&url, ClientOptions::default())
            .await
            .expect("the writer connects");
        let so = writer.shared_object("fan", false).await.expect("use");
        for _ in 0..args.rounds {
            let sent = tally.start.elapsed().as_micros() as f64;
            so.set("t", Value::Number(sent)).await.expect("set");
            tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while tally.received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let cpu = args
        .server_pid
        .zip(cpu_before)
        .map(|(pid, before)| server_cpu(pid) - before);
    let received = tally.received.load(Ordering::Relaxed);
    let latency = tally.latency.lock().unwrap();
    println!(
        "transport={:?} clients={} rounds={} deliveries={received}/{expected} \
         p50_us={} p99_us={} max_us={} server_cpu_s={} cpu_per_delivery_us={}",
        args.transport,
        args.clients,
        args.rounds,
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.max(),
        cpu.map_or_else(|| "?".into(), |c| format!("{c:.2}")),
        cpu.map_or_else(
            || "?".into(),
            |c| format!("{:.2}", c * 1e6 / received.max(1) as f64)
        ),
    );
    std::process::exit(0);
}

/// One WebSocket subscriber: connect, use, then record every change.
fn ws_subscriber(http: &str, tally: &Tally, ready: &AtomicUsize) {
    let stream = TcpStream::connect(http).expect("TCP connect");
    stream.set_nodelay(true).unwrap();
    let mut request = format!("ws://{http}/so").into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        so_web::SUBPROTOCOL.parse().unwrap(),
    );
    let (mut ws, _) = tungstenite::client(request, stream).expect("the upgrade");
    let connect = r#"{"type":"connect","app":"bench","room":"fanout"}"#;
    ws.send(tungstenite::Message::text(connect)).expect("send");
    // `use` only once connected (the session refuses it before).
    loop {
        match ws.read().expect("the connect's answer") {
            tungstenite::Message::Text(text) if text.as_str().contains(r#""connected""#) => break,
            tungstenite::Message::Text(text) => panic!("connect refused: {text}"),
            _ => {}
        }
    }
    let use_so = r#"{"type":"use","so":"fan"}"#;
    ws.send(tungstenite::Message::text(use_so)).expect("send");
    let mut synced = false;
    loop {
        let text = match ws.read() {
            Ok(tungstenite::Message::Text(text)) => text,
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let frame: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON");
        let Some(events) = frame["events"].as_array() else {
            continue;
        };
        for event in events {
            match event["type"].as_str() {
                Some("use_success") if !synced => {
                    synced = true;
                    ready.fetch_add(1, Ordering::Relaxed);
                }
                Some("change") => {
                    if let Some(sent) = event["value"].as_f64() {
                        tally.record(sent);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The server's user + system CPU time in seconds.
fn server_cpu(pid: u32) -> f64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server's /proc stat");
    // Fields after the command (which may hold spaces): utime is the 14th
    // field, stime the 15th, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}
