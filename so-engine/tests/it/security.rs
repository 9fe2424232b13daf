//! Behaviour contract point 7 (docs/PROTOCOL.md §6): denials, with the
//! STATUS codes, the rollback to a denied writer, and the order of the
//! checks.

use std::sync::{Arc, Mutex};

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{
    ClientId, Engine, EngineConfig, Output, SharedObjectSecurity, SoKey, SoSetup, View, status,
};

use crate::support::*;

/// Denies by name prefix, the way the example server's demo does.
struct Prefixes;

impl SharedObjectSecurity for Prefixes {
    fn is_creation_allowed(&mut self, _: &View<'_>, so: &SoKey, _: bool, _: ClientId) -> bool {
        !so.name.starts_with("forbidden.")
    }
    fn is_connection_allowed(&mut self, _: &View<'_>, so: &SoKey, _: ClientId) -> bool {
        !so.name.starts_with("private.")
    }
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        so: &SoKey,
        _: ClientId,
        _: &str,
        _: &Value,
    ) -> bool {
        !so.name.starts_with("readonly.")
    }
    fn is_delete_allowed(&mut self, _: &View<'_>, so: &SoKey, _: ClientId, _: &str) -> bool {
        !so.name.starts_with("readonly.")
    }
    fn is_send_allowed(
        &mut self,
        _: &View<'_>,
        so: &SoKey,
        _: ClientId,
        _: &str,
        _: &[Value],
    ) -> bool {
        !so.name.starts_with("readonly.")
    }
}

fn world() -> World {
    let mut engine = Engine::new(EngineConfig::default(), ());
    engine.register_security(Prefixes);
    World::with(engine)
}

#[test]
fn creation_denied() {
    let mut w = world();
    w.connect(1, "app");
    w.use_so(1, "forbidden.x");
    assert_eq!(
        w.take(1),
        vec![msg(
            "forbidden.x",
            0,
            false,
            vec![status(status::CREATION_FAILED)]
        )]
    );
    assert!(!w.engine.view().has(&key("app", "forbidden.x")));
    assert!(
        w.take_other()
            .iter()
            .all(|o| !matches!(o, Output::SoCreated { .. }))
    );
    // Server code is not subject to client security.
    w.with_server(|s| so_engine::ServerApi::create(s, &key("app", "forbidden.x"), false))
        .unwrap();
    assert!(w.engine.view().has(&key("app", "forbidden.x")));
}

#[test]
fn use_denied() {
    let mut w = world();
    w.connect(1, "app");
    w.use_so(1, "private.x");
    assert_eq!(
        w.take(1),
        vec![msg(
            "private.x",
            0,
            false,
            vec![status(status::NO_READ_ACCESS)]
        )]
    );
    // Created for the attempt, then gone with nobody subscribed.
    assert!(!w.engine.view().has(&key("app", "private.x")));
}

