//! A small SharedObject server for the client-library tests, built
//! directly on `rtmp_proto::connection::Connection` (`Side::Server`) over
//! `std` sockets, one thread per connection: no runtime, so it serves the
//! clients of both adapters alike.
//!
//! It answers the way the behaviour contract says, for enough cases to
//! exercise the client:
//! - app `reject` → connect rejected with "no entry";
//! - USE → USE_SUCCESS, CLEAR, one CHANGE per attribute (sorted), at the
//!   current version; SO names starting `private.` → STATUS NoReadAccess
//!   (version 0, the request's own message);
//! - REQUEST_CHANGE → SUCCESS to the writer, CHANGE to the others, version
//!   +1 if it changed; the key `locked` → STATUS NoWriteAccess + the
//!   authoritative CHANGE (or REMOVE) to the writer;
//! - REQUEST_REMOVE → REMOVE to everyone if the key existed; `locked` refused
//!   as above;
//! - SEND_MESSAGE → to every subscriber, the sender included; the method
//!   `forbidden` → STATUS NoWriteAccess;
//! - messages for an SO the connection does not use → STATUS NoObjectFound;
//! - calls: `echo(args...)` returns its arguments (one: that value; several:
//!   an array); `askme(args...)` calls the client's `question(args...)` and
//!   answers with the client's answer; `bye` closes the connection;
//!   anything else → `_error` NetConnection.Call.Failed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtmp_proto::amf::{Str, Value};
use rtmp_proto::connection::{Call, CallId, Config, Connection, Event, Side, call_failed};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

pub(crate) const NO_WRITE_ACCESS: &str = "SharedObject.NoWriteAccess";
pub(crate) const NO_READ_ACCESS: &str = "SharedObject.NoReadAccess";
pub(crate) const NO_OBJECT_FOUND: &str = "SharedObject.NoObjectFound";

/// How often an idle connection thread looks at its socket and inbox.
const POLL: Duration = Duration::from_millis(2);

/// A running test server; it stops accepting when dropped.
pub(crate) struct MiniServer {
    pub(crate) addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stopped: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    sos: BTreeMap<Str, So>,
    clients: BTreeMap<u64, mpsc::Sender<Outbound>>,
    next_client: u64,
}

#[derive(Default)]
struct So {
    values: BTreeMap<Str, Value>,
    version: u32,
    subscribers: BTreeSet<u64>,
}

/// What one connection thread is asked to do by another.
enum Outbound {
    SharedObject(SharedObjectMessage),
    Close,
}

impl MiniServer {
    /// Listens on 127.0.0.1:0 with `initial` attributes per SO name.
    pub(crate) fn start(initial: &[(&str, &str, Value)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let mut state = State::default();
        for (name, key, value) in initial {
            let so = state.sos.entry((*name).into()).or_default();
            so.values.insert((*key).into(), value.clone());
            so.version = 1;
        }
        let state = Arc::new(Mutex::new(state));
        let stopped = Arc::new(AtomicBool::new(false));
        let (shared, stop) = (Arc::clone(&state), Arc::clone(&stopped));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let state = Arc::clone(&shared);
                        std::thread::spawn(move || serve(stream, state));
                    }
                    Err(_) => std::thread::sleep(POLL),
                }
            }
        });
        Self {
            addr,
            state,
            stopped,
        }
    }

    /// `rtmp://127.0.0.1:port/app`.
    pub(crate) fn url(&self, app: &str) -> String {
        format!("rtmp://{}/{app}", self.addr)
    }

    /// The server's value of `key` in SO `name`.
    pub(crate) fn value(&self, name: &str, key: &str) -> Option<Value> {
        let state = self.state.lock().expect("state");
        state.sos.get(name)?.values.get(key).cloned()
    }

    /// The server's version of SO `name`.
    pub(crate) fn version(&self, name: &str) -> u32 {
        let state = self.state.lock().expect("state");
        state.sos.get(name).map_or(0, |so| so.version)
    }

    /// Closes every client connection from the server side.
    pub(crate) fn disconnect_all(&self) {
        let state = self.state.lock().expect("state");
        for client in state.clients.values() {
            let _ = client.send(Outbound::Close);
        }
    }
}

impl Drop for MiniServer {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.disconnect_all();
    }
}

fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let (outbound, inbox) = mpsc::channel();
    let id = {
        let mut state = state.lock().expect("state");
        state.next_client += 1;
        let id = state.next_client;
        state.clients.insert(id, outbound);
        id
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let mut conn = Connection::new(
        Arc::new(Config::default()),
        Side::Server,
        Instant::now(),
        [9; 32],
    );
    let mut peer = Peer {
        id,
        state: Arc::clone(&state),
        asked: BTreeMap::new(),
    };
    let mut input = vec![0u8; 64 * 1024];
    let mut output = BytesMut::new();
    loop {
        let now = Instant::now();
        while let Some(event) = conn.poll_event() {
            peer.handle(&mut conn, now, event);
        }
        while let Ok(message) = inbox.try_recv() {
            match message {
                Outbound::SharedObject(message) => {
                    let _ = conn.send_shared_object(now, &message);
                }
                Outbound::Close => conn.close(now),
            }
        }
        conn.poll_transmit(&mut output);
        if !output.is_empty() {
            if stream.write_all(&output).is_err() {
                break;
            }
            output.clear();
        }
        if conn.is_closed() {
            break;
        }
        match stream.read(&mut input) {
            Ok(0) => break,
            Ok(n) => {
                let _ = conn.handle_input(Instant::now(), &input[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut state = state.lock().expect("state");
    state.clients.remove(&id);
    for so in state.sos.values_mut() {
        so.subscribers.remove(&id);
    }
}

/// One connection's view of the server.
struct Peer {
    id: u64,
    state: Arc<Mutex<State>>,
    /// Our calls to the client's `question`, by id: the `askme` transaction to answer.
    asked: BTreeMap<CallId, f64>,
}

impl Peer {
    fn handle(&mut self, conn: &mut Connection, now: Instant, event: Event) {
        match event {
            Event::ConnectRequest(request) if request.app == "reject" => {
                conn.reject(now, "no entry").expect("reject");
            }
            Event::ConnectRequest(_) => conn.accept(now).expect("accept"),
            Event::SharedObject(message) => self.on_shared_object(message),
            Event::Call(call) => self.on_call(conn, now, call),
            Event::CallResult { id, outcome } => {
                if let Some(transaction_id) = self.asked.remove(&id) {
                    let _ = match outcome {
                        Ok(values) => {
                            let answer = values.into_iter().next().unwrap_or(Value::Null);
                            conn.reply(now, transaction_id, answer)
                        }
                        Err(info) => conn.reply_error(now, transaction_id, info),
                    };
                }
            }
            _ => {}
        }
    }

    fn on_call(&mut self, conn: &mut Connection, now: Instant, call: Call) {
        match call.method.as_str() {
            "echo" => {
                let answer = if call.args.len() == 1 {
                    call.args.into_iter().next().unwrap_or(Value::Null)
                } else {
                    Value::StrictArray(call.args)
                };
                let _ = conn.reply(now, call.transaction_id, answer);
            }
            "askme" => {
                let id = conn.call(now, "question", call.args).expect("call");
                self.asked.insert(id, call.transaction_id);
            }
            "bye" => conn.close(now),
            _ => {
                let info = call_failed("no such method");
                let _ = conn.reply_error(now, call.transaction_id, info);
            }
        }
    }

    /// Applies an SO message and queues what it causes to each recipient,
    /// the sender included, while holding the state: every connection then
    /// receives updates in the order they were applied.
    fn on_shared_object(&mut self, message: SharedObjectMessage) {
        let mut state = self.state.lock().expect("state");
        let name = message.name.clone();
        let reply = |version: u32, events: Vec<SoEvent>| SharedObjectMessage {
            name: name.clone(),
            version,
            persistent: message.persistent,
            events,
        };
        let status = |code: &str| SoEvent::Status {
            code: code.into(),
            level: "error".into(),
        };
        let mut out = Vec::new();
        for event in message.events.iter().cloned() {
            if event == SoEvent::Use {
                if name.starts_with("private.") {
                    out.push((self.id, reply(0, vec![status(NO_READ_ACCESS)])));
                    continue;
                }
                let so = state.sos.entry(name.clone()).or_insert_with(|| So {
                    version: 1,
                    ..So::default()
                });
                so.subscribers.insert(self.id);
                let mut events = vec![SoEvent::UseSuccess, SoEvent::Clear];
                for (key, value) in &so.values {
                    events.push(SoEvent::Change {
                        key: key.clone(),
                        value: value.clone(),
                    });
                }
                out.push((self.id, reply(so.version, events)));
                continue;
            }
            let Some(so) = state
                .sos
                .get_mut(&name)
                .filter(|so| so.subscribers.contains(&self.id))
            else {
                out.push((self.id, reply(0, vec![status(NO_OBJECT_FOUND)])));
                continue;
            };
            let others: Vec<u64> = so
                .subscribers
                .iter()
                .copied()
                .filter(|&s| s != self.id)
                .collect();
            let rollback = |so: &So, key: &Str| match so.values.get(key) {
                Some(value) => SoEvent::Change {
                    key: key.clone(),
                    value: value.clone(),
                },
                None => SoEvent::Remove { key: key.clone() },
            };
            match event {
                SoEvent::Release => {
                    so.subscribers.remove(&self.id);
                }
                SoEvent::RequestChange { key, .. } | SoEvent::RequestRemove { key }
                    if key == "locked" =>
                {
                    let events = vec![status(NO_WRITE_ACCESS), rollback(so, &key)];
                    out.push((self.id, reply(so.version, events)));
                }
                SoEvent::RequestChange { key, value } => {
                    let changed = if value.is_null_or_undefined() {
                        so.values.remove(&key).is_some()
                    } else {
                        so.values.insert(key.clone(), value.clone()).as_ref() != Some(&value)
                    };
                    if changed {
                        so.version += 1;
                        let event = if value.is_null_or_undefined() {
                            SoEvent::Remove { key: key.clone() }
                        } else {
                            SoEvent::Change {
                                key: key.clone(),
                                value,
                            }
                        };
                        for other in &others {
                            out.push((*other, reply(so.version, vec![event.clone()])));
                        }
                    }
                    out.push((self.id, reply(so.version, vec![SoEvent::Success { key }])));
                }
                // Removing a missing key changes nothing and answers nothing.
                SoEvent::RequestRemove { key } if so.values.remove(&key).is_some() => {
                    so.version += 1;
                    let event = SoEvent::Remove { key };
                    for target in others.iter().copied().chain([self.id]) {
                        out.push((target, reply(so.version, vec![event.clone()])));
                    }
                }
                SoEvent::SendMessage { method, .. } if method == "forbidden" => {
                    out.push((self.id, reply(so.version, vec![status(NO_WRITE_ACCESS)])));
                }
                event @ SoEvent::SendMessage { .. } => {
                    for target in others.iter().copied().chain([self.id]) {
                        out.push((target, reply(so.version, vec![event.clone()])));
                    }
                }
                _ => {}
            }
        }
        for (target, reply) in out {
            if let Some(client) = state.clients.get(&target) {
                let _ = client.send(Outbound::SharedObject(reply));
            }
        }
    }
}
