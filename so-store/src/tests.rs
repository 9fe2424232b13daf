use std::path::PathBuf;

use rtmp_proto::amf::Value;
use rusqlite::Connection;
use so_engine::store::{Store, StoreOp};
use so_engine::{ScopePath, Snapshot, SoKey};

use super::*;

/// A fresh directory under the system's temp dir, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("so-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(scope: &str, name: &str) -> SoKey {
    SoKey::new(ScopePath::new(scope).unwrap(), name)
}

fn snap(version: u32, values: &[(&str, Value)]) -> Snapshot {
    Snapshot {
        version,
        values: values
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect(),
    }
}

fn save(so: &SoKey, snapshot: Snapshot) -> StoreOp {
    StoreOp::Save {
        so: so.clone(),
        snapshot: Box::new(snapshot),
    }
}

fn loaded(dir: &TempDir) -> Vec<(SoKey, Snapshot)> {
    let mut store = SqliteStore::new(&dir.0);
    let report = store.load_all().unwrap();
    assert!(report.set_aside.is_empty(), "{:?}", report.set_aside);
    report.snapshots
}

/// Names that aliased on disk in the file store, and names with path
/// characters, are all different SOs after a reopen.
#[test]
fn names_are_data_and_never_alias() {
    let dir = TempDir::new("names");
    let mut keys = vec![
        key("app/room", "clash"),
        key("app/room/clash.rso", "clash"),
        key("app/room", "clash.rso"),
        key("app/room/clash", "x"),
    ];
    for name in [
        "a/b",
        "..",
        "../../etc/passwd",
        "%2F",
        "/",
        "Grüße ☃",
        "",
        "nul\0in",
        "CON",
    ] {
        keys.push(key("app/room", name));
    }
    let ops: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, so)| save(so, snap(i as u32 + 1, &[("i", Value::Integer(i as i32))])))
        .collect();
    let mut store = SqliteStore::new(&dir.0);
    store.load_all().unwrap();
    store.apply_batch(&ops).unwrap();
    drop(store);
    let back = loaded(&dir);
    assert_eq!(back.len(), keys.len());
    for (i, so) in keys.iter().enumerate() {
        let (_, snapshot) = back.iter().find(|(k, _)| k == so).unwrap();
        assert_eq!(
            *snapshot,
            snap(i as u32 + 1, &[("i", Value::Integer(i as i32))])
        );
    }
    let files: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        files.iter().all(|f| f.starts_with("shared-objects.")),
        "no file named after an SO: {files:?}"
    );
}

/// Saves replace, deletes remove, empty snapshots keep their versions, and
/// a batch is applied in order.
#[test]
fn batches_replace_delete_and_keep_versions() {
    let dir = TempDir::new("batches");
    let (a, b, c) = (key("app", "a"), key("app", "b"), key("app", "c"));
    let mut store = SqliteStore::new(&dir.0);
    assert!(store.load_all().unwrap().snapshots.is_empty());
    store
        .apply_batch(&[
            save(&a, snap(1, &[("x", 1.into())])),
            save(&b, snap(2, &[("y", "z".into())])),
            save(&c, snap(3, &[])),
        ])
        .unwrap();
    store
        .apply_batch(&[
            save(&a, snap(7, &[])),
            StoreOp::Delete { so: b },
            StoreOp::Delete {
                so: key("app", "never stored"),
            },
        ])
        .unwrap();
    store.save(&c, &snap(4, &[("n", Value::Null)])).unwrap();
    drop(store);
    assert_eq!(
        loaded(&dir),
        vec![(a, snap(7, &[])), (c, snap(4, &[("n", Value::Null)]))]
    );
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = TempDir::new("locked");
    let mut first = SqliteStore::new(&dir.0);
    first.load_all().unwrap();
    let error = SqliteStore::new(&dir.0).load_all().unwrap_err().to_string();
    assert!(error.contains("is locked"), "{error}");
    assert!(error.contains(LOCK_FILE_NAME), "{error}");
    assert!(error.contains("another server"), "{error}");
    drop(first);
    SqliteStore::new(&dir.0).load_all().unwrap();
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = TempDir::new("notadb");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join(DB_FILE_NAME), vec![b'x'; 8192]).unwrap();
    let error = SqliteStore::new(&dir.0).load_all().unwrap_err().to_string();
    assert!(error.contains("is not a SQLite database"), "{error}");
    assert!(error.contains(DB_FILE_NAME), "{error}");
    assert!(error.contains("Move it out"), "{error}");
}

#[test]
fn a_data_dir_that_is_a_file_is_refused() {
    let dir = TempDir::new("dirfile");
    std::fs::write(&dir.0, b"a file").unwrap();
    let error = SqliteStore::new(&dir.0).load_all().unwrap_err().to_string();
    assert!(error.contains("cannot use"), "{error}");
    assert!(error.contains("data directory"), "{error}");
    std::fs::remove_file(&dir.0).unwrap();
}

