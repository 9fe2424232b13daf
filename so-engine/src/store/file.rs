//! The embedded default store: one file per SO under a data directory,
//! written atomically. Plain blocking `std::fs`: adapters run it on their
//! runtime's blocking pool. The only I/O in this crate (feature
//! `file-store`).
//!
//! # Layout
//!
//! `<dir>/<scope segments>/<name>.rso`, e.g. `so-data/chat/lobby/users.rso`
//! for the SO `users` in the room `chat/lobby`. Segments and names are made
//! file-system safe by percent-encoding every byte outside `a`–`z`, `0`–`9`,
//! `-`, `_` and inner `.`:
//!
//! - uppercase letters are encoded too (`Chat` → `%43hat.rso`), so names
//!   differing in case stay apart on case-insensitive file systems (macOS,
//!   Windows), and so are all non-ASCII bytes (no Unicode normalization can
//!   merge two names);
//! - `/`, `\`, `..`, control characters, a leading or trailing dot, and
//!   Windows device names (`con`, `nul`, `com1`, ...) never reach the file
//!   system as such; the empty name is `%`;
//! - a name whose encoding passes 200 bytes keeps its first 180 and ends in
//!   `~` and 16 hex digits of its FNV-1a hash (file names have 255 bytes).
//!
//! The mapping is only ever applied, never reversed: every file holds its
//! own scope and name, and [`FileStore::load_all`] goes by those.
//!
//! # Crash safety
//!
//! [`Store::save`] writes `<file>.tmp-<n>`, fsyncs it, renames it over
//! `<file>`, and fsyncs the directory, so a crash leaves either the old
//! file or the new one, whole; a directory it had to create is fsynced into
//! its parent too. [`Store::delete`] removes the file and fsyncs the
//! directory, so a cleared SO stays cleared. At load, leftover temp files
//! are removed (the file they were replacing is intact), and a file that
//! does not decode is renamed to `<file>.corrupt-<n>` and reported, never
//! deleted. The store assumes it is the only writer of its directory.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rtmp_proto::amf::Limits;

use super::format::{SNAPSHOT_LIMITS, decode_snapshot_with, encode_snapshot};
use super::{LoadReport, SetAside, Store, StoreError};
use crate::io::Snapshot;
use crate::types::SoKey;

/// A [`Store`] keeping each persistent SO in its own file under a directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    limits: Limits,
    max_file_bytes: u64,
    next_temp: u64,
}

impl FileStore {
    /// Default largest file read: 1 GiB. A larger `.rso` file is set aside
    /// rather than read into memory.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

