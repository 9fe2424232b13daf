//! Between the engine thread and each connection task: the connection's
//! [`Mailbox`] (its bounded, coalescing [`OutboundQueue`] and a wake-up),
//! and the server's register of [`Live`] connections.

use std::collections::{BTreeMap, BTreeSet};
use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use so_engine::ClientId;
use so_engine::server::{ClientCommand, OutboundQueue, Pushed, QueueLimits, Run};
use tracing::{debug, warn};

use super::direct::Direct;
use crate::sync::{Signal, lock};

/// One client's queue as the engine thread and its connection share it.
///
/// The wake-up lives with the queue: the engine takes one lock per client
/// per hand-over (queue, flag and waker), and the connection one to see
/// the notification and take the queue. `repr(C)` keeps the flag next to
/// the lock word, on the cache line both sides touch anyway, and the
/// 64-byte alignment puts what a direct write checks (see
/// [`MailboxState`]) on that same line.
#[repr(C, align(64))]
pub(crate) struct Mailbox {
    /// Something was put in since the connection last looked; set under
    /// the lock, taken without it.
    notified: AtomicBool,
    state: Mutex<MailboxState>,
}

/// What sits behind the [`Mailbox`] lock. `repr(C)`, in this order: what
/// a direct write checks (flags, socket) sits next to the lock word, and
/// the queue's count right after, so that a hand-over to a client that
/// keeps up touches as few cache lines as it can.
#[repr(C)]
pub(crate) struct MailboxState {
    /// The connection has bytes of its own on the way to the socket (or
    /// took commands it has not written yet): the engine writes nothing
    /// directly until it is released. Set by the connection before any
    /// byte enters its write buffer, cleared once the buffer is written.
    claimed: bool,
    /// The server gave up on the connection: end it at once.
    pub(crate) killed: bool,
    /// The server is shutting down: close the connection (after what is
    /// queued).
    pub(crate) shutdown: bool,
    /// The client's socket, for the engine's [direct
    /// writes](super::direct), once the connection registered it.
    direct: Option<Direct>,
    /// What the engine sends the client.
    pub(crate) queue: OutboundQueue,
    /// The rest of a message the engine wrote in part: the connection
    /// writes it before anything else (it takes it when it claims).
    unsent: Option<Bytes>,
    /// The connection's waker: registered by the connection when it first
    /// waits (again only if its task's waker changes), kept across
    /// notifications.
    waker: Option<Waker>,
}

impl MailboxState {
    /// Moves what the connection is to write to its side, in order: the
    /// rest of a partly written message into `bytes`, the queued commands
    /// into `commands`; the socket is claimed.
    fn take_into(&mut self, commands: &mut Vec<ClientCommand>, bytes: &mut BytesMut) {
        self.claim_into(bytes);
        self.queue.drain_into(commands);
    }

    /// Claims the socket for the connection: the rest of a partly written
    /// message goes into `bytes` first.
    fn claim_into(&mut self, bytes: &mut BytesMut) {
        if let Some(rest) = self.unsent.take() {
            // Nothing of the connection's can be in the buffer yet: the
            // engine wrote only while it was unclaimed.
            bytes.extend_from_slice(&rest);
        }
        self.claimed = true;
    }
}

/// What [`Mailbox::deliver_all`] did.
#[derive(Debug, Default)]
pub(crate) struct Handed {
    /// The queue overflowed: the client is being disconnected.
    pub(crate) overflowed: bool,
    /// Socket writes made directly, and the messages they took.
    pub(crate) writes: usize,
    pub(crate) messages: usize,
}

/// What the connection learns from a notification.
pub(crate) struct Notice {
    /// The queue overflowed: the client reads too slowly.
    pub(crate) overflowed: bool,
    /// The server is shutting down.
    pub(crate) shutdown: bool,
    /// The server gave up on the connection.
    pub(crate) killed: bool,
}

