//! Behaviour contract point 9 (docs/PROTOCOL.md §6) and the Red5 pitfalls
//! of docs/PROTOCOL.md §7 it fixes: retention (linger re-armed, acquire),
//! factories on every creation, destroy with subscribers, late messages.

use std::sync::{Arc, Mutex};

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{
    ClientId, Context, Engine, EngineConfig, Output, Retention, ServerApi, SharedObjectListener,
    SoKey, SoSetup, Tick, status,
};

use crate::support::*;

/// Keeps attribute `count` equal to the number of subscribers, and logs
/// every event it sees.
struct Presence {
    log: Arc<Mutex<Vec<String>>>,
}

impl Presence {
    fn recount(cx: &mut Context<'_>, so: &SoKey) {
        let n = cx
            .view()
            .shared_object(so)
            .map_or(0, |s| s.subscriber_count());
        let _ = cx.set(so, "count", f64::from(u32::try_from(n).unwrap()));
    }
}

impl SharedObjectListener for Presence {
    fn on_connect(&mut self, cx: &mut Context<'_>, so: &SoKey, client: ClientId) {
        self.log
            .lock()
            .unwrap()
            .push(format!("connect {}", client.0));
        Self::recount(cx, so);
    }
    fn on_disconnect(&mut self, cx: &mut Context<'_>, so: &SoKey, client: ClientId) {
        self.log
            .lock()
            .unwrap()
            .push(format!("disconnect {}", client.0));
        Self::recount(cx, so);
    }
    fn on_destroy(&mut self, _: &mut Context<'_>, so: &SoKey) {
        self.log
            .lock()
            .unwrap()
            .push(format!("destroy {}", so.name));
    }
}

fn presence_world(config: EngineConfig) -> (World, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut engine = Engine::new(config, ());
    let l = log.clone();
    engine.register_factory("server.presence", move |_: &SoKey, s: &mut SoSetup| {
        s.listener(Presence { log: l.clone() });
    });
    (World::with(engine), log)
}

/// Pitfall 1: Red5 re-creates a destroyed SO as a generic one, without the
/// listeners server code attached. Here the factory runs on every creation.
#[test]
fn factory_listeners_survive_destruction() {
    let (mut w, log) = presence_world(EngineConfig::default());
    let so = key("app", "server.presence");
    for round in 0..3 {
        w.connect(1, "app");
        w.connect(2, "app");
        w.use_so(1, "server.presence");
        // USE reply, then the listener's change in the same update.
        assert_eq!(
            w.take(1),
            vec![msg(
                "server.presence",
                2,
                false,
                vec![SoEvent::UseSuccess, SoEvent::Clear, change("count", 1.0)]
            )],
            "round {round}"
        );
        w.use_so(2, "server.presence");
        assert_eq!(
            w.take(1),
            vec![msg("server.presence", 3, false, vec![change("count", 2.0)])]
        );
        assert_eq!(
            w.take(2),
            vec![msg(
                "server.presence",
                3,
                false,
                vec![
                    SoEvent::UseSuccess,
                    SoEvent::Clear,
                    change("count", 1.0),
                    change("count", 2.0)
                ]
            )]
        );
        assert_eq!(w.value(&so, "count"), Some(2.0.into()));
        w.leave(1);
        assert_eq!(
            w.take(2),
            vec![msg("server.presence", 4, false, vec![change("count", 1.0)])]
        );
        w.leave(2);
        assert!(
            !w.engine.view().has(&so),
            "destroyed when the last one left"
        );
    }
    assert_eq!(
        log.lock().unwrap()[..5],
        [
            "connect 1",
            "connect 2",
            "disconnect 1",
            "disconnect 2",
            "destroy server.presence"
        ]
    );
    assert_eq!(log.lock().unwrap().len(), 15);
}

/// Pitfall 2: Red5 arms the linger check once per SO. Here it is re-armed
/// every time the SO becomes empty, and disarmed when someone comes back.
#[test]
fn linger_is_rearmed_every_time() {
    let config = EngineConfig {
        default_linger_ms: 1000,
        ..EngineConfig::default()
    };
    let mut w = World::new(config, ());
    let so = key("app", "chat");
    w.connect(9, "app"); // keeps the scope running
    for round in 0..3u64 {
        let t0 = w.now;
        w.connect(1, "app");
        w.use_so(1, "chat");
        w.so(
            1,
            "chat",
            false,
            vec![request_change("round", round as f64)],
        );
        w.leave(1);
        assert_eq!(w.engine.poll_timeout(), Some(t0.plus_millis(1000)));
        w.advance(500);
        // Someone comes back within the linger: the data is still there.
        w.connect(2, "app");
        w.use_so(2, "chat");
        assert_eq!(w.value(&so, "round"), Some((round as f64).into()));
        assert_eq!(w.engine.poll_timeout(), None);
        w.advance(100);
        w.leave(2);
        assert_eq!(w.engine.poll_timeout(), Some(w.now.plus_millis(1000)));
        w.advance(999);
        assert!(w.engine.view().has(&so));
        w.advance(1);
        assert!(!w.engine.view().has(&so), "round {round}");
        assert_eq!(w.engine.poll_timeout(), None);
    }
}

