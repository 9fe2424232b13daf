//! End to end over the virtual network: real client and server
//! `Connection`s (handshake, chunks, AMF, SO codec) joined to one engine by
//! the server's hub and client links, as an adapter joins them.

use std::collections::BTreeMap;
use std::time::Instant;

use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::connection::{CloseReason, ConnectParams, Event};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use rtmp_proto::sim::Pair;
use so_engine::server::{ClientLink, Effects, Handover, Hub, HubConfig, HubEvent};
use so_engine::{
    Application, CallId, CallRequest, ClientId, Context, Engine, EngineConfig, Input, Output,
    ScopePath, ServerApi, ServerOp,
};

struct Demo;

impl Application for Demo {
    fn app_connect(
        &mut self,
        _: &mut Context<'_>,
        _: ClientId,
        app: &ScopePath,
        _: &[Value],
    ) -> Result<(), String> {
        if app.as_str() == "reject" {
            return Err("not today".into());
        }
        Ok(())
    }

    fn room_join(&mut self, cx: &mut Context<'_>, client: ClientId, _: &ScopePath) {
        let _ = cx.call_client(client, "hello", vec!["from the server".into()]);
    }

    fn call_result(
        &mut self,
        cx: &mut Context<'_>,
        client: ClientId,
        _: CallId,
        method: &str,
        outcome: &Result<Vec<Value>, Value>,
    ) {
        // Record the answer where the test can see it.
        if let (Some(scope), Ok(values)) = (cx.view().client_scope(client).cloned(), outcome) {
            let so = so_engine::SoKey::new(scope, "answers");
            let _ = cx.create(&so, false);
            let _ = cx.set(&so, format!("{method}.{}", client.0), values[0].clone());
        }
    }
}

/// One engine and a pair (client, server connection) per client.
struct Net {
    hub: Hub,
    start: Instant,
    pairs: BTreeMap<ClientId, (Pair, ClientLink)>,
    effects: Vec<Output>,
}

impl Net {
    // The virtual clock's origin: any instant works, and time only moves
    // when the harness moves it.
    #[allow(clippy::disallowed_methods)]
    fn new() -> Self {
        let mut engine = Engine::new(EngineConfig::default(), Demo);
        engine.register_method(
            "echo",
            |_: &mut Context<'_>, call: &CallRequest<'_>| -> Result<Value, Value> {
                Ok(call.args.first().cloned().unwrap_or(Value::Null))
            },
        );
        let start = Instant::now();
        Self {
            hub: Hub::new(engine, HubConfig::default(), start),
            start,
            pairs: BTreeMap::new(),
            effects: Vec::new(),
        }
    }

    fn connect(&mut self, id: u64, app: &str, encoding: Encoding) {
        let mut pair = Pair::with_defaults(self.start, id);
        let params = ConnectParams::from_url(&format!("rtmp://sim.invalid/{app}"), encoding)
            .expect("a valid URL");
        pair.client.connect(pair.now, params).unwrap();
        pair.collect();
        self.pairs
            .insert(ClientId(id), (pair, ClientLink::new(ClientId(id))));
        self.settle();
    }

    /// Moves bytes and events until nothing is left to do.
    fn settle(&mut self) {
        let mut busy = true;
        for _ in 0..100 {
            let mut inputs = Vec::new();
            for (pair, link) in self.pairs.values_mut() {
                pair.collect();
                pair.drive();
                for event in pair.take_server_events() {
                    let now = pair.now;
                    inputs.extend(link.handle_event(&mut pair.server, now, event));
                    busy = true;
                }
                pair.collect();
            }
            if inputs.is_empty() {
                // One more round delivers what the last events made the
                // connections send.
                if !std::mem::take(&mut busy) {
                    return;
                }
                continue;
            }
            let now = self
                .pairs
                .values()
                .map(|(p, _)| p.now)
                .max()
                .unwrap_or(self.start);
            let mut effects = Effects::default();
            for input in inputs {
                self.hub.handle_input(now, input, &mut effects);
            }
            self.carry_out(effects);
        }
        panic!("did not settle");
    }

    /// Hands every delivery to its connection; keeps the engine's other
    /// outputs.
    fn carry_out(&mut self, mut effects: Effects) {
        let mut deliveries = std::mem::take(&mut effects.deliveries);
        let pairs = &mut self.pairs;
        Handover::default().split(&mut deliveries, |client, run| {
            let (pair, link) = pairs.get_mut(&client).unwrap();
            let now = pair.now;
            for (command, _) in run.drain(..) {
                let _ = link.handle_command(&mut pair.server, now, command);
            }
            pair.collect();
        });
        for event in effects.events {
            match event {
                HubEvent::Engine(output) => self.effects.push(output),
                other => panic!("{other:?}"),
            }
        }
    }