impl Mailbox {
    pub(crate) fn new(limits: QueueLimits) -> Self {
        Self {
            state: Mutex::new(MailboxState {
                queue: OutboundQueue::new(limits),
                shutdown: false,
                killed: false,
                waker: None,
                direct: None,
                claimed: false,
                unsent: None,
            }),
            notified: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        lock(&self.state)
    }

    /// Hands over everything the engine has for this client from one
    /// turn (engine side), in order, under one lock, emptying `run`:
    /// written straight to the socket while the connection has not
    /// claimed it, nothing is queued and no rest of a cut message waits
    /// ([`Direct`]), the rest queued.
    /// Wakes the connection once: when its queue was empty, when a
    /// message was written in part, or when the queue just overflowed
    /// (the client reads too slowly). `scratch` is the engine's framing
    /// buffer.
    pub(crate) fn deliver_all(
        &self,
        client: ClientId,
        run: &mut Run,
        scratch: &mut Vec<u8>,
    ) -> Handed {
        let mut state = self.lock();
        let was_empty = state.queue.is_empty();
        let mut wake = false;
        let mut handed = Handed::default();
        let mut taken = 0;
        // Not while the rest of a message cut earlier waits for the
        // connection to take it: the socket may have room again by now,
        // and anything written would land inside that message.
        if was_empty
            && !state.claimed
            && state.unsent.is_none()
            && !state.killed
            && let Some(direct) = &state.direct
        {
            let wrote = direct.write(run, scratch);
            taken = wrote.taken;
            (handed.writes, handed.messages) = (wrote.writes, wrote.taken);
            if let Some(error) = wrote.failed {
                debug!(client = client.0, %error, "direct write failed; queueing instead");
                state.direct = None;
            }
            if wrote.rest.is_some() {
                state.unsent = wrote.rest;
                wake = true;
            }
        }
        for (command, key) in run.drain(..).skip(taken) {
            match state.queue.push(command, key) {
                Ok(Pushed::Dropped) => break,
                Ok(_) => wake |= was_empty,
                Err(overflow) => {
                    warn!(client = client.0, %overflow, "disconnecting a slow reader");
                    (handed.overflowed, wake) = (true, true);
                    break;
                }
            }
        }
        run.clear();
        if wake {
            self.notify(state);
        }
        handed
    }

    /// Lets the engine write this client's SharedObject updates straight
    /// to `direct` (connection side, once its `connect` was accepted and
    /// everything it had was written).
    pub(crate) fn register_direct(&self, direct: Direct) {
        let mut state = self.lock();
        state.direct = Some(direct);
        state.claimed = false;
    }

    /// Stops the engine's direct writes (connection side, when it closes),
    /// dropping the engine's share of the socket (the socket closes when
    /// the connection drops its own), and claims the socket: the rest of a
    /// partly written message goes into `bytes`, so that a connection that
    /// still writes what it has before closing ends that message whole.
    pub(crate) fn unregister_direct(&self, bytes: &mut BytesMut) {
        let mut state = self.lock();
        state.direct = None;
        state.claim_into(bytes);
    }

    /// Claims the socket for the connection's own bytes (connection side,
    /// before any enter `bytes`); the rest of a partly written message goes
    /// into `bytes` first.
    pub(crate) fn claim(&self, bytes: &mut BytesMut) {
        self.lock().claim_into(bytes);
    }

    /// Gives the socket back to the engine's direct writes (connection
    /// side, once everything it had is written).
    pub(crate) fn release(&self) {
        let mut state = self.lock();
        if state.unsent.is_none() {
            state.claimed = false;
        }
    }

    /// How many bytes wait in the queue.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().queue.queued_bytes()
    }

    /// Tells the connection to close once what is queued went out.
    pub(crate) fn shut_down(&self) {
        let mut state = self.lock();
        state.shutdown = true;
        self.notify(state);
    }

    /// Tells the connection to end at once.
    pub(crate) fn kill(&self) {
        let mut state = self.lock();
        state.killed = true;
        self.notify(state);
    }

