//! The `embedded` example's story, on any [`Runtime`]: an application that
//! embeds the server and acts on it from outside hooks through a
//! [`ServerHandle`].
//!
//! 1. The server binds; before any client, the application declares the
//!    scope `game` and creates the SO `game.state` in it, built by a
//!    factory with a listener, a send handler and a security check.
//! 2. A timer task writes `tick` through the handle.
//! 3. A client comes, writes `player`, sends `announce`, is refused
//!    writing the server-owned `tick`, and leaves: the data stays.
//! 4. A later client sees everything; the server calls it and gets its
//!    answer.
//! 5. A method that panics answers `_error`, and the server keeps serving.
//! 6. Server code destroys the SO, and the listener sees it go.
//!
//! Each adapter's `embedded` example runs [`run`] and prints the story;
//! the conformance suite runs it on both adapters.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_core::client::{Client, ClientOptions, IncomingCall};
use adapter_core::{Runtime, Server, ServerError, ServerHandle, sleep};
use rtmp_proto::amf::Value;
use so_engine::{
    CallRequest, ClientId, Context, Origin, ScopePath, SharedObjectListener, SharedObjectSecurity,
    SoKey, SoSetup, View,
};

/// What went wrong, for the example's exit status.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// What the listener of `game.state` saw, shared with the story.
type Seen = Arc<Mutex<Vec<String>>>;

/// Logs every update of `game.state`, and its destruction.
struct Watcher(Seen);

impl SharedObjectListener for Watcher {
    fn on_update(&mut self, _: &mut Context<'_>, _: &SoKey, origin: Origin, key: &str, v: &Value) {
        let who = match origin {
            Origin::Client(c) => c.to_string(),
            Origin::Server => "the server".into(),
        };
        push(&self.0, format!("listener: {key} = {v:?} (by {who})"));
    }
    fn on_destroy(&mut self, _: &mut Context<'_>, so: &SoKey) {
        push(&self.0, format!("listener: {so} destroyed"));
    }
}

/// Clients may not write `tick`: only the server's timer does.
struct ServerOwnsTick;

impl SharedObjectSecurity for ServerOwnsTick {
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        _: ClientId,
        k: &str,
        _: &Value,
    ) -> bool {
        k != "tick"
    }
}

