//! The `so-store` program: importing a data directory the old file store
//! wrote (the fixtures are real files of that store, one of them damaged,
//! one an interrupted write), then printing the database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rtmp_proto::amf::Value;
use so_engine::store::Store;
use so_store::{SqliteStore, import_dir};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/old-data")
}

fn temp_dir(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("so-store-tool-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    path
}

fn so_store(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_so-store"))
        .args(args)
        .output()
        .expect("so-store runs")
}

#[test]
fn import_brings_in_every_readable_old_file() {
    let dir = temp_dir("import");
    let mut store = SqliteStore::new(&dir);
    let report = import_dir(&mut store, &fixtures()).unwrap();
    let imported: Vec<String> = report
        .imported
        .iter()
        .map(|(so, version)| format!("{so} {version}"))
        .collect();
    assert_eq!(
        imported,
        [
            "app/room:clash 4",
            "chat:users 7",
            "chat/lobby:%2F 1",
            "chat/lobby:.. 1",
            "chat/lobby:Grüße ☃ 9",
            "chat/lobby:a/b 1",
            "chat/lobby:topic 2",
        ]
    );
    assert_eq!(report.unreadable.len(), 1);
    assert!(report.unreadable[0].0.ends_with("chat/lobby/broken.rso"));
    assert!(report.unreadable[0].1.contains("checksum mismatch"));
    assert_eq!(report.ignored.len(), 1, "the interrupted write");
    let loaded = store.load_all().unwrap().snapshots;
    let (_, users) = loaded.iter().find(|(so, _)| &*so.name == "users").unwrap();
    assert_eq!(
        users.values,
        [
            ("alice".into(), Value::Bool(true)),
            ("n".into(), Value::Integer(3))
        ]
    );

    // Again: the database already holds every version, so nothing moves.
    let again = import_dir(&mut store, &fixtures()).unwrap();
    assert!(again.imported.is_empty());
    assert_eq!(again.kept.len(), 7);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_tool_imports_and_prints() {
    let dir = temp_dir("tool");
    let missing = so_store(&[dir.as_os_str()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is no database"));

    let out = so_store(&[
        "import".as_ref(),
        fixtures().as_os_str(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "one unreadable file: {stdout}");
    assert!(stdout.contains("7 imported into"), "{stdout}");

    let out = so_store(&[dir.as_os_str()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[chat/lobby] \"Grüße ☃\"  version 9\n  \"\" = \"the empty key\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("[app/room] clash  version 4\n  who = \"so clash\""),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
