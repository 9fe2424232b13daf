//! Handshake (to be written).
