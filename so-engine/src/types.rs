//! Small identifier and value types every part of the engine shares.

use std::fmt;

use rtmp_proto::amf::Str;

use crate::error::EngineMisuse;

/// A connection, as the caller (the adapter) numbers them.
///
/// The engine never invents client ids: the caller picks one per connection
/// and may reuse it once [`Input::ClientLeft`](crate::Input::ClientLeft) was
/// applied for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client#{}", self.0)
    }
}

/// A point in engine time: milliseconds since a start the caller chose.
///
/// All time is input: the engine never reads a clock. Every
/// [`Engine::handle_input`](crate::Engine::handle_input) carries the current `Tick`, which
/// must never go backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Tick(pub u64);

impl Tick {
    /// The start of engine time.
    pub const ZERO: Self = Self(0);

    /// Milliseconds since the start.
    pub fn millis(self) -> u64 {
        self.0
    }

    /// This tick plus `millis`, saturating at the end of time.
    pub fn plus_millis(self, millis: u64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}

impl fmt::Display for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A call the server made to a client, to match its result.
///
/// The engine numbers them from 1, engine-wide, so an id is unique among a
/// client's outstanding calls (a client link may use it as the transaction id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CallId(pub u64);

/// Who caused a change: a client's message, or server code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// A client's SharedObject message.
    Client(ClientId),
    /// Server code (a hook's queued change or a server operation).
    Server,
}

impl Origin {
    /// The client, for a client's change.
    pub fn client(self) -> Option<ClientId> {
        match self {
            Self::Client(client) => Some(client),
            Self::Server => None,
        }
    }
}

/// A scope: the application (`app`) or a room below it (`app/room/sub`).
///
/// Always normalized: segments joined by single `/`, no leading or trailing
/// slash, at least one segment, none of them `.` or `..` (scope paths become
/// store paths, so traversal is refused here, once) and no NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopePath(Str);

impl ScopePath {
    /// Parses a connect path such as `app`, `/app/room/` or `app//room`
    /// (empty segments are dropped).
    pub fn new(path: &str) -> Result<Self, EngineMisuse> {
        let mut normalized = Str::default();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            if segment == "." || segment == ".." || segment.contains('\0') {
                return Err(EngineMisuse::InvalidScopePath);
            }
            if !normalized.is_empty() {
                normalized.push('/');
            }
            normalized.push_str(segment);
        }
        if normalized.is_empty() {
            return Err(EngineMisuse::InvalidScopePath);
        }
        Ok(Self(normalized))
    }

    /// The path as text, `app/room`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The application's name (the first segment).
    pub fn app_name(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }

    /// Whether this is an application scope (one segment).
    pub fn is_app(&self) -> bool {
        !self.0.contains('/')
    }

    /// How many segments: 1 for the application, 2 for a room, and so on.
    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }

    /// The enclosing scope, `None` for an application.
    pub fn parent(&self) -> Option<Self> {
        self.0.rfind('/').map(|i| Self(self.0[..i].into()))
    }

    /// The scope of room `name` below this one.
    pub fn child(&self, name: &str) -> Result<Self, EngineMisuse> {
        let mut path = String::with_capacity(self.0.len() + 1 + name.len());
        path.push_str(&self.0);
        path.push('/');
        path.push_str(name);
        Self::new(&path)
    }

    /// This scope and its ancestors, application first.
    pub fn lineage(&self) -> Vec<Self> {
        let mut out = Vec::with_capacity(self.depth());
        for (i, c) in self.0.char_indices() {
            if c == '/' {
                out.push(Self(self.0[..i].into()));
            }
        }
        out.push(self.clone());
        out
    }
}

impl fmt::Display for ScopePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ScopePath {
    type Err = EngineMisuse;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ScopePath {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        // A small alphabet keeps fuzzed inputs colliding on the same scopes.
        let app = *u.choose(&["app", "live"])?;
        let room = *u.choose(&["", "a", "b", "a/x"])?;
        Ok(Self::new(&format!("{app}/{room}")).unwrap_or_else(|_| Self("app".into())))
    }
}

/// One SharedObject's address: its scope and its name. Rooms are isolated,
/// so the same name in two scopes is two SOs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SoKey {
    /// The scope the SO lives in.
    pub scope: ScopePath,
    /// The SO's name, as the client passed it to `getRemote`.
    pub name: Str,
}

impl SoKey {
    /// The SO named `name` in `scope`.
    pub fn new(scope: ScopePath, name: impl Into<Str>) -> Self {
        Self {
            scope,
            name: name.into(),
        }
    }
}

impl fmt::Display for SoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scope, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_paths_normalize() {
        let p = ScopePath::new("/app//room/sub/").unwrap();
        assert_eq!(p.as_str(), "app/room/sub");
        assert_eq!(p.app_name(), "app");
        assert_eq!(p.depth(), 3);
        assert!(!p.is_app());
        assert_eq!(p.parent().unwrap().as_str(), "app/room");
        let lineage: Vec<_> = p.lineage().iter().map(|s| s.to_string()).collect();
        assert_eq!(lineage, ["app", "app/room", "app/room/sub"]);
        assert!(ScopePath::new("app").unwrap().is_app());
        assert_eq!(ScopePath::new("app").unwrap().parent(), None);
    }

    #[test]
    fn scope_paths_refuse_traversal_and_empty() {
        for bad in ["", "/", "//", "app/../x", "./app", "a\0b"] {
            assert_eq!(
                ScopePath::new(bad),
                Err(EngineMisuse::InvalidScopePath),
                "{bad:?}"
            );
        }
        assert_eq!(
            ScopePath::new("app").unwrap().child("..").unwrap_err(),
            EngineMisuse::InvalidScopePath
        );
    }

    #[test]
    fn ticks_saturate() {
        assert_eq!(Tick(u64::MAX - 1).plus_millis(5), Tick(u64::MAX));
        assert_eq!(Tick(5).plus_millis(5).millis(), 10);
    }
}