    /// Flags the notification and wakes the connection (after the lock
    /// is released, so that it never waits for the wake-up).
    fn notify(&self, state: MutexGuard<'_, MailboxState>) {
        self.notified.store(true, Ordering::Release);
        let waker = state.waker.clone();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// `Ready` once the engine (or the server) put something in since the
    /// last `Ready` (connection side); then, under the same lock, moves
    /// what is queued to `take` unless the connection was killed: the rest
    /// of a partly written message into its bytes, the commands into its
    /// commands (claiming the socket).
    /// `registered` is the connection's record of the waker it left in
    /// the mailbox: the lock is taken to register only when the context's
    /// waker is another.
    pub(crate) fn poll_notified(
        &self,
        cx: &mut Context<'_>,
        registered: &mut Option<Waker>,
        take: Option<(&mut Vec<ClientCommand>, &mut BytesMut)>,
    ) -> Poll<Notice> {
        if !registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            // Before looking at the flag: a notification after the look
            // then finds this waker.
            let waker = cx.waker().clone();
            self.lock().waker = Some(waker.clone());
            *registered = Some(waker);
        }
        // A plain load first: the usual answer, no, leaves the line shared.
        if !self.notified.load(Ordering::Relaxed) || !self.notified.swap(false, Ordering::Acquire) {
            return Poll::Pending;
        }
        let mut state = self.lock();
        if let Some((commands, bytes)) = take
            && !state.killed
        {
            state.take_into(commands, bytes);
        }
        Poll::Ready(Notice {
            overflowed: state.queue.is_overflowed(),
            shutdown: state.shutdown,
            killed: state.killed,
        })
    }

    /// Moves what is to be written to the connection's side (see
    /// [`Mailbox::poll_notified`]), claiming the socket.
    pub(crate) fn drain_into(&self, commands: &mut Vec<ClientCommand>, bytes: &mut BytesMut) {
        self.lock().take_into(commands, bytes);
    }
}

/// The connections being served, by client id, and which of them are
/// still being admitted (handshake, then `connect`): those count against
/// their own limit, not against the connection cap, so that sockets that
/// never finish a handshake cannot keep a real client out.
#[derive(Default)]
pub(super) struct Live {
    state: Mutex<LiveState>,
    /// Wakes the server when the last connection ends.
    emptied: Signal,
}

#[derive(Default)]
struct LiveState {
    mailboxes: BTreeMap<ClientId, Arc<Mailbox>>,
    /// Not admitted yet, oldest (lowest id) first.
    admitting: BTreeSet<ClientId>,
    /// Admitted; a connection in neither set was ended while being
    /// admitted and counts against no limit.
    admitted: BTreeSet<ClientId>,
}

impl Live {
    /// How many connections are open.
    pub(super) fn len(&self) -> usize {
        lock(&self.state).mailboxes.len()
    }

    /// How many connections were admitted (their `connect` got a slot).
    pub(super) fn admitted(&self) -> usize {
        lock(&self.state).admitted.len()
    }

    /// Counts a new connection, as being admitted, until the slot is
    /// dropped. If `max_admitting` are being admitted already, the oldest
    /// of them is ended to make room and its id returned: a socket that
    /// stalls its handshake gives way to a newer one, and a real client
    /// finishes its handshake long before that many newer sockets came.
    pub(super) fn insert(
        self: &Arc<Self>,
        client: ClientId,
        mailbox: Arc<Mailbox>,
        max_admitting: usize,
    ) -> (LiveSlot, Option<ClientId>) {
        let mut state = lock(&self.state);
        let mut evicted = None;
        if state.admitting.len() >= max_admitting.max(1)
            && let Some(oldest) = state.admitting.pop_first()
        {
            if let Some(mailbox) = state.mailboxes.get(&oldest) {
                mailbox.kill();
            }
            evicted = Some(oldest);
        }
        state.mailboxes.insert(client, mailbox);
        state.admitting.insert(client);
        let slot = LiveSlot {
            live: self.clone(),
            client,
        };
        (slot, evicted)
    }

    /// Admits `client` if fewer than `max` connections are admitted;
    /// false if it is full, or the client was ended meanwhile.
    pub(super) fn try_admit(&self, client: ClientId, max: usize) -> bool {
        let mut state = lock(&self.state);
        if !state.admitting.contains(&client) || state.admitted.len() >= max {
            return false;
        }
        state.admitting.remove(&client);
        state.admitted.insert(client);
        true
    }

    /// Ends every connection at once.
    pub(super) fn kill_all(&self) {
        for mailbox in lock(&self.state).mailboxes.values() {
            mailbox.kill();
        }
    }

    /// Completes once no connection is open.
    pub(super) fn all_closed(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            loop {
                if lock(&self.state).mailboxes.is_empty() {
                    return Poll::Ready(());
                }
                std::task::ready!(self.emptied.poll_notified(cx));
            }
        })
    }
}

