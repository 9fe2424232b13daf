//! The Redis link of cluster mode: carries out the [`so_cluster`]
//! protocol's [`Command`]s on a Redis server and reads the streams it
//! watches. It uses the `redis` crate's blocking client, so it runs on the
//! runtime's blocking pool ([`Runtime::spawn_blocking`](crate::Runtime::spawn_blocking))
//! or a thread of its own, and brings no runtime in. The design is in the
//! repository's `docs/CLUSTER.md`.
//!
//! Two connections per process: [`RedisLink`] runs commands one at a
//! time, in order (so their replies come back in order, as the protocol
//! expects); [`StreamReader`] blocks in `XREAD` on the process's inbox and
//! the update streams of the SOs it watches.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::Value;
use so_cluster::codec::{
    DecodeError, decode_entry, decode_inbox, decode_state, decode_token, encode_entry,
    encode_inbox, encode_state, encode_token,
};
use so_cluster::{Command, InboxMsg, NodeId, Outcome, SoId, StreamEntry, StreamPos};

/// How long a command may wait for Redis before the link counts as lost.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Entries kept per update stream and per inbox (`XADD MAXLEN ~`): a
/// reader further behind reloads the state instead.
pub const DEFAULT_STREAM_MAXLEN: u64 = 10_000;
/// Entries one `XREAD` returns at most per stream.
pub const DEFAULT_READ_COUNT: usize = 256;
/// How long a process's inbox stream lives after the last message sent to
/// it (every `XADD` to it renews this): the inbox of a process killed
/// without a clean stop goes away by itself. A clean stop deletes its
/// inbox at once. Far longer than any forwarded write waits for its answer.
pub const DEFAULT_INBOX_TTL: Duration = Duration::from_secs(3600);

/// Cluster mode's settings: where Redis is and the protocol's timings
/// ([`ServerBuilder::cluster`](crate::ServerBuilder::cluster)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `redis://host:port/db` (a password in it never reaches the logs).
    pub redis_url: String,
    /// Lease time, renewal, timeouts and limits.
    pub config: so_cluster::ClusterConfig,
}

impl ClusterOptions {
    /// Cluster mode through the Redis server at `redis_url`, with
    /// [`so_cluster::ClusterConfig`]'s defaults.
    pub fn new(redis_url: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            config: so_cluster::ClusterConfig::default(),
        }
    }

    /// Sets the lease's time to live, and the timings that follow from it
    /// in the same proportions as the defaults: renewal every third of it,
    /// takeover jitter a tenth, forwarded writes refused after twice it
    /// plus a second (longer than a takeover).
    pub fn lease_ttl_ms(mut self, ttl_ms: u64) -> Self {
        let ttl_ms = ttl_ms.max(MIN_LEASE_TTL_MS);
        let c = &mut self.config;
        c.lease_ttl_ms = ttl_ms;
        c.renew_every_ms = ttl_ms / 3;
        c.takeover_jitter_ms = ttl_ms / 10;
        c.forward_timeout_ms = ttl_ms.saturating_mul(2).saturating_add(1_000);
        self
    }
}

/// The shortest lease [`ClusterOptions::lease_ttl_ms`] accepts: renewals
/// every third of it must fit several Redis round trips.
pub const MIN_LEASE_TTL_MS: u64 = 300;

/// Why the Redis link failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Redis could not be reached (at start: the server stops with this).
    #[error("cannot reach Redis at {url}: {source}")]
    Unreachable {
        /// The URL, without any password.
        url: String,
        /// What went wrong.
        source: redis::RedisError,
    },
    /// A command failed on the way (the link is down until it reconnects).
    #[error("Redis link failed: {0}")]
    Link(#[from] redis::RedisError),
    /// Redis answered something the protocol's scripts never return.
    #[error("unexpected Redis reply to {0}")]
    Reply(&'static str),
    /// A record stored in Redis could not be read.
    #[error("unreadable cluster record: {0}")]
    Record(#[from] DecodeError),
}

/// The URL as logs may show it: the password, if any, replaced.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn key(so: &SoId, part: &str) -> String {
    // The hash tag keeps one SO's keys on one Redis Cluster slot, so that
    // the scripts below stay atomic there too.
    format!("rso:{{{}}}:{part}", so.as_str())
}

/// A process in an SO's interest set.
fn node_member(node: NodeId) -> String {
    format!("{:x}", node.0)
}

/// The inbox stream of a process.
pub fn inbox_key(node: NodeId) -> String {
    format!("rso:node:{:x}:inbox", node.0)
}

// The interest set (KEYS[5]): process id -> Redis time in ms of its last
// attempt; entries older than ARGV[4] ms are dropped, and so is the set.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[5], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[5], ARGV[4])
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local term = redis.call('INCR', KEYS[2])
  local last = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
  local id = '0-0'
  if #last > 0 then id = last[1][1] end
  return {1, term, redis.call('GET', KEYS[3]), id}
end
return {0, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

// ARGV[5]: '' to keep the state, or the interest window in ms: a
// non-persistent SO nobody else showed interest in within it is deleted.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[4])
  if ARGV[5] ~= '' then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[5]))
    if redis.call('ZCARD', KEYS[3]) == 0 then
      redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
      return 2
    end
  end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[2])
  return 1
