//! Every committed seed of every fuzz target runs as an ordinary test, so a
//! crash once found stays fixed.

use std::path::Path;
use std::time::Instant;

use rtmp_proto::fuzzing;

#[test]
fn seed_corpus_passes_every_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let start = Instant::now();
    let server = move |d: &[u8]| fuzzing::connection_server(start, d);
    let client = move |d: &[u8]| fuzzing::connection_client(start, d);
    let targets: [(&str, &dyn Fn(&[u8])); 7] = [
        ("amf0", &fuzzing::amf0),
        ("amf3", &fuzzing::amf3),
        ("chunk_decoder", &fuzzing::chunk_decoder),
        ("handshake", &fuzzing::handshake),
        ("so_message", &fuzzing::so_message),
        ("connection_server", &server),
        ("connection_client", &client),
    ];
    for (name, body) in targets {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no seed corpus at {}: {e}", dir.display()));
        let mut ran = 0;
        for entry in entries {
            let path = entry.expect("readable corpus").path();
            let data = std::fs::read(&path).expect("readable seed");
            body(&data);
            ran += 1;
        }
        assert!(ran >= 2, "target {name} has only {ran} seeds");
    }
}
