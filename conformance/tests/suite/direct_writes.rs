//! Direct writes ([`Config::direct_writes`]): the engine thread writes a
//! client's SharedObject updates straight to its socket, one fmt-0 chunk
//! on chunk stream [`UPDATE_CSID`] each, while the connection task writes
//! its own messages (answers, queued updates, control) on chunk streams 2
//! and 3. These tests drive both writers onto one socket with real
//! clients and check that what arrives decodes whole, in version order,
//! and ends where the SharedObject ends.
//!
//! The path that matters most is the cut: a socket that takes only part
//! of a directly written message leaves its rest in the mailbox, which
//! the connection must write before anything of its own. A reader that
//! stops reading while a writer floods updates of 2–3.5 kB (under the
//! 4096-byte chunk size, so each can go direct) fills its socket (the
//! server's send buffer grows to a few MB on loopback); `/metrics` shows
//! when its updates started waiting in its queue, which happens only
//! once the socket is full. The engine writes up to 64 kB per `send`, so
//! the write that fills the socket almost always ends inside a message
//! (at a message boundary is a 1-in-thousands chance per stall, and the
//! test stalls three times). Dropping that rest in the server
//! (`mailbox.rs`, `unsent`) makes
//! [`a_stalled_reader_gets_every_update_whole_once_it_reads_again`] fail
//! with a decode error, and so does writing a message over the chunk
//! size directly for
//! [`an_update_over_the_chunk_size_between_direct_ones_keeps_its_place`].
//! What these tests cannot catch reliably are races between the two
//! writers that need a given interleaving within microseconds (the
//! mailbox's unit tests cover those rules one by one).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use adapter_core::Config;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::connection::Event;
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use crate::adapter::{Adapter, PATIENCE};
use crate::harness::{TempDir, TestServer};
use crate::wire::{TestClient, set, small_window};
use crate::ws_client::{get, http_of};

/// The chunk stream of directly written updates (the server's
/// `direct::UPDATE_CSID`).
const UPDATE_CSID: u32 = 5;
/// The chunk stream the server's connection encodes SharedObject
/// messages on.
const QUEUED_CSID: u32 = 3;
/// The server's chunk size (rtmp-proto's default, announced at connect).
const CHUNK_SIZE: usize = 4096;
/// The smallest value the flood writes: with its message header, a few
/// socket buffers' worth of them is a few dozen messages.
const MIN_VALUE: usize = 2000;
/// The spread of value sizes above [`MIN_VALUE`] (every message stays
/// under [`CHUNK_SIZE`], so each can go direct).
const VALUE_SPREAD: usize = 1500;
/// The keys the flood cycles through: the engine coalesces the updates of
/// a key within a delivery tick and the stalled reader's queue those
/// waiting for it, so that each holds at most this many updates (about
/// 700 kB); enough keys that most updates reach the socket.
const KEYS: usize = 256;
/// How many times the reader stalls and resumes.
const STALLS: usize = 3;
/// Updates the writer sends between two looks at `/metrics`: about
/// 150 kB.
const BURST: usize = 50;
/// Most updates sent per stall before giving up on seeing the stalled
/// reader's queue hold anything: about 30 MB, far past any socket buffer
/// (loopback send buffers grow to a few MB).
const MAX_PER_STALL: usize = 10_000;
/// How often the server pings a silent client in the stalled-reader test
/// (the connection's own control messages, written by its task).
const PING_INTERVAL: Duration = Duration::from_millis(20);
/// Updates the writer sends while the stalled reader catches up, one per
/// message the reader takes.
const RESUME_UPDATES: usize = 200;
/// The pause between two looks at `/metrics` (the engine publishes its
/// gauges every 200 ms while they are watched).
const GAUGE_POLL: Duration = Duration::from_millis(20);
/// The connection's write-buffer mark in these tests: past it, the
/// stalled reader's updates wait in its coalescing queue, where
/// `/metrics` counts them.
const MAX_UNSENT: usize = 32 << 10;

