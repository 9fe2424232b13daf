//! AMF3 codec: a temporary stand-in with the brief's signatures, so that the
//! AMF0 codec builds before the real AMF3 codec lands on `main`.

use bytes::BytesMut;

use crate::amf::{Limits, Value};
use crate::error::DecodeError;

/// Decodes the values of one message body (stand-in: always fails).
#[derive(Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// A decoder for the body `input`.
    pub fn new(input: &'a [u8], _limits: &Limits) -> Self {
        Self { input }
    }

    /// Decodes the next value.
    pub fn decode(&mut self) -> Result<Value, DecodeError> {
        Err(DecodeError::Invalid {
            what: "AMF3 (not implemented yet)",
        })
    }

    /// The bytes not decoded yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.input
    }

    /// Whether every byte has been decoded.
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// For amf0's 0x11 switch: one AMF3 value from `input`.
    pub(crate) fn decode_embedded(
        &mut self,
        _input: &'a [u8],
        _depth: usize,
        _values: &mut usize,
    ) -> Result<(Value, &'a [u8]), DecodeError> {
        Err(DecodeError::Invalid {
            what: "AMF3 (not implemented yet)",
        })
    }
}

/// Encodes the values of one message body (stand-in: writes `undefined`).
#[derive(Debug, Default)]
pub struct Encoder {}

impl Encoder {
    /// An encoder with empty reference tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `value` to `out`.
    pub fn encode(&mut self, _value: &Value, out: &mut BytesMut) {
        out.extend_from_slice(&[0x00]);
    }
}

/// Decodes exactly one AMF3 value (stand-in: always fails).
pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    Decoder::new(input, limits).decode()
}

/// Encodes one AMF3 value with fresh tables.
pub fn encode(value: &Value, out: &mut BytesMut) {
    Encoder::new().encode(value, out);
}
