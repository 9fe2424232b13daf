//! Async connect authorization: the application's check of a client's
//! `connect` ([`ConnectInfo`]), run on the connection's task (off the
//! engine thread) within [`Config::authorize_timeout`](super::Config::authorize_timeout),
//! before the engine hears of the client. It lets the client in with
//! per-client [`Attributes`] for the hooks, or rejects it with a
//! description.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use rtmp_proto::connection::ConnectRequest;
use so_engine::{Attributes, ConnectInfo, Input, ScopePath};

use crate::runtime::Runtime;

/// What an authorization answers: the client's attributes, or the
/// description its rejection carries (`NetConnection.Connect.Rejected`).
pub type Verdict = Result<Attributes, String>;

/// A boxed authorization in progress.
pub type Authorization = Pin<Box<dyn Future<Output = Verdict> + Send>>;

/// The application's authorization, as the builder keeps it.
pub(crate) type Authorizer = Arc<dyn Fn(ConnectInfo) -> Authorization + Send + Sync>;

/// What a connect request tells an authorization (`None`: a path that
/// names no scope, which the link rejects itself).
pub(super) fn connect_info(request: &ConnectRequest, peer: SocketAddr) -> Option<ConnectInfo> {
    let scope = ScopePath::new(&request.app).ok()?;
    let text = |key: &str| {
        request
            .command_object
            .property(key)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    Some(ConnectInfo {
        peer: Some(peer),
        scope,
        tc_url: request.tc_url.clone(),
        page_url: text("pageUrl"),
        swf_url: text("swfUrl"),
        flash_ver: text("flashVer"),
        encoding: request.encoding,
        args: request.args.clone(),
    })
}

/// One connect being authorized: the check, its deadline, what it is
/// about, and the inputs that came after the connect (held until the
/// verdict, so that the engine never hears of a client before its connect).
pub(super) struct Authorizing<R: Runtime> {
    check: Authorization,
    timer: R::Timer,
    pub(super) info: ConnectInfo,
    pub(super) held: Vec<Input>,
}

impl<R: Runtime> Authorizing<R> {
    pub(super) fn start(authorizer: &Authorizer, info: ConnectInfo, deadline: Instant) -> Self {
        Self {
            check: authorizer(info.clone()),
            timer: R::timer(deadline),
            info,
            held: Vec::new(),
        }
    }

    /// The verdict, once there is one; a check past its deadline rejects.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Verdict> {
        if let Poll::Ready(verdict) = self.check.as_mut().poll(cx) {
            return Poll::Ready(verdict);
        }
        if R::poll_timer(&mut self.timer, cx).is_ready() {
            return Poll::Ready(Err("authorization timed out".into()));
        }
        Poll::Pending
    }
}
