//! The UTF-8 check of every string the decoders read.
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

use crate::amf::Str;
use crate::error::DecodeError;

/// The longest string a [`Str`] keeps inline; longer ones are on the heap.
pub(crate) const INLINE_STR: usize = 24;

/// `bytes` as a `&str`, or [`DecodeError::InvalidUtf8`].
#[inline]
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
}

/// The first `run` bytes of `input` as a `&str` (see the decoders'
/// `text_run`): one check for a stretch of keys and short strings.
#[inline]
pub(crate) fn run_text(input: &[u8], run: usize) -> Result<&str, DecodeError> {
    if run == 0 {
        return Ok("");
    }
    utf8(input.get(..run).unwrap_or_default())
}

/// `bytes` as an owned [`Str`] on the heap, for strings longer than
/// [`INLINE_STR`]: copied first, then checked in the copy, whose start is
/// aligned, so that `from_utf8` reads it a word pair at a time from the first
/// byte (in the input, a string starts wherever its header ends). The
/// allocation becomes the `Str`'s own.
pub(crate) fn owned_str(bytes: &[u8]) -> Result<Str, DecodeError> {
    String::from_utf8(bytes.to_vec())
        .map(Str::from)
        .map_err(|_| DecodeError::InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_strings_are_checked() {
        let long = "é".repeat(20);
        assert_eq!(owned_str(long.as_bytes()).as_deref(), Ok(long.as_str()));
        let mut broken = long.into_bytes();
        broken[31] = 0xFF;
        assert_eq!(owned_str(&broken), Err(DecodeError::InvalidUtf8));
        assert_eq!(utf8(&broken), Err(DecodeError::InvalidUtf8));
    }
}
