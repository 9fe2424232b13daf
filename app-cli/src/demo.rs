//! The demo application the example servers run: one feature of the server
//! side per SO name prefix, reachable from any Flash/AIR/OpenFL client.
//!
//! | what the client does | what happens |
//! |---|---|
//! | connects to any application, any room | accepted |
//! | connects to application `reject` | `_error` `NetConnection.Connect.Rejected` |
//! | uses any other SO name, persistent or not | a client-created SO |
//! | uses `forbidden.*` | STATUS `SharedObject.ObjectCreationFailed` |
//! | uses `private.*` | STATUS `SharedObject.NoReadAccess` |
//! | writes, deletes or sends on `readonly.*` | STATUS `SharedObject.NoWriteAccess`, and the authoritative value back |
//! | uses `server.presence` | its `count` is always its number of subscribers (a listener set up by a factory, after every re-creation too) |
//! | sends `say(text)` on `server.echo` | a send handler sets `last` to `text`, then the message is broadcast |
//! | calls `echo(args...)` | `_result` with its argument (one), an array of them (several), or null (none) |
//! | calls anything else | `_error` `NetConnection.Call.Failed` |
//!
//! It is runtime-neutral: every adapter serves it with
//! [`ServeDemo::demo`] on its server builder, or [`engine`] (or
//! [`DemoApp`] plus [`install`]).

use adapter_core::{Runtime, ServerBuilder};
use rtmp_proto::amf::Value;
use so_engine::{
    Application, CallRequest, ClientId, Context, Engine, EngineConfig, ScopePath, ServerApi,
    SharedObjectListener, SharedObjectSecurity, SoKey, SoSetup, View,
};

/// The application name whose connects are rejected.
pub const REJECTED_APP: &str = "reject";
/// SOs whose creation is denied.
pub const FORBIDDEN_PREFIX: &str = "forbidden.";
/// SOs no client may use.
pub const PRIVATE_PREFIX: &str = "private.";
/// SOs clients may use but not write, delete or send on.
pub const READONLY_PREFIX: &str = "readonly.";
/// The SO whose `count` follows its subscribers.
pub const PRESENCE: &str = "server.presence";
/// The SO with the `say` send handler.
pub const ECHO: &str = "server.echo";
/// The description sent with the rejection of [`REJECTED_APP`].
pub const REJECT_REASON: &str = "the demo rejects the application `reject`";

/// The demo's engine: [`DemoApp`] with everything [`install`] registers.
pub fn engine(config: EngineConfig) -> Engine {
    let mut engine = Engine::new(config, DemoApp);
    install(&mut engine);
    engine
}

/// Registers the demo's security, factories and methods on `engine`.
pub fn install(engine: &mut Engine) {
    engine.register_security(DemoSecurity);
    engine.register_factory(PRESENCE, |_: &SoKey, setup: &mut SoSetup| {
        setup.listener(Presence);
    });
    engine.register_factory(ECHO, |_: &SoKey, setup: &mut SoSetup| {
        setup.send_handler("", "say", say);
    });
    engine.register_method("echo", echo);
}

/// Serving the demo from a server builder.
pub trait ServeDemo {
    /// Serves the demo application: [`DemoApp`] with what [`install`]
    /// registers.
    fn demo(self) -> Self;
}

impl<R: Runtime> ServeDemo for ServerBuilder<R> {
    fn demo(self) -> Self {
        self.application(DemoApp).setup(install)
    }
}

/// The demo's application hooks: everything is accepted but the
/// application [`REJECTED_APP`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoApp;

impl Application for DemoApp {
    fn app_connect(
        &mut self,
        _: &mut Context<'_>,
        _: ClientId,
        app: &ScopePath,
        _: &[Value],
    ) -> Result<(), String> {
        if app.app_name() == REJECTED_APP {
            return Err(REJECT_REASON.into());
        }
        Ok(())
    }
}

/// The demo's vetoes, by SO name prefix.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoSecurity;

impl SharedObjectSecurity for DemoSecurity {
    fn is_creation_allowed(&mut self, _: &View<'_>, so: &SoKey, _: bool, _: ClientId) -> bool {
        !so.name.starts_with(FORBIDDEN_PREFIX)
    }

