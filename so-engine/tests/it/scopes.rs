//! Issue item 1 (scopes and the application's hooks, in Red5's order) and
//! item 8 (calls both ways).

use std::sync::{Arc, Mutex};

use rtmp_proto::amf::Value;
use so_engine::{
    Application, CallId, CallRequest, ClientId, Context, Engine, EngineConfig, Input, Origin,
    Output, ScopePath, ServerApi, SharedObjectListener, SoKey, SoSetup, status_object,
};

use crate::support::*;

/// Logs every hook; rejects clients whose first connect argument is "no".
struct Logger {
    log: Arc<Mutex<Vec<String>>>,
}

impl Logger {
    fn note(&self, what: &str, client: Option<ClientId>, scope: &ScopePath) {
        let who = client.map_or(String::new(), |c| format!(" {}", c.0));
        self.log
            .lock()
            .unwrap()
            .push(format!("{what}{who} {scope}"));
    }
}

impl Application for Logger {
    fn app_start(&mut self, _: &mut Context<'_>, s: &ScopePath) {
        self.note("app_start", None, s);
    }
    fn app_connect(
        &mut self,
        _: &mut Context<'_>,
        c: ClientId,
        s: &ScopePath,
        args: &[Value],
    ) -> Result<(), String> {
        self.note("app_connect", Some(c), s);
        if args.first().and_then(Value::as_str) == Some("no") {
            return Err("go away".into());
        }
        Ok(())
    }
    fn app_join(&mut self, _: &mut Context<'_>, c: ClientId, s: &ScopePath) {
        self.note("app_join", Some(c), s);
    }
    fn app_disconnect(&mut self, _: &mut Context<'_>, c: ClientId, s: &ScopePath) {
        self.note("app_disconnect", Some(c), s);
    }
    fn app_leave(&mut self, _: &mut Context<'_>, c: ClientId, s: &ScopePath) {
        self.note("app_leave", Some(c), s);
    }
    fn app_stop(&mut self, _: &mut Context<'_>, s: &ScopePath) {
        self.note("app_stop", None, s);
    }
    fn room_start(&mut self, cx: &mut Context<'_>, s: &ScopePath) {
        self.note("room_start", None, s);
        // The Red5 habit: create the room's SOs when it starts.
        let _ = cx.create(&SoKey::new(s.clone(), "roster"), false);
    }
    fn room_connect(
        &mut self,
        _: &mut Context<'_>,
        c: ClientId,
        s: &ScopePath,
        args: &[Value],
    ) -> Result<(), String> {
        self.note("room_connect", Some(c), s);
        if args.first().and_then(Value::as_str) == Some("not here") {
            return Err("room is full".into());
        }
        Ok(())
    }
    fn room_join(&mut self, _: &mut Context<'_>, c: ClientId, s: &ScopePath) {
        self.note("room_join", Some(c), s);
    }
    fn room_disconnect(&mut self, _: &mut Context<'_>, c: ClientId, s: &ScopePath) {
        self.note("room_disconnect", Some(c), s);
    }
    fn room_leave(&mut self, _: &mut Context<'_>, c: ClientId, s: &ScopePath) {
        self.note("room_leave", Some(c), s);
    }
    fn room_stop(&mut self, _: &mut Context<'_>, s: &ScopePath) {
        self.note("room_stop", None, s);
    }
    fn call_result(
        &mut self,
        _: &mut Context<'_>,
        c: ClientId,
        call: CallId,
        method: &str,
        outcome: &Result<Vec<Value>, Value>,
    ) {
        self.log
            .lock()
            .unwrap()
            .push(format!("result {} #{} {method} {outcome:?}", c.0, call.0));
    }
}

fn logged() -> (World, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let w = World::new(EngineConfig::default(), Logger { log: log.clone() });
    (w, log)
}

fn connect_args(w: &mut World, client: u64, path: &str, arg: &str) {
    w.apply(Input::ClientConnected {
        client: ClientId(client),
        scope: scope(path),
        encoding: Default::default(),
        args: vec![arg.into()],
    });
}