/// One open connection in [`Live`].
pub(super) struct LiveSlot {
    live: Arc<Live>,
    client: ClientId,
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        let empty = {
            let mut state = lock(&self.live.state);
            state.mailboxes.remove(&self.client);
            state.admitting.remove(&self.client);
            state.admitted.remove(&self.client);
            state.mailboxes.is_empty()
        };
        if empty {
            self.live.emptied.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::counting::{self, Count};

    fn deliver(mailbox: &Mailbox, n: usize) {
        let mut run = (0..n).map(|_| (ClientCommand::Accept, None)).collect();
        mailbox.deliver_all(ClientId(1), &mut run, &mut Vec::new());
    }

    /// The connection's side of a mailbox: its task's waker (and how often
    /// it was woken), the waker it left in the mailbox, what it took.
    struct Connection {
        count: Arc<Count>,
        waker: Waker,
        registered: Option<Waker>,
        out: Vec<ClientCommand>,
        bytes: BytesMut,
    }

    impl Connection {
        fn new() -> Self {
            let (count, waker) = counting::waker();
            Self {
                count,
                waker,
                registered: None,
                out: Vec::new(),
                bytes: BytesMut::new(),
            }
        }

        /// The task now runs with a new waker.
        fn rewake(&mut self) -> Arc<Count> {
            let (count, waker) = counting::waker();
            self.waker = waker;
            std::mem::replace(&mut self.count, count)
        }

        /// Polls as the connection does, taking the queue if `take`.
        fn poll(&mut self, mailbox: &Mailbox, take: bool) -> Poll<Notice> {
            let mut cx = Context::from_waker(&self.waker);
            let out = take.then_some((&mut self.out, &mut self.bytes));
            mailbox.poll_notified(&mut cx, &mut self.registered, out)
        }

        fn woken(&self) -> usize {
            self.count.get()
        }
    }

    #[test]
    fn a_mailbox_wakes_its_connection_once_per_emptied_queue() {
        let mailbox = Mailbox::new(QueueLimits::default());
        let mut conn = Connection::new();
        assert!(conn.poll(&mailbox, true).is_pending());
        deliver(&mailbox, 2);
        deliver(&mailbox, 1);
        assert_eq!(conn.woken(), 1);
        let Poll::Ready(notice) = conn.poll(&mailbox, true) else {
            panic!("the delivery was not seen");
        };
        assert!(!notice.overflowed && !notice.shutdown && !notice.killed);
        assert_eq!(conn.out.len(), 3);
        assert!(conn.poll(&mailbox, true).is_pending());
        // The waker stays registered across notifications.
        deliver(&mailbox, 1);
        assert_eq!(conn.woken(), 2);
        // Not taken when the connection has no room: left queued, and the
        // next delivery wakes no one (the connection takes it later).
        assert!(conn.poll(&mailbox, false).is_ready());
        deliver(&mailbox, 1);
        assert_eq!(conn.woken(), 2);
        conn.out.clear();
        mailbox.drain_into(&mut conn.out, &mut conn.bytes);
        assert_eq!(conn.out.len(), 2);
    }

    #[test]
    fn a_notification_before_the_first_wait_or_for_a_new_waker_is_kept() {
        let mailbox = Mailbox::new(QueueLimits::default());
        deliver(&mailbox, 1);
        let mut conn = Connection::new();
        assert!(conn.poll(&mailbox, true).is_ready());
        assert_eq!(conn.out.len(), 1);
        // The task's waker changed: the new one is woken, not the old.
        let first = conn.rewake();
        assert!(conn.poll(&mailbox, true).is_pending());
        mailbox.kill();
        assert_eq!(first.get(), 0);
        assert_eq!(conn.woken(), 1);
        deliver(&mailbox, 1);
        conn.out.clear();
        let Poll::Ready(notice) = conn.poll(&mailbox, true) else {
            panic!("the kill was not seen");
        };
        assert!(notice.killed);
        assert!(conn.out.is_empty(), "nothing is taken once killed");
    }

    #[test]
    fn connections_being_admitted_have_their_own_limit() {
        let live = Arc::new(Live::default());
        let mailbox = || Arc::new(Mailbox::new(QueueLimits::default()));
        let m1 = mailbox();
        let (a, none) = live.insert(ClientId(1), m1.clone(), 2);
        assert_eq!(none, None);
        let (b, none) = live.insert(ClientId(2), mailbox(), 2);
        assert_eq!(none, None);
        assert!(live.try_admit(ClientId(2), 1));
        assert_eq!(live.admitted(), 1);
        // The cap of admitted connections is reached: 1 waits.
        assert!(!live.try_admit(ClientId(1), 1));
        // Two more being admitted: the oldest of them (1) gives way.
        let (c, _) = live.insert(ClientId(3), mailbox(), 2);
        let (d, evicted) = live.insert(ClientId(4), mailbox(), 2);
        assert_eq!(evicted, Some(ClientId(1)));
        assert!(m1.lock().killed, "the evicted connection is told to end");
        assert!(
            !live.try_admit(ClientId(1), 10),
            "an evicted one is not admitted"
        );
        assert_eq!((live.len(), live.admitted()), (4, 1));
        // A slot freed by an admitted connection serves the next one.
        drop(b);
        assert!(live.try_admit(ClientId(4), 1));
        drop((a, c, d));
        assert_eq!((live.len(), live.admitted()), (0, 0));
    }

    /// A socket pair: the server's end non-blocking, the client's with a
    /// read timeout.
    fn sockets() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        server.set_nonblocking(true).expect("non-blocking");
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        (server, client)
    }

