//! TEMPORARY STUB (plain handshake only) so the connection compiles; replaced by the handshake branch.
#![allow(missing_docs, dead_code)]
use crate::error::{Error, ProtocolError};
use bytes::BytesMut;
pub const HANDSHAKE_SIZE: usize = 1536;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientStyle {
    #[default]
    Plain,
    Digest,
}
#[derive(Debug)]
pub struct Handshake {
    server: bool,
    got: usize,
    out: Vec<u8>,
    done: bool,
    sent: bool,
}
impl Handshake {
    pub fn server(_seed: [u8; 32]) -> Self {
        Self {
            server: true,
            got: 0,
            out: vec![],
            done: false,
            sent: false,
        }
    }
    pub fn client(_seed: [u8; 32], _style: ClientStyle) -> Self {
        let mut out = vec![3u8];
        out.extend_from_slice(&[0u8; 1536]);
        Self {
            server: false,
            got: 0,
            out,
            done: false,
            sent: false,
        }
    }
    pub fn handle_input(&mut self, _time: u32, input: &[u8]) -> Result<usize, Error> {
        if self.done {
            return Ok(0);
        }
        if self.got == 0 && !input.is_empty() && input[0] != 3 {
            return Err(ProtocolError::UnsupportedVersion(input[0]).into());
        }
        let need = if self.server {
            1537 + 1536
        } else {
            1537 + 1536
        };
        let take = (need - self.got).min(input.len());
        let before = self.got;
        self.got += take;
        if self.server && before < 1537 && self.got >= 1537 {
            self.out.push(3);
            self.out.extend_from_slice(&[0u8; 3072]);
        }
        if !self.server && before < 1537 + 1536 && self.got >= 1537 + 1536 {
            self.out.extend_from_slice(&[0u8; 1536]);
        }
        if self.got == need {
            self.done = true;
        }
        Ok(take)
    }
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> usize {
        let n = self.out.len();
        out.extend_from_slice(&self.out);
        self.out.clear();
        n
    }
    pub fn is_done(&self) -> bool {
        self.done
    }
}
