//! `/admin`: a live page of apps, rooms, SharedObjects, subscribers,
//! versions and values. The engine thread publishes its state here when
//! someone looks (at most [`PUBLISH_EVERY`] apart); the page polls
//! `/admin/state`. With `--admin-token`, `/admin/op` sets, removes and
//! destroys through the engine's server API.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rtmp_proto::amf::Value;
use serde_json::{Map, Value as Json, json};
use so_engine::server::Hub;
use so_engine::{ScopePath, ServerOp, SoKey};

/// Least time between two publications of the state.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// How long after the last look the engine keeps publishing.
pub(crate) const WATCH_FOR: Duration = Duration::from_secs(10);
/// Most attributes shown per SharedObject (the page says how many more).
pub(crate) const MAX_SHOWN_ATTRIBUTES: usize = 200;

/// Cheap numbers `/metrics` shows, from the last publication.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    pub(crate) scopes: u64,
    pub(crate) shared_objects: u64,
    pub(crate) subscriptions: u64,
    pub(crate) queued_bytes: u64,
}

/// The engine's state as the admin page and `/metrics` see it.
#[derive(Debug, Default)]
pub(crate) struct AdminView {
    state: Mutex<Published>,
}

#[derive(Debug, Default)]
struct Published {
    json: Option<Json>,
    gauges: Gauges,
    at: Option<Instant>,
    watched: Option<Instant>,
}

impl AdminView {
    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Someone looks: the engine publishes for a while.
    pub(crate) fn watch(&self) {
        self.lock().watched = Some(Instant::now());
    }

    /// Whether the engine should publish now.
    pub(crate) fn wanted(&self, now: Instant) -> bool {
        let state = self.lock();
        state.watched.is_some_and(|w| now < w + WATCH_FOR)
            && state.at.is_none_or(|at| now >= at + PUBLISH_EVERY)
    }

    /// Publishes the hub's state (engine thread); `queued_bytes` is what
    /// the clients' queues hold.
    pub(crate) fn publish(&self, now: Instant, hub: &Hub, queued_bytes: u64) {
        let view = hub.engine().view();
        let mut gauges = Gauges {
            queued_bytes,
            ..Gauges::default()
        };
        let mut scopes = Vec::new();
        let mut all: Vec<&ScopePath> = view.scopes().collect();
        all.sort_by_key(|s| s.to_string());
        for scope in all {
            gauges.scopes += 1;
            let mut names: Vec<&str> = view.names(scope).collect();
            names.sort_unstable();
            let mut objects = Vec::new();
            for name in names {
                let Some(so) = view.shared_object(&SoKey::new(scope.clone(), name)) else {
                    continue;
                };
                gauges.shared_objects += 1;
                gauges.subscriptions += so.subscriber_count() as u64;
                let mut values = Map::new();
                for (key, value) in so.attributes().take(MAX_SHOWN_ATTRIBUTES) {
                    values.insert(key.to_owned(), so_web::value::to_json(value));
                }
                objects.push(json!({
                    "name": name,
                    "version": so.version(),
                    "persistent": so.is_persistent(),
                    "subscribers": so.subscribers().map(|c| c.0).collect::<Vec<_>>(),
                    "attributes": so.len(),
                    "values": values,
                }));
            }
            scopes.push(json!({
                "scope": scope.to_string(),
                "clients": view.clients_in(scope).map(|c| c.0).collect::<Vec<_>>(),
                "shared_objects": objects,
            }));
        }
        let mut state = self.lock();
        state.json = Some(json!({ "scopes": scopes }));
        state.gauges = gauges;
        state.at = Some(now);
    }

    /// The numbers for `/metrics`.
    pub(crate) fn gauges(&self) -> Gauges {
        self.watch();
        self.lock().gauges
    }

    /// The last published state as JSON, saying whether the page may change things.
    pub(crate) fn state_json(&self, writable: bool) -> String {
        self.watch();
        let state = self.lock();
        let mut json = state
            .json
            .clone()
            .unwrap_or_else(|| json!({ "scopes": [] }));
        json["writable"] = Json::Bool(writable);
        json["age_ms"] = json!(state.at.map(|at| at.elapsed().as_millis() as u64));
        json.to_string()
    }
}

/// Compares tokens in time independent of where they differ.
pub(crate) fn same_token(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The server operation an `/admin/op?op=…&scope=…&so=…[&key=…][&value=JSON]` query asks for.
pub(crate) fn parse_op(query: &str) -> Result<ServerOp, String> {
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
            .transpose()
    };
    let need = |name: &str| param(name)?.ok_or_else(|| format!("{name} is missing"));
    let scope = ScopePath::new(&need("scope")?).map_err(|e| format!("bad scope: {e}"))?;
    let so = SoKey::new(scope, need("so")?);
    Ok(match need("op")?.as_str() {
        "set" => {
            let text = need("value")?;
            let json: Json =
                serde_json::from_str(&text).map_err(|e| format!("value is not JSON: {e}"))?;
            let value: Value = so_web::value::from_json(&json, &so_web::Limits::default())
                .map_err(|e| format!("bad value: {e}"))?;
            ServerOp::Set {
                so,
                key: need("key")?.into(),
                value,
            }
        }
        "remove" => ServerOp::Remove {
            so,
            key: need("key")?.into(),
        },
        "destroy" => ServerOp::Destroy { so },
        other => return Err(format!("unknown op {other}: set, remove or destroy")),
    })
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("bad percent escape")?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8".to_owned())
}

/// The page: polls `/admin/state` and renders it; with a token, offers
/// set, remove and destroy.
pub(crate) const PAGE: &str = include_str!("admin.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_parse_from_queries() {
        assert_eq!(
            parse_op("op=set&scope=chat%2Flobby&so=room&key=topic&value=%22hi%22&token=x"),
            Ok(ServerOp::Set {
                so: SoKey::new(ScopePath::new("chat/lobby").unwrap(), "room"),
                key: "topic".into(),
                value: Value::from("hi"),
            })
        );
        assert!(matches!(
            parse_op("op=destroy&scope=a&so=b"),
            Ok(ServerOp::Destroy { .. })
        ));
        assert!(parse_op("op=set&scope=a&so=b&key=k&value=%7B").is_err());
        assert!(parse_op("op=fly&scope=a&so=b").is_err());
        assert!(parse_op("op=remove&scope=..&so=b&key=k").is_err());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("secret", "secret"));
        assert!(!same_token("secret", "secreT"));
        assert!(!same_token("secret", "secre"));
    }
}
