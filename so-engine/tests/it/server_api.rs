//! The server-side API (issue item 3), send handlers (item 4) and the Red5
//! pitfalls around server-side updates.

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{
    ClientId, Context, Engine, EngineConfig, EngineMisuse, Output, ServerApi, ServerOp, SoKey,
    SoSetup,
};

use crate::support::*;

fn two_subscribers() -> (World, SoKey) {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.connect(2, "app");
    w.use_so(1, "chat");
    w.use_so(2, "chat");
    w.drain();
    (w, key("app", "chat"))
}

/// Server changes reach every subscriber (no SUCCESS: the server is not a
/// subscriber), each operation one update.
#[test]
fn server_set_and_remove_reach_everyone() {
    let (mut w, so) = two_subscribers();
    w.set(&so, "k", 1.0);
    for c in 1..=2 {
        assert_eq!(
            w.take(c),
            vec![msg("chat", 2, false, vec![change("k", 1.0)])]
        );
    }
    w.set(&so, "k", 1.0); // unchanged: nothing
    assert!(w.take(1).is_empty());
    w.with_server(|s| s.remove(&so, "k")).unwrap();
    assert_eq!(w.take(2), vec![msg("chat", 3, false, vec![remove("k")])]);
    w.set(&so, "a", 1.0);
    w.set(&so, "b", 1.0);
    w.drain();
    w.with_server(|s| s.clear(&so)).unwrap();
    assert_eq!(w.take(1), vec![msg("chat", 6, false, vec![SoEvent::Clear])]);
    // Clearing an empty SO changes nothing.
    w.with_server(|s| s.clear(&so)).unwrap();
    assert!(w.take(1).is_empty());
    assert_eq!(w.version(&so), Some(6));
}

/// Pitfall 3: Red5's server-side sendMessage waits for the next flush. Here
/// it goes out at once outside a batch.
#[test]
fn server_send_is_flushed() {
    let (mut w, so) = two_subscribers();
    w.with_server(|s| s.send(&so, "announce", vec!["hi".into()]))
        .unwrap();
    for c in 1..=2 {
        assert_eq!(
            w.take(c),
            vec![msg(
                "chat",
                1,
                false,
                vec![send("announce", vec!["hi".into()])]
            )]
        );
    }
}

/// Pitfall 4: Red5's bulk setAttributes notifies nobody. Here it is one
/// update carrying every changed key.
#[test]
fn bulk_set_notifies_in_one_update() {
    let (mut w, so) = two_subscribers();
    w.set(&so, "same", 0.0);
    w.drain();
    w.with_server(|s| {
        s.set_many(
            &so,
            [
                ("a", Value::from(1.0)),
                ("same", Value::from(0.0)),
                ("b", Value::from("x")),
                ("gone", Value::Null),
            ],
        )
    })
    .unwrap();
    for c in 1..=2 {
        assert_eq!(
            w.take(c),
            vec![msg(
                "chat",
                3,
                false,
                vec![change("a", 1.0), change("b", "x")]
            )]
        );
    }
}

/// begin/end update batch everything, sends included, into one message per
/// subscriber, flushed at the outermost end.
#[test]
fn batches_nest_and_flush_at_the_outermost_end() {
    let (mut w, so) = two_subscribers();
    w.with_server(|s| {
        s.begin_update(&so)?;
        s.set(&so, "a", 1.0)?;
        s.begin_update(&so)?;
        s.send(&so, "tick", vec![])?;
        s.remove(&so, "a")?;
        s.end_update(&so)?;
        s.set(&so, "b", 2.0)
    })
    .unwrap();
    assert!(w.take(1).is_empty(), "nothing before the outermost end");
    w.with_server(|s| s.end_update(&so)).unwrap();
    for c in 1..=2 {
        assert_eq!(
            w.take(c),
            vec![msg(
                "chat",
                2,
                false,
                vec![
                    change("a", 1.0),
                    send("tick", vec![]),
                    remove("a"),
                    change("b", 2.0)
                ]
            )]
        );
    }
    assert_eq!(
        w.with_server(|s| s.end_update(&so)),
        Err(EngineMisuse::UnbalancedEndUpdate(so))
    );
}

