//! What the threads share: the run's plan, its phases and the control that
//! moves them on, and the counters each thread keeps and merges at the end.

use super::*;

/// What every client needs to know; the same for all threads.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The servers, and what `connect` asks each for.
    pub(crate) servers: Vec<(SocketAddr, ConnectParams)>,
    /// The server the writers connect to.
    pub(crate) writer_server: usize,
    /// The client that USEs the SO before any other connects (its
    /// server owns the SO in a cluster); `None`: no order.
    pub(crate) first: Option<usize>,
    /// Keep the time of every acknowledgement (to find the first one
    /// after a kill).
    pub(crate) record_acks: bool,
    /// The connections' limits (no timers: runs are short).
    pub(crate) config: Arc<Config>,
    /// The SO every client uses.
    pub(crate) so: Str,
    /// Clients `0..writers` write.
    pub(crate) writers: usize,
    /// No client writes: the server writes `w0` itself.
    pub(crate) server_writes: bool,
    /// Each writer's interval between updates; `None`: as fast as the
    /// window allows.
    pub(crate) period: Option<Duration>,
    /// Most unacknowledged updates per writer.
    pub(crate) window: usize,
    /// The `pad` string of every update.
    pub(crate) pad: Str,
    /// Time zero of the `sent` field.
    pub(crate) epoch: Instant,
}

/// Where the run is; the coordinator moves it forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connecting and subscribing.
    Setup,
    /// Writers write from now on; deliveries count from `count_from`
    /// (after the warm-up) until `until`, when every client closes.
    Run {
        /// The end of the warm-up.
        count_from: Instant,
        /// The end of the run.
        until: Instant,
    },
    /// Writing is over and every writer reported its last update (or
    /// the wait for them timed out): each client reads on until it holds
    /// every writer's last value at the SO's last version, or `until`.
    Settle {
        /// The state every client must end at.
        finals: Arc<Finals>,
        /// When the clients give up.
        until: Instant,
    },
    /// Give up (a client failed its setup, or setup took too long).
    Abort,
}

/// What every client must hold at the end: each writer's last `seq` (the
/// value of its key) and the SO's last version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Finals {
    /// Per writer, its last acknowledged `seq` (0: wrote nothing; `None`:
    /// did not report in time).
    pub(crate) seqs: Vec<Option<u64>>,
    /// The highest version a writer saw after its last acknowledgement:
    /// the version of the SO's last update.
    pub(crate) version: u32,
}

impl Finals {
    /// No writer reported yet.
    pub(crate) fn new(writers: usize) -> Self {
        Self {
            seqs: vec![None; writers],
            version: 0,
        }
    }

    /// Whether every writer reported.
    pub(crate) fn complete(&self) -> bool {
        self.seqs.iter().all(Option::is_some)
    }

    /// Whether a client that saw `last_seq` of each writer (its own key
    /// excepted: a writer gets SUCCESS, not CHANGE) and `version` last
    /// holds the final state.
    pub(crate) fn reached(&self, me: Option<usize>, last_seq: &[u64], version: u32) -> bool {
        version == self.version
            && self.seqs.iter().enumerate().all(|(w, seq)| {
                Some(w) == me || seq.is_none_or(|s| last_seq.get(w).copied().unwrap_or(0) == s)
            })
    }
}

/// The coordinator's side: the phase, how many clients are ready, and
/// what the writers wrote last.
#[derive(Debug)]
pub(crate) struct Control {
    pub(super) phase: watch::Sender<Phase>,
    /// The [`Plan::first`] client is subscribed.
    pub(super) first_ready: watch::Sender<bool>,
    pub(super) progress: Mutex<Progress>,
    pub(super) changed: Condvar,
}

/// Setup progress.
#[derive(Debug, Default, Clone)]
pub(crate) struct Progress {
    /// Clients subscribed.
    pub(crate) ready: usize,
    /// Clients whose setup failed.
    pub(crate) failed: usize,
    /// Why the first one failed.
    pub(crate) first_error: Option<String>,
    /// What the writers reported once their last write was acknowledged.
    pub(crate) finals: Option<Finals>,
}

impl Control {
    /// In [`Phase::Setup`].
    pub(crate) fn new() -> Self {
        Self {
            phase: watch::Sender::new(Phase::Setup),
            first_ready: watch::Sender::new(false),
            progress: Mutex::new(Progress::default()),
            changed: Condvar::new(),
        }
    }