/// An acquired SO stays without subscribers; the last release lets it go.
#[test]
fn acquire_holds_and_release_lets_go() {
    let mut w = World::default_app();
    let so = key("app", "chat");
    w.connect(9, "app");
    w.connect(1, "app");
    w.use_so(1, "chat");
    w.with_server(|s| {
        s.acquire(&so)?;
        s.acquire(&so)
    })
    .unwrap();
    w.leave(1);
    assert!(w.engine.view().has(&so));
    w.with_server(|s| s.release(&so)).unwrap();
    assert!(w.engine.view().has(&so));
    w.with_server(|s| s.release(&so)).unwrap();
    assert!(!w.engine.view().has(&so));
    assert_eq!(
        w.with_server(|s| s.release(&so)),
        Err(so_engine::EngineMisuse::NoSuchSharedObject(so))
    );
}

/// A factory's retention: keep while the scope runs.
#[test]
fn retention_while_scope_runs() {
    let mut engine = Engine::new(EngineConfig::default(), ());
    engine.register_factory("lobby", |_: &SoKey, s: &mut SoSetup| {
        s.retention(Retention::WhileScopeRuns)
            .initial("topic", "welcome");
    });
    let mut w = World::with(engine);
    let so = key("app/r", "lobby");
    w.connect(1, "app/r");
    w.connect(2, "app/r");
    w.use_so(1, "lobby");
    assert_eq!(
        w.take(1),
        vec![use_reply("lobby", 1, &[("topic", "welcome".into())])]
    );
    w.so(1, "lobby", false, vec![SoEvent::Release]);
    assert!(w.engine.view().has(&so));
    w.leave(1);
    w.leave(2);
    // The room stopped, taking its SOs.
    assert!(!w.engine.view().has(&so));
    assert!(w.take_other().contains(&Output::SoDestroyed {
        so,
        persistent: false
    }));
}

/// Pitfall 11: Red5's close() tells subscribers nothing and leaves them
/// holding a dead SO (a NullPointerException at their disconnect). Here they
/// get CLEAR + STATUS ObjectDestroyed and are detached cleanly.
#[test]
fn destroy_with_subscribers_tells_and_detaches_them() {
    let (mut w, log) = presence_world(EngineConfig::default());
    let so = key("app", "server.presence");
    w.connect(1, "app");
    w.connect(2, "app");
    w.use_so(1, "server.presence");
    w.use_so(2, "server.presence");
    w.use_so(1, "other");
    w.drain();
    w.with_server(|s| s.destroy(&so)).unwrap();
    let told = msg(
        "server.presence",
        4,
        false,
        vec![
            SoEvent::Clear,
            SoEvent::Status {
                code: status::OBJECT_DESTROYED.into(),
                level: "status".into(),
            },
        ],
    );
    assert_eq!(w.take(1), vec![told.clone()]);
    assert_eq!(w.take(2), vec![told]);
    assert_eq!(
        log.lock().unwrap().last().unwrap(),
        "destroy server.presence"
    );
    assert!(!w.engine.view().has(&so));
    // Pitfall 10: late messages do not re-create it.
    w.so(1, "server.presence", false, vec![request_change("x", 1.0)]);
    assert_eq!(
        w.take(1),
        vec![msg(
            "server.presence",
            0,
            false,
            vec![status(status::NO_OBJECT_FOUND)]
        )]
    );
    w.so(2, "server.presence", false, vec![SoEvent::Release]);
    assert!(w.take(2).is_empty());
    assert!(!w.engine.view().has(&so));
    // Disconnecting afterwards is clean, and the client's other SOs are
    // released as usual.
    w.leave(1);
    w.leave(2);
    assert!(!w.engine.view().has(&key("app", "other")));
    // A new USE builds it again through the factory.
    w.connect(3, "app");
    w.use_so(3, "server.presence");
    assert_eq!(w.value(&so, "count"), Some(1.0.into()));
}

/// Destroy and clear by pattern, in one scope only.
#[test]
fn destroy_and_clear_by_pattern() {
    let mut w = World::default_app();
    w.connect(1, "app/a");
    w.connect(2, "app/b");
    for name in ["chat.1", "chat.22", "game", "chat.x"] {
        w.with_server(|s| s.create(&key("app/a", name), false))
            .unwrap();
        w.set(&key("app/a", name), "k", 1.0);
    }
    w.with_server(|s| s.create(&key("app/b", "chat.1"), false))
        .unwrap();
    w.with_server(|s| s.clear_matching(&scope("app/a"), "chat.?"))
        .unwrap();
    assert_eq!(w.value(&key("app/a", "chat.1"), "k"), None);
    assert_eq!(w.value(&key("app/a", "chat.x"), "k"), None);
    assert_eq!(w.value(&key("app/a", "chat.22"), "k"), Some(1.0.into()));
    w.with_server(|s| s.destroy_matching(&scope("app/a"), "chat*"))
        .unwrap();
    let names: Vec<_> = w
        .engine
        .view()
        .names(&scope("app/a"))
        .map(String::from)
        .collect();
    assert_eq!(names, ["game"]);
    assert!(w.engine.view().has(&key("app/b", "chat.1")));
}

/// Server-created SOs stay while their scope runs (what Red5 users create
/// them in roomStart for), client-created ones go when empty.
#[test]
fn default_retention_depends_on_the_creator() {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.with_server(|s| s.create(&key("app", "made.by.server"), false))
        .unwrap();
    w.use_so(1, "made.by.client");
    w.so(1, "made.by.client", false, vec![SoEvent::Release]);
    assert!(w.engine.view().has(&key("app", "made.by.server")));
    assert!(!w.engine.view().has(&key("app", "made.by.client")));
    let _ = Tick::ZERO;
    let _ = Value::Null;
}