    fn is_connection_allowed(&mut self, _: &View<'_>, so: &SoKey, _: ClientId) -> bool {
        !so.name.starts_with(PRIVATE_PREFIX)
    }

    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        so: &SoKey,
        _: ClientId,
        _: &str,
        _: &Value,
    ) -> bool {
        !so.name.starts_with(READONLY_PREFIX)
    }

    fn is_delete_allowed(&mut self, _: &View<'_>, so: &SoKey, _: ClientId, _: &str) -> bool {
        !so.name.starts_with(READONLY_PREFIX)
    }

    fn is_send_allowed(
        &mut self,
        _: &View<'_>,
        so: &SoKey,
        _: ClientId,
        _: &str,
        _: &[Value],
    ) -> bool {
        !so.name.starts_with(READONLY_PREFIX)
    }
}

/// Keeps `count` equal to the number of subscribers.
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
    let count = cx
        .view()
        .shared_object(so)
        .map_or(0, |s| s.subscriber_count());
    // Fails only when the SO went meanwhile (its last subscriber left and
    // it is being destroyed): then there is nobody to tell.
    let _ = cx.set(so, "count", count as f64);
}

/// `say(text)` on [`ECHO`]: `last = text`, before the broadcast.
fn say(cx: &mut Context<'_>, so: &SoKey, _: ClientId, _: &str, args: &[Value]) {
    let text = args.first().cloned().unwrap_or(Value::Null);
    let _ = cx.set(so, "last", text);
}

