//! Scopes the application declares (they run with no client until stopped)
//! and server locks on SOs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use rtmp_proto::amf::Value;
use so_engine::{
    Application, Context, Engine, EngineConfig, EngineLimits, EngineMisuse, Output, ScopePath,
    ServerApi, SharedObjectListener, SoKey, SoSetup, status,
};

use crate::support::*;

struct Starts(Arc<AtomicU32>);

impl Application for Starts {
    fn app_start(&mut self, _: &mut Context<'_>, _: &ScopePath) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Destroyed(Arc<AtomicU32>);

impl SharedObjectListener for Destroyed {
    fn on_destroy(&mut self, _: &mut Context<'_>, _: &SoKey) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_declared_scope_keeps_server_state_with_no_client() {
    let starts = Arc::new(AtomicU32::new(0));
    let destroyed = Arc::new(AtomicU32::new(0));
    let mut engine = Engine::new(EngineConfig::default(), Starts(starts.clone()));
    let seen = destroyed.clone();
    engine.register_factory("state", move |_: &SoKey, s: &mut SoSetup| {
        s.listener(Destroyed(seen.clone()));
    });
    let mut w = World::with(engine);
    let game = scope("game");
    let state = key("game", "state");
    // Before any client: no scope, so no SO...
    assert_eq!(
        w.with_server(|s| s.create(&state, false)),
        Err(EngineMisuse::NoSuchScope(game.clone()))
    );
    // ...until the application declares it.
    w.with_server(|s| s.start_scope(&game)).unwrap();
    w.with_server(|s| s.create(&state, false)).unwrap();
    w.set(&state, "round", 1.0);
    assert_eq!(starts.load(Ordering::SeqCst), 1);

    // A client comes, writes (to the server's SO and one of its own), leaves.
    w.connect(1, "game");
    w.use_so(1, "state");
    w.use_so(1, "chat");
    w.so(1, "state", false, vec![request_change("by", "client")]);
    w.leave(1);
    assert!(w.engine.view().is_running(&game));
    assert_eq!(w.value(&state, "by"), Some("client".into()));
    assert!(
        !w.engine.view().has(&key("game", "chat")),
        "client SOs keep their linger"
    );
    assert_eq!(starts.load(Ordering::SeqCst), 1, "started once");

    // A later client sees everything.
    w.drain();
    w.connect(2, "game");
    w.use_so(2, "state");
    assert_eq!(
        w.take(2),
        vec![use_reply(
            "state",
            3,
            &[("by", "client".into()), ("round", 1.0.into())]
        )]
    );
    // Stopping with a client in it: it stops when the client leaves.
    w.with_server(|s| s.stop_scope(&game)).unwrap();
    assert!(w.engine.view().is_running(&game));
    w.leave(2);
    assert!(!w.engine.view().is_running(&game));
    assert_eq!(destroyed.load(Ordering::SeqCst), 1);
    assert_eq!(
        w.with_server(|s| s.stop_scope(&game)),
        Err(EngineMisuse::NoSuchScope(game))
    );
}

#[test]
fn a_declared_room_keeps_its_application_running() {
    let mut w = World::default_app();
    let room = scope("app/lobby");
    w.with_server(|s| s.start_scope(&room)).unwrap();
    assert!(w.engine.view().is_running(&scope("app")));
    w.connect(1, "app");
    w.leave(1);
    assert!(w.engine.view().is_running(&scope("app")));
    w.with_server(|s| s.stop_scope(&room)).unwrap();
    assert!(!w.engine.view().is_running(&room));
    assert!(!w.engine.view().is_running(&scope("app")));
}

fn locked_world(limits: EngineLimits) -> (World, SoKey) {
    let config = EngineConfig {
        limits,
        max_lock_ms: 1000,
        ..EngineConfig::default()
    };
    let mut w = World::new(config, ());
    let board = key("app", "board");
    w.connect(1, "app");
    w.connect(2, "app");
    w.with_server(|s| s.create(&board, false)).unwrap();
    w.use_so(1, "board");
    w.use_so(2, "board");
    w.drain();
    (w, board)
}

#[test]
fn a_lock_holds_client_writes_and_batches_server_changes() {
    let (mut w, board) = locked_world(EngineLimits::default());
    w.with_server(|s| s.lock(&board)).unwrap();
    assert_eq!(
        w.with_server(|s| s.lock(&board)),
        Err(EngineMisuse::AlreadyLocked(board.clone()))
    );
    w.so(1, "board", false, vec![request_change("a", 1.0)]);
    w.so(2, "board", false, vec![request_change("a", 2.0)]);
    w.set(&board, "b", 1.0);
    w.set(&board, "c", 2.0);
    assert!(w.take(1).is_empty() && w.take(2).is_empty(), "nothing yet");
    assert_eq!(w.value(&board, "a"), None, "client writes are held");

    w.with_server(|s| s.unlock(&board)).unwrap();
    // The server's changes as one update, then the held writes in order.
    assert_eq!(
        w.take(1),
        vec![
            msg("board", 2, false, vec![change("b", 1.0), change("c", 2.0)]),
            msg("board", 3, false, vec![success("a")]),
            msg("board", 4, false, vec![change("a", 2.0)]),
        ]
    );
    assert_eq!(w.take(2)[0].events, [change("b", 1.0), change("c", 2.0)]);
    assert_eq!(w.value(&board, "a"), Some(2.0.into()));
    assert_eq!(
        w.with_server(|s| s.unlock(&board)),
        Err(EngineMisuse::NotLocked(board))
    );
}

#[test]
fn held_bytes_are_bounded_and_the_writer_is_told() {
    let limits = EngineLimits {
        max_held_bytes_per_so: 100,
        ..EngineLimits::default()
    };
    let (mut w, board) = locked_world(limits);
    w.set(&board, "k", "old");
    w.drain();
    w.with_server(|s| s.lock(&board)).unwrap();
    w.so(
        1,
        "board",
        false,
        vec![request_change("k", "x".repeat(200))],
    );
    assert_eq!(
        w.take(1),
        vec![msg(
            "board",
            2,
            false,
            vec![status(status::LIMIT_EXCEEDED), change("k", "old")]
        )]
    );
    w.so(1, "board", false, vec![request_change("k", "small")]);
    assert!(w.take(1).is_empty(), "held");
    w.with_server(|s| s.unlock(&board)).unwrap();
    assert_eq!(w.value(&board, "k"), Some("small".into()));
}

#[test]
fn a_lock_held_too_long_is_released_with_a_warning() {
    let (mut w, board) = locked_world(EngineLimits::default());
    w.with_server(|s| s.lock(&board)).unwrap();
    w.so(
        2,
        "board",
        false,
        vec![request_change("a", Value::from(5.0))],
    );
    assert_eq!(w.engine.poll_timeout(), Some(w.now.plus_millis(1000)));
    w.advance(999);
    assert_eq!(w.value(&board, "a"), None);
    w.advance(1);
    assert_eq!(w.value(&board, "a"), Some(5.0.into()));
    assert!(
        w.take_other()
            .contains(&Output::LockExpired { so: board.clone() })
    );
    assert_eq!(
        w.take(1),
        vec![msg("board", 2, false, vec![change("a", 5.0)])]
    );
}

#[test]
fn a_client_that_leaves_takes_its_held_messages_along() {
    let (mut w, board) = locked_world(EngineLimits::default());
    w.with_server(|s| s.lock(&board)).unwrap();
    w.so(1, "board", false, vec![request_change("a", 1.0)]);
    w.leave(1);
    w.with_server(|s| s.unlock(&board)).unwrap();
    assert_eq!(w.value(&board, "a"), None);
}
