//! Chunk stream (to be written).