fn push(seen: &Seen, line: String) {
    seen.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

/// Tells the story on a fresh server on `127.0.0.1` (a free port),
/// appending it to `out` line by line; `Err` if any step did not go as
/// told.
pub async fn run<R: Runtime>(out: &mut String) -> Result<(), Failure> {
    let seen: Seen = Arc::default();
    let watcher = seen.clone();
    let server = Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .setup(move |engine| {
            engine.register_factory("state", move |_: &SoKey, setup: &mut SoSetup| {
                setup
                    .listener(Watcher(watcher.clone()))
                    .security(ServerOwnsTick)
                    .send_handler(
                        "",
                        "announce",
                        |cx: &mut Context<'_>, so: &SoKey, _: ClientId, _: &str, args: &[Value]| {
                            let text = args.first().cloned().unwrap_or(Value::Null);
                            let _ = so_engine::ServerApi::set(cx, so, "last_announcement", text);
                        },
                    );
            });
            engine.register_method("crash", |_: &mut Context<'_>, _: &CallRequest<'_>| {
                panic!("a deliberate panic in a method")
            });
        })
        .bind()
        .await?;
    let port = server.local_addr().port();
    let handle = server.handle();
    let shutdown = server.shutdown_handle();
    let stopped = Arc::new(Mutex::new(None));
    let result = stopped.clone();
    R::spawn(async move {
        let ran = server.run_until(std::future::pending()).await;
        *result.lock().unwrap_or_else(|e| e.into_inner()) = Some(ran);
    });

    let game = ScopePath::new("game")?;
    let state = SoKey::new(game.clone(), "state");
    // 1. Before any client.
    handle.start_scope(&game).await?;
    handle.create_transient(&state).await?;
    handle.set(&state, "round", 1.0).await?;
    line(
        out,
        "server: declared scope game, created game.state with no client connected",
    );

    // 2. A timer task writes through the handle.
    let timer = handle.clone();
    let timer_state = state.clone();
    R::spawn(async move {
        for tick in 1..=3 {
            if timer
                .set(&timer_state, "tick", f64::from(tick))
                .await
                .is_err()
            {
                return;
            }
            sleep::<R>(Duration::from_millis(10)).await;
        }
    });
    wait_for::<R>(&handle, &state, "tick", Value::Number(3.0)).await?;
    line(out, "timer: wrote tick 1, 2, 3 through the handle");

    // 3. A client comes, writes, leaves.
    let url = format!("rtmp://127.0.0.1:{port}/game");
    let alice = Client::<R>::connect(&url, ClientOptions::default()).await?;
    let so = alice.shared_object("state", false).await?;
    so.set("player", "alice").await?;
    so.send("announce", vec!["hello from alice".into()]).await?;
    let refused = so.set("tick", 99.0).await;
    line(
        out,
        &format!(
            "alice: set player, announced; writing tick: {}",
            describe(&refused)
        ),
    );
    if refused.is_ok() {
        return Err("the security check let a client write tick".into());
    }
    alice.close().await;
    wait_for::<R>(&handle, &state, "player", Value::from("alice")).await?;
    let names = handle.names(&game).await?;
    line(
        out,
        &format!("server: alice left; game still holds {names:?}, player = alice"),
    );

    // 4. A later client sees everything; the server calls it.
    let (bob, mut calls) =
        Client::<R>::connect_taking_calls(&url, ClientOptions::default(), 4).await?;
    R::spawn(async move {
        while let Some(call) = R::next_call(&mut calls).await {
            answer(call);
        }
    });
    let so = bob.shared_object("state", false).await?;
    let view: Vec<String> = so
        .snapshot()
        .iter()
        .map(|(k, v)| format!("{k}={}", show(v)))
        .collect();
    line(out, &format!("bob: sees {}", view.join(", ")));
    for key in ["round", "tick", "player", "last_announcement"] {
        if so.get(key).is_none() {
            return Err(format!("bob does not see {key}").into());
        }
    }
    let clients = handle.clients(&game).await?;
    let bob_id = clients.first().map(|c| c.id).ok_or("bob is not listed")?;
    let answer = handle.call(bob_id, "whoAreYou", vec![]).await?;
    line(
        out,
        &format!("server: called {bob_id}, it answered {answer:?}"),
    );

    // 5. A panicking hook: the call fails, the server serves on.
    let crashed = bob.call("crash", vec![]).await;
    so.set("score", 10.0).await?;
    line(
        out,
        &format!(
            "bob: a method that panics answered {}; the next write still went through",
            describe(&crashed)
        ),
    );
    if crashed.is_ok() {
        return Err("the panicking method answered _result".into());
    }

    // 6. Server code destroys the SO.
    handle.destroy(&state).await?;
    if handle.has(&state).await? {
        return Err("game.state still exists".into());
    }
    bob.close().await;
    for seen in seen.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        line(out, seen);
    }
    if !seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|l| l.ends_with("destroyed"))
    {
        return Err("the listener did not see the destroy".into());
    }

    shutdown.shutdown();
    loop {
        if let Some(ran) = stopped.lock().unwrap_or_else(|e| e.into_inner()).take() {
            ran?;
            break;
        }
        sleep::<R>(Duration::from_millis(5)).await;
    }
    match handle.has(&state).await {
        Err(ServerError::ServerGone) => line(out, "server: stopped; the handle says so"),
        other => return Err(format!("a handle after shutdown gave {other:?}").into()),
    }
    Ok(())
}

/// Prints a hook's panic as one line on stderr (the engine catches it; a
/// backtrace would only make the story look broken). For the examples.
pub fn one_line_panics() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("(a hook panicked; the engine caught it) {info}");
    }));
}

fn answer<R: Runtime>(call: IncomingCall<R>) {
    if call.method.as_str() == "whoAreYou" {
        call.reply("bob".into());
    } else {
        call.reply_error(Value::Null);
    }
}

/// Waits (at most 5 s) until `key` of `so` holds `expected`.
async fn wait_for<R: Runtime>(
    handle: &ServerHandle,
    so: &SoKey,
    key: &str,
    expected: Value,
) -> Result<(), Failure> {
    for _ in 0..1000 {
        if handle.get(so, key).await?.as_ref() == Some(&expected) {
            return Ok(());
        }
        sleep::<R>(Duration::from_millis(5)).await;
    }
    Err(format!("{so}: {key} never became {expected:?}").into())
}

fn describe<T, E: std::fmt::Display>(result: &Result<T, E>) -> String {
    match result {
        Ok(_) => "accepted".into(),
        Err(e) => format!("refused ({e})"),
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", s.as_str()),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn line(out: &mut String, text: &str) {
    let _ = writeln!(out, "{text}");
}
