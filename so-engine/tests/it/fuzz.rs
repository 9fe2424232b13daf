//! The bodies of so-engine's fuzz targets (`fuzz/`) on their seed corpus
//! and on a seeded batch of pseudo-random inputs, so that every test run
//! exercises them and a crash once found stays fixed.

use std::path::{Path, PathBuf};

use so_engine::fuzzing;

use crate::support::Rng;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Runs `body` on every seed of `target`; returns how many there were.
fn run_corpus(target: &str, body: impl Fn(&[u8])) -> usize {
    let dir = corpus(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no seed corpus at {}: {e}", dir.display()));
    let mut paths: Vec<_> = entries
        .map(|e| e.expect("readable corpus").path())
        .collect();
    paths.sort();
    for path in &paths {
        let data = std::fs::read(path).expect("readable seed");
        eprintln!("{}", path.display());
        body(&data);
    }
    paths.len()
}

fn random_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next().to_le_bytes()[3]).collect()
}

#[test]
fn engine_ops_seed_corpus_passes() {
    let ran = run_corpus("engine_ops", fuzzing::engine_ops);
    assert!(ran >= 4, "only {ran} engine_ops seeds");
}

/// What a run should reach, as it shows in the transcript.
const FEATURES: [&str; 12] = [
    "SharedObject.NoWriteAccess",
    "SharedObject.ObjectDestroyed",
    "SharedObject.LimitExceeded",
    "SharedObject.BadPersistence",
    "SharedObject.ObjectCreationFailed",
    "SharedObject.NoObjectFound",
    "Persist {",
    "DeletePersisted",
    "SoDestroyed",
    "ScopeStopped",
    "CallClient",
    "Disconnect {",
];

/// The hooks the fuzz world makes panic: every hook point.
const PANICKING: [&str; 18] = [
    "room_start",
    "app_connect",
    "room_join",
    "app_leave",
    "room_stop",
    "call_result",
    "factory",
    "on_update",
    "on_disconnect",
    "on_destroy",
    "is_creation_allowed",
    "is_connection_allowed",
    "is_write_allowed",
    "is_delete_allowed",
    "is_send_allowed",
    "send_handler",
    "method",
    "on_connect",
];

fn random_input(rng: &mut Rng) -> Vec<u8> {
    let len = 16 + rng.below(1200);
    random_bytes(rng, len)
}

#[test]
fn engine_ops_passes_seeded_random_inputs() {
    let mut rng = Rng::new(0x5eed);
    let mut reached = [0usize; FEATURES.len()];
    let mut panicked = [0usize; PANICKING.len()];
    for _ in 0..300 {
        let data = random_input(&mut rng);
        explained(&data);
        let transcript = fuzzing::transcript(&data);
        for (count, feature) in reached.iter_mut().zip(FEATURES) {
            *count += usize::from(transcript.contains(feature));
        }
        for (count, hook) in panicked.iter_mut().zip(PANICKING) {
            let seen = format!("HookPanic {{ hook: \"{hook}\"");
            *count += usize::from(transcript.contains(&seen));
        }
    }
    for (count, hook) in panicked.iter().zip(PANICKING) {
        assert!(*count >= 1, "{hook} never panicked in 300 inputs");
    }
    for (count, feature) in reached.iter().zip(FEATURES) {
        assert!(*count >= 20, "{feature} reached by {count} of 300 inputs");
    }
}