    fn updates(bodies: &[&str]) -> Run {
        bodies
            .iter()
            .map(|b| {
                (
                    ClientCommand::SharedObject(Bytes::copy_from_slice(b.as_bytes())),
                    None,
                )
            })
            .collect()
    }

    #[test]
    fn updates_go_straight_to_an_unclaimed_socket_and_queue_while_it_is_claimed() {
        use std::io::Read;
        let mailbox = Mailbox::new(QueueLimits::default());
        let (server, mut client) = sockets();
        mailbox.register_direct(Direct::new(Arc::new(server), 19, 4096));
        let mut conn = Connection::new();
        assert!(conn.poll(&mailbox, true).is_pending());
        let mut scratch = Vec::new();
        // Unclaimed, nothing queued: written at once, nobody woken.
        let mut run = updates(&["one", "two"]);
        assert!(
            !mailbox
                .deliver_all(ClientId(1), &mut run, &mut scratch)
                .overflowed
        );
        assert!(run.is_empty());
        assert_eq!(conn.woken(), 0);
        let mut wire = [0u8; 2 * 12 + 6];
        client.read_exact(&mut wire).expect("both updates");
        assert_eq!(&wire[12..15], b"one");
        assert_eq!(&wire[27..], b"two");
        // Claimed by the connection: queued, and the connection woken.
        let mut own = BytesMut::new();
        mailbox.claim(&mut own);
        assert!(own.is_empty());
        let mut run = updates(&["three"]);
        mailbox.deliver_all(ClientId(1), &mut run, &mut scratch);
        assert_eq!(conn.woken(), 1);
        assert!(conn.poll(&mailbox, true).is_ready());
        assert_eq!(conn.out.len(), 1);
        // Released, queue empty: straight to the socket again.
        mailbox.release();
        let mut run = updates(&["four"]);
        mailbox.deliver_all(ClientId(1), &mut run, &mut scratch);
        assert_eq!(conn.woken(), 1);
        let mut wire = [0u8; 12 + 4];
        client.read_exact(&mut wire).expect("the fourth update");
        assert_eq!(&wire[12..], b"four");
        // Something other than an update keeps its place in the order:
        // it and what follows are queued.
        let mut run = updates(&["five", "six"]);
        run.insert(1, (ClientCommand::Accept, None));
        mailbox.deliver_all(ClientId(1), &mut run, &mut scratch);
        assert_eq!(conn.woken(), 2);
        conn.out.clear();
        assert!(conn.poll(&mailbox, true).is_ready());
        assert_eq!(conn.out.len(), 2, "the Accept and six");
        let mut wire = [0u8; 12 + 4];
        client.read_exact(&mut wire).expect("the fifth update");
        assert_eq!(&wire[12..], b"five");
        // Unregistered: everything is queued.
        mailbox.release();
        mailbox.unregister_direct(&mut BytesMut::new());
        let mut run = updates(&["seven"]);
        mailbox.deliver_all(ClientId(1), &mut run, &mut scratch);
        assert_eq!(conn.woken(), 3);
    }

