//! Fixtures and measured loops shared by the benchmarks and the `insn` binary.
//!
//! The inputs are the ones `BENCHMARKS.md` (Fixtures) defines, generated
//! in code so that anyone can regenerate them: the unit tests check them
//! against the published sha256 prefixes and sizes. The loops that the
//! benchmarks time live here too, so that criterion (`benches/*.rs`) and
//! callgrind (`src/bin/insn.rs`) measure exactly the same code.
//!
//! Nothing here is timed by `cargo test`; the tests only check the fixtures.

#![warn(missing_docs)]

pub mod alloc_count;
pub mod amf;
pub mod chunk;
pub mod engine;
pub mod session;
pub mod so_message;
