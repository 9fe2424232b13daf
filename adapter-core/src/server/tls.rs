//! RTMPS: RTMP inside TLS (`rustls`), on its own listener. TLS is done
//! sans-IO here, around the RTMP [`Connection`]: bytes from the socket
//! are decrypted and handed to it, its bytes are encrypted on the way out,
//! so the connection loop, the engine and every limit are the same as for
//! plain RTMP, on every runtime.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use rtmp_proto::amf::Value;
use rtmp_proto::connection::{CallId, CloseReason, Connection, Event};
use rtmp_proto::error::{ApiMisuse, Error as ProtoError, ProtocolError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use so_engine::Body;
use so_engine::server::Peer;

use super::connection::Wire;
use crate::Error;

/// The TLS configuration of a certificate chain and its key, both PEM files.
pub(crate) fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, Error> {
    let bad = |what: String| Error::Tls(what);
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            bad(format!(
                "reading the certificates in {}: {e}",
                cert.display()
            ))
        })?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(format!("reading the private key in {}: {e}", key.display())))?;
    // ring builds with a C compiler alone (aws-lc-rs also needs cmake);
    // what it lacks is post-quantum key exchange, which RTMP clients do
    // not offer anyway.
    #[expect(deprecated, reason = "ring has no post-quantum key exchange")]
    let provider = rustls::crypto::ring::default_provider();
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(format!("the certificate and key: {e}")))?;
    // No TLS 1.3 session tickets: RTMP clients reconnect rarely, and
    // librtmp's GnuTLS reads fail on a ticket arriving after the handshake.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// An RTMP connection inside a TLS session.
pub(crate) struct TlsConnection {
    tls: ServerConnection,
    inner: Connection,
    /// The connection's plaintext, before encryption.
    plain: BytesMut,
    /// Plaintext read out of the TLS session.
    read: Vec<u8>,
    events: VecDeque<Event>,
    failed: bool,
}

impl TlsConnection {
    /// A TLS session with `config` around `inner`.
    pub(crate) fn new(config: Arc<ServerConfig>, inner: Connection) -> Result<Self, rustls::Error> {
        let mut tls = ServerConnection::new(config)?;
        // The connection loop bounds what waits to be written.
        tls.set_buffer_limit(None);
        Ok(Self {
            tls,
            inner,
            plain: BytesMut::new(),
            read: vec![0; 16 << 10],
            events: VecDeque::new(),
            failed: false,
        })
    }

    fn fail(&mut self, why: &'static str) {
        if !self.failed {
            self.failed = true;
            self.events
                .push_back(Event::Closed(CloseReason::Error(ProtoError::Protocol(
                    ProtocolError::Unexpected(why),
                ))));
        }
    }
}

/// Appends what rustls writes to a buffer.
struct Sink<'a>(&'a mut BytesMut);

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Wire for TlsConnection {
    const TRANSPORT: &'static str = "rtmps";

    fn handle_input(&mut self, now: Instant, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.failed {
            if self.tls.read_tls(&mut bytes).is_err() {
                return self.fail("TLS record");
            }
            if self.tls.process_new_packets().is_err() {
                // rustls queued an alert; it goes out with the next write.
                return self.fail("TLS record");
            }
            loop {
                match io::Read::read(&mut self.tls.reader(), &mut self.read) {
                    Ok(0) => break,
                    Ok(n) => Wire::handle_input(&mut self.inner, now, &self.read[..n]),
                    // WouldBlock: all the plaintext there is, for now.
                    Err(_) => break,
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        Wire::handle_timeout(&mut self.inner, now);
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) {
        Wire::poll_transmit(&mut self.inner, &mut self.plain);
        if !self.plain.is_empty() {
            // Unbounded buffer: the whole plaintext is taken.
            let _ = self.tls.writer().write_all(&self.plain);
            self.plain.clear();
        }
        while self.tls.wants_write() {
            if self.tls.write_tls(&mut Sink(out)).is_err() {
                break;
            }
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events
            .pop_front()
            .or_else(|| Wire::poll_event(&mut self.inner))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Wire::poll_timeout(&self.inner)
    }

    fn is_closed(&self) -> bool {
        self.failed || Wire::is_closed(&self.inner)
    }
}

impl Peer for TlsConnection {
    fn accept(&mut self, now: Instant) -> Result<(), ApiMisuse> {
        Peer::accept(&mut self.inner, now)
    }
    fn reject(&mut self, now: Instant, description: &str) -> Result<(), ApiMisuse> {
        Peer::reject(&mut self.inner, now, description)
    }
    fn send_shared_object_encoded(&mut self, now: Instant, body: &Body) -> Result<(), ApiMisuse> {
        Peer::send_shared_object_encoded(&mut self.inner, now, body)
    }
    fn reply(&mut self, now: Instant, transaction_id: f64, value: Value) -> Result<(), ApiMisuse> {
        Peer::reply(&mut self.inner, now, transaction_id, value)
    }
    fn reply_error(
        &mut self,
        now: Instant,
        transaction_id: f64,
        info: Value,
    ) -> Result<(), ApiMisuse> {
        Peer::reply_error(&mut self.inner, now, transaction_id, info)
    }
    fn call(&mut self, now: Instant, method: &str, args: Vec<Value>) -> Result<CallId, ApiMisuse> {
        Peer::call(&mut self.inner, now, method, args)
    }
    fn close(&mut self, now: Instant) {
        Peer::close(&mut self.inner, now);
        self.tls.send_close_notify();
    }
}
