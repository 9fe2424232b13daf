//! A4 fixtures (BENCHMARKS.md): type 19 SharedObject message bodies for
//! the SO "chat", and the AMF0 payload each carries, whose A3 cost is the
//! floor the message codec is measured against.

use bytes::BytesMut;
use rtmp_proto::amf::{Encoding, Limits, Value, amf0};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use crate::amf::{object10, string1k};

/// One A4 case: the message, its body bytes and its AMF0 payload bytes.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Benchmark name.
    pub name: &'static str,
    /// The message.
    pub message: SharedObjectMessage,
    /// Its type 19 body.
    pub body: Vec<u8>,
    /// The values it carries, as one AMF0 byte string.
    pub payload: Vec<u8>,
    /// Those values.
    pub values: Vec<Value>,
}

/// The three A4 cases: one CHANGE of `object10`, ten CHANGEs of numbers, one
/// SEND_MESSAGE of `string1k`.
pub fn fixtures() -> [Fixture; 3] {
    let numbers: Vec<(String, Value)> = (0..10)
        .map(|i| (format!("k{i}"), Value::Number(f64::from(i) * 1.5 + 0.25)))
        .collect();
    [
        fixture(
            "change_object10",
            vec![SoEvent::Change {
                key: "alice".into(),
                value: object10(),
            }],
            vec![object10()],
        ),
        fixture(
            "change10_numbers",
            numbers
                .iter()
                .map(|(key, value)| SoEvent::Change {
                    key: key.as_str().into(),
                    value: value.clone(),
                })
                .collect(),
            numbers.iter().map(|(_, value)| value.clone()).collect(),
        ),
        fixture(
            "send_string1k",
            vec![SoEvent::SendMessage {
                method: "onChat".into(),
                args: vec![Value::from(string1k())],
            }],
            vec![Value::from(string1k())],
        ),
    ]
}

/// Decodes a type 19 body, default limits.
pub fn decode_ours(body: &[u8]) -> SharedObjectMessage {
    SharedObjectMessage::decode(body, Encoding::Amf0, &Limits::default()).expect("fixture decodes")
}

/// Encodes a type 19 body into a buffer the caller reuses (cleared here).
pub fn encode_ours(message: &SharedObjectMessage, out: &mut BytesMut) -> usize {
    out.clear();
    message
        .encode(Encoding::Amf0, out)
        .expect("fixture encodes");
    out.len()
}

/// The floor of decode: the payload's values alone, with one AMF0 decoder.
pub fn decode_payload(payload: &[u8]) -> Vec<Value> {
    amf0::decode_all(payload, &Limits::default()).expect("fixture decodes")
}

/// The floor of encode: the payload's values alone, with one AMF0 encoder,
/// into a buffer the caller reuses (cleared here).
pub fn encode_payload(values: &[Value], out: &mut BytesMut) -> usize {
    out.clear();
    let mut encoder = amf0::Encoder::new();
    for value in values {
        encoder.encode(value, out);
    }
    out.len()
}

fn fixture(name: &'static str, events: Vec<SoEvent>, values: Vec<Value>) -> Fixture {
    let message = SharedObjectMessage {
        name: "chat".into(),
        version: 1,
        persistent: false,
        events,
    };
    let mut body = BytesMut::new();
    encode_ours(&message, &mut body);
    let mut payload = BytesMut::new();
    encode_payload(&values, &mut payload);
    Fixture {
        name,
        message,
        body: body.to_vec(),
        payload: payload.to_vec(),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_have_the_expected_sizes() {
        // Header: name (2 + 4), version, flags, reserved (3 × 4) = 18 bytes;
        // each event: type (1) + length (4) + its payload.
        let sizes = [
            18 + 5 + (2 + 5) + 199,
            18 + 10 * (5 + (2 + 2) + 9),
            18 + 5 + (3 + 6) + 1027,
        ];
        for (fixture, size) in fixtures().into_iter().zip(sizes) {
            assert_eq!(fixture.body.len(), size, "{}", fixture.name);
            assert_eq!(decode_ours(&fixture.body), fixture.message);
            assert_eq!(decode_payload(&fixture.payload), fixture.values);
        }
    }

    #[test]
    fn the_payload_is_inside_the_body() {
        for fixture in fixtures() {
            let found = fixture.name == "change10_numbers"
                || fixture
                    .body
                    .windows(fixture.payload.len())
                    .any(|window| window == fixture.payload.as_slice());
            assert!(found, "{}", fixture.name);
        }
    }
}
