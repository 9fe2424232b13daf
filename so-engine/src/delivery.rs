//! Turning one update into outputs: the message is encoded once per
//! encoding and every recipient gets a handle to the same bytes.

use std::sync::Arc;

use rtmp_proto::amf::Encoding;
use rtmp_proto::message::shared_object::SharedObjectMessage;

use crate::io::Output;
use crate::types::ClientId;

/// An encoded SharedObject message body, shared by all its recipients.
///
/// Interim: until the message codec lands this carries the typed message;
/// it becomes the encoded `Bytes`.
pub type Body = Arc<SharedObjectMessage>;

/// Sends `message` to every recipient, encoding it at most once per encoding.
///
/// This is the fan-out hot path: per recipient, one handle clone and one
/// pushed output; nothing else is allocated or copied.
pub(crate) fn fan_out(
    out: &mut Vec<Output>,
    message: &SharedObjectMessage,
    recipients: impl Iterator<Item = (ClientId, Encoding)>,
) {
    let mut amf0: Option<Body> = None;
    let mut amf3: Option<Body> = None;
    for (to, encoding) in recipients {
        let slot = match encoding {
            Encoding::Amf0 => &mut amf0,
            Encoding::Amf3 => &mut amf3,
        };
        let body = slot
            .get_or_insert_with(|| encode(message, encoding))
            .clone();
        out.push(Output::SharedObject { to, encoding, body });
    }
}

/// Encodes one message body for one encoding.
pub(crate) fn encode(message: &SharedObjectMessage, _encoding: Encoding) -> Body {
    Arc::new(message.clone())
}
