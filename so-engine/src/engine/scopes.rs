//! Clients and scopes: connect (with the application's veto), leave, scope
//! start and stop, and calls in both directions.

use std::collections::BTreeSet;

use rtmp_proto::amf::{Encoding, Str, Value};

use super::objects::{Teardown, limit};
use super::{Engine, Site, catch};
use crate::connect::{Attributes, ConnectInfo};
use crate::context::Context;
use crate::error::EngineMisuse;
use crate::hooks::{CallRequest, status_object};
use crate::interface::Output;
use crate::state::{Client, Phase, Scope};
use crate::types::{CallId, ClientId, ScopePath};

impl Engine {
    /// Joins the client to every scope from the application down to `scope`,
    /// starting those not running, in Red5's order; any `*_connect` hook may
    /// reject it, which undoes what was done.
    pub(super) fn connect(
        &mut self,
        client: ClientId,
        scope: ScopePath,
        encoding: Encoding,
        args: Vec<Value>,
        info: Option<Box<(ConnectInfo, Attributes)>>,
        out: &mut Vec<Output>,
    ) -> Result<(), EngineMisuse> {
        if self.state.clients.contains_key(&client) {
            return Err(EngineMisuse::DuplicateClient(client));
        }
        // The caller may reuse the id of a client it let go.
        self.departed.remove(&client);
        let limits = &self.config.limits;
        if scope.depth() > limits.max_scope_depth
            || scope.as_str().len() > limits.max_scope_path_bytes
        {
            self.departed.insert(client);
            out.push(Output::ConnectRejected {
                client,
                reason: "scope path too long".into(),
            });
            return Ok(());
        }
        let lineage = scope.lineage();
        self.state.clients.insert(
            client,
            Client {
                scope,
                encoding,
                phase: Phase::Connecting,
                joined: 0,
                subscriptions: BTreeSet::new(),
                pending_calls: 0,
                deferred: Vec::new(),
                kicked: None,
                info,
            },
        );
        let mut rejection = None;
        for level in &lineage {
            if !self.state.scopes.contains_key(level) {
                self.start_scope(level, out);
            }
            let hook = if level.is_app() {
                "app_connect"
            } else {
                "room_connect"
            };
            let verdict = self
                .app_hook(Site::scope(hook, level, Some(client)), out, |app, cx| {
                    if level.is_app() {
                        app.app_connect(cx, client, level, &args)
                    } else {
                        app.room_connect(cx, client, level, &args)
                    }
                })
                // A connect hook that panicked cannot have accepted.
                .unwrap_or_else(|| Err("internal server error".into()));
            if let Err(reason) = verdict.and_then(|()| self.take_kick(client)) {
                rejection = Some(reason);
                break;
            }
            if let Some(s) = self.state.scopes.get_mut(level) {
                s.clients.insert(client);
            }
            if let Some(c) = self.state.clients.get_mut(&client) {
                c.joined += 1;
            }
            let hook = if level.is_app() {
                "app_join"
            } else {
                "room_join"
            };
            self.app_hook(Site::scope(hook, level, Some(client)), out, |app, cx| {
                if level.is_app() {
                    app.app_join(cx, client, level);
                } else {
                    app.room_join(cx, client, level);
                }
            });
            if let Err(reason) = self.take_kick(client) {
                rejection = Some(reason);
                break;
            }
        }
        match rejection {
            Some(reason) => {
                self.detach_client(client, out);
                self.departed.insert(client);
                out.push(Output::ConnectRejected { client, reason });
            }
            None => {
                if let Some(c) = self.state.clients.get_mut(&client) {
                    c.phase = Phase::Connected;
                    let deferred = std::mem::take(&mut c.deferred);
                    out.push(Output::ConnectAccepted { client });
                    out.extend(deferred);
                }
            }
        }
        Ok(())
    }

    fn take_kick(&mut self, client: ClientId) -> Result<(), String> {
        match self.state.clients.get_mut(&client) {
            Some(c) => c.kicked.take().map_or(Ok(()), Err),
            None => Err("disconnected".into()),
        }
    }

