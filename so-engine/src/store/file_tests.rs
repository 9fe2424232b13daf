use std::path::Component;

use rtmp_proto::amf::{Str, Value};

use super::*;
use crate::store::SnapshotError;
use crate::types::ScopePath;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "so-engine-file-store-{}-{test}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
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
            .map(|(k, v)| (Str::from(*k), v.clone()))
            .collect(),
    }
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn save_load_delete() {
    let tmp = TempDir::new("save-load-delete");
    let mut store = FileStore::new(&tmp.0);
    let chat = key("app/lobby", "chat");
    let scores = key("app", "scores");
    store
        .save(&chat, &snap(3, &[("topic", "hi".into())]))
        .unwrap();
    store.save(&scores, &snap(1, &[("a", 1.into())])).unwrap();
    // A second save replaces the first.
    store.save(&scores, &snap(2, &[("a", 2.into())])).unwrap();
    assert_eq!(files(&tmp.0), ["app/lobby/chat.rso", "app/scores.rso"]);

    let report = FileStore::new(&tmp.0).load_all().unwrap();
    assert_eq!(
        report.snapshots,
        vec![
            (scores.clone(), snap(2, &[("a", 2.into())])),
            (chat.clone(), snap(3, &[("topic", "hi".into())])),
        ]
    );
    assert!(report.set_aside.is_empty() && report.stale_temps.is_empty());

    store.delete(&chat).unwrap();
    store.delete(&chat).unwrap();
    store.delete(&key("other/room", "never")).unwrap();
    let report = store.load_all().unwrap();
    assert_eq!(
        report.snapshots,
        vec![(scores, snap(2, &[("a", 2.into())]))]
    );
}

#[test]
fn empty_snapshots_are_stored() {
    let tmp = TempDir::new("empty");
    let mut store = FileStore::new(&tmp.0);
    let so = key("app", "cleared");
    store.save(&so, &snap(9, &[])).unwrap();
    assert_eq!(
        store.load_all().unwrap().snapshots,
        vec![(so, snap(9, &[]))]
    );
}

#[test]
fn a_missing_directory_is_created_at_load() {
    let tmp = TempDir::new("missing");
    let dir = tmp.0.join("not/yet");
    let mut store = FileStore::new(&dir);
    assert!(store.inspect().is_err(), "inspect creates nothing");
    assert!(store.load_all().unwrap().snapshots.is_empty());
    assert!(dir.is_dir());
}

#[test]
fn odd_names_stay_inside_and_apart() {
    let tmp = TempDir::new("odd-names");
    let mut store = FileStore::new(&tmp.0);
    let long = "ü".repeat(500);
    let names = [
        "../x",
        "..",
        ".",
        ".hidden",
        "trailing.",
        "a/b",
        "a\\b",
        "con",
        "CON",
        "nul.txt",
        "com1",
        "Chat",
        "chat",
        "CHAT",
        "日本語",
        "",
        "%",
        "%25",
        "~",
        "tab\tnew\nline\0nul",
        "x.rso.tmp-3",
        "x.rso",
        long.as_str(),
        &long[..long.len() - 2],
    ];
    let scopes = ["app", "app/..x", "app/Room/ü", "app/con"];
    let mut expected = Vec::new();
    for scope in scopes {
        for (i, name) in names.iter().enumerate() {
            let so = key(scope, name);
            let path = store.path_of(&so);
            let rel = path.strip_prefix(&tmp.0).unwrap();
            assert!(
                rel.components().all(|c| matches!(c, Component::Normal(_))),
                "{so} → {rel:?}"
            );
            for part in rel.components() {
                let part = part.as_os_str().to_str().unwrap();
                assert!(part.len() <= 255, "{part}");
                assert!(!part.starts_with('.'), "{part}");
                assert!(!part.bytes().any(|b| b.is_ascii_uppercase() && b > b'F'));
            }
            let data = snap(i as u32, &[("name", Value::from(*name))]);
            store.save(&so, &data).unwrap();
            expected.push((so, data));
        }
    }
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let report = FileStore::new(&tmp.0).load_all().unwrap();
    assert!(report.set_aside.is_empty(), "{:?}", report.set_aside);
    assert_eq!(report.snapshots, expected);
    assert_eq!(files(&tmp.0).len(), expected.len());
}

#[test]
fn safe_names() {
    let cases = [
        ("chat", "chat"),
        ("Chat", "%43hat"),
        ("../x", "%2E.%2Fx"),
        (".hidden", "%2Ehidden"),
        ("a.b", "a.b"),
        ("a.", "a%2E"),
        ("con", "%63on"),
        ("lpt9.log", "%6Cpt9.log"),
        ("console", "console"),
        ("", "%"),
        ("é", "%C3%A9"),
        ("a b", "a%20b"),
        ("%", "%25"),
    ];
    for (name, expected) in cases {
        assert_eq!(safe_name(name), expected, "{name:?}");
    }
    let long = safe_name(&"A".repeat(100));
    assert_eq!(long.len(), 180 + 17);
    assert!(long.starts_with("%41%41"));
    assert_eq!(&long[177..181], "%41~");
    assert_ne!(long, safe_name(&"A".repeat(101)));
}

