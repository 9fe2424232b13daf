//! Opening the database: every check a server needs before it serves
//! anyone, each failure one message that names the file and says what to
//! do.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{AUTOCHECKPOINT_PAGES, BUSY_TIMEOUT, LOCK_FILE_NAME, SCHEMA_VERSION, Synchronous};

/// Lines of `PRAGMA quick_check`'s findings quoted in the error.
const QUICK_CHECK_LINES_SHOWN: usize = 3;

/// Why the database cannot be opened or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The data directory cannot be created or is not a directory.
    #[error(
        "cannot use {} as the data directory: {source}. Create it as a directory \
         writable by this user, or choose another data directory",
        path.display()
    )]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The data directory or the database file cannot be written.
    #[error(
        "cannot write {}: {reason}. Make the data directory and its files writable by \
         this user, or choose another data directory",
        path.display()
    )]
    NotWritable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process holds the lock: another server uses the directory.
    #[error(
        "{} is locked: another server is using this data directory. Stop that server, \
         or give this one its own data directory",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The file is not a SQLite database.
    #[error(
        "{} is not a SQLite database ({reason}). Move it out of the data directory \
         (and restore the database from a backup if it held data), then start again",
        path.display()
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// SQLite's words.
        reason: String,
    },
    /// `PRAGMA quick_check` found damage.
    #[error(
        "{} is damaged (PRAGMA quick_check: {findings}). Stop, keep a copy of the data \
         directory, then restore the database from a backup or recover it (the sqlite3 \
         shell's `.recover`), and start again",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The first findings.
        findings: String,
    },
    /// The database was written by a newer version of this software.
    #[error(
        "{} has schema version {found}; this version knows {known} at most. Run a \
         newer server on it",
        path.display()
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// [`SCHEMA_VERSION`].
        known: i64,
    },
    /// There is no database to read (for the read-only tool).
    #[error("there is no database at {}: check the data directory", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Reading failed.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another SQLite error.
    #[error("cannot {action} {}: {source}", path.display())]
    Sql {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The store was used after it was closed.
    #[error("the store is closed")]
    Closed,
}

impl OpenError {
    /// Sorts a SQLite error at `path` into the variant that says what to do.
    pub(crate) fn sql(action: &'static str, path: &Path, source: rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => Self::NotADatabase {
                path,
                reason: source.to_string(),
            },
            Some(ErrorCode::DatabaseCorrupt) => Self::Corrupt {
                path,
                findings: source.to_string(),
            },
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                Self::NotWritable {
                    path,
                    reason: source.to_string(),
                }
            }
            _ => Self::Sql {
                action,
                path,
                source,
            },
        }
    }
}

/// Opens (creating if missing) the database in `dir` for the server: the
/// lock, the checks, WAL, the schema.
pub(crate) fn open_for_writing(
    dir: &Path,
    synchronous: Synchronous,
) -> Result<(Connection, Option<File>), OpenError> {
    let dir_error = |source| OpenError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(dir_error)?;
    if !dir.is_dir() {
        return Err(dir_error(io::ErrorKind::NotADirectory.into()));
    }
    let lock = lock(&dir.join(LOCK_FILE_NAME))?;
    let path = dir.join(super::DB_FILE_NAME);
    let at = path.clone();
    let sql = move |action: &'static str| {
        let at = at.clone();
        move |e| OpenError::sql(action, &at, e)
    };
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql("open"))?;
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(OpenError::NotWritable {
            path,
            reason: "the file is read-only".into(),
        });
    }
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql("configure"))?;
    // Reads the header first: a file that is not a database fails here.
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql("read"))?;
    if version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path,
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    quick_check(&conn, &path)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sql("configure"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotWritable {
            path,
            reason: format!("cannot switch to WAL mode (journal mode is {mode})"),
        });
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {};
         PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES};",
        synchronous.pragma()
    ))
    .map_err(sql("configure"))?;
    if version == 0 {
        create_schema(&conn).map_err(sql("create the tables in"))?;
    }
    Ok((conn, lock))
}

/// Opens the database at `path` read-only, taking no lock.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, OpenError> {
    if !path.exists() {
        return Err(OpenError::Missing {
            path: path.to_path_buf(),
        });
    }
    let sql = |e| OpenError::sql("open", path, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql)?;
    if version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        // A database no server finished creating: an empty one, in memory,
        // reads the same.
        let conn = Connection::open_in_memory().map_err(sql)?;
        create_schema(&conn).map_err(sql)?;
        return Ok(conn);
    }
    Ok(conn)
}

fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "BEGIN;
         CREATE TABLE IF NOT EXISTS shared_objects (
             scope   TEXT    NOT NULL,
             name    TEXT    NOT NULL,
             version INTEGER NOT NULL,
             data    BLOB    NOT NULL,
             PRIMARY KEY (scope, name)
         );
         CREATE TABLE IF NOT EXISTS unreadable_shared_objects (
             scope   TEXT    NOT NULL,
             name    TEXT    NOT NULL,
             version INTEGER,
             data    BLOB,
             reason  TEXT    NOT NULL,
             PRIMARY KEY (scope, name)
         );
         PRAGMA user_version = {SCHEMA_VERSION};
         COMMIT;"
    ))
}

fn quick_check(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let sql = |e| OpenError::sql("check", path, e);
    let mut statement = conn.prepare("PRAGMA quick_check").map_err(sql)?;
    let findings: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .map_err(sql)?
        .take(QUICK_CHECK_LINES_SHOWN + 1)
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    if findings.len() == 1 && findings[0] == "ok" {
        return Ok(());
    }
    let mut text = findings
        .iter()
        .take(QUICK_CHECK_LINES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if findings.len() > QUICK_CHECK_LINES_SHOWN {
        text.push_str("; ...");
    }
    Err(OpenError::Corrupt {
        path: path.to_path_buf(),
        findings: text,
    })
}

/// Creates `path` if missing and locks it exclusively, without waiting.
fn lock(path: &Path) -> Result<Option<File>, OpenError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| OpenError::NotWritable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    try_lock(file, path)
}

#[cfg(unix)]
fn try_lock(file: File, path: &Path) -> Result<Option<File>, OpenError> {
    use rustix::fs::{FlockOperation, flock};
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(OpenError::Locked {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(OpenError::NotWritable {
            path: path.to_path_buf(),
            reason: format!("cannot lock it: {e}"),
        }),
    }
}

/// No `flock` here: the lock file is created but not locked (crate docs).
#[cfg(not(unix))]
fn try_lock(file: File, _path: &Path) -> Result<Option<File>, OpenError> {
    Ok(Some(file))
}