    /// Moves every client to `phase`.
    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Blocks until `clients` are ready, one has failed, or `deadline`.
    pub(crate) fn wait_setup(&self, clients: usize, deadline: Instant) -> Progress {
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            if progress.ready >= clients || progress.failed > 0 || now >= deadline {
                return progress.clone();
            }
            progress = self
                .changed
                .wait_timeout(progress, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Blocks until every one of `writers` reported its last update, or
    /// `deadline`; returns what they reported.
    pub(crate) fn wait_finals(&self, writers: usize, deadline: Instant) -> Finals {
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let finals = progress
                .finals
                .get_or_insert_with(|| Finals::new(writers))
                .clone();
            let now = Instant::now();
            if finals.complete() || now >= deadline {
                return finals;
            }
            progress = self
                .changed
                .wait_timeout(progress, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Writer `index` wrote its last update, `seq`; it saw `version` after
    /// the acknowledgement.
    pub(super) fn report_final(&self, writers: usize, index: usize, seq: u64, version: u32) {
        self.update(|p| {
            let finals = p.finals.get_or_insert_with(|| Finals::new(writers));
            if let Some(slot) = finals.seqs.get_mut(index) {
                *slot = Some(seq);
            }
            finals.version = finals.version.max(version);
        });
    }

    pub(super) fn update(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut self.progress.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_all();
    }
}

/// What one thread's clients counted (merged over threads at the end).
#[derive(Debug)]
pub(crate) struct Stats {
    /// CHANGEs of a writer's key received inside the window.
    pub(crate) deliveries: u64,
    /// Updates a receiver never saw (gaps in `seq`): coalesced away.
    pub(crate) skipped: u64,
    /// Bytes the clients read inside the window.
    pub(crate) bytes_in: u64,
    /// Socket reads that returned bytes inside the window.
    pub(crate) reads: u64,
    /// Send-to-receive time of each delivery, µs.
    pub(crate) latency: Histogram<u64>,
    /// The same per receiving server (index of its URL).
    pub(crate) latency_by_server: Vec<Histogram<u64>>,
    /// Updates written inside the window.
    pub(crate) updates: u64,
    /// Their bytes on the wire (chunk headers included).
    pub(crate) update_bytes: u64,
    /// SUCCESS answers to our writes inside the window.
    pub(crate) acks: u64,
    /// Write-to-SUCCESS time, µs.
    pub(crate) ack_rtt: Histogram<u64>,
    /// When each SUCCESS came, in the window and after it (with
    /// [`Plan::record_acks`]).
    pub(crate) ack_times: Vec<Instant>,
    /// STATUS errors from the server (refused writes and the like).
    pub(crate) refusals: u64,
    /// The first STATUS error's code.
    pub(crate) first_refusal: Option<String>,
    /// Clients that ended holding every writer's last value at the SO's
    /// last version.
    pub(crate) converged: u64,
    /// Clients that did not by the end of the settling time.
    pub(crate) diverged: u64,
    /// What the first of those held instead.
    pub(crate) first_divergence: Option<String>,
    /// Clients that failed after their setup.
    pub(crate) errors: u64,
    /// Why the first one failed.
    pub(crate) first_error: Option<String>,
}

impl Stats {
    pub(super) fn new() -> Self {
        Self {
            deliveries: 0,
            skipped: 0,
            bytes_in: 0,
            reads: 0,
            latency: histogram(),
            latency_by_server: Vec::new(),
            updates: 0,
            update_bytes: 0,
            acks: 0,
            ack_rtt: histogram(),
            ack_times: Vec::new(),
            refusals: 0,
            first_refusal: None,
            converged: 0,
            diverged: 0,
            first_divergence: None,
            errors: 0,
            first_error: None,
        }
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn merge(&mut self, other: Self) {
        self.deliveries += other.deliveries;
        self.skipped += other.skipped;
        self.bytes_in += other.bytes_in;
        self.reads += other.reads;
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (i, theirs) in other.latency_by_server.iter().enumerate() {
            while self.latency_by_server.len() <= i {
                self.latency_by_server.push(histogram());
            }
            let _ = self.latency_by_server[i].add(theirs);
        }
        self.updates += other.updates;
        self.update_bytes += other.update_bytes;
        self.acks += other.acks;
        let _ = self.ack_rtt.add(&other.ack_rtt);
        self.ack_times.extend(other.ack_times);
        self.refusals += other.refusals;
        self.first_refusal = self.first_refusal.take().or(other.first_refusal);
        self.converged += other.converged;
        self.diverged += other.diverged;
        self.first_divergence = self.first_divergence.take().or(other.first_divergence);
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Plan {
    /// The server client `index` connects to: the writers' for the
    /// writers, round robin over all for the others.
    pub(crate) fn server_of(&self, index: usize) -> usize {
        let servers = self.servers.len().max(1);
        if self.server_writes {
            index % servers
        } else if index < self.writers {
            self.writer_server
        } else {
            (index - self.writers) % servers
        }
    }

    /// The first client on server `server` (`None`: there is none).
    pub(crate) fn first_on(&self, server: usize, clients: usize) -> Option<usize> {
        (0..clients).find(|&i| self.server_of(i) == server)
    }
}
