//! Turning one update into outputs: the message is encoded once per
//! encoding and every recipient gets a handle to the same bytes.

use bytes::{Bytes, BytesMut};
use rtmp_proto::amf::Encoding;
use rtmp_proto::message::shared_object::SharedObjectMessage;

use crate::io::Output;
use crate::types::ClientId;

/// An encoded SharedObject message body (type 19 for AMF0, type 16 for
/// AMF3, without the chunk header), shared by all its recipients.
pub type Body = Bytes;

/// Sends `message` to every recipient, encoding it at most once per encoding.
///
/// This is the fan-out hot path: per recipient, one `Bytes` handle clone and
/// one pushed output; nothing else is allocated or copied.
pub(crate) fn fan_out(
    out: &mut Vec<Output>,
    message: &SharedObjectMessage,
    recipients: impl Iterator<Item = (ClientId, Encoding)>,
) {
    // Encoded on first need; `Some(None)`: unencodable (see `encode`).
    let mut amf0: Option<Option<Body>> = None;
    let mut amf3: Option<Option<Body>> = None;
    out.reserve(recipients.size_hint().0);
    for (to, encoding) in recipients {
        let slot = match encoding {
            Encoding::Amf0 => &mut amf0,
            Encoding::Amf3 => &mut amf3,
        };
        if let Some(body) = slot.get_or_insert_with(|| encode(message, encoding)) {
            out.push(Output::SharedObject {
                to,
                encoding,
                body: body.clone(),
            });
        }
    }
}

/// Encodes one message body for one encoding.
///
/// `None` only for what the wire cannot carry (a name or key over 65,535
/// bytes, an event over 4 GiB), which never gets this far: names and keys
/// are checked against their (capped) limits where they enter the engine,
/// values against limits far below 4 GiB.
fn encode(message: &SharedObjectMessage, encoding: Encoding) -> Option<Body> {
    let mut buf = BytesMut::with_capacity(256);
    message.encode(encoding, &mut buf).ok()?;
    Some(buf.freeze())
}