/// A damaged page is found at open (`PRAGMA quick_check`), before the
/// server serves anyone.
#[test]
fn a_damaged_database_is_refused_at_open() {
    let dir = TempDir::new("damaged");
    let mut store = SqliteStore::new(&dir.0);
    store.load_all().unwrap();
    let ops: Vec<_> = (0..300)
        .map(|i| {
            save(
                &key("app", &format!("so{i}")),
                snap(1, &[("v", "x".repeat(200).as_str().into())]),
            )
        })
        .collect();
    store.apply_batch(&ops).unwrap();
    drop(store);
    let path = dir.0.join(DB_FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8 * 4096, "several pages");
    // Garbage over the middle pages: b-tree pages that do not parse.
    for b in &mut bytes[3 * 4096..6 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(&path, bytes).unwrap();
    let error = SqliteStore::new(&dir.0).load_all().unwrap_err().to_string();
    assert!(error.contains("is damaged"), "{error}");
    assert!(error.contains(DB_FILE_NAME), "{error}");
    assert!(error.contains("backup"), "{error}");
}

/// A row whose data does not decode is skipped with its scope and name;
/// the others load, and it is kept aside in its own table.
#[test]
fn an_undecodable_row_is_skipped_and_named() {
    let dir = TempDir::new("badrow");
    let (good, bad, wrong) = (
        key("app", "good"),
        key("app/room", "bad"),
        key("app", "wrong"),
    );
    let mut store = SqliteStore::new(&dir.0);
    store.load_all().unwrap();
    store
        .apply_batch(&[
            save(&good, snap(2, &[("a", 1.into())])),
            save(&bad, snap(3, &[("a", 1.into())])),
            save(&wrong, snap(4, &[])),
        ])
        .unwrap();
    drop(store);
    let conn = Connection::open(dir.0.join(DB_FILE_NAME)).unwrap();
    conn.execute(
        "UPDATE shared_objects SET data = x'52534f3100' WHERE name = 'bad'",
        [],
    )
    .unwrap();
    // A key that is not text at all (only a hand-edited database has one).
    conn.execute(
        "INSERT INTO shared_objects (scope, name, version, data) VALUES ('app', x'ff', 1, x'00')",
        [],
    )
    .unwrap();
    // Another SO's data under this row's key.
    conn.execute(
        "UPDATE shared_objects SET data = (SELECT data FROM shared_objects WHERE name = 'good')
         WHERE name = 'wrong'",
        [],
    )
    .unwrap();
    drop(conn);

    let inspected = inspect(&dir.0).unwrap();
    assert_eq!(inspected.snapshots.len(), 1);
    assert_eq!(inspected.set_aside.len(), 3);
    assert!(inspected.set_aside.iter().all(|e| e.moved_to.is_none()));

    let mut store = SqliteStore::new(&dir.0);
    let report = store.load_all().unwrap();
    assert_eq!(report.snapshots, vec![(good, snap(2, &[("a", 1.into())]))]);
    let text: Vec<_> = report.set_aside.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(text[0].contains(r#"scope "app", SO "wrong""#), "{text:?}");
    assert!(text[0].contains("belongs to app:good"), "{text:?}");
    assert!(text[1].contains("not UTF-8"), "{text:?}");
    assert!(
        text[2].contains(r#"scope "app/room", SO "bad""#),
        "{text:?}"
    );
    // Moved aside: the next load is clean, the inspection still shows them.
    drop(store);
    assert_eq!(loaded(&dir).len(), 1);
    let inspected = inspect(&dir.0).unwrap();
    assert_eq!(inspected.set_aside.len(), 3);
}

/// The tool's read-only view sees the last committed flush while the
/// server's store is open (and locked), and changes nothing.
#[test]
fn inspect_reads_beside_a_running_store() {
    let dir = TempDir::new("inspect");
    assert!(matches!(inspect(&dir.0), Err(OpenError::Missing { .. })));
    let so = key("app", "live");
    let mut store = SqliteStore::new(&dir.0);
    store.load_all().unwrap();
    store
        .apply_batch(&[save(&so, snap(5, &[("k", true.into())]))])
        .unwrap();
    let report = inspect(&dir.0).unwrap();
    assert_eq!(
        report.snapshots,
        vec![(so.clone(), snap(5, &[("k", true.into())]))]
    );
    store.apply_batch(&[save(&so, snap(6, &[]))]).unwrap();
    assert_eq!(inspect(&dir.0).unwrap().snapshots[0].1.version, 6);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    SqliteStore::new(&dir.0).load_all().unwrap();
    let conn = Connection::open(dir.0.join(DB_FILE_NAME)).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let error = SqliteStore::new(&dir.0).load_all().unwrap_err().to_string();
    assert!(error.contains("schema version 99"), "{error}");
    assert!(matches!(
        inspect(&dir.0),
        Err(OpenError::NewerSchema { found: 99, .. })
    ));
}

/// Running as a user who cannot write the directory (skipped as root, who
/// can write anything; CI also covers it through the server's tests).
#[cfg(unix)]
#[test]
fn a_read_only_data_dir_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("readonly");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.0.join("probe");
    if std::fs::write(&probe, b"").is_ok() {
        eprintln!("skipped: this user writes read-only directories (root)");
        let _ = std::fs::remove_file(&probe);
        return;
    }
    let error = SqliteStore::new(&dir.0).load_all().unwrap_err().to_string();
    assert!(error.contains("cannot write"), "{error}");
    assert!(error.contains("writable"), "{error}");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
}
