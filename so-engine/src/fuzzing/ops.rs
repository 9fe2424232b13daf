//! The fuzzer's vocabulary: operations on a small world (a few clients,
//! scopes, SO names, keys and values), small so that clients collide on the
//! same SOs and keys as often as possible.

use arbitrary::{Arbitrary, Unstructured};
use rtmp_proto::amf::{Str, Value};

use crate::interface::ServerOp;
use crate::types::{ClientId, ScopePath, SoKey};

/// How many client ids the operations use.
pub(crate) const CLIENTS: u8 = 6;
/// The scopes clients connect to and server code works in.
pub(crate) const SCOPES: [&str; 3] = ["app", "app/r0", "app/r0/d"];
/// The SO names: `s0` plain (and created by the application in every
/// room), `s1` built by a factory with a listener and a send handler, `p`
/// persistent.
pub(crate) const NAMES: [&str; 3] = ["s0", "s1", "p"];
/// The attribute keys: `ro` is read-only for clients, `count` and `last`
/// are the ones `s1`'s hooks write.
pub(crate) const KEYS: [&str; 6] = ["a", "b", "c", "ro", "count", "last"];
/// SEND_MESSAGE handler names: `say` runs `s1`'s handler, `ro` is denied.
pub(crate) const METHODS: [&str; 3] = ["say", "ping", "ro"];
/// Name patterns for the `*Matching` server operations.
pub(crate) const PATTERNS: [&str; 3] = ["*", "s?", "p"];
/// Most operations one input runs, so each run stays fast.
pub(crate) const MAX_OPS: usize = 256;
/// Most edits in one client message (above the engine's event limit the
/// fuzz world configures, so whole-message refusals happen).
pub(crate) const MAX_EDITS: usize = 12;
/// Most USE events in one message (enough to pass the update-size limit).
pub(crate) const MAX_USES: u8 = 12;
/// Bytes of the one value too large for the fuzz world's value limit.
pub(crate) const BIG_VALUE_BYTES: usize = 300;

/// An index below `N`, from one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ix<const N: u8>(pub(crate) u8);

impl<'a, const N: u8> Arbitrary<'a> for Ix<N> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.int_in_range(0..=N - 1)?))
    }

    fn size_hint(_: usize) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

impl<const N: u8> Ix<N> {
    /// `i`, wrapped below `N`.
    pub(crate) const fn new(i: u8) -> Self {
        Self(i % N)
    }

    pub(crate) fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// A client index.
pub(crate) type Client = Ix<CLIENTS>;
/// A scope index into [`SCOPES`].
pub(crate) type Scope = Ix<3>;
/// An SO name index into [`NAMES`].
pub(crate) type Name = Ix<3>;
/// A key index into [`KEYS`].
pub(crate) type Key = Ix<6>;
/// A method index into [`METHODS`].
pub(crate) type Method = Ix<3>;
/// A small number, so that values repeat.
pub(crate) type Small = Ix<4>;

pub(crate) fn client_id(client: Client) -> ClientId {
    ClientId(u64::from(client.0) + 1)
}

pub(crate) fn scope_path(scope: Scope) -> ScopePath {
    ScopePath::new(SCOPES[scope.get()]).expect("the fuzz scopes are valid")
}

pub(crate) fn so_key(scope: Scope, name: Name) -> SoKey {
    SoKey::new(scope_path(scope), NAMES[name.get()])
}

pub(crate) fn is_persistent(name: Name) -> bool {
    NAMES[name.get()] == "p"
}

/// One step of a fuzz run.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// A client connects (if it is not connected).
    Connect {
        client: Client,
        scope: Scope,
        amf3: bool,
    },
    /// A connected client's connection closes.
    Leave { client: Client },
    /// One message of `times` USE events; `wrong_persistence` flips its flag.
    Use {
        client: Client,
        name: Name,
        times: Ix<MAX_USES>,
        wrong_persistence: bool,
    },
    /// RELEASE.
    Release { client: Client, name: Name },
    /// One message of writes, removals and sends.
    Write {
        client: Client,
        name: Name,
        edits: Vec<Edit>,
    },
    /// A `NetConnection.call` to a method nobody registered.
    Call { client: Client, method: Method },
    /// Server code acts on an SO (or through it, on a client).
    Server {
        scope: Scope,
        name: Name,
        action: ServerAction,
    },
    /// Time passes by `ms`.
    Tick { ms: u8 },
    /// Time jumps to the engine's next deadline.
    ToDeadline,
    /// Every unsaved persistent SO is saved now.
    Flush,
    /// Shutdown, then a fresh engine restored from what was persisted.
    Restart,
}

