//! Server operations ([`ServerOp`]), from [`Input::Server`](crate::Input::Server)
//! or queued by hooks. Each is validated completely before it changes
//! anything, and runs as one update of its SO (joining an update already
//! open there: a batch, or the client message a hook reacts to).

use std::collections::BTreeMap;

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::SoEvent;

use super::Engine;
use super::objects::{Teardown, limit};
use crate::error::EngineMisuse;
use crate::interface::{Output, ServerOp};
use crate::pattern;
use crate::state::SoId;
use crate::types::{Origin, ScopePath, SoKey};
use crate::values::{attribute_size, wire_size};

impl Engine {
    pub(super) fn execute(
        &mut self,
        op: ServerOp,
        out: &mut Vec<Output>,
    ) -> Result<(), EngineMisuse> {
        match op {
            ServerOp::Create { so, persistent } => match self.state.so_id(&so) {
                Some(id)
                    if self
                        .state
                        .sos
                        .get(&id)
                        .is_some_and(|s| s.persistent != persistent) =>
                {
                    Err(EngineMisuse::BadPersistence(so))
                }
                Some(_) => Ok(()),
                None => self
                    .create_so(so, persistent, Origin::Server, out)
                    .map(drop),
            },
            ServerOp::Set { so, key, value } => {
                let id = self.live(&so)?;
                self.check_write(id, [(&key, &value)])?;
                if self.forwards(id) {
                    self.forward_server_write(so, vec![SoEvent::RequestChange { key, value }], out);
                    return Ok(());
                }
                self.begin(id);
                self.set_attr(id, Origin::Server, key, value, out);
                self.end(id, out);
                Ok(())
            }
            ServerOp::SetMany { so, values } => {
                let id = self.live(&so)?;
                self.check_write(id, values.iter().map(|(k, v)| (k, v)))?;
                if self.forwards(id) {
                    let events = values
                        .into_iter()
                        .map(|(key, value)| SoEvent::RequestChange { key, value })
                        .collect();
                    self.forward_server_write(so, events, out);
                    return Ok(());
                }
                self.begin(id);
                for (key, value) in values {
                    self.set_attr(id, Origin::Server, key, value, out);
                }
                self.end(id, out);
                Ok(())
            }
            ServerOp::Remove { so, key } => {
                let id = self.live(&so)?;
                if self.forwards(id) {
                    self.forward_server_write(so, vec![SoEvent::RequestRemove { key }], out);
                    return Ok(());
                }
                self.begin(id);
                self.delete_attr(id, Origin::Server, key, false, out);
                self.end(id, out);
                Ok(())
            }
            ServerOp::Clear { so } => {
                let id = self.live(&so)?;
                self.clear_one(id, out);
                Ok(())
            }
            ServerOp::Send { so, method, args } => {
                let id = self.live(&so)?;
                let limits = &self.config.limits;
                if method.len() > limits.key_bytes() {
                    return Err(limit("handler name length", limits.key_bytes()));
                }
                if self.forwards(id) {
                    self.forward_server_write(so, vec![SoEvent::SendMessage { method, args }], out);
                    return Ok(());
                }
                self.begin(id);
                self.send_msg(id, Origin::Server, method, args, out);
                self.end(id, out);
                Ok(())
            }
            ServerOp::BeginUpdate { so } => {
                let id = self.live(&so)?;
                if let Some(s) = self.state.sos.get_mut(&id) {
                    s.batches += 1;
                }
                self.begin(id);
                Ok(())
            }
            ServerOp::EndUpdate { so } => {
                let id = self.live(&so)?;
                match self.state.sos.get_mut(&id) {
                    Some(s) if s.batches > 0 => s.batches -= 1,
                    _ => return Err(EngineMisuse::UnbalancedEndUpdate(so)),
                }
                self.end(id, out);
                Ok(())
            }
            ServerOp::Destroy { so } => {
                let id = self.live(&so)?;
                self.destroy_so(id, Teardown::Destroy, out);
                Ok(())
            }
            ServerOp::ClearMatching { scope, pattern } => {
                for id in self.matching(&scope, &pattern)? {
                    self.clear_one(id, out);
                }
                Ok(())
            }
            ServerOp::DestroyMatching { scope, pattern } => {
                for id in self.matching(&scope, &pattern)? {
                    self.destroy_so(id, Teardown::Destroy, out);
                }
                Ok(())
            }
            ServerOp::Acquire { so } => {
                let id = self.live(&so)?;
                if let Some(s) = self.state.sos.get_mut(&id) {
                    s.acquired = s.acquired.saturating_add(1);
                    if let Some(t) = s.expires_at.take() {
                        self.linger_due.remove(&(t, id));
                    }
                }
                Ok(())
            }
            ServerOp::Release { so } => {
                let id = self.live(&so)?;
                match self.state.sos.get_mut(&id) {
                    Some(s) if s.acquired > 0 => s.acquired -= 1,
                    _ => return Err(EngineMisuse::NotAcquired(so)),
                }
                self.maybe_idle.insert(id);
                Ok(())
            }
            ServerOp::CallClient {
                client,
                method,
                args,
            } => self.call_client(client, method, args, None, out).map(drop),
            ServerOp::Disconnect { client, reason } => {
                if !self.state.clients.contains_key(&client) {
                    return Err(EngineMisuse::UnknownClient(client));
                }
                self.kick(client, reason, out);
                Ok(())
            }
            ServerOp::StartScope { scope } => self.declare_scope(&scope, out),
            ServerOp::StopScope { scope } => self.undeclare_scope(&scope, out),
            ServerOp::Lock { so } => self.lock(&so),
            ServerOp::Unlock { so } => self.unlock(&so, out),
        }
    }