end
return 0
";

// 0: fenced, 1: published, 2: already published, 3: out of order.
const PUBLISH: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local stored = tonumber(redis.call('GET', KEYS[3]) or '0')
local seq = tonumber(ARGV[2])
if seq <= stored then return 2 end
if seq ~= stored + 1 then return 3 end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4])
return 1
";

const LOAD: &str = r"
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {redis.call('GET', KEYS[1]), id}
";

/// Runs the protocol's commands on Redis, in order.
pub struct RedisLink {
    con: redis::Connection,
    maxlen: u64,
    acquire: redis::Script,
    renew: redis::Script,
    release: redis::Script,
    publish: redis::Script,
    load: redis::Script,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink").finish_non_exhaustive()
    }
}

/// Open a connection with a timeout on connecting, reading and writing.
fn open(url: &str, timeout: Duration) -> Result<redis::Connection, ClusterError> {
    let unreachable = |source| ClusterError::Unreachable {
        url: redacted(url),
        source,
    };
    let client = redis::Client::open(url).map_err(unreachable)?;
    let con = client
        .get_connection_with_timeout(timeout)
        .map_err(unreachable)?;
    con.set_write_timeout(Some(timeout)).map_err(unreachable)?;
    Ok(con)
}

impl RedisLink {
    /// Connect to `url` (`redis://host:port/db`) and check that Redis
    /// answers.
    pub fn connect(url: &str) -> Result<Self, ClusterError> {
        let mut con = open(url, DEFAULT_COMMAND_TIMEOUT)?;
        con.set_read_timeout(Some(DEFAULT_COMMAND_TIMEOUT))
            .map_err(ClusterError::Link)?;
        redis::cmd("PING")
            .query::<Value>(&mut con)
            .map_err(|source| ClusterError::Unreachable {
                url: redacted(url),
                source,
            })?;
        Ok(Self {
            con,
            maxlen: DEFAULT_STREAM_MAXLEN,
            acquire: redis::Script::new(ACQUIRE),
            renew: redis::Script::new(RENEW),
            release: redis::Script::new(RELEASE),
            publish: redis::Script::new(PUBLISH),
            load: redis::Script::new(LOAD),
        })
    }

