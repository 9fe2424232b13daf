//! The simulation's hooks: a presence counter, read-only keys, and hooks
//! that panic at every hook point now and then.

use rtmp_proto::amf::Value;
use so_engine::{
    CallRequest, ClientId, Context, Engine, EngineConfig, Origin, Retention, ScopePath, ServerApi,
    SharedObjectListener, SharedObjectSecurity, SoKey, SoSetup, View,
};

use super::LINGER_MS;

struct Presence;

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
    let _ = cx.set(so, "count", f64::from(u32::try_from(n).unwrap()));
}

struct ReadOnlyKeys;

impl SharedObjectSecurity for ReadOnlyKeys {
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        _: ClientId,
        k: &str,
        _: &Value,
    ) -> bool {
        !k.starts_with("ro.")
    }
    fn is_delete_allowed(&mut self, _: &View<'_>, _: &SoKey, _: ClientId, k: &str) -> bool {
        !k.starts_with("ro.")
    }
}

/// The clients whose connects panic, and for whom writing or removing `c`
/// panics (so `c` is as read-only for them as `ro.x`, and a refused
/// removal is never mistaken for a refused write).
pub(super) fn cursed(client: ClientId) -> bool {
    client.0.is_multiple_of(5)
}

/// Security checks that panic: a panic denies.
struct PanickySecurity;

impl SharedObjectSecurity for PanickySecurity {
    fn is_creation_allowed(&mut self, _: &View<'_>, so: &SoKey, _: bool, c: ClientId) -> bool {
        assert!(!(cursed(c) && so.name == "game"), "creation boom");
        true
    }
    fn is_connection_allowed(&mut self, _: &View<'_>, so: &SoKey, c: ClientId) -> bool {
        assert!(!(c.0 == 7 && so.name == "chat"), "connection boom");
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
        assert!(!(cursed(c) && k == "c"), "write boom");
        true
    }
    fn is_delete_allowed(&mut self, _: &View<'_>, _: &SoKey, c: ClientId, k: &str) -> bool {
        assert!(!(cursed(c) && k == "c"), "delete boom");
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
        assert!(!(cursed(c) && m == "ping"), "send boom");
        true
    }
}

/// A listener that panics on some events (after queueing a change that
/// the panic drops).
struct PanickyListener;

impl SharedObjectListener for PanickyListener {
    fn on_update(&mut self, cx: &mut Context<'_>, so: &SoKey, _: Origin, key: &str, v: &Value) {
        if key == "b" && v == &Value::from(3.0) {
            let _ = cx.set(so, "dropped", 1.0);
            panic!("on_update boom");
        }
    }
    fn on_connect(&mut self, _: &mut Context<'_>, _: &SoKey, client: ClientId) {
        assert!(!cursed(client), "on_connect boom");
    }
    fn on_destroy(&mut self, _: &mut Context<'_>, _: &SoKey) {
        panic!("on_destroy boom");
    }
}

/// Lifecycle hooks that panic every few calls; a connect that panics is
/// rejected (the client tries again later).
struct Rooms {
    calls: u64,
}

impl Rooms {
    fn maybe_panic(&mut self, hook: &str) {
        self.calls += 1;
        assert!(!self.calls.is_multiple_of(7), "{hook} boom");
    }
}

impl so_engine::Application for Rooms {
    fn room_start(&mut self, cx: &mut Context<'_>, room: &ScopePath) {
        let lobby = SoKey::new(room.clone(), "lobby");
        let _ = cx.create(&lobby, false);
        let _ = cx.set(&lobby, "room", room.as_str());
        // Panicking after queueing: the lobby is then not created.
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
    fn room_leave(&mut self, _: &mut Context<'_>, _: ClientId, _: &ScopePath) {
        self.maybe_panic("room_leave");
    }
    fn room_stop(&mut self, _: &mut Context<'_>, _: &ScopePath) {
        self.maybe_panic("room_stop");
    }
    fn app_stop(&mut self, _: &mut Context<'_>, _: &ScopePath) {
        self.maybe_panic("app_stop");
    }
}

pub(super) fn engine() -> Engine {
    let config = EngineConfig {
        default_linger_ms: LINGER_MS,
        persist_interval_ms: 100,
        // Short, so that some locks expire between the sim's own unlocks.
        max_lock_ms: 150,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, Rooms { calls: 0 });
    engine.register_security(ReadOnlyKeys);
    engine.register_security(PanickySecurity);
    engine.register_factory("game", |so: &SoKey, s: &mut SoSetup| {
        // A factory that panics in one room: `game` cannot be built there.
        assert!(so.scope.as_str() != "app/r1", "factory boom");
        s.listener(PanickyListener);
    });
    engine.register_method("boom", |_: &mut Context<'_>, r: &CallRequest<'_>| {
        assert!(r.args.is_empty(), "method boom");
        Ok(Value::Null)
    });
    engine.register_factory("server.*", |_: &SoKey, s: &mut SoSetup| {
        s.listener(Presence)
            .retention(Retention::Linger(0))
            .send_handler(
                "",
                "say",
                |cx: &mut Context<'_>, so: &SoKey, _: ClientId, _: &str, args: &[Value]| {
                    let last = args.first().cloned().unwrap_or(Value::Null);
                    // A handler that panics: its send is refused, not broadcast.
                    assert!(last != Value::from(4.0), "send handler boom");
                    let _ = cx.set(so, "last", last);
                },
            );
    });
    engine
}
