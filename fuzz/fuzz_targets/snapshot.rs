#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| so_engine::fuzzing::snapshot(data));