    fn send(&mut self, id: u64, name: &str, events: Vec<SoEvent>) {
        let (pair, _) = self.pairs.get_mut(&ClientId(id)).unwrap();
        let message = SharedObjectMessage {
            name: name.into(),
            version: 0,
            persistent: false,
            events,
        };
        pair.client.send_shared_object(pair.now, &message).unwrap();
        pair.collect();
        self.settle();
    }

    fn client_events(&mut self, id: u64) -> Vec<Event> {
        self.pairs
            .get_mut(&ClientId(id))
            .unwrap()
            .0
            .take_client_events()
    }

    fn so_messages(&mut self, id: u64) -> Vec<SharedObjectMessage> {
        self.client_events(id)
            .into_iter()
            .filter_map(|e| match e {
                Event::SharedObject(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn shared_objects_over_real_connections() {
    let mut net = Net::new();
    net.connect(1, "app/room", Encoding::Amf0);
    net.connect(2, "app/room", Encoding::Amf3);
    for id in [1, 2] {
        let events = net.client_events(id);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Connected { encoding, .. } if *encoding == if id == 1 { Encoding::Amf0 } else { Encoding::Amf3 })),
            "{events:#?}"
        );
        // The server's call made in room_join arrives after the accept.
        let call = events.iter().find_map(|e| match e {
            Event::Call(c) => Some(c.clone()),
            _ => None,
        });
        let call = call.expect("the server called the client");
        assert_eq!(call.method, "hello");
        let (pair, _) = net.pairs.get_mut(&ClientId(id)).unwrap();
        pair.client
            .reply(pair.now, call.transaction_id, Value::from("hi back"))
            .unwrap();
        pair.collect();
    }
    net.settle();
    let answers = so_engine::SoKey::new(ScopePath::new("app/room").unwrap(), "answers");
    assert_eq!(
        net.hub.engine().view().get(&answers, "hello.2"),
        Some(&Value::from("hi back"))
    );

    net.send(1, "chat", vec![SoEvent::Use]);
    net.send(2, "chat", vec![SoEvent::Use]);
    net.so_messages(1);
    net.so_messages(2);
    net.send(
        1,
        "chat",
        vec![SoEvent::RequestChange {
            key: "msg".into(),
            value: "hello".into(),
        }],
    );
    let change = SoEvent::Change {
        key: "msg".into(),
        value: "hello".into(),
    };
    assert_eq!(net.so_messages(2)[0].events, [change]);
    assert_eq!(
        net.so_messages(1)[0].events,
        [SoEvent::Success { key: "msg".into() }]
    );

    // Calls: a registered method answers, an unknown one fails.
    let (pair, _) = net.pairs.get_mut(&ClientId(2)).unwrap();
    let echo = pair
        .client
        .call(pair.now, "echo", vec![42.0.into()])
        .unwrap();
    let nope = pair.client.call(pair.now, "nope", vec![]).unwrap();
    pair.collect();
    net.settle();
    let results: Vec<_> = net
        .client_events(2)
        .into_iter()
        .filter_map(|e| match e {
            Event::CallResult { id, outcome } => Some((id, outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(results[0], (echo, Ok(vec![42.0.into()])));
    assert_eq!(results[1].0, nope);
    let info = results[1].1.as_ref().unwrap_err();
    assert_eq!(
        info.property("code").and_then(Value::as_str),
        Some("NetConnection.Call.Failed")
    );

    // A client that goes away is released everywhere.
    let (pair, _) = net.pairs.get_mut(&ClientId(2)).unwrap();
    pair.client.close(pair.now);
    pair.server.close(pair.now);
    pair.collect();
    net.settle();
    let chat = so_engine::SoKey::new(ScopePath::new("app/room").unwrap(), "chat");
    assert_eq!(
        net.hub
            .engine()
            .view()
            .shared_object(&chat)
            .unwrap()
            .subscriber_count(),
        1
    );

    // Server code disconnects client 1: its connection closes.
    let mut effects = Effects::default();
    let now = net.pairs[&ClientId(1)].0.now;
    net.hub.handle_input(
        now,
        Input::Server(ServerOp::Disconnect {
            client: ClientId(1),
            reason: "bye".into(),
        }),
        &mut effects,
    );
    net.carry_out(effects);
    net.settle();
    assert!(net.pairs[&ClientId(1)].0.server.is_closed());
    assert!(
        !net.hub
            .engine()
            .view()
            .is_running(&ScopePath::new("app").unwrap())
    );
}

#[test]
fn rejected_connects_close() {
    let mut net = Net::new();
    net.connect(1, "reject", Encoding::Amf0);
    let events = net.client_events(1);
    assert!(
        events.contains(&Event::Closed(CloseReason::Rejected("not today".into()))),
        "{events:#?}"
    );
    // A path that names no scope is refused by the client link itself.
    net.connect(2, "..", Encoding::Amf0);
    let events = net.client_events(2);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Closed(CloseReason::Rejected(_)))),
        "{events:#?}"
    );
    assert_eq!(net.hub.engine().view().scopes().count(), 0);
}
