#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| so_web::fuzzing::ws_message(data));