/// A client message arriving while a server batch is open is its own update:
/// the batch so far goes out first, the client gets its answer at once.
#[test]
fn client_message_inside_an_open_batch() {
    let (mut w, so) = two_subscribers();
    w.with_server(|s| {
        s.begin_update(&so)?;
        s.set(&so, "server", 1.0)
    })
    .unwrap();
    w.so(1, "chat", false, vec![request_change("client", 2.0)]);
    assert_eq!(
        w.take(1),
        vec![
            msg("chat", 2, false, vec![change("server", 1.0)]),
            msg("chat", 3, false, vec![success("client")]),
        ]
    );
    assert_eq!(
        w.take(2),
        vec![
            msg("chat", 2, false, vec![change("server", 1.0)]),
            msg("chat", 3, false, vec![change("client", 2.0)]),
        ]
    );
    w.with_server(|s| {
        s.set(&so, "later", 3.0)?;
        s.end_update(&so)
    })
    .unwrap();
    assert_eq!(
        w.take(2),
        vec![msg("chat", 4, false, vec![change("later", 3.0)])]
    );
}

/// Item 4: a SEND_MESSAGE `a.b.c` runs the handler for service `a.b`,
/// method `c` (no dot: service ""), before the broadcast; its changes reach
/// everyone, the sender included, before the message.
#[test]
fn send_handlers_run_before_the_broadcast() {
    let mut engine = Engine::new(EngineConfig::default(), ());
    engine.register_factory("server.echo", |_: &SoKey, s: &mut SoSetup| {
        s.send_handler(
            "",
            "say",
            |cx: &mut Context<'_>, so: &SoKey, _: ClientId, _: &str, args: &[Value]| {
                let text = args.first().cloned().unwrap_or(Value::Null);
                let _ = cx.set(so, "last", text);
            },
        );
        s.send_handler(
            "game.board",
            "move",
            |cx: &mut Context<'_>, so: &SoKey, c: ClientId, _: &str, _: &[Value]| {
                let _ = cx.set(so, "mover", f64::from(u32::try_from(c.0).unwrap()));
            },
        );
    });
    let mut w = World::with(engine);
    w.connect(1, "app");
    w.connect(2, "app");
    w.use_so(1, "server.echo");
    w.use_so(2, "server.echo");
    w.drain();
    let say = send("say", vec!["hello".into()]);
    w.so(1, "server.echo", false, vec![say.clone()]);
    let expect = msg("server.echo", 2, false, vec![change("last", "hello"), say]);
    assert_eq!(w.take(1), vec![expect.clone()]);
    assert_eq!(w.take(2), vec![expect]);

    let mv = send("game.board.move", vec![]);
    w.so(2, "server.echo", false, vec![mv.clone()]);
    assert_eq!(
        w.take(1),
        vec![msg("server.echo", 3, false, vec![change("mover", 2.0), mv])]
    );
    // No handler for "board.move" in service "game": just broadcast.
    let other = send("game.move", vec![]);
    w.so(2, "server.echo", false, vec![other.clone()]);
    assert_eq!(w.take(1), vec![msg("server.echo", 3, false, vec![other])]);
}

/// get / has / names / versions through the view; misuse is reported.
#[test]
fn reads_and_misuse() {
    let mut w = World::default_app();
    w.connect(1, "app");
    let so = key("app", "cfg");
    assert_eq!(
        w.with_server(|s| s.set(&so, "k", 1.0)),
        Err(EngineMisuse::NoSuchSharedObject(so.clone()))
    );
    w.with_server(|s| s.create(&so, false)).unwrap();
    w.with_server(|s| s.create(&so, false)).unwrap(); // exists: nothing
    assert_eq!(
        w.with_server(|s| s.create(&so, true)),
        Err(EngineMisuse::BadPersistence(so.clone()))
    );
    assert_eq!(
        w.with_server(|s| s.create(&key("app/nowhere", "x"), false)),
        Err(EngineMisuse::NoSuchScope(scope("app/nowhere")))
    );
    w.set(&so, "k", "v");
    w.with_server(|s| {
        assert!(s.view().has(&so));
        assert_eq!(s.view().get(&so, "k"), Some(&Value::from("v")));
        assert_eq!(s.view().names(&scope("app")).collect::<Vec<_>>(), ["cfg"]);
    });
    let long = "x".repeat(2000);
    assert!(matches!(
        w.with_server(|s| s.set(&so, long.as_str(), 1.0)),
        Err(EngineMisuse::LimitExceeded { .. })
    ));
    // A failing input changes nothing.
    w.take_other();
    assert!(
        w.try_apply(so_engine::Input::Server(ServerOp::Destroy {
            so: key("app", "none")
        }))
        .is_err()
    );
    assert!(
        w.take_other()
            .iter()
            .all(|o| !matches!(o, Output::SoDestroyed { .. }))
    );
}
