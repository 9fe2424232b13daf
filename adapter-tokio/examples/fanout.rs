//! A fan-out load generator for a running server: `--subscribers` clients
//! use one SO, one writer sends `--writes` changes as fast as the server
//! takes them, and every subscriber reads until it has the last version.
//! Prints the time and the messages delivered per second.
//!
//! ```text
//! cargo run --release -p adapter-tokio --example server -- --data-dir /tmp/so &
//! cargo run --release -p adapter-tokio --example fanout -- --subscribers 200 --writes 2000
//! ```

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use clap::Parser;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::connection::{Config, ConnectParams, Connection, Event, Side};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fan-out load against a SharedObject server.
#[derive(Debug, Parser)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:1935")]
    server: String,
    /// Subscribers reading every change.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Changes the writer sends.
    #[arg(long, default_value_t = 1000)]
    writes: u32,
    /// Distinct keys the writes cycle through.
    #[arg(long, default_value_t = 100)]
    keys: u32,
    /// The SO's name (use a fresh one per run).
    #[arg(long, default_value = "fanout")]
    so: String,
}

struct Client {
    stream: TcpStream,
    conn: Connection,
    buf: BytesMut,
    out: BytesMut,
}

impl Client {
    async fn connect(addr: &str, encoding: Encoding) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        let now = Instant::now();
        let mut conn = Connection::new(Arc::new(Config::default()), Side::Client, now, [1; 32]);
        let url = format!("rtmp://{addr}/load");
        conn.connect(now, ConnectParams::from_url(&url, encoding).unwrap())
            .unwrap();
        let mut client = Self {
            stream,
            conn,
            buf: BytesMut::with_capacity(64 << 10),
            out: BytesMut::new(),
        };
        loop {
            match client.next().await {
                Event::Connected { .. } => return client,
                Event::HandshakeDone => {}
                other => panic!("not connected: {other:?}"),
            }
        }
    }

    async fn flush(&mut self) {
        self.conn.poll_transmit(&mut self.out);
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await.unwrap();
            self.out.clear();
        }
    }

    async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.conn.poll_event() {
                return event;
            }
            self.flush().await;
            if self.stream.read_buf(&mut self.buf).await.unwrap() == 0 {
                panic!("the server closed the connection");
            }
            let _ = self.conn.handle_input(Instant::now(), &self.buf);
            self.buf.clear();
        }
    }

    async fn send(&mut self, name: &str, events: Vec<SoEvent>) {
        let message = SharedObjectMessage {
            name: name.into(),
            version: 0,
            persistent: false,
            events,
        };
        self.conn
            .send_shared_object(Instant::now(), &message)
            .unwrap();
    }

    /// Reads SO messages until one carries `version`; how many it read.
    async fn read_until(&mut self, version: u32) -> u64 {
        let mut messages = 0;
        loop {
            if let Event::SharedObject(m) = self.next().await {
                messages += 1;
                if m.version >= version {
                    return messages;
                }
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut subscribers = Vec::new();
    for i in 0..args.subscribers {
        let encoding = if i % 2 == 0 {
            Encoding::Amf0
        } else {
            Encoding::Amf3
        };
        let mut client = Client::connect(&args.server, encoding).await;
        client.send(&args.so, vec![SoEvent::Use]).await;
        client.flush().await;
        client.read_until(0).await;
        subscribers.push(client);
    }
    let mut writer = Client::connect(&args.server, Encoding::Amf0).await;
    writer.send(&args.so, vec![SoEvent::Use]).await;
    writer.flush().await;
    let start_version = match writer.next().await {
        Event::SharedObject(m) => m.version,
        other => panic!("{other:?}"),
    };
    let last = start_version + args.writes;
    let started = Instant::now();
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut c| tokio::spawn(async move { c.read_until(last).await }))
        .collect();
    let writes = args.writes;
    let keys = args.keys;
    let so = args.so.clone();
    let writer = tokio::spawn(async move {
        for i in 0..writes {
            let key = format!("k{}", i % keys);
            writer
                .send(
                    &so,
                    vec![SoEvent::RequestChange {
                        key: key.into(),
                        value: Value::from(f64::from(i)),
                    }],
                )
                .await;
            if i % 16 == 15 {
                writer.flush().await;
            }
        }
        writer.read_until(last).await
    });
    let mut delivered = 0;
    for reader in readers {
        delivered += reader.await.unwrap();
    }
    writer.await.unwrap();
    let elapsed = started.elapsed();
    let possible = u64::from(args.writes) * args.subscribers as u64;
    println!(
        "{} subscribers, {} writes: {:.3} s, {} of {} changes delivered ({:.0}% coalesced), {:.0} messages/s",
        args.subscribers,
        args.writes,
        elapsed.as_secs_f64(),
        delivered,
        possible,
        100.0 * (1.0 - delivered as f64 / possible as f64),
        delivered as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
    );
}