    /// A store in `dir`, created at the first load or save if missing. No
    /// I/O happens here.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            limits: SNAPSHOT_LIMITS,
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            next_temp: 0,
        }
    }

    /// Decodes values with these limits instead of [`SNAPSHOT_LIMITS`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Reads files of at most `max` bytes instead of
    /// [`DEFAULT_MAX_FILE_BYTES`](Self::DEFAULT_MAX_FILE_BYTES).
    pub fn with_max_file_bytes(mut self, max: u64) -> Self {
        self.max_file_bytes = max;
        self
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `so`.
    pub fn path_of(&self, so: &SoKey) -> PathBuf {
        let mut path = self.scope_dir(so);
        path.push(format!("{}.{EXTENSION}", safe_name(&so.name)));
        path
    }

    /// What [`Store::load_all`] would load, without changing anything: no
    /// temp file is removed, nothing is set aside (`moved_to` is `None`),
    /// nothing is created. Safe while a server uses the directory (a temp
    /// file it lists may then be a write in progress).
    pub fn inspect(&self) -> Result<LoadReport, StoreError> {
        let files = scan(&self.dir)?;
        let mut report = LoadReport {
            stale_temps: files.temps.iter().map(|p| display(p)).collect(),
            ..LoadReport::default()
        };
        let mut found = Vec::new();
        for path in files.snapshots {
            match self.read(&path) {
                Ok((so, snapshot)) => found.push((path, so, snapshot)),
                Err(Unreadable::Gone) => {}
                Err(Unreadable::Io(error)) => return Err(error),
                Err(Unreadable::Bad(reason)) => report.set_aside.push(SetAside {
                    location: display(&path),
                    moved_to: None,
                    reason,
                }),
            }
        }
        for (path, so, snapshot, winner) in self.resolve(found) {
            if winner {
                report.snapshots.push((so, snapshot));
            } else {
                report.set_aside.push(SetAside {
                    location: display(&path),
                    moved_to: None,
                    reason: StoreError::Duplicate(so),
                });
            }
        }
        report.snapshots.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(report)
    }

    /// The directory of `so`'s scope.
    fn scope_dir(&self, so: &SoKey) -> PathBuf {
        let mut path = self.dir.clone();
        for segment in so.scope.as_str().split('/') {
            path.push(safe_name(segment));
        }
        path
    }

    fn read(&self, path: &Path) -> Result<(SoKey, Snapshot), Unreadable> {
        let failed = |e: io::Error| match e.kind() {
            io::ErrorKind::NotFound => Unreadable::Gone,
            _ => Unreadable::Io(io_error("read", path, e)),
        };
        let size = fs::metadata(path).map_err(failed)?.len();
        if size > self.max_file_bytes {
            return Err(Unreadable::Bad(StoreError::TooLarge {
                size,
                max: self.max_file_bytes,
            }));
        }
        let bytes = fs::read(path).map_err(failed)?;
        decode_snapshot_with(&bytes, &self.limits).map_err(|e| Unreadable::Bad(e.into()))
    }

    /// Picks one file per SO: the one at the SO's own path, else the first
    /// in path order. Returns every file with whether it won, in path order.
    fn resolve(
        &self,
        found: Vec<(PathBuf, SoKey, Snapshot)>,
    ) -> Vec<(PathBuf, SoKey, Snapshot, bool)> {
        let mut placed: std::collections::BTreeSet<SoKey> = found
            .iter()
            .filter(|(path, so, _)| *path == self.path_of(so))
            .map(|(_, so, _)| so.clone())
            .collect();
        found
            .into_iter()
            .map(|(path, so, snapshot)| {
                let winner = if path == self.path_of(&so) {
                    true
                } else if placed.contains(&so) {
                    false
                } else {
                    placed.insert(so.clone());
                    true
                };
                (path, so, snapshot, winner)
            })
            .collect()
    }

    /// Creates the data directory if missing, fsyncing it into its parent.
    fn ensure_dir(&self) -> Result<(), StoreError> {
        if self.dir.is_dir() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(|e| io_error("create", &self.dir, e))?;
        match self.dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
            _ => sync_dir(Path::new(".")),
        }
    }

    /// Creates the directories down to `so`'s scope, fsyncing each new one
    /// into its parent.
    fn ensure_scope_dir(&self, so: &SoKey) -> Result<PathBuf, StoreError> {
        self.ensure_dir()?;
        let mut path = self.dir.clone();
        for segment in so.scope.as_str().split('/') {
            path.push(safe_name(segment));
            match fs::create_dir(&path) {
                Ok(()) => sync_dir(path.parent().unwrap_or(&self.dir))?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("create", &path, e)),
            }
        }
        Ok(path)
    }

    /// Creates a fresh `<target>.tmp-<n>`.
    fn create_temp(&mut self, target: &Path) -> Result<(PathBuf, File), StoreError> {
        let mut last = None;
        for _ in 0..MAX_NAME_ATTEMPTS {
            let temp = with_suffix(target, "tmp", self.next_temp);
            self.next_temp = self.next_temp.wrapping_add(1);
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => return Ok((temp, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(io_error("create", &temp, e)),
            }
        }
        let error = last.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into());
        Err(io_error("create temp file for", target, error))
    }

    /// Writes `bytes` to a temp file and renames it over `target`.
    fn write_atomically(&mut self, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let (temp, mut file) = self.create_temp(target)?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("write", &temp, e))
            .and_then(|()| {
                drop(file);
                fs::rename(&temp, target).map_err(|e| io_error("rename", &temp, e))
            });
        if written.is_err() {
            // Best effort: a leftover is removed at the next load anyway.
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

impl Store for FileStore {
    /// Loads every `.rso` file under the directory (creating it if
    /// missing): removes stale temp files, sets aside (renames to
    /// `<file>.corrupt-<n>`) what does not decode or is too large, loads
    /// the rest by the key inside each file. A file found outside its
    /// SO's path is moved there; if another file already holds that SO, the
    /// one at the right path wins and the other is renamed to
    /// `<file>.duplicate-<n>`. A file that cannot be read at all (an I/O
    /// error, such as a permission) fails the load: serving without it
    /// would overwrite it later.
    fn load_all(&mut self) -> Result<LoadReport, StoreError> {
        self.ensure_dir()?;
        let files = scan(&self.dir)?;
        let mut report = LoadReport::default();
        let mut touched = std::collections::BTreeSet::new();
        for temp in files.temps {
            match fs::remove_file(&temp) {
                Ok(()) => {
                    touched.extend(temp.parent().map(Path::to_path_buf));
                    report.stale_temps.push(display(&temp));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &temp, e)),
            }
        }
        let mut found = Vec::new();
        for path in files.snapshots {
            match self.read(&path) {
                Ok((so, snapshot)) => found.push((path, so, snapshot)),
                Err(Unreadable::Gone) => {}
                Err(Unreadable::Io(error)) => return Err(error),
                Err(Unreadable::Bad(reason)) => {
                    report.set_aside.push(set_aside(&path, "corrupt", reason));
                    touched.extend(path.parent().map(Path::to_path_buf));
                }
            }
        }
        for (path, so, snapshot, winner) in self.resolve(found) {
            if !winner {
                let reason = StoreError::Duplicate(so);
                report.set_aside.push(set_aside(&path, "duplicate", reason));
                touched.extend(path.parent().map(Path::to_path_buf));
                continue;
            }
            let home = self.path_of(&so);
            // Move a misplaced file home, so later saves and deletes act on
            // it (else a deleted SO would come back from it). If another
            // SO's file sits there (a hash collision), it stays put.
            if path != home && !home.exists() {
                let dir = self.ensure_scope_dir(&so)?;
                fs::rename(&path, &home).map_err(|e| io_error("rename", &path, e))?;
                touched.insert(dir);
                touched.extend(path.parent().map(Path::to_path_buf));
            }
            report.snapshots.push((so, snapshot));
        }
        for dir in &touched {
            sync_dir(dir)?;
        }
        report.snapshots.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(report)
    }

    fn save(&mut self, so: &SoKey, snapshot: &Snapshot) -> Result<(), StoreError> {
        let bytes = encode_snapshot(so, snapshot);
        let dir = self.ensure_scope_dir(so)?;
        let target = self.path_of(so);
        self.write_atomically(&target, &bytes)?;
        sync_dir(&dir)
    }

    fn delete(&mut self, so: &SoKey) -> Result<(), StoreError> {
        let target = self.path_of(so);
        match fs::remove_file(&target) {
            Ok(()) => sync_dir(&self.scope_dir(so)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &target, e)),
        }
    }
}

