//! The simulation's hooks: a presence counter, read-only keys, and hooks
//! that panic at every hook point now and then (those the fuzz world has
//! too come from `so_engine::fuzzing::chaos`).

use rtmp_proto::amf::Value;
use so_engine::fuzzing::chaos::{ChaosRooms, ChaosSecurity, Curse, Presence, ReadOnly};
use so_engine::{
    CallRequest, ClientId, Context, Engine, EngineConfig, Origin, Retention, ServerApi,
    SharedObjectListener, SoKey, SoSetup,
};

use super::LINGER_MS;

/// Where the security checks panic: every fifth client's checks of `c`
/// (so `c` is as read-only for them as `ro.x`, and a refused removal is
/// never mistaken for a refused write), creations of `game`, and client
/// 7's use of `chat`.
const CURSE: Curse = Curse {
    every: 5,
    key: "c",
    creation: "game",
    connection: (7, "chat"),
};

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
        assert!(!CURSE.cursed(client), "on_connect boom");
    }
    fn on_destroy(&mut self, _: &mut Context<'_>, _: &SoKey) {
        panic!("on_destroy boom");
    }
}

/// The engine: lifecycle hooks that panic every seventh call (a connect
/// that panics is rejected; the client tries again later) and start every
/// room with a `lobby`; keys starting `ro.` read-only to clients; a `game`
/// factory and a `boom` method that panic; `server.*` SOs counting their
/// subscribers, with a `say` handler.
pub(super) fn engine() -> Engine {
    let config = EngineConfig {
        default_linger_ms: LINGER_MS,
        persist_interval_ms: 100,
        // Short, so that some locks expire between the sim's own unlocks.
        max_lock_ms: 150,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, ChaosRooms::new(7, "lobby", "room"));
    engine.register_security(ReadOnly("ro."));
    engine.register_security(ChaosSecurity(CURSE));
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