#[test]
fn hooks_run_in_red5_order() {
    let (mut w, log) = logged();
    w.connect(1, "app/room/sub");
    w.connect(2, "app/room");
    w.leave(1);
    w.leave(2);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "app_start app",
            "app_connect 1 app",
            "app_join 1 app",
            "room_start app/room",
            "room_connect 1 app/room",
            "room_join 1 app/room",
            "room_start app/room/sub",
            "room_connect 1 app/room/sub",
            "room_join 1 app/room/sub",
            "app_connect 2 app",
            "app_join 2 app",
            "room_connect 2 app/room",
            "room_join 2 app/room",
            "room_disconnect 1 app/room/sub",
            "room_leave 1 app/room/sub",
            "room_disconnect 1 app/room",
            "room_leave 1 app/room",
            "app_disconnect 1 app",
            "app_leave 1 app",
            "room_stop app/room/sub",
            "room_disconnect 2 app/room",
            "room_leave 2 app/room",
            "app_disconnect 2 app",
            "app_leave 2 app",
            "room_stop app/room",
            "app_stop app",
        ]
    );
    let lifecycle: Vec<_> = w
        .take_other()
        .into_iter()
        .filter(|o| !matches!(o, Output::ConnectAccepted { .. }))
        .collect();
    let s = |p: &str| scope(p);
    assert_eq!(
        lifecycle,
        [
            Output::ScopeStarted { scope: s("app") },
            Output::ScopeStarted {
                scope: s("app/room")
            },
            Output::SoCreated {
                so: key("app/room", "roster")
            },
            Output::ScopeStarted {
                scope: s("app/room/sub")
            },
            Output::SoCreated {
                so: key("app/room/sub", "roster")
            },
            Output::SoDestroyed {
                so: key("app/room/sub", "roster"),
                persistent: false,
            },
            Output::ScopeStopped {
                scope: s("app/room/sub")
            },
            Output::SoDestroyed {
                so: key("app/room", "roster"),
                persistent: false,
            },
            Output::ScopeStopped {
                scope: s("app/room")
            },
            Output::ScopeStopped { scope: s("app") },
        ]
    );
}

/// A rejected connect is undone: the scopes it started stop again.
#[test]
fn connect_can_be_rejected() {
    let (mut w, log) = logged();
    connect_args(&mut w, 1, "app/room", "no");
    assert_eq!(
        w.take_other(),
        [
            Output::ScopeStarted {
                scope: scope("app")
            },
            Output::ScopeStopped {
                scope: scope("app")
            },
            Output::ConnectRejected {
                client: ClientId(1),
                reason: "go away".into()
            },
        ]
    );
    w.connect(2, "app");
    log.lock().unwrap().clear();
    connect_args(&mut w, 3, "app/room", "not here");
    assert_eq!(
        *log.lock().unwrap(),
        [
            "app_connect 3 app",
            "app_join 3 app",
            "room_start app/room",
            "room_connect 3 app/room",
            "app_disconnect 3 app",
            "app_leave 3 app",
            "room_stop app/room",
        ]
    );
    assert!(w.take_other().contains(&Output::ConnectRejected {
        client: ClientId(3),
        reason: "room is full".into()
    }));
    assert!(!w.engine.view().is_running(&scope("app/room")));
    // The adapter may still report the rejected connection closing.
    w.leave(3);
    assert_eq!(
        w.try_apply(Input::ClientLeft {
            client: ClientId(3)
        }),
        Err(so_engine::EngineMisuse::UnknownClient(ClientId(3)))
    );
}

