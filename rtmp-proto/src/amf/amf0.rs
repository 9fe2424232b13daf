//! TEMPORARY STUB of the amf0 helper's codec (brief API), only enough for the
//! message layer's tests: numbers, booleans, strings, null, undefined,
//! anonymous objects, and `0x11` + AMF3 scalars/strings. Replaced on merge.
#![allow(missing_docs, clippy::all, unreachable_pub, dead_code)]

use bytes::{BufMut, BytesMut};

use crate::amf::{Limits, Str, Value};
use crate::error::DecodeError;

pub struct Decoder<'a> {
    input: &'a [u8],
    consumed: usize,
    strings: Vec<Str>,
}

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8], _limits: &Limits) -> Self {
        Self {
            input,
            consumed: 0,
            strings: Vec::new(),
        }
    }

    pub(crate) fn set_input(&mut self, input: &'a [u8]) {
        self.input = input;
    }

    pub fn decode(&mut self) -> Result<Value, DecodeError> {
        let before = self.input.len();
        let v = self.value()?;
        self.consumed += before - self.input.len();
        Ok(v)
    }

    pub fn remaining(&self) -> &'a [u8] {
        self.input
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    pub fn position(&self) -> usize {
        self.consumed
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.input.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.input.split_at(n);
        self.input = b;
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn str(&mut self, n: usize) -> Result<Str, DecodeError> {
        let b = self.take(n)?;
        Str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8)
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        match self.u8()? {
            0x00 => {
                let b = self.take(8)?;
                Ok(Value::Number(f64::from_be_bytes(b.try_into().unwrap())))
            }
            0x01 => Ok(Value::Bool(self.u8()? != 0)),
            0x02 => {
                let n = self.u16()? as usize;
                Ok(Value::String(self.str(n)?))
            }
            0x03 => {
                let mut props = Vec::new();
                loop {
                    let n = self.u16()? as usize;
                    let k = self.str(n)?;
                    if k.is_empty() && self.input.first() == Some(&0x09) {
                        self.take(1)?;
                        break;
                    }
                    props.push((k, self.value()?));
                }
                Ok(Value::object(props))
            }
            0x05 => Ok(Value::Null),
            0x06 => Ok(Value::Undefined),
            0x11 => self.amf3(),
            m => Err(DecodeError::UnknownMarker { marker: m }),
        }
    }

    fn u29(&mut self) -> Result<u32, DecodeError> {
        let mut v = 0u32;
        for i in 0..4 {
            let b = self.u8()?;
            if i == 3 {
                return Ok((v << 8) | b as u32);
            }
            v = (v << 7) | (b & 0x7f) as u32;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Ok(v)
    }

    fn amf3(&mut self) -> Result<Value, DecodeError> {
        match self.u8()? {
            0x00 => Ok(Value::Undefined),
            0x01 => Ok(Value::Null),
            0x02 => Ok(Value::Bool(false)),
            0x03 => Ok(Value::Bool(true)),
            0x04 => {
                let u = self.u29()?;
                Ok(Value::Integer(((u << 3) as i32) >> 3))
            }
            0x05 => {
                let b = self.take(8)?;
                Ok(Value::Number(f64::from_be_bytes(b.try_into().unwrap())))
            }
            0x06 => {
                let u = self.u29()?;
                if u & 1 == 0 {
                    let i = (u >> 1) as usize;
                    return self.strings.get(i).cloned().map(Value::String).ok_or(
                        DecodeError::BadReference {
                            table: "string",
                            index: i as u32,
                        },
                    );
                }
                let s = self.str((u >> 1) as usize)?;
                if !s.is_empty() {
                    self.strings.push(s.clone());
                }
                Ok(Value::String(s))
            }
            0x0A => {
                self.take(2)?;
                let mut props = Vec::new();
                loop {
                    let n = (self.u29()? >> 1) as usize;
                    if n == 0 {
                        break;
                    }
                    let k = self.str(n)?;
                    props.push((k, self.amf3()?));
                }
                Ok(Value::object(props))
            }
            m => Err(DecodeError::UnknownMarker { marker: m }),
        }
    }
}