/// The `i`-th value of a flood: its number first, then filler, 2,000 to
/// 3,500 bytes.
fn flood_value(i: usize) -> String {
    let len = MIN_VALUE + (i * 397) % VALUE_SPREAD;
    let mut value = format!("{i:08}:");
    value.extend(std::iter::repeat_n(char::from(b'a' + (i % 26) as u8), len));
    value
}

/// The key of the `i`-th update of a flood.
fn flood_key(i: usize) -> String {
    format!("k{}", i % KEYS)
}

/// What a client learned of a SharedObject from the messages it got: the
/// values by key, the last version, and that versions only went up.
#[derive(Debug, Default, PartialEq)]
struct View {
    values: BTreeMap<String, Value>,
    version: u32,
}

impl View {
    /// Applies one message; `own` holds the values of the client's own
    /// writes (a SUCCESS names only the key). Panics if the version went
    /// back.
    fn apply(&mut self, message: &SharedObjectMessage, own: &BTreeMap<String, Value>) {
        assert!(
            message.version > self.version || (self.version == 0 && message.version == 0),
            "version {} after {}",
            message.version,
            self.version
        );
        self.version = message.version;
        for event in &message.events {
            match event {
                SoEvent::Change { key, value } => {
                    self.values.insert(key.to_string(), value.clone());
                }
                SoEvent::Success { key } => {
                    let value = own.get(key.as_str()).expect("a SUCCESS for our own write");
                    self.values.insert(key.to_string(), value.clone());
                }
                SoEvent::Clear => self.values.clear(),
                SoEvent::UseSuccess => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
    }

    /// What a client that just joined sees: the USE answer of a fresh
    /// client.
    fn of_new_client(url: &str, so: &str) -> Self {
        let mut fresh = TestClient::connect(url, Encoding::Amf0);
        let mut view = Self::default();
        view.apply(&fresh.use_so(so, false), &BTreeMap::new());
        view
    }
}

/// The stalled-reader gauge of `/metrics`: bytes waiting in the clients'
/// queues (published while someone watches, a few times a second).
fn queued_bytes(http: SocketAddr) -> u64 {
    let (status, page) = get(http, "/metrics HTTP/1.1");
    assert_eq!(status, 200);
    page.lines()
        .find_map(|l| l.strip_prefix("rtmp_so_queued_bytes ")?.parse().ok())
        .unwrap_or_else(|| panic!("no rtmp_so_queued_bytes in\n{page}"))
}

/// A counter of `/metrics`.
fn counter(http: SocketAddr, name: &str) -> u64 {
    let (status, page) = get(http, "/metrics HTTP/1.1");
    assert_eq!(status, 200);
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
}

/// Polls the `/metrics` gauge of queued bytes until `done` holds for it,
/// with an engine turn (the writer's echo) between polls: the engine
/// publishes the gauge on its turns.
fn wait_for_gauge(http: SocketAddr, writer: &mut Writer, done: impl Fn(u64) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let queued = queued_bytes(http);
        if done(queued) {
            return;
        }
        assert!(Instant::now() < deadline, "the gauge stays at {queued}");
        writer.answers();
        std::thread::sleep(GAUGE_POLL);
    }
}

/// The flood's writer: sends updates and remembers the last value of each
/// key.
struct Writer {
    client: TestClient,
    so: &'static str,
    sent: usize,
    /// How many answers were read.
    answered: usize,
    /// The version of the last answer.
    version: u32,
    expected: BTreeMap<String, Value>,
}

impl Writer {
    fn new(url: &str, so: &'static str) -> Self {
        let mut client = TestClient::connect(url, Encoding::Amf3);
        client.use_so(so, false);
        Self {
            client,
            so,
            sent: 0,
            answered: 0,
            version: 0,
            expected: BTreeMap::new(),
        }
    }

    /// Sends the next update of the flood (its answer is read later).
    fn send(&mut self) {
        let (key, value) = (flood_key(self.sent), Value::from(flood_value(self.sent)));
        self.expected.insert(key.clone(), value.clone());
        self.client.send_so(self.so, false, vec![set(&key, value)]);
        self.sent += 1;
    }