/// Item 8: registered methods answer; unknown ones get
/// `NetConnection.Call.Failed`; transaction 0 gets no answer; changes the
/// method queued reach the caller before the answer.
#[test]
fn calls_from_clients() {
    let mut engine = Engine::new(EngineConfig::default(), ());
    engine.register_method(
        "echo",
        |_: &mut Context<'_>, call: &CallRequest<'_>| -> Result<Value, Value> {
            Ok(match call.args {
                [one] => one.clone(),
                many => Value::StrictArray(many.to_vec()),
            })
        },
    );
    engine.register_method(
        "bump",
        |cx: &mut Context<'_>, call: &CallRequest<'_>| -> Result<Value, Value> {
            let so = SoKey::new(call.scope.clone(), "chat");
            cx.set(&so, "bumped", true)
                .map_err(|e| status_object("App.Failed", &e.to_string()))?;
            Ok(Value::Null)
        },
    );
    let mut w = World::with(engine);
    w.connect(1, "app");
    w.use_so(1, "chat");
    w.drain();
    let call = |w: &mut World, tx: f64, method: &str, args: Vec<Value>| {
        w.apply(Input::Call {
            client: ClientId(1),
            transaction_id: tx,
            method: method.into(),
            args,
        });
    };
    call(&mut w, 2.0, "echo", vec!["x".into()]);
    call(&mut w, 3.0, "echo", vec![1.0.into(), 2.0.into()]);
    call(&mut w, 4.0, "nope", vec![]);
    call(&mut w, 0.0, "nope", vec![]);
    assert_eq!(
        w.take_other(),
        [
            Output::CallReply {
                client: ClientId(1),
                transaction_id: 2.0,
                reply: Ok("x".into())
            },
            Output::CallReply {
                client: ClientId(1),
                transaction_id: 3.0,
                reply: Ok(Value::StrictArray(vec![1.0.into(), 2.0.into()]))
            },
            Output::CallReply {
                client: ClientId(1),
                transaction_id: 4.0,
                reply: Err(status_object(
                    "NetConnection.Call.Failed",
                    "Method not found (nope)"
                ))
            },
        ]
    );
    w.log.clear();
    call(&mut w, 5.0, "bump", vec![]);
    assert!(matches!(w.log[0], Output::SharedObject { .. }));
    assert!(matches!(w.log[1], Output::CallReply { .. }));
}