/// The extension of snapshot files.
const EXTENSION: &str = "rso";
/// Longest encoded name or segment kept whole.
const MAX_SAFE_NAME: usize = 200;
/// Bytes of a long encoded name kept before its hash.
const LONG_NAME_PREFIX: usize = 180;
/// Suffix numbers tried for a temp or set-aside file before giving up.
const MAX_NAME_ATTEMPTS: u64 = 10_000;

/// Why a file was not loaded.
enum Unreadable {
    /// A reason to set it aside.
    Bad(StoreError),
    /// An I/O failure: the load fails.
    Io(StoreError),
    /// It went away after the walk saw it (a server deleted it while
    /// [`FileStore::inspect`] looked): nothing to load.
    Gone,
}

/// The files a walk found, each list in path order.
#[derive(Default)]
struct Files {
    snapshots: Vec<PathBuf>,
    temps: Vec<PathBuf>,
}

/// Walks `root` without following symbolic links; sorts what it finds.
/// Files that are neither snapshots nor temp files (set-aside files,
/// anything else) are left alone.
fn scan(root: &Path) -> Result<Files, StoreError> {
    let mut files = Files::default();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| io_error("list", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list", &dir, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| io_error("stat", &entry.path(), e))?;
            let path = entry.path();
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() {
                // Our names are ASCII; anything else is not ours.
                match entry.file_name().to_str() {
                    Some(name) if is_snapshot_name(name) => files.snapshots.push(path),
                    Some(name) if is_temp_name(name) => files.temps.push(path),
                    _ => {}
                }
            }
        }
    }
    files.snapshots.sort();
    files.temps.sort();
    Ok(files)
}

fn is_snapshot_name(name: &str) -> bool {
    name.strip_suffix(EXTENSION)
        .is_some_and(|stem| stem.ends_with('.'))
}

/// `<anything>.rso.tmp-<digits>`.
fn is_temp_name(name: &str) -> bool {
    name.rsplit_once(".rso.tmp-")
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Renames `path` to a free `<path>.<kind>-<n>` and describes it.
fn set_aside(path: &Path, kind: &str, reason: StoreError) -> SetAside {
    let moved_to = (1..MAX_NAME_ATTEMPTS)
        .map(|n| with_suffix(path, kind, n))
        .find(|candidate| !candidate.exists())
        .filter(|candidate| fs::rename(path, candidate).is_ok());
    SetAside {
        location: display(path),
        moved_to: moved_to.as_deref().map(display),
        reason,
    }
}

/// `<path>.<kind>-<n>`.
fn with_suffix(path: &Path, kind: &str, n: u64) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{kind}-{n}"));
    PathBuf::from(name)
}

/// Makes a name or scope segment safe as one file name (module docs).
fn safe_name(name: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if name.is_empty() {
        return "%".into();
    }
    let bytes = name.as_bytes();
    let last = bytes.len() - 1;
    let mut out = String::with_capacity(bytes.len());
    // Where to cut if the result is too long: the end of the last whole
    // token within the prefix.
    let mut cut = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let literal = matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_')
            || (b == b'.' && i != 0 && i != last);
        if literal {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
        if out.len() <= LONG_NAME_PREFIX {
            cut = out.len();
        }
    }
    if is_device_name(&out) {
        // Encode the first letter: the name is no longer the device's.
        let first = out.remove(0);
        out.insert_str(0, &format!("%{:02X}", u32::from(first)));
    }
    if out.len() > MAX_SAFE_NAME {
        out.truncate(cut);
        out.push_str(&format!("~{:016x}", fnv1a(bytes)));
    }
    out
}

/// Windows reserves these names, with any extension, in every directory.
fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    match stem.len() {
        3 => ["con", "prn", "aux", "nul"].contains(&stem),
        4 => {
            (stem.starts_with("com") || stem.starts_with("lpt"))
                && stem.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// 64-bit FNV-1a: tiny, stable across versions and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync", dir, e))
}

/// Other systems cannot open a directory to sync it; their rename is
/// as durable as they make it.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
