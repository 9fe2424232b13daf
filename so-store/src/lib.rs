//! The embedded store of persistent SharedObjects: one SQLite database
//! (bundled through `rusqlite`, so no system library is needed), written
//! one transaction per flush.
//!
//! The engine says what to store (`so_engine::Output::Persist` and
//! `DeletePersisted`); the server batches those per flush and hands each
//! batch to [`Store::apply_batch`], which this store runs as **one
//! transaction**: every dirty SO of the flush, or none of them, with one
//! sync to disk. A flush of 10,000 changed SOs is one commit, not 10,000
//! file writes, so the flush interval holds as the number of changed SOs
//! grows.
//!
//! # Layout
//!
//! One file, [`DB_FILE_NAME`] in the data directory, one table:
//!
//! ```sql
//! CREATE TABLE shared_objects (
//!     scope   TEXT    NOT NULL,  -- the scope path, `app/room`
//!     name    TEXT    NOT NULL,  -- the SO's name, as the client sent it
//!     version INTEGER NOT NULL,  -- the SO's version
//!     data    BLOB    NOT NULL,  -- the snapshot (so_engine::store::format)
//!     PRIMARY KEY (scope, name)
//! );
//! ```
//!
//! SOs are keyed by (scope path, name) as data: no file name is ever made
//! from client input, so names with `/`, `..`, `%2F`, any Unicode, or a
//! room named like another room's SO never meet. The `data` column holds the
//! snapshot in the engine's own format (AMF3 values, every value type, with
//! a CRC-32 and the key inside, checked against the row's key at load).
//! Rows that cannot be used are moved to a second table,
//! `unreadable_shared_objects` (same columns plus `reason`), and reported
//! with their scope and name; the rest loads.
//!
//! # Durability: WAL, `synchronous`, checkpoints
//!
//! - **WAL mode** (`journal_mode=WAL`): a commit appends to the write-ahead
//!   log, readers never block the writer, and the `so-store` tool can read
//!   while the server runs.
//! - **`synchronous=FULL`** by default ([`Synchronous::Full`]): every
//!   commit, so every flush, is synced to disk before the flush counts as
//!   done, so an acknowledged flush survives a power loss as well as a
//!   crash; the price is one sync per flush, not per SO.
//!   [`Synchronous::Normal`] skips that sync (the WAL is synced at
//!   checkpoints only): it survives a crash of the server process (`kill
//!   -9`) but may lose the last flushes on a power loss or OS crash. The
//!   example server's `--sync normal` picks it.
//! - **Checkpoints**: SQLite's automatic checkpoint copies the log into the
//!   database whenever it passes [`AUTOCHECKPOINT_PAGES`] pages (about
//!   4 MiB), so the log stays small under steady writes. Dropping the store
//!   (a graceful shutdown) runs a `TRUNCATE` checkpoint, leaving the whole
//!   state in the database file and an empty log.
//!
//! # One server per data directory
//!
//! A second server on the same directory would overwrite the first one's
//! data. The store therefore holds an exclusive lock on [`LOCK_FILE_NAME`]
//! (an advisory `flock`) for as long as it is open; a second server fails
//! to start with a message naming the file. Readers (the `so-store` tool,
//! [`inspect`]) take no lock. On platforms without `flock` (non-Unix) the
//! lock is not taken.
//!
//! # Failures
//!
//! Opening happens at the first [`Store::load_all`], before the server
//! accepts anyone, and checks everything a later write would trip on: the
//! directory can be created and written, the lock is free, the file is a
//! SQLite database of a schema this version knows, and `PRAGMA
//! quick_check` passes. Each failure is an [`OpenError`] whose message
//! names the file and says what to do. A write that fails later (a full
//! disk) fails its whole flush, which the server retries with an
//! exponential backoff (`so_engine::store::RetryBackoff`).
//!
//! # Versions
//!
//! A cleared SO is stored empty with its version, so versions never go
//! back over restarts. An SO destroyed by server code is deleted: a later
//! SO of that name is a new one (see the `so_engine` docs).

#![warn(missing_docs)]

mod import;
mod open;

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use so_engine::store::format::{SNAPSHOT_LIMITS, decode_snapshot_with};
use so_engine::store::{LoadReport, SetAside, Store, StoreError, StoreOp, encode_snapshot};
use so_engine::{ScopePath, Snapshot, SoKey};

pub use import::{ImportReport, MAX_IMPORT_FILE_BYTES, import_dir};
pub use open::OpenError;

/// The database's file name in the data directory.
pub const DB_FILE_NAME: &str = "shared-objects.sqlite3";
/// The lock file's name in the data directory (see the crate docs).
pub const LOCK_FILE_NAME: &str = "shared-objects.lock";
/// Pages in the write-ahead log past which SQLite checkpoints it (its own
/// default, 1000 pages of 4 KiB, set explicitly so it is a choice).
pub const AUTOCHECKPOINT_PAGES: u32 = 1000;
/// How long a statement waits for a lock another connection holds (a
/// reader's brief lock during a checkpoint) before failing.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The schema version this crate writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// How hard a commit syncs (SQLite's `synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Sync the log at every commit: a finished flush survives a power
    /// loss. The default.
    #[default]
    Full,
    /// Sync at checkpoints only: a finished flush survives a crash of the
    /// process, not of the machine.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// A [`Store`] in one SQLite database under a data directory.