    /// Takes the client out of everything: SOs first (all of them, then
    /// their listeners), then scopes child first (`*_disconnect`,
    /// `*_leave`), then stops scopes left empty.
    pub(super) fn detach_client(&mut self, client: ClientId, out: &mut Vec<Output>) {
        let Some(c) = self.state.clients.get_mut(&client) else {
            return;
        };
        c.phase = Phase::Leaving;
        let subscriptions = std::mem::take(&mut c.subscriptions);
        let lineage = c.scope.lineage();
        let joined = c.joined.min(lineage.len());
        // Detach from every SO before any listener runs, so that no hook's
        // change reaches a client that is half gone.
        for id in &subscriptions {
            if let Some(so) = self.state.sos.get_mut(id)
                && so.subscribers.remove(&client).is_some()
            {
                self.maybe_idle.insert(*id);
            }
        }
        for id in subscriptions {
            self.notify(id, "on_disconnect", Some(client), out, |l, cx, so| {
                l.on_disconnect(cx, &so.key, client);
            });
        }
        let abandoned: Vec<CallId> = self
            .pending_calls
            .iter()
            .filter(|(_, (c, _))| *c == client)
            .map(|(call, _)| *call)
            .collect();
        for call in abandoned {
            self.pending_calls.remove(&call);
            out.push(Output::CallAbandoned { client, call });
        }
        self.forget_held(client);
        for level in lineage.iter().take(joined).rev() {
            let hook = if level.is_app() {
                "app_leave"
            } else {
                "room_leave"
            };
            self.app_hook(Site::scope(hook, level, Some(client)), out, |app, cx| {
                if level.is_app() {
                    app.app_disconnect(cx, client, level);
                    app.app_leave(cx, client, level);
                } else {
                    app.room_disconnect(cx, client, level);
                    app.room_leave(cx, client, level);
                }
            });
            if let Some(s) = self.state.scopes.get_mut(level) {
                s.clients.remove(&client);
            }
        }
        self.state.clients.remove(&client);
        for level in lineage.iter().rev() {
            self.stop_if_empty(level, out);
        }
    }

    /// Disconnects a client on the server's initiative.
    pub(super) fn kick(&mut self, client: ClientId, reason: String, out: &mut Vec<Output>) {
        let Some(c) = self.state.clients.get_mut(&client) else {
            return;
        };
        match c.phase {
            // Its connect is still running: it ends as a rejection.
            Phase::Connecting => c.kicked = Some(reason),
            Phase::Leaving => {}
            Phase::Connected => {
                self.detach_client(client, out);
                self.departed.insert(client);
                out.push(Output::Disconnect { client, reason });
            }
        }
    }

    fn start_scope(&mut self, scope: &ScopePath, out: &mut Vec<Output>) {
        self.state.scopes.insert(scope.clone(), Scope::default());
        if let Some(parent) = scope.parent()
            && let Some(p) = self.state.scopes.get_mut(&parent)
        {
            p.children += 1;
        }
        out.push(Output::ScopeStarted {
            scope: scope.clone(),
        });
        let hook = if scope.is_app() {
            "app_start"
        } else {
            "room_start"
        };
        self.app_hook(Site::scope(hook, scope, None), out, |app, cx| {
            if scope.is_app() {
                app.app_start(cx, scope);
            } else {
                app.room_start(cx, scope);
            }
        });
    }

    fn stop_if_empty(&mut self, scope: &ScopePath, out: &mut Vec<Output>) {
        if self
            .state
            .scopes
            .get(scope)
            .is_some_and(|s| s.clients.is_empty() && s.children == 0 && !s.stopping && !s.declared)
        {
            self.stop_scope(scope, out);
        }
    }

    /// Starts `scope` and those above it that are not running, and keeps
    /// it running with no client until [`undeclare_scope`](Self::undeclare_scope).
    pub(super) fn declare_scope(
        &mut self,
        scope: &ScopePath,
        out: &mut Vec<Output>,
    ) -> Result<(), EngineMisuse> {
        let limits = &self.config.limits;
        if scope.depth() > limits.max_scope_depth {
            return Err(limit("scope depth", limits.max_scope_depth));
        }
        if scope.as_str().len() > limits.max_scope_path_bytes {
            return Err(limit("scope path length", limits.max_scope_path_bytes));
        }
        let lineage = scope.lineage();
        if let Some(stopping) = lineage
            .iter()
            .find(|level| self.state.scopes.get(*level).is_some_and(|s| s.stopping))
        {
            return Err(EngineMisuse::ScopeStopping(stopping.clone()));
        }
        for level in &lineage {
            if !self.state.scopes.contains_key(level) {
                self.start_scope(level, out);
            }
        }
        match self.state.scopes.get_mut(scope) {
            Some(s) => {
                s.declared = true;
                Ok(())
            }
            // Its start hook stopped it again (or a parent).
            None => Err(EngineMisuse::NoSuchScope(scope.clone())),
        }
    }

    /// Stops keeping `scope` running; it stops once empty (now, if it is).
    pub(super) fn undeclare_scope(
        &mut self,
        scope: &ScopePath,
        out: &mut Vec<Output>,
    ) -> Result<(), EngineMisuse> {
        let Some(s) = self.state.scopes.get_mut(scope) else {
            return Err(EngineMisuse::NoSuchScope(scope.clone()));
        };
        s.declared = false;
        for level in scope.lineage().iter().rev() {
            self.stop_if_empty(level, out);
        }
        Ok(())
    }