/// `echo(args...)`: one argument back as it is, several as an array.
fn echo(_: &mut Context<'_>, call: &CallRequest<'_>) -> Result<Value, Value> {
    Ok(match call.args {
        [] => Value::Null,
        [one] => one.clone(),
        many => Value::StrictArray(many.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use rtmp_proto::amf::{Encoding, Limits};
    use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

    use super::*;
    use so_engine::{Input, Output, Tick, status};

    struct Demo {
        engine: Engine,
        out: Vec<Output>,
    }

    impl Demo {
        fn new() -> Self {
            Self {
                engine: engine(EngineConfig::default()),
                out: Vec::new(),
            }
        }

        fn input(&mut self, input: Input) -> Vec<Output> {
            self.engine
                .handle_input(Tick(0), input, &mut self.out)
                .unwrap();
            std::mem::take(&mut self.out)
        }

        fn connect(&mut self, client: u64, scope: &str) -> Vec<Output> {
            self.input(Input::ClientConnected {
                client: ClientId(client),
                scope: ScopePath::new(scope).unwrap(),
                encoding: Encoding::Amf0,
                args: vec![],
            })
        }

        /// The messages `client` received for one SO input.
        fn so(&mut self, client: u64, name: &str, events: Vec<SoEvent>) -> Vec<(u64, SoEvent)> {
            let outputs = self.input(Input::SharedObject {
                client: ClientId(client),
                message: SharedObjectMessage {
                    name: name.into(),
                    version: 0,
                    persistent: false,
                    events,
                },
            });
            received(&outputs)
        }

        fn get(&self, scope: &str, name: &str, key: &str) -> Option<Value> {
            let so = SoKey::new(ScopePath::new(scope).unwrap(), name);
            self.engine.view().get(&so, key).cloned()
        }
    }

    fn received(outputs: &[Output]) -> Vec<(u64, SoEvent)> {
        let mut events = Vec::new();
        for output in outputs {
            if let Output::SharedObject {
                to, encoding, body, ..
            } = output
            {
                let m = SharedObjectMessage::decode(body, *encoding, &Limits::default()).unwrap();
                for client in to {
                    events.extend(m.events.iter().map(|e| (client.0, e.clone())));
                }
            }
        }
        events
    }

    fn status(code: &str) -> SoEvent {
        SoEvent::Status {
            code: code.into(),
            level: "error".into(),
        }
    }

    #[test]
    fn the_application_reject_is_rejected() {
        let mut demo = Demo::new();
        let outputs = demo.connect(1, "reject/room");
        assert_eq!(
            outputs.last(),
            Some(&Output::ConnectRejected {
                client: ClientId(1),
                reason: REJECT_REASON.into()
            })
        );
        assert!(matches!(
            demo.connect(2, "anything/at/all").as_slice(),
            [
                ..,
                Output::ConnectAccepted {
                    client: ClientId(2)
                }
            ]
        ));
    }

    #[test]
    fn prefixes_deny_creation_use_and_writes() {
        let mut demo = Demo::new();
        demo.connect(1, "app");
        assert_eq!(
            demo.so(1, "forbidden.x", vec![SoEvent::Use]),
            [(1, status(status::CREATION_FAILED))]
        );
        assert_eq!(
            demo.so(1, "private.x", vec![SoEvent::Use]),
            [(1, status(status::NO_READ_ACCESS))]
        );
        demo.so(1, "readonly.x", vec![SoEvent::Use]);
        let set = SoEvent::RequestChange {
            key: "k".into(),
            value: Value::from("v"),
        };
        assert_eq!(
            demo.so(1, "readonly.x", vec![set]),
            [
                (1, status(status::NO_WRITE_ACCESS)),
                (1, SoEvent::Remove { key: "k".into() })
            ]
        );
        let send = SoEvent::SendMessage {
            method: "m".into(),
            args: vec![],
        };
        assert_eq!(
            demo.so(1, "readonly.x", vec![send]),
            [(1, status(status::NO_WRITE_ACCESS))]
        );
        assert_eq!(demo.get("app", "readonly.x", "k"), None);
    }

    #[test]
    fn presence_counts_its_subscribers_across_recreations() {
        let mut demo = Demo::new();
        for round in 0..2 {
            for c in [1, 2, 3] {
                demo.connect(c, "app");
                demo.so(c, PRESENCE, vec![SoEvent::Use]);
            }
            assert_eq!(
                demo.get("app", PRESENCE, "count"),
                Some(Value::Number(3.0)),
                "round {round}"
            );
            demo.so(3, PRESENCE, vec![SoEvent::Release]);
            assert_eq!(demo.get("app", PRESENCE, "count"), Some(Value::Number(2.0)));
            for c in [1, 2, 3] {
                demo.input(Input::ClientLeft {
                    client: ClientId(c),
                });
            }
            let app = ScopePath::new("app").unwrap();
            assert!(!demo.engine.view().has(&SoKey::new(app, PRESENCE)));
        }
    }

    #[test]
    fn say_sets_last_before_the_broadcast() {
        let mut demo = Demo::new();
        demo.connect(1, "app");
        demo.connect(2, "app");
        demo.so(1, ECHO, vec![SoEvent::Use]);
        demo.so(2, ECHO, vec![SoEvent::Use]);
        let say = SoEvent::SendMessage {
            method: "say".into(),
            args: vec![Value::from("hi")],
        };
        let got = demo.so(2, ECHO, vec![say.clone()]);
        let change = SoEvent::Change {
            key: "last".into(),
            value: Value::from("hi"),
        };
        // The sender's message first (as the engine orders an update).
        assert_eq!(
            got,
            [(2, change.clone()), (2, say.clone()), (1, change), (1, say)]
        );
    }

    #[test]
    fn echo_returns_its_arguments() {
        let mut demo = Demo::new();
        demo.connect(1, "app");
        let call = |method: &str, args: Vec<Value>| Input::Call {
            client: ClientId(1),
            transaction_id: 2.0,
            method: method.into(),
            args,
        };
        let reply = |outputs: Vec<Output>| match outputs.as_slice() {
            [Output::CallReply { reply, .. }] => reply.clone(),
            other => panic!("{other:?}"),
        };
        let one = demo.input(call("echo", vec![Value::from("x")]));
        assert_eq!(reply(one), Ok(Value::from("x")));
        let two = demo.input(call("echo", vec![Value::from("x"), Value::Number(2.0)]));
        assert_eq!(
            reply(two),
            Ok(Value::StrictArray(vec![
                Value::from("x"),
                Value::Number(2.0)
            ]))
        );
        assert_eq!(reply(demo.input(call("echo", vec![]))), Ok(Value::Null));
        let Err(info) = reply(demo.input(call("nope", vec![]))) else {
            panic!("an unknown method succeeded")
        };
        assert_eq!(
            info.property("code"),
            Some(&Value::from("NetConnection.Call.Failed"))
        );
    }
}
