//! Every committed seed of the `ws_message` fuzz target runs as a test.

use std::path::Path;

#[test]
fn seed_corpus_passes_ws_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ws_message");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).expect("the ws_message seed corpus") {
        let data = std::fs::read(entry.expect("readable corpus").path()).expect("readable seed");
        so_web::fuzzing::ws_message(&data);
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} seeds");
}