    /// Carry out one command; `None` for the ones without a reply
    /// ([`Command::Watch`] and [`Command::Unwatch`] are the
    /// [`StreamReader`]'s).
    pub fn execute(&mut self, command: &Command) -> Result<Option<Outcome>, ClusterError> {
        let outcome = match command {
            Command::Acquire {
                so,
                token,
                ttl_ms,
                interest_ms,
                ..
            } => {
                let reply: Value = self
                    .acquire
                    .key(key(so, "lease"))
                    .key(key(so, "term"))
                    .key(key(so, "state"))
                    .key(key(so, "updates"))
                    .key(key(so, "interest"))
                    .arg(encode_token(*token))
                    .arg(*ttl_ms)
                    .arg(node_member(token.node))
                    .arg(*interest_ms)
                    .invoke(&mut self.con)?;
                let items = array(reply, "acquire")?;
                match items.as_slice() {
                    [flag, term, state, id] if int(flag) == Some(1) => Outcome::Acquired {
                        term: int(term)
                            .and_then(|t| u64::try_from(t).ok())
                            .ok_or(ClusterError::Reply("acquire"))?,
                        state: state_of(state)?,
                        end: stream_pos(id).ok_or(ClusterError::Reply("acquire"))?,
                    },
                    [_, holder, pttl] => Outcome::Held {
                        holder: decode_token(&text(holder).ok_or(ClusterError::Reply("acquire"))?)?,
                        remaining_ms: int(pttl).map_or(0, |t| u64::try_from(t).unwrap_or(0)),
                    },
                    _ => return Err(ClusterError::Reply("acquire")),
                }
            }
            Command::Renew {
                so, token, ttl_ms, ..
            } => {
                let renewed: i64 = self
                    .renew
                    .key(key(so, "lease"))
                    .arg(encode_token(*token))
                    .arg(*ttl_ms)
                    .invoke(&mut self.con)?;
                if renewed == 1 {
                    Outcome::Renewed
                } else {
                    Outcome::Lost
                }
            }
            Command::Release {
                so, token, discard, ..
            } => {
                let entry = encode_entry(&StreamEntry::Released { so: so.clone() });
                let _: i64 = self
                    .release
                    .key(key(so, "lease"))
                    .key(key(so, "updates"))
                    .key(key(so, "interest"))
                    .key(key(so, "state"))
                    .key(key(so, "seq"))
                    .arg(encode_token(*token))
                    .arg(entry)
                    .arg(self.maxlen)
                    .arg(node_member(token.node))
                    .arg(discard.map_or_else(String::new, |ms| ms.to_string()))
                    .invoke(&mut self.con)?;
                Outcome::Released
            }
            Command::Publish {
                token,
                update,
                state,
                ..
            } => {
                let so = &update.so;
                let code: i64 = self
                    .publish
                    .key(key(so, "lease"))
                    .key(key(so, "state"))
                    .key(key(so, "seq"))
                    .key(key(so, "updates"))
                    .arg(encode_token(*token))
                    .arg(update.seq)
                    .arg(encode_state(state))
                    .arg(encode_entry(&StreamEntry::Update(update.clone())))
                    .arg(self.maxlen)
                    .invoke(&mut self.con)?;
                match code {
                    0 => Outcome::Fenced,
                    1 => Outcome::Published,
                    2 => Outcome::AlreadyPublished,
                    3 => Outcome::OutOfOrder,
                    _ => return Err(ClusterError::Reply("publish")),
                }
            }
            Command::Append { to, msg, .. } => {
                let inbox = inbox_key(*to);
                let ttl_ms = u64::try_from(DEFAULT_INBOX_TTL.as_millis()).unwrap_or(u64::MAX);
                let _: Value = redis::pipe()
                    .atomic()
                    .cmd("XADD")
                    .arg(&inbox)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.maxlen)
                    .arg("*")
                    .arg("m")
                    .arg(encode_inbox(msg))
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&inbox)
                    .arg(ttl_ms)
                    .ignore()
                    .query(&mut self.con)?;
                Outcome::Appended
            }
            Command::Load { so, .. } => {
                let reply: Value = self
                    .load
                    .key(key(so, "state"))
                    .key(key(so, "updates"))
                    .invoke(&mut self.con)?;
                match array(reply, "load")?.as_slice() {
                    [state, id] => Outcome::Loaded {
                        state: state_of(state)?,
                        end: stream_pos(id).ok_or(ClusterError::Reply("load"))?,
                    },
                    _ => return Err(ClusterError::Reply("load")),
                }
            }
            Command::Watch { .. } | Command::Unwatch { .. } => return Ok(None),
        };
        Ok(Some(outcome))
    }
}

impl RedisLink {
    /// Deletes `node`'s inbox stream (a clean stop: nothing will read it).
    pub fn delete_inbox(&mut self, node: NodeId) -> Result<(), ClusterError> {
        let _: Value = redis::cmd("DEL")
            .arg(inbox_key(node))
            .query(&mut self.con)?;
        Ok(())
    }
}

/// Something a [`StreamReader`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// An entry of a watched SO's update stream, for
    /// [`so_cluster::Node::handle_entry`].
    Entry(StreamEntry),
    /// A message of this process's inbox, for
    /// [`so_cluster::Node::handle_inbox`].
    Inbox(InboxMsg),
}

/// Tails this process's inbox and the update streams of the SOs it
/// watches, remembering where it is across reconnections.
pub struct StreamReader {
    con: redis::Connection,
    inbox: String,
    inbox_pos: StreamPos,
    watches: BTreeMap<SoId, StreamPos>,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("inbox", &self.inbox)
            .field("watches", &self.watches.len())
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    /// Connect to `url` to read `node`'s inbox (from its start: a process
    /// has a fresh id at every start).
    pub fn connect(url: &str, node: NodeId) -> Result<Self, ClusterError> {
        Ok(Self {
            con: open(url, DEFAULT_COMMAND_TIMEOUT)?,
            inbox: inbox_key(node),
            inbox_pos: StreamPos::default(),
            watches: BTreeMap::new(),
        })
    }