/// How often each kind of [`Op`] comes, out of 100: writes most, since they
/// need a connected client that used the SO, and restarts rarely, since
/// they start the world over.
const WEIGHTS: [(u8, u8); 11] = [
    (0, 10), // Connect
    (1, 4),  // Leave
    (2, 12), // Use
    (3, 4),  // Release
    (4, 36), // Write
    (5, 2),  // Call
    (6, 20), // Server
    (7, 6),  // Tick
    (8, 3),  // ToDeadline
    (9, 2),  // Flush
    (10, 1), // Restart
];

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut roll = u.int_in_range(0..=99u8)?;
        let mut kind = 0;
        for (k, weight) in WEIGHTS {
            if roll < weight {
                kind = k;
                break;
            }
            roll -= weight;
        }
        Ok(match kind {
            0 => Self::Connect {
                client: u.arbitrary()?,
                scope: u.arbitrary()?,
                amf3: u.arbitrary()?,
            },
            1 => Self::Leave {
                client: u.arbitrary()?,
            },
            2 => Self::Use {
                client: u.arbitrary()?,
                name: u.arbitrary()?,
                // Mostly one USE; sometimes a flood past the limits.
                times: if u.ratio(1, 4)? {
                    u.arbitrary()?
                } else {
                    Ix(0)
                },
                wrong_persistence: u.ratio(1, 8)?,
            },
            3 => Self::Release {
                client: u.arbitrary()?,
                name: u.arbitrary()?,
            },
            4 => Self::Write {
                client: u.arbitrary()?,
                name: u.arbitrary()?,
                edits: u.arbitrary()?,
            },
            5 => Self::Call {
                client: u.arbitrary()?,
                method: u.arbitrary()?,
            },
            6 => Self::Server {
                scope: u.arbitrary()?,
                name: u.arbitrary()?,
                action: u.arbitrary()?,
            },
            7 => Self::Tick { ms: u.arbitrary()? },
            8 => Self::ToDeadline,
            9 => Self::Flush,
            _ => Self::Restart,
        })
    }
}

/// One event of a client's message.
#[derive(Debug, Clone, Arbitrary)]
pub(crate) enum Edit {
    Set { key: Key, value: Val },
    Remove { key: Key },
    Send { method: Method, arg: Val },
}

/// A value from a small domain: equal values are frequent, and the
/// bit-level cases (`-0.0`, NaN, `Integer` vs `Number`) are there.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub(crate) enum Val {
    Null,
    Undefined,
    Number(Small),
    Integer(Small),
    NegZero,
    NaN,
    Text(Small),
    Object(Small, Small),
    /// Over the fuzz world's value limit.
    Big,
}

impl Val {
    pub(crate) fn value(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Undefined => Value::Undefined,
            Self::Number(n) => Value::Number(f64::from(n.0)),
            Self::Integer(n) => Value::Integer(i32::from(n.0)),
            Self::NegZero => Value::Number(-0.0),
            Self::NaN => Value::Number(f64::NAN),
            Self::Text(n) => Value::from(format!("t{}", n.0)),
            Self::Object(x, y) => Value::object([
                ("x", Value::Number(f64::from(x.0))),
                ("y", Value::from(format!("t{}", y.0))),
            ]),
            Self::Big => Value::from("x".repeat(BIG_VALUE_BYTES)),
        }
    }
}

