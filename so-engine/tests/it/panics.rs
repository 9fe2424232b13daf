//! Hooks that panic: the engine catches every one, reports and counts it,
//! fails the request the way its kind fails, and keeps serving.

use rtmp_proto::amf::Value;
use so_engine::{
    Application, CallRequest, ClientId, Context, Engine, EngineConfig, EngineMisuse, Input, Origin,
    Output, ScopePath, ServerApi, SharedObjectListener, SharedObjectSecurity, SoKey, SoSetup, View,
    status,
};

use crate::support::*;

/// Panics in every lifecycle hook for a scope named `app/boom`, and on a
/// connect whose first argument is "boom".
struct Boom;

impl Application for Boom {
    fn room_start(&mut self, _: &mut Context<'_>, room: &ScopePath) {
        assert!(room.as_str() != "app/boom", "room_start boom");
    }
    fn app_connect(
        &mut self,
        _: &mut Context<'_>,
        _: ClientId,
        _: &ScopePath,
        args: &[Value],
    ) -> Result<(), String> {
        assert!(args.first() != Some(&Value::from("boom")), "connect boom");
        Ok(())
    }
    fn room_stop(&mut self, _: &mut Context<'_>, room: &ScopePath) {
        assert!(room.as_str() != "app/boom", "room_stop boom");
    }
}

struct PanickyListener;

impl SharedObjectListener for PanickyListener {
    fn on_update(&mut self, cx: &mut Context<'_>, so: &SoKey, _: Origin, key: &str, _: &Value) {
        // Queued, then lost with the panic: half a hook's work is not applied.
        let _ = cx.set(so, "echo", key);
        assert!(key != "boom", "on_update boom");
    }
}

struct PanickySecurity;

impl SharedObjectSecurity for PanickySecurity {
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        _: ClientId,
        k: &str,
        _: &Value,
    ) -> bool {
        assert!(k != "guarded", "is_write_allowed boom");
        true
    }
}

fn engine() -> Engine {
    let mut engine = Engine::new(EngineConfig::default(), Boom);
    engine.register_security(PanickySecurity);
    engine.register_factory("broken", |_: &SoKey, _: &mut SoSetup| {
        panic!("factory boom");
    });
    engine.register_factory("game", |_: &SoKey, s: &mut SoSetup| {
        s.listener(PanickyListener).send_handler(
            "",
            "crash",
            |_: &mut Context<'_>, _: &SoKey, _: ClientId, _: &str, _: &[Value]| {
                panic!("send handler boom");
            },
        );
    });
    engine.register_method("crash", |_: &mut Context<'_>, _: &CallRequest<'_>| {
        panic!("method boom")
    });
    engine
}

fn panics(w: &mut World) -> Vec<&'static str> {
    w.take_other()
        .into_iter()
        .filter_map(|o| match o {
            Output::HookFailed {
                error: EngineMisuse::HookPanicked(p),
            } => Some(p.hook),
            _ => None,
        })
        .collect()
}

#[test]
fn every_kind_of_request_fails_its_own_way_and_the_engine_serves_on() {
    let mut w = World::with(engine());
    // A connect hook that panics rejects that connect only.
    w.apply(Input::ClientConnected {
        client: ClientId(9),
        scope: scope("app"),
        encoding: rtmp_proto::amf::Encoding::Amf0,
        args: vec!["boom".into()],
    });
    let other = w.take_other();
    assert!(
        other.iter().any(|o| matches!(
            o,
            Output::ConnectRejected {
                client: ClientId(9),
                ..
            }
        )),
        "{other:?}"
    );
    assert!(other.iter().any(|o| matches!(
        o,
        Output::HookFailed { error: EngineMisuse::HookPanicked(p) }
            if p.hook == "app_connect" && p.client == Some(ClientId(9))
    )));
    assert_eq!(w.engine.hook_panics(), 1);

    w.connect(1, "app");
    w.connect(2, "app");
    assert_eq!(panics(&mut w), Vec::<&str>::new());

    // A factory that panics: creation fails.
    w.use_so(1, "broken");
    assert_eq!(
        w.take(1),
        vec![msg(
            "broken",
            0,
            false,
            vec![status(status::CREATION_FAILED)]
        )]
    );
    assert_eq!(panics(&mut w), ["factory"]);
    assert!(
        w.with_server(|s| s.create(&key("app", "broken"), false))
            .is_err()
    );
    w.take_other();

    // A security check that panics denies: NoWriteAccess and the rollback.
    let game = key("app", "game");
    w.use_so(1, "game");
    w.use_so(2, "game");
    w.drain();
    w.so(1, "game", false, vec![request_change("guarded", 1.0)]);
    assert_eq!(
        w.take(1),
        vec![msg(
            "game",
            1,
            false,
            vec![status(status::NO_WRITE_ACCESS), remove("guarded")]
        )]
    );
    assert!(w.take(2).is_empty());
    assert_eq!(panics(&mut w), ["is_write_allowed"]);

    // A listener that panics: the write stands (it was allowed), what the
    // listener queued is dropped, everybody converges.
    w.so(1, "game", false, vec![request_change("boom", 1.0)]);
    assert_eq!(w.value(&game, "boom"), Some(1.0.into()));
    assert_eq!(w.value(&game, "echo"), None);
    assert_eq!(
        w.take(2),
        vec![msg("game", 2, false, vec![change("boom", 1.0)])]
    );
    assert_eq!(panics(&mut w), ["on_update"]);
    w.drain();

    // A send handler that panics: not broadcast, the sender is refused.
    w.so(2, "game", false, vec![send("crash", vec![])]);
    assert_eq!(
        w.take(2),
        vec![msg("game", 2, false, vec![status(status::NO_WRITE_ACCESS)])]
    );
    assert!(w.take(1).is_empty());
    assert_eq!(panics(&mut w), ["send_handler"]);

    // A method that panics: `_error`.
    w.apply(Input::Call {
        client: ClientId(1),
        transaction_id: 4.0,
        method: "crash".into(),
        args: vec![],
    });
    let other = w.take_other();
    assert!(other.iter().any(|o| matches!(
        o,
        Output::CallReply {
            client: ClientId(1),
            transaction_id: 4.0,
            reply: Err(_)
        }
    )));

    // Lifecycle hooks that panic: logged, the scope still runs and stops.
    w.connect(3, "app/boom");
    assert!(w.engine.view().is_running(&scope("app/boom")));
    w.leave(3);
    assert!(!w.engine.view().is_running(&scope("app/boom")));
    assert_eq!(panics(&mut w), ["room_start", "room_stop"]);
    assert_eq!(w.engine.hook_panics(), 9);

    // Still serving: a normal write goes through.
    w.so(2, "game", false, vec![request_change("n", 2.0)]);
    let got = w.take(1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].events[0], change("n", 2.0));
    assert_eq!(w.value(&game, "echo"), Some("echo".into()));
}
