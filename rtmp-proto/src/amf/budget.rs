//! What both decoders share to stay bounded: the nesting and value budget of
//! one message body, and the reference-table entry of a container.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use super::Limits;
use super::amf3::{BYTES_PER_VALUE, MAX_DEPTH};
use crate::error::{DecodeError, Limit, LimitExceeded};

/// The depth and value budget of one decoder (one message body).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// `limits.max_depth` capped at [`MAX_DEPTH`].
    max_depth: usize,
    max_values: usize,
    /// Values built so far, references at full size, strings one per
    /// [`BYTES_PER_VALUE`] bytes.
    pub(crate) values: usize,
}

impl Budget {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            max_depth: limits.max_depth.min(MAX_DEPTH),
            max_values: limits.max_values,
            values: 0,
        }
    }

    /// The depth of a container's children, if it may open at `depth`.
    #[inline]
    pub(crate) fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= self.max_depth {
            return Err(limit(Limit::AmfDepth, self.max_depth));
        }
        Ok(depth.saturating_add(1))
    }

    /// Counts `values` more values.
    #[inline]
    pub(crate) fn charge(&mut self, values: usize) -> Result<(), DecodeError> {
        self.values = self.values.saturating_add(values);
        if self.values > self.max_values {
            return Err(limit(Limit::AmfValues, self.max_values));
        }
        Ok(())
    }

    /// Counts a string value of `len` bytes: one value and its bytes.
    #[inline]
    pub(crate) fn charge_string(&mut self, len: usize) -> Result<(), DecodeError> {
        self.charge(1)?;
        self.charge_bytes(len)
    }

    /// Counts a string, XML or byte array of `len` bytes.
    #[inline]
    pub(crate) fn charge_bytes(&mut self, len: usize) -> Result<(), DecodeError> {
        if len < BYTES_PER_VALUE {
            return Ok(());
        }
        self.charge(len / BYTES_PER_VALUE)
    }
}

/// A reference-table entry: where a container's bytes start, and whether
/// it is complete (a reference to an incomplete one is a cycle).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ObjectSlot<'a> {
    pub(crate) at: &'a [u8],
    pub(crate) done: bool,
}

/// The error for `limit` with maximum `max`.
pub(crate) fn limit(limit: Limit, max: usize) -> DecodeError {
    DecodeError::Limit(LimitExceeded::new(limit, max))
}