/// The denied writer gets NoWriteAccess and the authoritative value; others
/// get nothing; nothing changes.
#[test]
fn write_denied_rolls_back_the_writer() {
    let mut w = world();
    let so = key("app", "readonly.board");
    w.connect(1, "app");
    w.with_server(|s| so_engine::ServerApi::create(s, &so, false))
        .unwrap();
    w.set(&so, "title", "hello");
    w.connect(2, "app");
    w.use_so(1, "readonly.board");
    w.use_so(2, "readonly.board");
    w.drain();

    w.so(
        1,
        "readonly.board",
        false,
        vec![request_change("title", "pwned")],
    );
    assert_eq!(
        w.take(1),
        vec![msg(
            "readonly.board",
            2,
            false,
            vec![status(status::NO_WRITE_ACCESS), change("title", "hello")]
        )]
    );
    assert!(w.take(2).is_empty());

    // A new key: the rollback is a REMOVE.
    w.so(1, "readonly.board", false, vec![request_change("new", 1.0)]);
    assert_eq!(
        w.take(1),
        vec![msg(
            "readonly.board",
            2,
            false,
            vec![status(status::NO_WRITE_ACCESS), remove("new")]
        )]
    );

    // A denied delete: the value comes back.
    w.so(1, "readonly.board", false, vec![request_remove("title")]);
    assert_eq!(
        w.take(1),
        vec![msg(
            "readonly.board",
            2,
            false,
            vec![status(status::NO_WRITE_ACCESS), change("title", "hello")]
        )]
    );

    // Removing a key that is not there is still a delete security is asked
    // about (Red5 asks `isDeleteAllowed` for every delete): the denial is
    // answered, with REMOVE as the authoritative state. The client mirror
    // pairs it with that removal (rtmp-proto's quiet removals).
    w.so(1, "readonly.board", false, vec![request_remove("absent")]);
    assert_eq!(
        w.take(1),
        vec![msg(
            "readonly.board",
            2,
            false,
            vec![status(status::NO_WRITE_ACCESS), remove("absent")]
        )]
    );
    assert!(w.take(2).is_empty());

    // A denied send is answered and not broadcast.
    w.so(2, "readonly.board", false, vec![send("shout", vec![])]);
    assert_eq!(
        w.take(2),
        vec![msg(
            "readonly.board",
            2,
            false,
            vec![status(status::NO_WRITE_ACCESS)]
        )]
    );
    assert!(w.take(1).is_empty());
    assert_eq!(w.value(&so, "title"), Some("hello".into()));
    assert_eq!(w.version(&so), Some(2));
}

#[test]
fn persistence_mismatch_is_bad_persistence() {
    let mut w = world();
    w.connect(1, "app");
    w.connect(2, "app");
    w.use_so(1, "chat");
    w.drain();
    w.so(2, "chat", true, vec![SoEvent::Use]);
    assert_eq!(
        w.take(2),
        vec![msg("chat", 0, true, vec![status(status::BAD_PERSISTENCE)])]
    );

    // A factory that fixes the persistence refuses the other kind.
    let mut engine = Engine::new(EngineConfig::default(), ());
    engine.register_factory("saved.*", |_: &SoKey, s: &mut SoSetup| {
        s.set_persistent(true);
    });
    let mut w = World::with(engine);
    w.connect(1, "app");
    w.use_so(1, "saved.prefs");
    assert_eq!(
        w.take(1),
        vec![msg(
            "saved.prefs",
            0,
            false,
            vec![status(status::BAD_PERSISTENCE)]
        )]
    );
    assert!(!w.engine.view().has(&key("app", "saved.prefs")));
    w.so(1, "saved.prefs", true, vec![SoEvent::Use]);
    assert_eq!(w.take(1)[0].events[0], SoEvent::UseSuccess);
}

/// Records each check; denies when its name matches `deny`.
struct Recorder {
    name: &'static str,
    deny: bool,
    log: Arc<Mutex<Vec<&'static str>>>,
}

impl SharedObjectSecurity for Recorder {
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        _: ClientId,
        _: &str,
        _: &Value,
    ) -> bool {
        self.log.lock().unwrap().push(self.name);
        !self.deny
    }
}

/// Per-SO handlers run first, then the application's, in registration
/// order; the first denial wins and later checks do not run.
#[test]
fn checks_run_per_so_first_and_first_denial_wins() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut engine = Engine::new(EngineConfig::default(), ());
    let rec = |name, deny| Recorder {
        name,
        deny,
        log: log.clone(),
    };
    engine.register_security(rec("app1", false));
    engine.register_security(rec("app2", true));
    engine.register_security(rec("app3", false));
    let (so1, so2) = (rec("so1", false), rec("so2", false));
    let mut pending = Some((so1, so2));
    engine.register_factory("chat", move |_: &SoKey, s: &mut SoSetup| {
        if let Some((a, b)) = pending.take() {
            s.security(a).security(b);
        }
    });
    let mut w = World::with(engine);
    w.connect(1, "app");
    w.use_so(1, "chat");
    w.so(1, "chat", false, vec![request_change("k", 1.0)]);
    assert_eq!(*log.lock().unwrap(), ["so1", "so2", "app1", "app2"]);
    assert_eq!(w.value(&key("app", "chat"), "k"), None);
}