    /// Reads the answers to everything sent (the writer must not stall
    /// itself); the last answer's version (the SO's after the writer's
    /// last update).
    fn answers(&mut self) -> u32 {
        // Others' writes reach the writer too: only SUCCESSes answer it.
        let answers: Vec<_> = self
            .client
            .sync()
            .into_iter()
            .filter(|m| matches!(m.events[..], [SoEvent::Success { .. }]))
            .collect();
        assert!(
            answers.len() <= self.sent - self.answered,
            "more answers than updates"
        );
        self.answered += answers.len();
        assert_eq!(self.answered, self.sent, "an update was not answered");
        if let Some(answer) = answers.last() {
            self.version = answer.version;
        }
        self.version
    }
}

/// A reader that stops reading while a writer floods, with its own call
/// and write waiting, then reads again (while the writer goes on): every
/// message arrives whole (the connection stays open and decodes), in
/// version order, with the answers to its call and write, and it ends at
/// the writer's last values and the SO's last version. Both paths were
/// taken: updates came on the direct chunk stream and on the queued one,
/// and `/metrics` saw the stalled reader's queue hold bytes on every
/// stall.
async fn a_stalled_reader_gets_every_update_whole_once_it_reads_again<R: Adapter>() {
    let dir = TempDir::new();
    let mut config = Config {
        max_unsent_bytes: MAX_UNSENT,
        ..Config::default()
    };
    // The connection's own messages mix in too: pings to the reader
    // while it is silent.
    config.connection.ping_interval = Some(PING_INTERVAL);
    let server = TestServer::<R>::with_config(dir.path(), config).await;
    let url = server.url("app");
    let http = http_of(&server);
    const SO: &str = "flood";

    let mut stalled = TestClient::start_on(small_window(server.addr), &url, Encoding::Amf0);
    stalled.tap();
    assert!(matches!(stalled.next_event(), Event::Connected { .. }));
    let mut own = BTreeMap::new();
    let mut view = View::default();
    view.apply(&stalled.use_so(SO, false), &own);
    let mut writer = Writer::new(&url, SO);

    for stall in 0..STALLS {
        // Nothing waits for the reader (it read everything before): the
        // gauge says so once it was published after that.
        wait_for_gauge(http, &mut writer, |queued| queued == 0);
        // The reader stops reading; the writer floods until the reader's
        // updates wait in its queue: its socket is full.
        let flooded = writer.sent;
        while queued_bytes(http) == 0 {
            assert!(
                writer.sent - flooded < MAX_PER_STALL,
                "stall {stall}: the stalled reader's queue never held anything"
            );
            for _ in 0..BURST {
                writer.send();
            }
            std::thread::sleep(GAUGE_POLL);
        }
        // Its own call and write, while stalled.
        let mine = format!("mine{stall}");
        own.insert(mine.clone(), Value::from(flood_value(stall)));
        stalled.send_so(SO, false, vec![set(&mine, flood_value(stall))]);
        let call = stalled
            .conn
            .call(Instant::now(), "echo", vec![Value::from(stall as f64)])
            .unwrap();
        stalled.flush();
        for _ in 0..BURST / 4 {
            writer.send();
        }
        writer.answers();
        // It reads again, while the writer goes on: updates for its socket
        // while its connection still writes what waited.
        let (mut answered, mut succeeded, mut read) = (false, false, 0);
        while !(answered && succeeded) {
            match stalled.next_event() {
                Event::SharedObject(message) => {
                    succeeded |= message
                        .events
                        .iter()
                        .any(|e| matches!(e, SoEvent::Success { key } if key.as_str() == mine));
                    view.apply(&message, &own);
                }
                Event::CallResult { id, outcome } if id == call => {
                    assert_eq!(outcome, Ok(vec![Value::from(stall as f64)]));
                    answered = true;
                }
                other => panic!("stall {stall}: unexpected {other:?}"),
            }
            read += 1;
            if read < RESUME_UPDATES {
                writer.send();
            }
        }
        // Then everything the engine sent it before an echo.
        writer.answers();
        for message in stalled.sync() {
            view.apply(&message, &own);
        }
        let mut expected = writer.expected.clone();
        expected.extend(own.clone());
        assert_eq!(view.values, expected, "stall {stall}");
    }
    let last = writer.answers();
    for message in stalled.sync() {
        view.apply(&message, &own);
    }
    let joined = View::of_new_client(&url, SO);
    assert_eq!(view, joined, "the stalled reader ends where the SO is");
    assert!(joined.version >= last);
    // Both writers' messages reached it: direct and queued updates.
    let streams = stalled.so_chunk_streams();
    assert!(streams.contains(&UPDATE_CSID), "nothing came direct");
    assert!(streams.contains(&QUEUED_CSID), "nothing came queued");
    server.stop().await;
}

/// What the subscribers of one fan-out ended with, and the chunk streams
/// their updates came on.
struct FanOut {
    views: Vec<View>,
    streams: Vec<u32>,
}

/// One writer floods an SO with three subscribers: two that read as
/// updates come (AMF0 and AMF3) and one with a small window that reads
/// only after the flood. Each subscriber's view is checked for version
/// order on the way.
fn fan_out(url: &str, addr: SocketAddr) -> FanOut {
    const SO: &str = "fanout";
    // About 6 MB of updates: more than the last reader's socket holds,
    // so that its updates also take the queue (with direct writes on,
    // after a cut message).
    const UPDATES: usize = 2000;
    let mut readers = vec![
        TestClient::start(url, Encoding::Amf0),
        TestClient::start(url, Encoding::Amf3),
        TestClient::start_on(small_window(addr), url, Encoding::Amf0),
    ];
    let mut views: Vec<View> = Vec::new();
    for reader in &mut readers {
        reader.tap();
        assert!(matches!(reader.next_event(), Event::Connected { .. }));
        let mut view = View::default();
        view.apply(&reader.use_so(SO, false), &BTreeMap::new());
        views.push(view);
    }
    let mut writer = Writer::new(url, SO);
    let none = BTreeMap::new();
    for i in 0..UPDATES {
        writer.send();
        // The first two read a little every few updates.
        if i % 8 == 7 {
            for (reader, view) in readers.iter_mut().zip(&mut views).take(2) {
                reader.answer_for(Duration::from_millis(1));
                while let Some(message) = reader.take_so() {
                    view.apply(&message, &none);
                }
            }
        }
    }
    let last = writer.answers();
    for (reader, view) in readers.iter_mut().zip(&mut views) {
        // Until the last value, then what came before an echo.
        while view.version < last {
            view.apply(&reader.next_so(), &none);
        }
        for message in reader.sync() {
            view.apply(&message, &none);
        }
        assert_eq!(view.values, writer.expected);
    }
    let streams = readers.iter().flat_map(|r| r.so_chunk_streams()).collect();
    views.push(View::of_new_client(url, SO));
    FanOut { views, streams }
}

/// The same fan-out with direct writes on and off ends the same way:
/// every subscriber at the writer's values and the SO's version, having
/// seen versions only go up. Only with them on does anything come on the
/// direct chunk stream.
async fn a_fan_out_ends_the_same_with_and_without_direct_writes<R: Adapter>() {
    let mut ends = Vec::new();
    for direct_writes in [true, false] {
        let dir = TempDir::new();
        let config = Config {
            direct_writes,
            max_unsent_bytes: MAX_UNSENT,
            ..Config::default()
        };
        let server = TestServer::<R>::with_config(dir.path(), config).await;
        let end = fan_out(&server.url("app"), server.addr);
        assert_eq!(
            end.streams.contains(&UPDATE_CSID),
            direct_writes,
            "direct writes {direct_writes}"
        );
        // `/metrics` counts the engine's own socket writes and what they
        // carried (several messages in some of them: the readers fell
        // behind the writer, and hand-overs gathered updates).
        let http = http_of(&server);
        let writes = counter(http, "rtmp_so_direct_writes_total");
        let messages = counter(http, "rtmp_so_direct_messages_total");
        if direct_writes {
            assert!(
                writes > 0 && messages > writes,
                "{writes} writes, {messages} messages"
            );
        } else {
            assert_eq!((writes, messages), (0, 0));
        }
        // Every subscriber, and a client joining after, ends the same.
        let joined = end.views.last().expect("a joined view");
        for (i, view) in end.views.iter().enumerate() {
            assert_eq!(
                view, joined,
                "subscriber {i}, direct writes {direct_writes}"
            );
        }
        ends.push(end.views);
        server.stop().await;
    }
    assert_eq!(ends[0], ends[1]);
}

/// A client that keeps up gets small updates direct; an update longer than
/// the chunk size goes through its connection (several chunks on the
/// connection's chunk stream); the small ones after it go direct again.
/// All arrive, in order.
async fn an_update_over_the_chunk_size_between_direct_ones_keeps_its_place<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let url = server.url("app");
    const SO: &str = "mixed";
    let mut reader = TestClient::start(&url, Encoding::Amf0);
    reader.tap();
    assert!(matches!(reader.next_event(), Event::Connected { .. }));
    let none = BTreeMap::new();
    let mut view = View::default();
    view.apply(&reader.use_so(SO, false), &none);
    let mut writer = TestClient::connect(&url, Encoding::Amf3);
    writer.use_so(SO, false);
    // Small, big (three chunks' worth), small: each read before the next
    // is sent, so that the reader's connection has nothing of its own.
    let sizes = [10, 100, 3000, 3 * CHUNK_SIZE, 10, 3000, 100, 10];
    let mut before = reader.so_chunk_streams().len();
    let mut streams = Vec::new();
    for (i, size) in sizes.into_iter().enumerate() {
        let value = "v".repeat(size);
        writer.send_so(SO, false, vec![set("x", value.as_str())]);
        let message = reader.next_so();
        view.apply(&message, &none);
        assert_eq!(
            view.values.get("x"),
            Some(&Value::from(value)),
            "update {i}"
        );
        let seen = reader.so_chunk_streams();
        assert_eq!(seen.len(), before + 1);
        before = seen.len();
        streams.push(seen[seen.len() - 1]);
    }
    // The big one took the connection's path; the small ones before it
    // went direct, and so does (at least) the last one after it.
    assert_eq!(streams[3], QUEUED_CSID, "{streams:?}");
    assert!(
        streams[..3].iter().all(|&s| s == UPDATE_CSID),
        "{streams:?}"
    );
    assert_eq!(streams[sizes.len() - 1], UPDATE_CSID, "{streams:?}");
    assert_eq!(reader.sync(), []);
    // The same sizes back to back, each on its own key (nothing
    // coalesces): the small ones after a big one wait for it, whichever
    // path each takes, and every one arrives, in the order sent.
    let keys: Vec<String> = (0..sizes.len()).map(|i| format!("y{i}")).collect();
    for (key, size) in keys.iter().zip(sizes) {
        writer.send_so(SO, false, vec![set(key, "w".repeat(size).as_str())]);
    }
    let mut order = Vec::new();
    while order.len() < keys.len() {
        let message = reader.next_so();
        view.apply(&message, &none);
        for event in &message.events {
            if let SoEvent::Change { key, value } = event {
                let size = sizes[order.len()];
                assert_eq!(value, &Value::from("w".repeat(size)), "{key}");
                order.push(key.to_string());
            }
        }
    }
    assert_eq!(order, keys);
    // Nothing more, and the reader is where the SO is.
    assert_eq!(reader.sync(), []);
    writer.sync();
    assert_eq!(view, View::of_new_client(&url, SO));
    server.stop().await;
}

suite!(
    a_stalled_reader_gets_every_update_whole_once_it_reads_again,
    a_fan_out_ends_the_same_with_and_without_direct_writes,
    an_update_over_the_chunk_size_between_direct_ones_keeps_its_place,
);