    /// Open a new connection to `url` after a failure, keeping the
    /// positions read so far (nothing is read twice or skipped).
    pub fn reconnect(&mut self, url: &str) -> Result<(), ClusterError> {
        self.con = open(url, DEFAULT_COMMAND_TIMEOUT)?;
        Ok(())
    }

    /// Apply a [`Command::Watch`] or [`Command::Unwatch`] (others are
    /// ignored).
    pub fn apply(&mut self, command: &Command) {
        match command {
            Command::Watch { so, after } => {
                self.watches.insert(so.clone(), *after);
            }
            Command::Unwatch { so } => {
                self.watches.remove(so);
            }
            _ => {}
        }
    }

    /// Wait up to `block` for entries, and return those that came, in
    /// order per stream. Entries that cannot be decoded are skipped (and
    /// logged): they cannot come from this protocol.
    pub fn read(&mut self, block: Duration) -> Result<Vec<Delivery>, ClusterError> {
        let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
        self.con
            .set_read_timeout(Some(block + DEFAULT_COMMAND_TIMEOUT))
            .map_err(ClusterError::Link)?;
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(DEFAULT_READ_COUNT)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&self.inbox);
        for so in self.watches.keys() {
            cmd.arg(key(so, "updates"));
        }
        cmd.arg(pos_text(self.inbox_pos));
        for pos in self.watches.values() {
            cmd.arg(pos_text(*pos));
        }
        let reply: Value = cmd.query(&mut self.con)?;
        let mut out = Vec::new();
        let streams = match reply {
            Value::Nil => return Ok(out),
            Value::Map(pairs) => pairs,
            other => array(other, "xread")?
                .into_iter()
                .map(|s| match array(s, "xread")?.as_slice() {
                    [k, v] => Ok((k.clone(), v.clone())),
                    _ => Err(ClusterError::Reply("xread")),
                })
                .collect::<Result<_, _>>()?,
        };
        for (name, entries) in streams {
            let name = text(&name).ok_or(ClusterError::Reply("xread"))?;
            for entry in array(entries, "xread")? {
                let [id, fields] = <[Value; 2]>::try_from(array(entry, "xread")?)
                    .map_err(|_| ClusterError::Reply("xread"))?;
                let pos = stream_pos(&id).ok_or(ClusterError::Reply("xread"))?;
                let body = array(fields, "xread")?
                    .get(1)
                    .and_then(bytes_of)
                    .unwrap_or_default();
                if name == self.inbox {
                    self.inbox_pos = pos;
                    match decode_inbox(&body) {
                        Ok(msg) => out.push(Delivery::Inbox(msg)),
                        Err(e) => {
                            tracing::warn!(stream = %name, error = %e, "skipped an inbox entry")
                        }
                    }
                } else if let Some(so) = self
                    .watches
                    .keys()
                    .find(|so| key(so, "updates") == name)
                    .cloned()
                {
                    self.watches.insert(so, pos);
                    match decode_entry(&body) {
                        Ok(entry) => out.push(Delivery::Entry(entry)),
                        Err(e) => {
                            tracing::warn!(stream = %name, error = %e, "skipped an update entry")
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn pos_text(pos: StreamPos) -> String {
    format!("{}-{}", pos.ms, pos.seq)
}

fn array(value: Value, what: &'static str) -> Result<Vec<Value>, ClusterError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        _ => Err(ClusterError::Reply(what)),
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    bytes_of(value).and_then(|b| String::from_utf8(b).ok())
}

fn state_of(value: &Value) -> Result<Option<so_cluster::StoredState>, ClusterError> {
    match value {
        Value::Nil | Value::Boolean(false) => Ok(None),
        v => {
            let bytes = bytes_of(v).ok_or(ClusterError::Reply("state"))?;
            Ok(Some(decode_state(&bytes)?))
        }
    }
}

fn stream_pos(value: &Value) -> Option<StreamPos> {
    let t = text(value)?;
    let (ms, seq) = t.split_once('-')?;
    Some(StreamPos {
        ms: ms.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redacted("redis://user:secret@db.example:6379/0"),
            "redis://***@db.example:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn one_sos_keys_share_a_hash_tag() {
        let so = SoId::new("app/room", "chat");
        assert_eq!(key(&so, "lease"), "rso:{8:app/room/chat}:lease");
        assert_eq!(inbox_key(NodeId(255)), "rso:node:ff:inbox");
    }
}
