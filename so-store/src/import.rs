//! `so-store import DIR`: brings an old data directory (one `.rso` file per
//! SO, written by the file store of earlier versions) into the database.
//! Read-only on the old directory; the files' format is the engine's
//! snapshot format, decoded with its checks (magic, CRC-32, key).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use so_engine::store::format::{SNAPSHOT_LIMITS, decode_snapshot_with};
use so_engine::store::{Store, StoreError};
use so_engine::{Snapshot, SoKey};

use super::SqliteStore;

/// Largest old file read: 1 GiB (the old store's own limit).
pub const MAX_IMPORT_FILE_BYTES: u64 = 1 << 30;
/// The old files' extension.
const OLD_EXTENSION: &str = ".rso";

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// The SOs written into the database, with their versions.
    pub imported: Vec<(SoKey, u32)>,
    /// SOs not written, and why (the database holds a newer version, or
    /// another file held a newer one).
    pub kept: Vec<(SoKey, String)>,
    /// Files that could not be read, and why.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Other files found and left alone (interrupted writes, set-aside
    /// files).
    pub ignored: Vec<PathBuf>,
}

/// Imports every `.rso` file under `old_dir` into `store`, in one
/// transaction. An SO already in the database with the same or a higher
/// version keeps the database's data; of two files holding the same SO,
/// the higher version wins.
pub fn import_dir(store: &mut SqliteStore, old_dir: &Path) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    let mut found: BTreeMap<SoKey, Snapshot> = BTreeMap::new();
    for path in walk(old_dir)? {
        let is_snapshot = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(OLD_EXTENSION));
        if !is_snapshot {
            report.ignored.push(path);
            continue;
        }
        match read(&path) {
            Ok((so, snapshot)) => match found.get(&so) {
                Some(other) if other.version >= snapshot.version => {
                    let why = format!(
                        "{} holds an older copy (version {})",
                        path.display(),
                        snapshot.version
                    );
                    report.kept.push((so, why));
                }
                _ => {
                    found.insert(so, snapshot);
                }
            },
            Err(reason) => report.unreadable.push((path, reason)),
        }
    }
    let stored: BTreeMap<SoKey, u32> = store
        .load_all()?
        .snapshots
        .into_iter()
        .map(|(so, snapshot)| (so, snapshot.version))
        .collect();
    let mut writes = Vec::new();
    for (so, snapshot) in found {
        match stored.get(&so) {
            Some(&version) if version >= snapshot.version => {
                let why = format!(
                    "the database holds version {version}, the file {}",
                    snapshot.version
                );
                report.kept.push((so, why));
            }
            _ => {
                report.imported.push((so.clone(), snapshot.version));
                writes.push((so, snapshot));
            }
        }
    }
    store.put_all(&writes)?;
    Ok(report)
}

fn read(path: &Path) -> Result<(SoKey, Snapshot), String> {
    let size = fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_IMPORT_FILE_BYTES {
        return Err(format!(
            "{size} bytes, over the limit of {MAX_IMPORT_FILE_BYTES}"
        ));
    }
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    decode_snapshot_with(&bytes, &SNAPSHOT_LIMITS).map_err(|e| e.to_string())
}

/// Every file under `root`, sorted, not following symbolic links.
fn walk(root: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let failed = |path: &Path, e: std::io::Error| {
        StoreError::Backend(format!("cannot list {}: {e}", path.display()).into())
    };
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| failed(&dir, e))? {
            let entry = entry.map_err(|e| failed(&dir, e))?;
            let kind = entry.file_type().map_err(|e| failed(&entry.path(), e))?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}