#[derive(Default)]
pub struct Encoder {
    strings: Vec<Str>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encode(&mut self, value: &Value, out: &mut BytesMut) {
        match value {
            Value::Number(n) => {
                out.put_u8(0);
                out.put_f64(*n);
            }
            Value::Integer(n) => {
                out.put_u8(0);
                out.put_f64(f64::from(*n));
            }
            Value::Bool(b) => {
                out.put_u8(1);
                out.put_u8(*b as u8);
            }
            Value::String(s) => {
                out.put_u8(2);
                out.put_u16(s.len() as u16);
                out.put_slice(s.as_bytes());
            }
            Value::Object(o) => {
                out.put_u8(3);
                for (k, v) in &o.properties {
                    out.put_u16(k.len() as u16);
                    out.put_slice(k.as_bytes());
                    self.encode(v, out);
                }
                out.put_slice(&[0, 0, 9]);
            }
            Value::Null => out.put_u8(5),
            Value::Undefined => out.put_u8(6),
            other => self.encode_avmplus(other, out),
        }
    }

    pub fn encode_avmplus(&mut self, value: &Value, out: &mut BytesMut) {
        out.put_u8(0x11);
        match value {
            Value::Undefined => out.put_u8(0),
            Value::Null => out.put_u8(1),
            Value::Bool(b) => out.put_u8(2 + *b as u8),
            Value::Integer(n) if (-(1 << 28)..(1 << 28)).contains(n) => {
                out.put_u8(4);
                put_u29(out, (*n as u32) & 0x1fff_ffff);
            }
            Value::Integer(n) => {
                out.put_u8(5);
                out.put_f64(f64::from(*n));
            }
            Value::Number(n) => {
                out.put_u8(5);
                out.put_f64(*n);
            }
            Value::String(s) => {
                out.put_u8(6);
                if let Some(i) = self.strings.iter().position(|x| x == s) {
                    put_u29(out, (i as u32) << 1);
                } else {
                    put_u29(out, ((s.len() as u32) << 1) | 1);
                    out.put_slice(s.as_bytes());
                    if !s.is_empty() {
                        self.strings.push(s.clone());
                    }
                }
            }
            Value::Object(o) => {
                out.put_slice(&[0x0A, 0x0B, 0x01]);
                for (k, v) in &o.properties {
                    put_u29(out, ((k.len() as u32) << 1) | 1);
                    out.put_slice(k.as_bytes());
                    let mut tmp = BytesMut::new();
                    self.encode_avmplus(v, &mut tmp);
                    out.put_slice(&tmp[1..]);
                }
                out.put_u8(1);
            }
            _ => unimplemented!("stub"),
        }
    }
}

fn put_u29(out: &mut BytesMut, v: u32) {
    if v < 0x80 {
        out.put_u8(v as u8);
    } else if v < 0x4000 {
        out.put_u8((v >> 7 | 0x80) as u8);
        out.put_u8((v & 0x7f) as u8);
    } else if v < 0x20_0000 {
        out.put_u8((v >> 14 | 0x80) as u8);
        out.put_u8((v >> 7 & 0x7f | 0x80) as u8);
        out.put_u8((v & 0x7f) as u8);
    } else {
        out.put_u8((v >> 22 | 0x80) as u8);
        out.put_u8((v >> 15 & 0x7f | 0x80) as u8);
        out.put_u8((v >> 8 & 0x7f | 0x80) as u8);
        out.put_u8(v as u8);
    }
}

pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    let mut d = Decoder::new(input, limits);
    let v = d.decode()?;
    if !d.is_empty() {
        return Err(DecodeError::TrailingBytes {
            count: d.remaining().len(),
        });
    }
    Ok(v)
}

pub fn decode_all(input: &[u8], limits: &Limits) -> Result<Vec<Value>, DecodeError> {
    let mut d = Decoder::new(input, limits);
    let mut v = Vec::new();
    while !d.is_empty() {
        v.push(d.decode()?);
    }
    Ok(v)
}

pub fn encode(value: &Value, out: &mut BytesMut) {
    Encoder::new().encode(value, out)
}
