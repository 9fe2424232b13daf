//! The server embedded in an application: the `embedded` example's story,
//! and the [`ServerHandle`]'s operations and errors, over real sockets.

use std::time::Duration;

use adapter_core::client::{Client, ClientError, ClientOptions};
use adapter_core::{Edit, Server, ServerError, ServerHandle, sleep};
use rtmp_proto::amf::Value;
use so_engine::{ClientId, ScopePath, ServerApi, SoKey};

use crate::adapter::{Adapter, PATIENCE};
use crate::harness::TestServer;

fn options() -> ClientOptions {
    ClientOptions {
        timeout: PATIENCE,
        ..ClientOptions::default()
    }
}

/// A server with no hooks and its handle.
async fn server<R: Adapter>() -> (TestServer<R>, ServerHandle) {
    let server = Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .memory_store()
        .bind()
        .await
        .expect("the server starts");
    let handle = server.handle();
    (TestServer::run(server), handle)
}

async fn embedded_example_tells_its_story<R: Adapter>() {
    let mut story = String::new();
    let result = app_cli::embedded::run::<R>(&mut story).await;
    assert!(result.is_ok(), "{result:?}\n{story}");
    for line in [
        "created game.state with no client connected",
        "player = alice",
        "bob: sees last_announcement=\"hello from alice\", player=\"alice\", round=1, tick=3",
        "it answered [String(\"bob\")]",
        "the next write still went through",
        "listener: game:state destroyed",
        "server: stopped; the handle says so",
    ] {
        assert!(story.contains(line), "{line:?} missing from:\n{story}");
    }
}

async fn handle_errors_are_specific<R: Adapter>() {
    let (server, handle) = server::<R>().await;
    let room = ScopePath::new("app/room").expect("a path");
    let so = SoKey::new(room.clone(), "board");
    assert_eq!(
        handle.create_transient(&so).await,
        Err(ServerError::NoSuchScope(room.clone()))
    );
    assert_eq!(
        handle.set(&so, "k", 1.0).await,
        Err(ServerError::NoSuchSharedObject(so.clone()))
    );
    assert_eq!(
        handle.names(&room).await,
        Err(ServerError::NoSuchScope(room.clone()))
    );
    assert_eq!(
        handle.disconnect(ClientId(99), "why").await,
        Err(ServerError::NoSuchClient(ClientId(99)))
    );
    assert_eq!(
        handle.call(ClientId(99), "m", vec![]).await,
        Err(ServerError::NoSuchClient(ClientId(99)))
    );
    handle.start_scope(&room).await.expect("declared");
    handle.create_persistent(&so).await.expect("created");
    assert!(matches!(
        handle.create_transient(&so).await,
        Err(ServerError::Denied(_))
    ));
    assert!(matches!(
        handle.set(&so, "k".repeat(100_000), 1.0).await,
        Err(ServerError::LimitExceeded { .. })
    ));
    assert!(matches!(
        handle.unlock(&so).await,
        Err(ServerError::Denied(_))
    ));
    server.stop().await;
    assert_eq!(handle.has(&so).await, Err(ServerError::ServerGone));
}