/// Item 8: the server calls a client and gets its answer; calls made during
/// connect wait for the accept; calls to a client that leaves are dropped.
#[test]
fn calls_to_clients() {
    struct Greeter {
        log: Arc<Mutex<Vec<String>>>,
    }
    impl Application for Greeter {
        fn app_join(&mut self, cx: &mut Context<'_>, c: ClientId, _: &ScopePath) {
            let _ = cx.call_client(c, "welcome", vec!["hi".into()]);
        }
        fn call_result(
            &mut self,
            _: &mut Context<'_>,
            c: ClientId,
            call: CallId,
            method: &str,
            outcome: &Result<Vec<Value>, Value>,
        ) {
            self.log
                .lock()
                .unwrap()
                .push(format!("{} #{} {method} {outcome:?}", c.0, call.0));
        }
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut w = World::new(EngineConfig::default(), Greeter { log: log.clone() });
    w.connect(1, "app");
    assert_eq!(
        w.take_other(),
        [
            Output::ScopeStarted {
                scope: scope("app")
            },
            Output::ConnectAccepted {
                client: ClientId(1)
            },
            Output::CallClient {
                client: ClientId(1),
                call: CallId(1),
                method: "welcome".into(),
                args: vec!["hi".into()]
            },
        ]
    );
    w.apply(Input::CallResult {
        client: ClientId(1),
        call: CallId(1),
        outcome: Ok(vec!["thanks".into()]),
    });
    // A second answer, or one from the wrong client, is ignored.
    w.apply(Input::CallResult {
        client: ClientId(1),
        call: CallId(1),
        outcome: Ok(vec![]),
    });
    assert_eq!(
        *log.lock().unwrap(),
        [r#"1 #1 welcome Ok([String("thanks")])"#]
    );
    w.with_server(|s| s.call_client(ClientId(1), "ping", vec![]))
        .unwrap();
    w.leave(1);
    assert_eq!(
        w.with_server(|s| s.call_client(ClientId(1), "ping", vec![])),
        Err(so_engine::EngineMisuse::UnknownClient(ClientId(1)))
    );
}

/// `call_client` returns the id the answer comes back under, also when a
/// hook that runs before the call is applied calls a client too.
#[test]
fn call_ids_pair_answers_with_calls() {
    type Calls = Arc<Mutex<Vec<(String, CallId)>>>;
    struct Caller {
        made: Calls,
        answered: Calls,
    }
    impl Application for Caller {
        fn app_join(&mut self, cx: &mut Context<'_>, c: ClientId, app: &ScopePath) {
            let so = SoKey::new(app.clone(), "counter");
            cx.create(&so, false).unwrap();
            // Applied first: its listener calls "nested" before "welcome"
            // below is applied.
            cx.set(&so, "n", 1.0).unwrap();
            let call = cx.call_client(c, "welcome", vec![]).unwrap();
            self.made.lock().unwrap().push(("welcome".into(), call));
        }
        fn call_result(
            &mut self,
            _: &mut Context<'_>,
            _: ClientId,
            call: CallId,
            method: &str,
            _: &Result<Vec<Value>, Value>,
        ) {
            self.answered.lock().unwrap().push((method.into(), call));
        }
    }
    struct Nested {
        made: Calls,
    }
    impl SharedObjectListener for Nested {
        fn on_update(&mut self, cx: &mut Context<'_>, so: &SoKey, _: Origin, _: &str, _: &Value) {
            let client = cx.view().clients_in(&so.scope).next().unwrap();
            let call = cx.call_client(client, "nested", vec![]).unwrap();
            self.made.lock().unwrap().push(("nested".into(), call));
        }
    }
    let (made, answered) = (Calls::default(), Calls::default());
    let mut engine = Engine::new(
        EngineConfig::default(),
        Caller {
            made: made.clone(),
            answered: answered.clone(),
        },
    );
    let from_listener = made.clone();
    engine.register_factory("counter", move |_: &SoKey, setup: &mut SoSetup| {
        setup.listener(Nested {
            made: from_listener.clone(),
        });
    });
    let mut w = World::with(engine);
    w.connect(1, "app");
    let sent: Vec<(String, CallId)> = w
        .take_other()
        .into_iter()
        .filter_map(|o| match o {
            Output::CallClient { call, method, .. } => Some((method.to_string(), call)),
            _ => None,
        })
        .collect();
    let mut made_sorted = made.lock().unwrap().clone();
    made_sorted.sort();
    let mut sent_sorted = sent.clone();
    sent_sorted.sort();
    assert_eq!(made_sorted.len(), 2);
    assert_eq!(
        sent_sorted, made_sorted,
        "the ids hooks got are the ids sent"
    );
    // Answer in reverse order: each answer reaches the hook under its call.
    for (_, call) in sent.iter().rev() {
        w.apply(Input::CallResult {
            client: ClientId(1),
            call: *call,
            outcome: Ok(vec![]),
        });
    }
    let mut answered_sorted = answered.lock().unwrap().clone();
    answered_sorted.sort();
    assert_eq!(answered_sorted, made_sorted);
    // Outside hooks the id comes back too.
    let call = w
        .with_server(|s| s.call_client(ClientId(1), "ping", vec![]))
        .unwrap();
    assert!(w.take_other().contains(&Output::CallClient {
        client: ClientId(1),
        call,
        method: "ping".into(),
        args: vec![],
    }));
}

/// A call a hook made that cannot be started when its queue is applied
/// (past the pending calls limit; to a client that is leaving) still gets
/// its `call_result`, a `NetConnection.Call.Failed` error, under the id
/// `call_client` returned: pairing calls with answers always completes.
#[test]
fn a_call_that_fails_when_applied_is_answered_with_an_error() {
    type Answers = Arc<Mutex<Vec<(CallId, String, Result<Vec<Value>, Value>)>>>;
    struct Caller {
        made: Arc<Mutex<Vec<CallId>>>,
        answered: Answers,
    }
    impl Application for Caller {
        fn room_join(&mut self, cx: &mut Context<'_>, c: ClientId, _: &ScopePath) {
            // The limit is one pending call: the second cannot start.
            for method in ["first", "second"] {
                let call = cx.call_client(c, method, vec![]).unwrap();
                self.made.lock().unwrap().push(call);
            }
        }
        fn room_leave(&mut self, cx: &mut Context<'_>, c: ClientId, _: &ScopePath) {
            // Queued while the client is still known, applied once it left.
            let call = cx.call_client(c, "goodbye", vec![]).unwrap();
            self.made.lock().unwrap().push(call);
        }
        fn call_result(
            &mut self,
            _: &mut Context<'_>,
            _: ClientId,
            call: CallId,
            method: &str,
            outcome: &Result<Vec<Value>, Value>,
        ) {
            let answer = (call, method.to_owned(), outcome.clone());
            self.answered.lock().unwrap().push(answer);
        }
    }
    let (made, answered) = (Arc::default(), Answers::default());
    let mut config = EngineConfig::default();
    config.limits.max_pending_calls_per_client = 1;
    let app = Caller {
        made: Arc::clone(&made),
        answered: answered.clone(),
    };
    let mut w = World::new(config, app);
    w.connect(1, "app/room");
    let made = |n: usize| made.lock().unwrap()[n];
    let failed = |call: CallId, method: &str| {
        let outcome = answered
            .lock()
            .unwrap()
            .iter()
            .find(|(c, ..)| *c == call)
            .cloned();
        let Some((_, m, Err(info))) = outcome else {
            panic!("no failed call_result for {method}: {outcome:?}");
        };
        assert_eq!(m, method);
        assert_eq!(
            info.property("code"),
            Some(&Value::from("NetConnection.Call.Failed"))
        );
        info
    };
    let other = w.take_other();
    let sent: Vec<CallId> = other
        .iter()
        .filter_map(|o| match o {
            Output::CallClient { call, .. } => Some(*call),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [made(0)], "only the first call goes out");
    let info = failed(made(1), "second");
    assert!(
        other.contains(&Output::CallResult {
            client: ClientId(1),
            call: made(1),
            outcome: Err(info),
        }),
        "{other:?}"
    );
    assert!(
        other.iter().any(|o| matches!(o, Output::HookFailed { .. })),
        "the failure is reported for the log too: {other:?}"
    );

    w.leave(1);
    failed(made(2), "goodbye");
    // The first call was sent: its client left, so it is abandoned, not failed.
    assert!(w.take_other().contains(&Output::CallAbandoned {
        client: ClientId(1),
        call: made(0),
    }));
    assert_eq!(answered.lock().unwrap().len(), 2);
}

/// Server code can disconnect a client: it leaves everything at once, its
/// late inputs are ignored, its ClientLeft is accepted.
#[test]
fn server_disconnects_a_client() {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.connect(2, "app");
    w.use_so(1, "chat");
    w.use_so(2, "chat");
    w.drain();
    w.with_server(|s| s.disconnect(ClientId(1), "kicked"))
        .unwrap();
    assert_eq!(
        w.take_other(),
        [Output::Disconnect {
            client: ClientId(1),
            reason: "kicked".into()
        }]
    );
    assert_eq!(
        w.engine
            .view()
            .shared_object(&key("app", "chat"))
            .unwrap()
            .subscriber_count(),
        1
    );
    w.so(1, "chat", false, vec![request_change("k", 1.0)]);
    assert!(w.take(1).is_empty());
    assert!(w.take(2).is_empty());
    w.leave(1);
    assert!(
        w.try_apply(Input::ClientLeft {
            client: ClientId(1)
        })
        .is_err()
    );
}

/// Misuse by the caller is an error, never a panic.
#[test]
fn caller_misuse() {
    let mut w = World::default_app();
    w.connect(1, "app");
    assert_eq!(
        w.try_apply(Input::ClientConnected {
            client: ClientId(1),
            scope: scope("app"),
            encoding: Default::default(),
            args: vec![],
        }),
        Err(so_engine::EngineMisuse::DuplicateClient(ClientId(1)))
    );
    assert_eq!(
        w.try_apply(Input::ClientLeft {
            client: ClientId(7)
        }),
        Err(so_engine::EngineMisuse::UnknownClient(ClientId(7)))
    );
    w.advance(10);
    let mut out = Vec::new();
    assert!(matches!(
        w.engine
            .handle_input(so_engine::Tick(5), Input::Tick, &mut out),
        Err(so_engine::EngineMisuse::TimeWentBackwards { .. })
    ));
}