    #[test]
    fn the_rest_of_a_message_the_socket_cut_comes_first_when_the_connection_claims() {
        let big = "B".repeat(4000);
        let mailbox = Mailbox::new(QueueLimits {
            max_queued_bytes: 64 << 20,
        });
        let (server, client) = sockets();
        mailbox.register_direct(Direct::new(Arc::new(server), 19, 4096));
        let mut conn = Connection::new();
        assert!(conn.poll(&mailbox, true).is_pending());
        let mut scratch = Vec::new();
        // Fill the socket until a message is cut.
        let mut cut = false;
        for _ in 0..10_000 {
            let mut run = updates(&[&big, &big, &big]);
            mailbox.deliver_all(ClientId(1), &mut run, &mut scratch);
            if conn.woken() > 0 {
                cut = true;
                break;
            }
        }
        assert!(cut, "the socket never filled");
        let Poll::Ready(_) = conn.poll(&mailbox, true) else {
            panic!("not woken for the rest");
        };
        // The rest of the cut message, then (maybe) whole ones queued.
        let rest = conn.bytes.len();
        assert!(rest > 0 && rest < 12 + big.len(), "rest of {rest} bytes");
        assert!(
            conn.bytes.iter().all(|&b| b == b'B') || rest > big.len(),
            "the rest ends the message"
        );
        // While claimed, nothing is written directly.
        let mut run = updates(&["late"]);
        mailbox.deliver_all(ClientId(1), &mut run, &mut scratch);
        assert!(mailbox.lock().queue.queued_bytes() > 0);
        drop(client);
    }

    #[test]
    fn nothing_is_written_directly_while_the_rest_of_a_cut_message_waits() {
        use std::io::{ErrorKind, Read};
        use std::time::Duration;
        let big = "B".repeat(4000);
        let mailbox = Mailbox::new(QueueLimits {
            max_queued_bytes: 64 << 20,
        });
        let (server, mut client) = sockets();
        mailbox.register_direct(Direct::new(Arc::new(server), 19, 4096));
        let mut conn = Connection::new();
        assert!(conn.poll(&mailbox, true).is_pending());
        let mut scratch = Vec::new();
        // One update per hand-over until one is cut: the last of its run,
        // so that nothing is queued behind it.
        let mut deliveries = 0;
        while mailbox.lock().unsent.is_none() {
            if !mailbox.lock().queue.is_empty() {
                // The socket was full at a message boundary: start over.
                mailbox.drain_into(&mut conn.out, &mut conn.bytes);
                mailbox.release();
            }
            let mut run = updates(&[&big]);
            mailbox.deliver_all(ClientId(1), &mut run, &mut scratch);
            deliveries += 1;
            assert!(deliveries < 100_000, "the socket never filled");
        }
        assert!(mailbox.lock().queue.is_empty());
        // The client reads all it was sent: the socket has room again
        // before the connection came to claim it and take the rest.
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut buf = vec![0; 1 << 20];
        loop {
            match client.read(&mut buf) {
                Ok(n) => assert!(n > 0, "closed"),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        // A new update now must not go ahead of the rest: it is queued.
        let mut run = updates(&["late"]);
        mailbox.deliver_all(ClientId(1), &mut run, &mut scratch);
        assert!(
            mailbox.lock().queue.queued_bytes() > 0,
            "written straight to the socket ahead of the rest of the cut message"
        );
        let mut byte = [0; 1];
        assert!(
            client.read(&mut byte).is_err(),
            "something came after the cut"
        );
        // The connection takes the rest first, then the update.
        conn.out.clear();
        conn.bytes.clear();
        assert!(conn.poll(&mailbox, true).is_ready());
        let rest = conn.bytes.len();
        assert!(rest > 0 && rest < 12 + big.len(), "rest of {rest} bytes");
        assert_eq!(conn.bytes.last(), Some(&b'B'), "the rest ends the message");
        assert_eq!(conn.out.len(), 1, "the late update");
    }
}
