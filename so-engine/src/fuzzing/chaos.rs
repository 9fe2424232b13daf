//! Hooks shared by the fuzz world and so-engine's seeded simulation
//! (`tests/it/sim`): a presence counter, read-only keys, and hooks that
//! panic on purpose (their messages end in "boom"), each at a deterministic
//! point, so that a run replays exactly.

use rtmp_proto::amf::Value;

use crate::context::{Context, ServerApi, View};
use crate::hooks::{Application, SharedObjectListener, SharedObjectSecurity};
use crate::types::{CallId, ClientId, ScopePath, SoKey};

/// Where [`ChaosSecurity`] panics. Each trigger is consistent for one
/// client and key: a client whose write of [`key`](Self::key) panics also
/// panics removing it, so the key is as read-only to it as a refused one.
#[derive(Debug, Clone, Copy)]
pub struct Curse {
    /// The cursed clients are those whose id is a multiple of this.
    pub every: u64,
    /// The key whose writes and removals by a cursed client panic.
    pub key: &'static str,
    /// The SO name whose creation by a cursed client panics.
    pub creation: &'static str,
    /// The one client, and the SO name, whose connection check panics.
    pub connection: (u64, &'static str),
}

impl Curse {
    /// Whether `client` is cursed.
    pub fn cursed(&self, client: ClientId) -> bool {
        client.0.is_multiple_of(self.every)
    }
}

/// Security checks that panic where their [`Curse`] says, and on a cursed
/// client's sends of `ping`; they allow everything else. A panic denies.
pub struct ChaosSecurity(pub Curse);

impl SharedObjectSecurity for ChaosSecurity {
    fn is_creation_allowed(&mut self, _: &View<'_>, so: &SoKey, _: bool, c: ClientId) -> bool {
        assert!(
            !(self.0.cursed(c) && so.name == self.0.creation),
            "creation boom"
        );
        true
    }
    fn is_connection_allowed(&mut self, _: &View<'_>, so: &SoKey, c: ClientId) -> bool {
        let (client, name) = self.0.connection;
        assert!(!(c.0 == client && so.name == name), "connection boom");
        true
    }
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        c: ClientId,
        k: &str,
        _: &Value,
    ) -> bool {
        assert!(!(self.0.cursed(c) && k == self.0.key), "write boom");
        true
    }
    fn is_delete_allowed(&mut self, _: &View<'_>, _: &SoKey, c: ClientId, k: &str) -> bool {
        assert!(!(self.0.cursed(c) && k == self.0.key), "delete boom");
        true
    }
    fn is_send_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        c: ClientId,
        m: &str,
        _: &[Value],
    ) -> bool {
        assert!(!(self.0.cursed(c) && m == "ping"), "send boom");
        true
    }
}

/// Application hooks whose every [`every`](Self::every)th call panics,
/// whatever the hook (a connect that panics is rejected). `room_start`
/// first sets up the SO [`so`](Self::so) with [`key`](Self::key) = the
/// room's path; a panic after that drops it, so the SO is not created.
pub struct ChaosRooms {
    /// Every how many calls one panics.
    pub every: u64,
    /// The SO each room starts with.
    pub so: &'static str,
    /// The key that SO starts with.
    pub key: &'static str,
    calls: u64,
}

impl ChaosRooms {
    /// Hooks that panic every `every`th call; each room starts with `so`
    /// holding `key`.
    pub fn new(every: u64, so: &'static str, key: &'static str) -> Self {
        Self {
            every,
            so,
            key,
            calls: 0,
        }
    }

    fn maybe_panic(&mut self, hook: &str) {
        self.calls += 1;
        assert!(!self.calls.is_multiple_of(self.every), "{hook} boom");
    }
}

impl Application for ChaosRooms {
    fn room_start(&mut self, cx: &mut Context<'_>, room: &ScopePath) {
        let so = SoKey::new(room.clone(), self.so);
        let _ = cx.create(&so, false);
        let _ = cx.set(&so, self.key, room.as_str());
        self.maybe_panic("room_start");
    }
    fn app_connect(
        &mut self,
        _: &mut Context<'_>,
        _: ClientId,
        _: &ScopePath,
        _: &[Value],
    ) -> Result<(), String> {
        self.maybe_panic("app_connect");
        Ok(())
    }
    fn app_join(&mut self, _: &mut Context<'_>, _: ClientId, _: &ScopePath) {
        self.maybe_panic("app_join");
    }
    fn room_join(&mut self, _: &mut Context<'_>, _: ClientId, _: &ScopePath) {
        self.maybe_panic("room_join");
    }
    fn app_leave(&mut self, _: &mut Context<'_>, _: ClientId, _: &ScopePath) {
        self.maybe_panic("app_leave");
    }
    fn room_leave(&mut self, _: &mut Context<'_>, _: ClientId, _: &ScopePath) {
        self.maybe_panic("room_leave");
    }
    fn room_stop(&mut self, _: &mut Context<'_>, _: &ScopePath) {
        self.maybe_panic("room_stop");
    }
    fn app_stop(&mut self, _: &mut Context<'_>, _: &ScopePath) {
        self.maybe_panic("app_stop");
    }
    fn call_result(
        &mut self,
        _: &mut Context<'_>,
        _: ClientId,
        _: CallId,
        _: &str,
        _: &Result<Vec<Value>, Value>,
    ) {
        self.maybe_panic("call_result");
    }
}

/// Keeps `count` equal to the SO's number of subscribers (a `Number`, as
/// an AMF0 client reads it back).
pub struct Presence;

impl SharedObjectListener for Presence {
    fn on_connect(&mut self, cx: &mut Context<'_>, so: &SoKey, _: ClientId) {
        recount(cx, so);
    }
    fn on_disconnect(&mut self, cx: &mut Context<'_>, so: &SoKey, _: ClientId) {
        recount(cx, so);
    }
}

fn recount(cx: &mut Context<'_>, so: &SoKey) {
    let n = cx
        .view()
        .shared_object(so)
        .map_or(0, |s| s.subscriber_count());
    // Fails only when the SO went meanwhile: then nobody is told.
    let _ = cx.set(so, "count", n as f64);
}

/// Refuses clients' writes and removals of the keys, and their sends of the
/// methods, that start with its prefix.
pub struct ReadOnly(pub &'static str);

impl SharedObjectSecurity for ReadOnly {
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        _: ClientId,
        k: &str,
        _: &Value,
    ) -> bool {
        !k.starts_with(self.0)
    }
    fn is_delete_allowed(&mut self, _: &View<'_>, _: &SoKey, _: ClientId, k: &str) -> bool {
        !k.starts_with(self.0)
    }
    fn is_send_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        _: ClientId,
        method: &str,
        _: &[Value],
    ) -> bool {
        !method.starts_with(self.0)
    }
}
