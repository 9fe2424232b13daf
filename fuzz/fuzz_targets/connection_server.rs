#![no_main]

use std::sync::LazyLock;
use std::time::Instant;

// One base instant per process: the connection itself never reads a clock.
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

libfuzzer_sys::fuzz_target!(|data: &[u8]| rtmp_proto::fuzzing::connection_server(*START, data));