/// A crash during a save leaves temp files; the last complete file wins
/// and the leftovers are removed.
#[test]
fn an_interrupted_write_leaves_the_old_file_intact() {
    let tmp = TempDir::new("interrupted");
    let mut store = FileStore::new(&tmp.0);
    let so = key("app", "scores");
    let old = snap(1, &[("a", 1.into())]);
    store.save(&so, &old).unwrap();
    let target = store.path_of(&so);
    let new = encode_snapshot(&so, &snap(2, &[("a", 2.into())]));
    fs::write(with_suffix(&target, "tmp", 7), &new[..new.len() / 2]).unwrap();
    fs::write(with_suffix(&target, "tmp", 8), b"").unwrap();
    fs::write(tmp.0.join("app/other.rso.tmp-0"), &new).unwrap();

    let inspected = FileStore::new(&tmp.0).inspect().unwrap();
    assert_eq!(inspected.stale_temps.len(), 3);
    assert_eq!(files(&tmp.0).len(), 4, "inspect removes nothing");

    let report = FileStore::new(&tmp.0).load_all().unwrap();
    assert_eq!(report.snapshots, vec![(so.clone(), old)]);
    assert_eq!(report.stale_temps.len(), 3);
    assert!(report.set_aside.is_empty());
    assert_eq!(files(&tmp.0), ["app/scores.rso"]);
    // And a save after that works (temp numbering does not collide).
    store.save(&so, &snap(3, &[])).unwrap();
    assert_eq!(
        store.load_all().unwrap().snapshots,
        vec![(so, snap(3, &[]))]
    );
}

#[test]
fn temp_names_never_collide_with_leftovers() {
    let tmp = TempDir::new("temp-collide");
    let mut store = FileStore::new(&tmp.0);
    let so = key("app", "x");
    store.save(&so, &snap(1, &[])).unwrap();
    // Leftovers at the numbers the next saves would pick.
    let target = store.path_of(&so);
    for n in 1..5 {
        fs::write(with_suffix(&target, "tmp", n), b"junk").unwrap();
    }
    store.save(&so, &snap(2, &[])).unwrap();
    assert_eq!(
        FileStore::new(&tmp.0).inspect().unwrap().snapshots,
        vec![(so, snap(2, &[]))]
    );
}

