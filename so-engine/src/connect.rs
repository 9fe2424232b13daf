//! What a client said when it connected ([`ConnectInfo`]) and what the
//! application's authorization gave it ([`Attributes`]): hooks read both
//! through [`View::client_info`](crate::View::client_info) and
//! [`View::client_attributes`](crate::View::client_attributes), from the
//! connect hooks to the disconnect hooks.

use core::net::SocketAddr;
use std::collections::BTreeMap;

use rtmp_proto::amf::{Encoding, Value};

use crate::types::ScopePath;

/// Per-client values the application's authorization attached (a user id,
/// a role): read by hooks, never sent to anybody.
pub type Attributes = BTreeMap<String, Value>;

/// A client's `connect`, as an application authorizes it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConnectInfo {
    /// The peer's address, when the transport has one.
    pub peer: Option<SocketAddr>,
    /// The scope the connect path names: the application and the room path
    /// below it ([`ScopePath::app_name`], the rest).
    pub scope: ScopePath,
    /// `tcUrl`: the URL the client connected to.
    pub tc_url: Option<String>,
    /// `pageUrl`: the web page the client ran in.
    pub page_url: Option<String>,
    /// `swfUrl`: the client's SWF.
    pub swf_url: Option<String>,
    /// `flashVer`: the client's player (or library) version.
    pub flash_ver: Option<String>,
    /// The encoding it asked for (`objectEncoding` 3 ⇒ AMF3).
    pub encoding: Encoding,
    /// The extra `connect` arguments after the command object.
    pub args: Vec<Value>,
}

impl ConnectInfo {
    /// The info of a connect to `scope` with nothing else known (tests,
    /// transports without RTMP's fields).
    pub fn new(scope: ScopePath, encoding: Encoding) -> Self {
        Self {
            peer: None,
            scope,
            tc_url: None,
            page_url: None,
            swf_url: None,
            flash_ver: None,
            encoding,
            args: Vec::new(),
        }
    }

    /// The room path below the application (`""` for the application itself).
    pub fn room(&self) -> &str {
        let path = self.scope.as_str();
        path.split_once('/').map_or("", |(_, room)| room)
    }
}