/// What server code does.
#[derive(Debug, Clone, Arbitrary)]
pub(crate) enum ServerAction {
    Create {
        persistent: bool,
    },
    Set {
        key: Key,
        value: Val,
    },
    SetMany {
        values: Vec<(Key, Val)>,
    },
    /// BeginUpdate, the edits, EndUpdate, in one step.
    Batch {
        edits: Vec<ServerEdit>,
    },
    Remove {
        key: Key,
    },
    Clear,
    Send {
        method: Method,
        arg: Val,
    },
    Destroy,
    ClearMatching {
        pattern: Ix<3>,
    },
    DestroyMatching {
        pattern: Ix<3>,
    },
    Acquire,
    Release,
    Kick {
        client: Client,
    },
    CallClient {
        client: Client,
        method: Method,
    },
}

/// One change inside a server batch.
#[derive(Debug, Clone, Arbitrary)]
pub(crate) enum ServerEdit {
    Set { key: Key, value: Val },
    Remove { key: Key },
    Clear,
    Send { method: Method, arg: Val },
}

impl ServerEdit {
    pub(crate) fn op(&self, so: &SoKey) -> ServerOp {
        let so = so.clone();
        match *self {
            Self::Set { key, value } => ServerOp::Set {
                so,
                key: KEYS[key.get()].into(),
                value: value.value(),
            },
            Self::Remove { key } => ServerOp::Remove {
                so,
                key: KEYS[key.get()].into(),
            },
            Self::Clear => ServerOp::Clear { so },
            Self::Send { method, arg } => ServerOp::Send {
                so,
                method: METHODS[method.get()].into(),
                args: vec![arg.value()],
            },
        }
    }
}

impl ServerAction {
    /// The operation, unless it is a batch (several) or needs no SO.
    pub(crate) fn op(&self, scope: Scope, name: Name) -> Option<ServerOp> {
        let so = so_key(scope, name);
        let key = |k: Key| Str::from(KEYS[k.get()]);
        let op = match self {
            Self::Create { persistent } => ServerOp::Create {
                so,
                persistent: *persistent,
            },
            Self::Set { key: k, value } => ServerEdit::Set {
                key: *k,
                value: *value,
            }
            .op(&so),
            Self::SetMany { values } => ServerOp::SetMany {
                so,
                values: values
                    .iter()
                    .take(MAX_EDITS)
                    .map(|(k, v)| (key(*k), v.value()))
                    .collect(),
            },
            Self::Remove { key: k } => ServerEdit::Remove { key: *k }.op(&so),
            Self::Clear => ServerOp::Clear { so },
            Self::Send { method, arg } => ServerEdit::Send {
                method: *method,
                arg: *arg,
            }
            .op(&so),
            Self::Destroy => ServerOp::Destroy { so },
            Self::ClearMatching { pattern } => ServerOp::ClearMatching {
                scope: scope_path(scope),
                pattern: PATTERNS[pattern.get()].into(),
            },
            Self::DestroyMatching { pattern } => ServerOp::DestroyMatching {
                scope: scope_path(scope),
                pattern: PATTERNS[pattern.get()].into(),
            },
            Self::Acquire => ServerOp::Acquire { so },
            Self::Release => ServerOp::Release { so },
            Self::Kick { client } => ServerOp::Disconnect {
                client: client_id(*client),
                reason: "fuzz".into(),
            },
            Self::CallClient { client, method } => ServerOp::CallClient {
                client: client_id(*client),
                method: METHODS[method.get()].into(),
                args: Vec::new(),
            },
            Self::Batch { .. } => return None,
        };
        Some(op)
    }
}

/// The operations `data` encodes: as many as decode, at most [`MAX_OPS`].
pub(crate) fn parse(data: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}