    /// `*_stop`, then every SO of the scope goes (transient ones destroyed,
    /// persistent ones saved and unloaded), then the scope.
    pub(super) fn stop_scope(&mut self, scope: &ScopePath, out: &mut Vec<Output>) {
        let Some(s) = self.state.scopes.get_mut(scope) else {
            return;
        };
        s.stopping = true;
        let hook = if scope.is_app() {
            "app_stop"
        } else {
            "room_stop"
        };
        self.app_hook(Site::scope(hook, scope, None), out, |app, cx| {
            if scope.is_app() {
                app.app_stop(cx, scope);
            } else {
                app.room_stop(cx, scope);
            }
        });
        // Creation is refused while stopping, so this ends.
        while let Some(id) = self
            .state
            .scopes
            .get(scope)
            .and_then(|s| s.sos.values().next().copied())
        {
            self.destroy_so(id, Teardown::Unload, out);
        }
        self.state.scopes.remove(scope);
        if let Some(parent) = scope.parent()
            && let Some(p) = self.state.scopes.get_mut(&parent)
        {
            p.children = p.children.saturating_sub(1);
        }
        out.push(Output::ScopeStopped {
            scope: scope.clone(),
        });
    }

    /// A client's call: the registered method answers (after the changes it
    /// queued are applied, so the caller sees them before the answer), or
    /// `_error` `NetConnection.Call.Failed`. Transaction 0 gets no answer.
    pub(super) fn handle_call(
        &mut self,
        client: ClientId,
        transaction_id: f64,
        method: Str,
        args: Vec<Value>,
        out: &mut Vec<Output>,
    ) {
        let Some(c) = self.state.clients.get(&client) else {
            return;
        };
        let reply = match self.hooks.methods.get_mut(&method) {
            None => Err(status_object(
                "NetConnection.Call.Failed",
                &format!("Method not found ({method})"),
            )),
            Some(handler) => {
                let mut queue = Vec::new();
                let reply = {
                    let mut cx =
                        Context::new(&self.state, &mut queue, &mut self.next_call, self.now);
                    let request = CallRequest {
                        client,
                        scope: &c.scope,
                        method: &method,
                        args: &args,
                    };
                    catch(|| handler.call(&mut cx, &request))
                };
                match reply {
                    Ok(reply) => {
                        self.run_queue(queue, out);
                        reply
                    }
                    Err(message) => {
                        let scope = c.scope.clone();
                        self.panicked(Site::scope("method", &scope, Some(client)), message);
                        Err(status_object(
                            "NetConnection.Call.Failed",
                            &format!("Method failed ({method})"),
                        ))
                    }
                }
            }
        };
        let still_here = self
            .state
            .clients
            .get(&client)
            .is_some_and(|c| c.phase == Phase::Connected);
        if transaction_id != 0.0 && still_here {
            out.push(Output::CallReply {
                client,
                transaction_id,
                reply,
            });
        }
    }

    pub(super) fn handle_call_result(
        &mut self,
        client: ClientId,
        call: CallId,
        outcome: Result<Vec<Value>, Value>,
        out: &mut Vec<Output>,
    ) {
        // Answers to calls we did not make (or already answered) are ignored.
        if self
            .pending_calls
            .get(&call)
            .is_none_or(|(c, _)| *c != client)
        {
            return;
        }
        let Some((_, method)) = self.pending_calls.remove(&call) else {
            return;
        };
        if let Some(c) = self.state.clients.get_mut(&client) {
            c.pending_calls = c.pending_calls.saturating_sub(1);
        }
        self.answer_call(client, call, &method, outcome, out);
    }

    /// Hands the outcome of a server call to `Application::call_result`,
    /// then to the adapter ([`Output::CallResult`]).
    pub(super) fn answer_call(
        &mut self,
        client: ClientId,
        call: CallId,
        method: &str,
        outcome: Result<Vec<Value>, Value>,
        out: &mut Vec<Output>,
    ) {
        self.app_hook(Site::client("call_result", client), out, |app, cx| {
            app.call_result(cx, client, call, method, &outcome);
        });
        out.push(Output::CallResult {
            client,
            call,
            outcome,
        });
    }

    /// Starts a server call to a client, under `reserved` if a hook already
    /// took its id, else under a new one.
    pub(super) fn call_client(
        &mut self,
        client: ClientId,
        method: Str,
        args: Vec<Value>,
        reserved: Option<CallId>,
        out: &mut Vec<Output>,
    ) -> Result<CallId, EngineMisuse> {
        let max = self.config.limits.max_pending_calls_per_client;
        let c = match self.state.clients.get_mut(&client) {
            Some(c) if c.phase != Phase::Leaving => c,
            _ => return Err(EngineMisuse::UnknownClient(client)),
        };
        if c.pending_calls >= max {
            return Err(limit("pending calls per client", max));
        }
        c.pending_calls += 1;
        let call = reserved.unwrap_or_else(|| {
            self.next_call += 1;
            CallId(self.next_call - 1)
        });
        self.pending_calls.insert(call, (client, method.clone()));
        let output = Output::CallClient {
            client,
            call,
            method,
            args,
        };
        if c.phase == Phase::Connecting {
            c.deferred.push(output);
        } else {
            out.push(output);
        }
        Ok(call)
    }
}