/// Writes the engine_ops seeds: for each feature, the shortest of a seeded
/// batch of inputs that reaches it. Run by hand:
/// `cargo test -p so-engine --test it fuzz::write_seed_corpus -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus; run by hand when the seeds should change"]
fn write_seed_corpus() {
    let mut rng = Rng::new(0xc0ffee);
    let mut best: Vec<Option<Vec<u8>>> = vec![None; FEATURES.len()];
    for _ in 0..2000 {
        let len = 16 + rng.below(400);
        let data = random_bytes(&mut rng, len);
        let transcript = fuzzing::transcript(&data);
        for (slot, feature) in best.iter_mut().zip(FEATURES) {
            let shorter = slot.as_ref().is_none_or(|b| b.len() > data.len());
            if shorter && transcript.contains(feature) {
                *slot = Some(data.clone());
            }
        }
    }
    let dir = corpus("engine_ops");
    std::fs::create_dir_all(&dir).unwrap();
    for (slot, feature) in best.iter().zip(FEATURES) {
        let name: String = feature
            .trim_start_matches("SharedObject.")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let data = slot
            .as_ref()
            .unwrap_or_else(|| panic!("nothing reached {feature}"));
        std::fs::write(dir.join(name), data).unwrap();
    }
    write_snapshot_seeds();
}

/// Real encoded snapshots: whole (first byte even: taken as is) and
/// without their checksum (first byte odd: the body appends it).
fn write_snapshot_seeds() {
    use rtmp_proto::amf::Value;
    use so_engine::Snapshot;
    use so_engine::store::encode_snapshot;

    let dir = corpus("snapshot");
    std::fs::create_dir_all(&dir).unwrap();
    let values = vec![
        ("a".into(), Value::Number(-0.0)),
        ("b".into(), Value::Integer(7)),
        ("bytes".into(), Value::ByteArray(vec![0, 1, 255])),
        (
            "o".into(),
            Value::object([
                ("x", Value::from("shared")),
                (
                    "y",
                    Value::StrictArray(vec![Value::from("shared"), Value::Null]),
                ),
            ]),
        ),
        ("".into(), Value::Bool(true)),
    ];
    let snapshots = [
        (
            "empty",
            crate::support::key("app", "p"),
            Snapshot::default(),
        ),
        (
            "values",
            crate::support::key("app/room", "scores"),
            Snapshot {
                version: 42,
                values,
            },
        ),
    ];
    for (name, so, snapshot) in snapshots {
        let bytes = encode_snapshot(&so, &snapshot);
        let mut whole = vec![0u8];
        whole.extend_from_slice(&bytes);
        std::fs::write(dir.join(format!("{name}_whole")), whole).unwrap();
        let mut body = vec![1u8];
        body.extend_from_slice(&bytes[..bytes.len() - 4]);
        std::fs::write(dir.join(format!("{name}_body")), body).unwrap();
    }
}

#[test]
fn snapshot_seed_corpus_passes() {
    let ran = run_corpus("snapshot", fuzzing::snapshot);
    assert!(ran >= 3, "only {ran} snapshot seeds");
}

#[test]
fn snapshot_passes_mutated_seeds() {
    let mut rng = Rng::new(7);
    let dir = corpus("snapshot");
    for entry in std::fs::read_dir(&dir).expect("the snapshot corpus") {
        let seed = std::fs::read(entry.expect("readable").path()).expect("readable seed");
        for _ in 0..200 {
            let mut data = seed.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(data.len());
                data[at] = rng.next().to_le_bytes()[0];
            }
            // An odd first byte has the body checksummed: the mutation reaches the decoder.
            data[0] |= 1;
            fuzzing::snapshot(&data);
        }
    }
}

/// Runs `body`, printing the decoded operations if it panics.
fn explained(data: &[u8]) {
    if std::panic::catch_unwind(|| fuzzing::engine_ops(data)).is_err() {
        panic!("failed on:\n{}", fuzzing::describe(data));
    }
}

/// Prints the operations a crash file encodes, then runs it:
/// `SO_FUZZ_INPUT=path cargo test -p so-engine --test it fuzz::replay -- --ignored --nocapture`.
#[test]
#[ignore = "reads the file SO_FUZZ_INPUT names; run by hand on a crash"]
fn replay() {
    let path = std::env::var("SO_FUZZ_INPUT").expect("SO_FUZZ_INPUT names a file");
    let data = std::fs::read(path).expect("readable input");
    eprint!("{}", fuzzing::describe(&data));
    fuzzing::engine_ops(&data);
}