    pub(super) fn live(&self, so: &SoKey) -> Result<SoId, EngineMisuse> {
        self.state
            .so_id(so)
            .ok_or_else(|| EngineMisuse::NoSuchSharedObject(so.clone()))
    }

    /// The same limits clients get, so server code cannot build what the
    /// wire cannot carry or memory was not meant to hold.
    pub(super) fn check_write<'v>(
        &self,
        id: SoId,
        writes: impl IntoIterator<Item = (&'v Str, &'v Value)>,
    ) -> Result<(), EngineMisuse> {
        let limits = &self.config.limits;
        let Some(so) = self.state.sos.get(&id) else {
            return Ok(());
        };
        // Each key's size after the writes so far (0: absent).
        let mut written: BTreeMap<&Str, usize> = BTreeMap::new();
        let (mut count, mut bytes) = (so.attrs.len(), so.bytes);
        for (key, value) in writes {
            if key.len() > limits.key_bytes() {
                return Err(limit("key length", limits.key_bytes()));
            }
            let size = if value.is_null_or_undefined() {
                0
            } else {
                if wire_size(value) > limits.max_value_bytes {
                    return Err(limit("value size", limits.max_value_bytes));
                }
                attribute_size(key, value)
            };
            let before = written
                .insert(key, size)
                .unwrap_or_else(|| so.attribute_size(key));
            match (before, size) {
                (0, s) if s > 0 => count += 1,
                (b, 0) if b > 0 => count -= 1,
                _ => {}
            }
            bytes = bytes.saturating_sub(before).saturating_add(size);
            if count > limits.max_attributes_per_so {
                return Err(limit("attributes per SO", limits.max_attributes_per_so));
            }
        }
        if bytes > limits.max_so_bytes {
            return Err(limit("SO size", limits.max_so_bytes));
        }
        Ok(())
    }

    pub(super) fn clear_one(&mut self, id: SoId, out: &mut Vec<Output>) {
        if self.forwards(id) {
            if let Some(so) = self.state.sos.get(&id) {
                let key = so.key.clone();
                self.forward_server_write(key, vec![SoEvent::Clear], out);
            }
            return;
        }
        self.begin(id);
        self.clear_attrs(id, Origin::Server, out);
        self.end(id, out);
    }

    fn matching(&self, scope: &ScopePath, pattern: &str) -> Result<Vec<SoId>, EngineMisuse> {
        let s = self
            .state
            .scopes
            .get(scope)
            .ok_or_else(|| EngineMisuse::NoSuchScope(scope.clone()))?;
        Ok(s.sos
            .iter()
            .filter(|(name, _)| pattern::matches(pattern, name))
            .map(|(_, id)| *id)
            .collect())
    }
}