#[derive(Debug)]
pub struct SqliteStore {
    dir: PathBuf,
    synchronous: Synchronous,
    open: Option<Opened>,
}

#[derive(Debug)]
struct Opened {
    conn: Connection,
    /// Held (locked) while the store is open.
    _lock: Option<File>,
}

impl SqliteStore {
    /// A store in `dir`, opened (and created if missing) at the first
    /// [`Store::load_all`] or write. No I/O happens here.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            synchronous: Synchronous::default(),
            open: None,
        }
    }

    /// Syncs commits as `synchronous` says instead of [`Synchronous::Full`].
    pub fn with_synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(DB_FILE_NAME)
    }

    /// Opens the database now (if not open yet): creates the directory and
    /// the database if missing, takes the lock, checks the file. See
    /// [`OpenError`] for what can go wrong.
    pub fn open(&mut self) -> Result<(), OpenError> {
        if self.open.is_none() {
            let (conn, lock) = open::open_for_writing(&self.dir, self.synchronous)?;
            self.open = Some(Opened { conn, _lock: lock });
        }
        Ok(())
    }

    fn conn(&mut self) -> Result<&mut Connection, StoreError> {
        self.open().map_err(backend)?;
        match &mut self.open {
            Some(opened) => Ok(&mut opened.conn),
            None => Err(backend(OpenError::Closed)),
        }
    }

    /// Stores snapshots as they are (the import's way in): one transaction.
    fn put_all(&mut self, snapshots: &[(SoKey, Snapshot)]) -> Result<(), StoreError> {
        let path = self.path();
        let conn = self.conn()?;
        let sql = |e| backend(OpenError::sql("write", &path, e));
        let tx = conn.transaction().map_err(sql)?;
        for (so, snapshot) in snapshots {
            upsert(&tx, so, snapshot).map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }
}