#[test]
fn corrupt_files_are_set_aside_and_reported() {
    let tmp = TempDir::new("corrupt");
    let mut store = FileStore::new(&tmp.0);
    let good = key("app", "good");
    let bad = key("app", "bad");
    store.save(&good, &snap(1, &[("k", 1.into())])).unwrap();
    store.save(&bad, &snap(1, &[("k", 1.into())])).unwrap();
    let bad_path = store.path_of(&bad);
    let mut bytes = fs::read(&bad_path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    fs::write(&bad_path, &bytes).unwrap();
    fs::write(tmp.0.join("app/garbage.rso"), b"hello").unwrap();
    fs::write(tmp.0.join("app/notes.txt"), b"not ours").unwrap();

    let inspected = FileStore::new(&tmp.0).inspect().unwrap();
    assert_eq!(inspected.set_aside.len(), 2);
    assert!(inspected.set_aside.iter().all(|s| s.moved_to.is_none()));

    let report = store.load_all().unwrap();
    assert_eq!(
        report.snapshots,
        vec![(good.clone(), snap(1, &[("k", 1.into())]))]
    );
    let reasons: Vec<_> = report
        .set_aside
        .iter()
        .map(|s| (s.location.clone(), s.moved_to.clone(), s.reason.to_string()))
        .collect();
    let at = |name: &str| display(&tmp.0.join("app").join(name));
    assert!(matches!(
        report.set_aside[0].reason,
        StoreError::Corrupt(SnapshotError::ChecksumMismatch { .. })
    ));
    assert!(matches!(
        report.set_aside[1].reason,
        StoreError::Corrupt(SnapshotError::BadMagic)
    ));
    assert_eq!(reasons[0].0, at("bad.rso"));
    assert_eq!(reasons[0].1, Some(at("bad.rso.corrupt-1")));
    assert_eq!(reasons[1].0, at("garbage.rso"));
    assert_eq!(reasons[1].1, Some(at("garbage.rso.corrupt-1")));
    assert_eq!(
        files(&tmp.0),
        [
            "app/bad.rso.corrupt-1",
            "app/garbage.rso.corrupt-1",
            "app/good.rso",
            "app/notes.txt"
        ]
    );
    // The set-aside bytes are untouched.
    assert_eq!(
        fs::read(tmp.0.join("app/bad.rso.corrupt-1")).unwrap(),
        bytes
    );

    // A later corrupt file with the same name gets the next number, and a
    // reload does not touch what was set aside.
    fs::write(&bad_path, b"RSO1 again").unwrap();
    let report = store.load_all().unwrap();
    assert_eq!(report.set_aside[0].moved_to, Some(at("bad.rso.corrupt-2")));
    assert_eq!(store.load_all().unwrap().set_aside.len(), 0);
    assert_eq!(files(&tmp.0).len(), 5);
}

#[test]
fn oversized_files_are_set_aside() {
    let tmp = TempDir::new("oversized");
    let mut store = FileStore::new(&tmp.0).with_max_file_bytes(64);
    let so = key("app", "big");
    store
        .save(&so, &snap(1, &[("k", "x".repeat(100).into())]))
        .unwrap();
    let report = store.load_all().unwrap();
    assert!(report.snapshots.is_empty());
    assert!(matches!(
        report.set_aside[0].reason,
        StoreError::TooLarge { max: 64, .. }
    ));
}

/// A file whose key differs from its path is loaded by the key inside and
/// moved to its path, so that a later delete removes it.
#[test]
fn misplaced_files_load_by_their_inner_key() {
    let tmp = TempDir::new("misplaced");
    let mut store = FileStore::new(&tmp.0);
    let so = key("app/room", "chat");
    store.save(&so, &snap(4, &[("k", 1.into())])).unwrap();
    let home = store.path_of(&so);
    fs::create_dir_all(tmp.0.join("elsewhere")).unwrap();
    fs::rename(&home, tmp.0.join("elsewhere/renamed.rso")).unwrap();

    let report = store.load_all().unwrap();
    assert_eq!(
        report.snapshots,
        vec![(so.clone(), snap(4, &[("k", 1.into())]))]
    );
    assert_eq!(files(&tmp.0), ["app/room/chat.rso"]);
    store.delete(&so).unwrap();
    assert!(store.load_all().unwrap().snapshots.is_empty());
}

/// Two files holding the same SO: the one at its path wins, the other is
/// set aside as a duplicate.
#[test]
fn duplicates_are_set_aside() {
    let tmp = TempDir::new("duplicates");
    let mut store = FileStore::new(&tmp.0);
    let so = key("app", "chat");
    store.save(&so, &snap(1, &[("old", true.into())])).unwrap();
    fs::copy(store.path_of(&so), tmp.0.join("app/a-copy.rso")).unwrap();
    store.save(&so, &snap(2, &[("new", true.into())])).unwrap();

    let report = store.load_all().unwrap();
    assert_eq!(
        report.snapshots,
        vec![(so.clone(), snap(2, &[("new", true.into())]))]
    );
    assert_eq!(report.set_aside.len(), 1);
    assert!(matches!(&report.set_aside[0].reason, StoreError::Duplicate(k) if *k == so));
    assert_eq!(
        files(&tmp.0),
        ["app/a-copy.rso.duplicate-1", "app/chat.rso"]
    );
}

#[test]
fn names_are_classified_by_suffix() {
    assert!(is_snapshot_name("chat.rso"));
    assert!(is_snapshot_name("x.rso.tmp-3.rso"));
    assert!(!is_snapshot_name("rso"));
    assert!(!is_snapshot_name("chat.rso.corrupt-1"));
    assert!(is_temp_name("chat.rso.tmp-12"));
    assert!(!is_temp_name("chat.rso.tmp-"));
    assert!(!is_temp_name("chat.rso.tmp-1x"));
    assert!(!is_temp_name("chat.rso.corrupt-1"));
}

/// A save that fails leaves the stored data as it was and no temp file.
#[test]
fn a_failed_save_changes_nothing() {
    let tmp = TempDir::new("failed-save");
    let mut store = FileStore::new(&tmp.0);
    let so = key("app", "x");
    let other = key("app", "other");
    store.save(&other, &snap(1, &[("k", 1.into())])).unwrap();
    // A directory where the file should go: the rename over it fails.
    fs::create_dir_all(tmp.0.join("app/x.rso/inside")).unwrap();
    let error = store.save(&so, &snap(1, &[])).unwrap_err();
    assert!(
        matches!(
            &error,
            StoreError::Io {
                action: "rename",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(files(&tmp.0), ["app/other.rso"]);
    assert_eq!(
        store.load_all().unwrap().snapshots,
        vec![(other, snap(1, &[("k", 1.into())]))]
    );
}

#[test]
fn a_relative_data_directory_works() {
    let tmp = TempDir::new("relative");
    // Relative to the current directory, as `--data-dir so-data` is.
    let cwd = std::env::current_dir().unwrap();
    let relative = pathdiff(&tmp.0.join("so-data"), &cwd);
    let mut store = FileStore::new(&relative);
    let so = key("app", "x");
    store.save(&so, &snap(1, &[])).unwrap();
    assert_eq!(
        store.load_all().unwrap().snapshots,
        vec![(so, snap(1, &[]))]
    );
}

/// `target` relative to `base` (both absolute).
fn pathdiff(target: &Path, base: &Path) -> PathBuf {
    let mut up = PathBuf::new();
    let mut base = base.to_path_buf();
    while !target.starts_with(&base) {
        up.push("..");
        base.pop();
    }
    up.join(target.strip_prefix(&base).unwrap())
}