async fn handle_changes_reach_clients_and_stay<R: Adapter>() {
    let (server, handle) = server::<R>().await;
    let room = ScopePath::new("app/room").expect("a path");
    let board = SoKey::new(room.clone(), "board");
    handle.start_scope(&room).await.expect("declared");
    handle.create_transient(&board).await.expect("created");
    handle
        .batch(
            &board,
            vec![
                Edit::Set("a".into(), 1.0.into()),
                Edit::Set("b".into(), 2.0.into()),
                Edit::Remove("none".into()),
            ],
        )
        .await
        .expect("one update");
    let client = Client::<R>::connect(&server.url("app/room"), options())
        .await
        .expect("connects");
    let so = client.shared_object("board", false).await.expect("used");
    assert_eq!(so.version(), 2, "one batch, one version");
    assert_eq!(so.get("b"), Some(Value::Number(2.0)));

    // A lock holds the client's write until the unlock; the server's own
    // changes go out as one update first.
    handle.lock(&board).await.expect("locked");
    let write = {
        let so = so.clone();
        async move { so.set("a", 10.0).await }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    R::spawn(async move {
        let _ = tx.send(write.await);
    });
    handle.set(&board, "c", 3.0).await.expect("under the lock");
    sleep::<R>(Duration::from_millis(50)).await;
    assert_eq!(
        handle.get(&board, "a").await,
        Ok(Some(Value::Number(1.0))),
        "held"
    );
    assert!(rx.try_recv().is_err(), "the writer waits for the unlock");
    handle.unlock(&board).await.expect("unlocked");
    let deadline = std::time::Instant::now() + PATIENCE;
    let written = loop {
        if let Ok(written) = rx.try_recv() {
            break written;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the write never ended"
        );
        sleep::<R>(Duration::from_millis(5)).await;
    };
    written.expect("applied at unlock");
    assert_eq!(handle.get(&board, "a").await, Ok(Some(Value::Number(10.0))));

    // The clients list carries what the client said when connecting.
    let clients = handle.clients(&room).await.expect("listed");
    assert_eq!(clients.len(), 1);
    let id = clients[0].id;
    // A call to a client that takes none fails with its `_error`.
    assert!(matches!(
        handle.call(id, "nobodyHome", vec![]).await,
        Err(ServerError::CallFailed(_))
    ));
    handle.disconnect(id, "bye").await.expect("kicked");
    assert!(matches!(client.closed().await, ClientError::Disconnected));
    // The data stays with the declared scope.
    assert_eq!(handle.get(&board, "c").await, Ok(Some(Value::Number(3.0))));
    server.stop().await;
}

/// What the application's hooks saw of clients' connect info and
/// attributes, and of the calls they made.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

struct Greeter(Log);

impl so_engine::Application for Greeter {
    fn app_join(&mut self, cx: &mut so_engine::Context<'_>, client: ClientId, _: &ScopePath) {
        let view = cx.view();
        let user = view
            .client_attributes(client)
            .and_then(|a| a.get("user"))
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned();
        let flash = view
            .client_info(client)
            .and_then(|i| i.flash_ver.clone())
            .unwrap_or_default();
        self.0.lock().unwrap().push(format!("join {user} {flash}"));
        // A call right at join: the client takes it if it registered its
        // handler before connecting.
        let _ = cx.call_client(client, "hello", vec![]);
    }
    fn app_disconnect(&mut self, cx: &mut so_engine::Context<'_>, client: ClientId, _: &ScopePath) {
        let user = cx
            .view()
            .client_attributes(client)
            .and_then(|a| a.get("user"))
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned();
        self.0.lock().unwrap().push(format!("disconnect {user}"));
    }
    fn call_result(
        &mut self,
        _: &mut so_engine::Context<'_>,
        _: ClientId,
        _: so_engine::CallId,
        method: &str,
        outcome: &Result<Vec<Value>, Value>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{method} answered {outcome:?}"));
    }
}

async fn connects_are_authorized_off_the_engine_thread<R: Adapter>() {
    let log = Log::default();
    let server = Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .memory_store()
        .application(Greeter(log.clone()))
        .authorize_timeout(Duration::from_millis(300))
        .authorize(|info: so_engine::ConnectInfo| async move {
            let token = info.args.first().and_then(|v| v.as_str()).unwrap_or("");
            match token {
                "token-alice" => {
                    let mut attributes = so_engine::Attributes::new();
                    attributes.insert("user".into(), Value::from("alice"));
                    Ok(attributes)
                }
                "slow" => std::future::pending().await,
                _ => Err(format!("bad token for {}", info.scope)),
            }
        })
        .bind()
        .await
        .expect("the server starts");
    let handle = server.handle();
    let server = TestServer::<R>::run(server);
    let url = server.url("app/room");
    let with = |token: &str| ClientOptions {
        connect_args: vec![Value::from(token)],
        ..options()
    };

    let refused = Client::<R>::connect(&url, with("wrong")).await;
    assert!(
        matches!(&refused, Err(ClientError::Rejected(d)) if d == "bad token for app/room"),
        "{refused:?}"
    );
    let slow = Client::<R>::connect(&url, with("slow")).await;
    assert!(
        matches!(&slow, Err(ClientError::Rejected(d)) if d == "authorization timed out"),
        "{slow:?}"
    );

    let (alice, mut calls) = Client::<R>::connect_taking_calls(&url, with("token-alice"), 4)
        .await
        .expect("authorized");
    let call = adapter_core::until::<R, _>(
        std::time::Instant::now() + PATIENCE,
        R::next_call(&mut calls),
    )
    .await
    .flatten()
    .expect("the join hook's call arrives");
    assert_eq!(call.method.as_str(), "hello");
    call.reply(Value::from("hi"));
    let room = ScopePath::new("app/room").expect("a path");
    let clients = handle.clients(&room).await.expect("listed");
    let [me] = &clients[..] else {
        panic!("one client: {clients:?}")
    };
    let info = me.info.as_ref().expect("its connect info");
    assert_eq!(info.tc_url.as_deref(), Some(url.as_str()));
    assert!(info.peer.is_some_and(|p| p.ip().is_loopback()));
    assert_eq!(info.room(), "room");
    assert_eq!(me.attributes.get("user"), Some(&Value::from("alice")));
    let logged = |n: usize| {
        let log = log.clone();
        async move {
            let deadline = std::time::Instant::now() + PATIENCE;
            while log.lock().unwrap().len() < n {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{:?}",
                    log.lock().unwrap()
                );
                sleep::<R>(Duration::from_millis(5)).await;
            }
        }
    };
    logged(2).await;
    alice.close().await;
    logged(3).await;
    let log = log.lock().unwrap().clone();
    assert!(log[0].starts_with("join alice "), "{log:?}");
    assert!(
        log.contains(&"hello answered Ok([String(\"hi\")])".to_owned()),
        "{log:?}"
    );
    assert_eq!(log.last().map(String::as_str), Some("disconnect alice"));
    server.stop().await;
}

suite!(
    embedded_example_tells_its_story,
    handle_errors_are_specific,
    handle_changes_reach_clients_and_stay,
    connects_are_authorized_off_the_engine_thread,
);