impl Store for SqliteStore {
    /// Opens the database (see [`SqliteStore::open`]) and reads every row.
    /// Rows that do not decode, or hold another SO's data, are moved to
    /// `unreadable_shared_objects` and reported; the rest loads.
    fn load_all(&mut self) -> Result<LoadReport, StoreError> {
        let path = self.path();
        let conn = self.conn()?;
        let sql = |e| backend(OpenError::sql("read", &path, e));
        let tx = conn.transaction().map_err(sql)?;
        let (report, bad) = read_rows(&tx, &path)?;
        for (rowid, reason) in &bad {
            tx.execute(
                "INSERT OR REPLACE INTO unreadable_shared_objects
                     (scope, name, version, data, reason)
                 SELECT scope, name, version, data, ?2 FROM shared_objects WHERE rowid = ?1",
                params![rowid, reason],
            )
            .map_err(sql)?;
            tx.execute(
                "DELETE FROM shared_objects WHERE rowid = ?1",
                params![rowid],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(report)
    }

    fn save(&mut self, so: &SoKey, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.apply_batch(&[StoreOp::Save {
            so: so.clone(),
            snapshot: Box::new(snapshot.clone()),
        }])
    }

    fn delete(&mut self, so: &SoKey) -> Result<(), StoreError> {
        self.apply_batch(&[StoreOp::Delete { so: so.clone() }])
    }

    /// One transaction for the whole batch: all of it is stored, or none.
    fn apply_batch(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        let path = self.path();
        let conn = self.conn()?;
        let sql = |e| backend(OpenError::sql("write", &path, e));
        let tx = conn.transaction().map_err(sql)?;
        for op in ops {
            match op {
                StoreOp::Save { so, snapshot } => upsert(&tx, so, snapshot).map_err(sql)?,
                StoreOp::Delete { so } => {
                    tx.prepare_cached("DELETE FROM shared_objects WHERE scope = ?1 AND name = ?2")
                        .and_then(|mut s| s.execute(params![so.scope.as_str(), &*so.name]))
                        .map_err(sql)?;
                }
            }
        }
        tx.commit().map_err(sql)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(opened) = &self.open {
            // Best effort: SQLite checkpoints at close anyway; this one
            // also empties the log file.
            let _ = opened
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

/// What a load of the database in `dir` would find, without changing
/// anything and without the lock: safe while a server uses the directory
/// (WAL lets a reader see the last committed flush). Unreadable rows are
/// reported (`moved_to` is `None`), not moved.
pub fn inspect(dir: &Path) -> Result<LoadReport, OpenError> {
    let path = dir.join(DB_FILE_NAME);
    let conn = open::open_read_only(&path)?;
    let (mut report, _) = read_rows(&conn, &path).map_err(|e| OpenError::Read {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    for entry in &mut report.set_aside {
        entry.moved_to = None;
    }
    let mut unreadable = conn
        .prepare("SELECT scope, name, reason FROM unreadable_shared_objects ORDER BY scope, name")
        .map_err(|e| OpenError::sql("read", &path, e))?;
    let rows = unreadable
        .query_map([], |row| {
            let text = |i| text(row.get_ref(i).ok()).unwrap_or_else(|lossy| lossy);
            Ok((text(0), text(1), text(2)))
        })
        .map_err(|e| OpenError::sql("read", &path, e))?;
    for row in rows {
        let (scope, name, reason) = row.map_err(|e| OpenError::sql("read", &path, e))?;
        report.set_aside.push(SetAside {
            location: location(&scope, &name),
            moved_to: Some("unreadable_shared_objects (set aside earlier)".into()),
            reason: StoreError::Backend(reason.into()),
        });
    }
    Ok(report)
}

fn upsert(conn: &Connection, so: &SoKey, snapshot: &Snapshot) -> rusqlite::Result<()> {
    let data = encode_snapshot(so, snapshot);
    conn.prepare_cached(
        "INSERT INTO shared_objects (scope, name, version, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (scope, name) DO UPDATE SET version = excluded.version, data = excluded.data",
    )?
    .execute(params![
        so.scope.as_str(),
        &*so.name,
        snapshot.version,
        data
    ])?;
    Ok(())
}

/// A row to set aside: its rowid (its key may not be text) and why.
type BadRow = (i64, String);

/// Reads every row: the usable ones as snapshots, the others as set-aside
/// entries, also returned by rowid for moving them.
fn read_rows(conn: &Connection, path: &Path) -> Result<(LoadReport, Vec<BadRow>), StoreError> {
    let sql = |e| backend(OpenError::sql("read", path, e));
    let mut statement = conn
        .prepare(
            "SELECT scope, name, version, data, rowid FROM shared_objects ORDER BY scope, name",
        )
        .map_err(sql)?;
    let mut rows = statement.query([]).map_err(sql)?;
    let mut report = LoadReport::default();
    let mut bad = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        let rowid: i64 = row.get(4).map_err(sql)?;
        let text = |i| text(row.get_ref(i).ok());
        let (scope, name) = match (text(0), text(1)) {
            (Ok(scope), Ok(name)) => (scope, name),
            (scope, name) => {
                let (scope, name) = (scope.unwrap_or_else(|s| s), name.unwrap_or_else(|n| n));
                let reason = "scope or name is not UTF-8 text".to_owned();
                report.set_aside.push(set_aside(&scope, &name, &reason));
                bad.push((rowid, reason));
                continue;
            }
        };
        let data = row.get_ref(3).ok().and_then(|v| v.as_blob().ok());
        let version = row.get::<_, i64>(2).ok();
        match check_row(&scope, &name, version, data) {
            Ok((so, snapshot)) => report.snapshots.push((so, snapshot)),
            Err(reason) => {
                report.set_aside.push(set_aside(&scope, &name, &reason));
                bad.push((rowid, reason));
            }
        }
    }
    report.snapshots.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((report, bad))
}

/// A text column's value; `Err` with the text read lossily when it is not
/// UTF-8 text (only a hand-edited database has such keys), to name the row.
fn text(value: Option<rusqlite::types::ValueRef<'_>>) -> Result<String, String> {
    let value = value.ok_or_else(String::new)?;
    match value.as_str() {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => Err(value
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()),
    }
}

/// Decodes one row's data and checks it belongs to the row.
fn check_row(
    scope: &str,
    name: &str,
    version: Option<i64>,
    data: Option<&[u8]>,
) -> Result<(SoKey, Snapshot), String> {
    let data = data.ok_or("the data is not a blob")?;
    let (so, snapshot) = decode_snapshot_with(data, &SNAPSHOT_LIMITS).map_err(|e| e.to_string())?;
    let row_scope = ScopePath::new(scope)
        .ok()
        .filter(|s| s.as_str() == scope)
        .ok_or_else(|| format!("invalid scope path {scope:?}"))?;
    if so.scope != row_scope || &*so.name != name {
        return Err(format!("the data belongs to {so}"));
    }
    if version != Some(i64::from(snapshot.version)) {
        return Err(format!(
            "version column {version:?} differs from the data's {}",
            snapshot.version
        ));
    }
    Ok((so, snapshot))
}

fn set_aside(scope: &str, name: &str, reason: &str) -> SetAside {
    SetAside {
        location: location(scope, name),
        moved_to: Some("table unreadable_shared_objects".into()),
        reason: StoreError::Backend(reason.to_owned().into()),
    }
}

/// How a row is named in messages: `scope "app/room", SO "name"`.
fn location(scope: &str, name: &str) -> String {
    format!("scope {scope:?}, SO {name:?}")
}

fn backend(error: OpenError) -> StoreError {
    StoreError::Backend(Box::new(error))
}

#[cfg(test)]
mod tests;
