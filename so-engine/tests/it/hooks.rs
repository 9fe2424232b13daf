//! Hooks that misbehave: endless chains of changes are cut off, failures
//! of queued changes are reported, and the engine carries on.

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{
    Context, Engine, EngineConfig, EngineLimits, EngineMisuse, Origin, Output, ServerApi,
    SharedObjectListener, SoKey, SoSetup,
};

use crate::support::*;

/// Bumps `n` on every update: an endless chain.
struct Bumper;

impl SharedObjectListener for Bumper {
    fn on_update(&mut self, cx: &mut Context<'_>, so: &SoKey, _: Origin, key: &str, value: &Value) {
        if key == "n" {
            let next = value.as_f64().unwrap_or(0.0) + 1.0;
            let _ = cx.set(so, "n", next);
        }
    }
}

/// Re-creates itself when destroyed: an endless chain through lingers.
struct Phoenix;

impl SharedObjectListener for Phoenix {
    fn on_destroy(&mut self, cx: &mut Context<'_>, so: &SoKey) {
        // Server-created SOs stay while their scope runs, so go through a
        // client-style linger by making the factory choose Linger(0).
        let _ = cx.create(so, false);
    }
}

#[test]
fn endless_hook_chains_are_cut_off() {
    let mut engine = Engine::new(EngineConfig::default(), ());
    engine.register_factory("loop", |_: &SoKey, s: &mut SoSetup| {
        s.listener(Bumper);
    });
    let mut w = World::with(engine);
    w.connect(1, "app");
    w.connect(2, "app");
    w.use_so(1, "loop");
    w.use_so(2, "loop");
    w.drain();
    w.so(
        1,
        "loop",
        false,
        vec![SoEvent::RequestChange {
            key: "n".into(),
            value: 0.0.into(),
        }],
    );
    let failed: Vec<_> = w
        .take_other()
        .into_iter()
        .filter(|o| matches!(o, Output::HookFailed { .. }))
        .collect();
    assert_eq!(
        failed,
        [Output::HookFailed {
            error: EngineMisuse::HookOverflow("hook nesting depth")
        }]
    );
    // The chain ran to the depth limit inside the one update, which was
    // still delivered as one message each.
    let so = key("app", "loop");
    assert_eq!(w.value(&so, "n"), Some(Value::Number(32.0)));
    assert_eq!(w.take(1).len(), 1);
    assert_eq!(w.take(2).len(), 1);
    assert_eq!(w.version(&so), Some(2));
}

#[test]
fn endless_recreation_is_cut_off() {
    let limits = EngineLimits {
        max_hook_ops_per_input: 50,
        ..EngineLimits::default()
    };
    let mut engine = Engine::new(
        EngineConfig {
            limits,
            ..EngineConfig::default()
        },
        (),
    );
    engine.register_factory("phoenix", |_: &SoKey, s: &mut SoSetup| {
        s.listener(Phoenix)
            .retention(so_engine::Retention::Linger(0));
    });
    let mut w = World::with(engine);
    w.connect(1, "app");
    w.use_so(1, "phoenix");
    w.so(1, "phoenix", false, vec![SoEvent::Release]);
    let out = w.take_other();
    let created = out
        .iter()
        .filter(|o| matches!(o, Output::SoCreated { .. }))
        .count();
    assert_eq!(created, 1 + 50);
    assert!(out.contains(&Output::HookFailed {
        error: EngineMisuse::HookOverflow("operations per input")
    }));
    // The next input starts with a fresh budget, and the engine still works.
    w.drain();
    w.use_so(1, "chat");
    assert_eq!(w.take(1).len(), 1);
}

#[test]
fn failed_queued_changes_are_reported() {
    let mut engine = Engine::new(EngineConfig::default(), ());
    engine.register_method(
        "oops",
        |cx: &mut Context<'_>, _: &so_engine::CallRequest<'_>| -> Result<Value, Value> {
            // What the queue can tell is an error at once...
            let missing = cx.set(&key("app", "missing"), "k", 1.0);
            assert_eq!(
                missing,
                Err(EngineMisuse::NoSuchSharedObject(key("app", "missing")))
            );
            assert_eq!(
                cx.create(&key("app/nowhere", "x"), false),
                Err(EngineMisuse::NoSuchScope(scope("app/nowhere")))
            );
            // ...an SO queued for creation can be used in the same hook...
            let made = key("app", "made");
            assert_eq!(cx.create(&made, false), Ok(()));
            assert_eq!(cx.set(&made, "k", 1.0), Ok(()));
            // ...and what fails only when applied is reported.
            let too_long = "k".repeat(2000);
            assert_eq!(cx.set(&made, too_long, 1.0), Ok(()));
            Ok(Value::Null)
        },
    );
    let mut w = World::with(engine);
    w.connect(1, "app");
    w.drain();
    w.apply(so_engine::Input::Call {
        client: so_engine::ClientId(1),
        transaction_id: 1.0,
        method: "oops".into(),
        args: vec![],
    });
    let out = w.take_other();
    assert!(out.contains(&Output::HookFailed {
        error: EngineMisuse::LimitExceeded {
            what: "key length",
            max: 1024
        }
    }));
    assert!(matches!(
        out.last(),
        Some(Output::CallReply {
            reply: Ok(Value::Null),
            ..
        })
    ));
    assert_eq!(w.value(&key("app", "made"), "k"), Some(1.0.into()));
}
