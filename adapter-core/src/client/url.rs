//! `rtmp://host[:port]/app[/room]` → where to open the TCP connection.

use super::ClientError;

/// RTMP's registered port.
pub(crate) const DEFAULT_PORT: u16 = 1935;

/// The host and port of an `rtmp://` URL (an IPv6 host in brackets, as in
/// `rtmp://[::1]:1935/app`). The path is checked by
/// [`rtmp_proto::connection::ConnectParams::from_url`].
pub(crate) fn host_and_port(url: &str) -> Result<(String, u16), ClientError> {
    let invalid = || ClientError::InvalidUrl(url.to_owned());
    let rest = url.strip_prefix("rtmp://").ok_or_else(invalid)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(invalid)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(invalid()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid());
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| invalid())?,
        None => DEFAULT_PORT,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Option<(String, u16)> {
        host_and_port(url).ok()
    }

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            parsed("rtmp://localhost/app"),
            Some(("localhost".into(), 1935))
        );
        assert_eq!(
            parsed("rtmp://127.0.0.1:19350/app/room"),
            Some(("127.0.0.1".into(), 19350))
        );
        assert_eq!(parsed("rtmp://[::1]:1936/app"), Some(("::1".into(), 1936)));
        assert_eq!(parsed("rtmp://[::1]/app"), Some(("::1".into(), 1935)));
    }

    #[test]
    fn bad_urls() {
        for url in [
            "http://host/app",
            "rtmp:///app",
            "rtmp://host:port/app",
            "rtmp://host:70000/app",
            "rtmp://[::1/app",
            "rtmp://[::1]x/app",
        ] {
            assert!(
                matches!(host_and_port(url), Err(ClientError::InvalidUrl(u)) if u == url),
                "{url}"
            );
        }
    }
}
