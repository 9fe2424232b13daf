//! The system tools the interop tests drive, found once per test binary.
//!
//! `cargo test --workspace` must pass on a machine with only Rust and
//! python3, so a test whose tool is missing **skips**: it prints one line
//! saying what is missing and how to install it, and returns. With
//! `RTMP_SO_REQUIRE_INTEROP=1` (as `.ci/run` sets it) the same test fails
//! instead, so CI cannot pass without running it.
//!
//! What the tests create for themselves stays theirs: the Python virtual
//! environment `target/interop-venv` is created, and its packages
//! installed from PyPI, when they are missing.
//!
//! `RTMP_SO_INTEROP_PRETEND_MISSING=tshark,librtmp,python3-venv,redis-server`
//! treats those as missing, to check the skip and the failure on a machine
//! that has them.
//!
//! Shared by `rtmp-proto/tests/interop_py3amf.rs`,
//! `adapter-tokio/tests/interop.rs`, `adapter-core/tests/cluster_redis.rs`
//! and the conformance suite's cluster tests (included with `#[path]`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Once, OnceLock};

/// Set to `1` to make a missing tool fail the tests instead of skipping them.
pub(crate) const REQUIRE_VAR: &str = "RTMP_SO_REQUIRE_INTEROP";

/// A comma-separated list of tools to treat as missing.
pub(crate) const PRETEND_MISSING_VAR: &str = "RTMP_SO_INTEROP_PRETEND_MISSING";

/// Why a tool cannot be used, and what would fix it.
#[derive(Debug, Clone)]
pub(crate) struct Missing {
    /// What is wrong, for people.
    what: String,
    /// What makes it right.
    install: String,
}

/// The venv's Python with py3amf importable, or `None` (after printing
/// why) when the calling test should skip.
pub(crate) fn python_with_py3amf() -> Option<&'static Path> {
    static FOUND: OnceLock<Result<PathBuf, Missing>> = OnceLock::new();
    static SAID: Once = Once::new();
    let found = FOUND.get_or_init(|| {
        python_with(&PythonNeeds {
            package: "py3amf",
            import: "import pyamf, pyamf.flex",
            tool: "python3-venv",
            system: &[],
        })
    });
    usable(found, &SAID).map(PathBuf::as_path)
}

/// The venv's Python with `python-librtmp` importable (built against
/// Debian's `librtmp-dev`), or `None` when the calling test should skip.
pub(crate) fn python_with_librtmp() -> Option<&'static Path> {
    static FOUND: OnceLock<Result<PathBuf, Missing>> = OnceLock::new();
    static SAID: Once = Once::new();
    let found = FOUND.get_or_init(|| {
        python_with(&PythonNeeds {
            package: "python-librtmp",
            import: "import librtmp",
            tool: "librtmp",
            // pip compiles python-librtmp's C extension against these.
            system: &[
                ("librtmp-dev", librtmp_headers_present),
                ("python3-dev", python_headers_present),
                ("gcc", || on_path("cc")),
            ],
        })
    });
    usable(found, &SAID).map(PathBuf::as_path)
}

/// `tshark`, or `None` when the calling test should skip.
pub(crate) fn tshark() -> Option<&'static str> {
    static FOUND: OnceLock<Result<&'static str, Missing>> = OnceLock::new();
    static SAID: Once = Once::new();
    let found = FOUND.get_or_init(|| {
        if !pretending("tshark") && runs(Command::new("tshark").arg("--version")) {
            Ok("tshark")
        } else {
            Err(Missing::packages(&["tshark"]))
        }
    });
    usable(found, &SAID).copied()
}

/// `redis-server`, or `None` when the calling test should skip.
pub(crate) fn redis_server() -> Option<&'static str> {
    static FOUND: OnceLock<Result<&'static str, Missing>> = OnceLock::new();
    static SAID: Once = Once::new();
    let found = FOUND.get_or_init(|| {
        if !pretending("redis-server") && runs(Command::new("redis-server").arg("--version")) {
            Ok("redis-server")
        } else {
            Err(Missing::packages(&["redis-server"]))
        }
    });
    usable(found, &SAID).copied()
}

/// Skip or fail: `Some` when found; otherwise one line on stderr and
/// `None`, or a panic under [`REQUIRE_VAR`].
fn usable<'a, T>(found: &'a Result<T, Missing>, said: &Once) -> Option<&'a T> {
    let missing = match found {
        Ok(tool) => return Some(tool),
        Err(missing) => missing,
    };
    if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
        panic!(
            "interop test cannot run: {}; to run it: {} ({REQUIRE_VAR}=1 makes this a failure)",
            missing.what, missing.install
        );
    }
    // Once per binary, and straight to stderr: the test harness captures
    // `eprintln!` of passing tests, and a skip passes.
    said.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "skipping interop tests: {}; to run them: {} ({REQUIRE_VAR}=1 fails instead)",
            missing.what,
            missing.install
        );
    });
    None
}

impl Missing {
    /// Debian packages missing.
    fn packages(packages: &[&str]) -> Self {
        Self {
            what: format!("{} not installed", packages.join(", ")),
            install: format!("apt-get install {}", packages.join(" ")),
        }
    }
}

/// A Debian package and the check that it is installed.
type SystemPackage = (&'static str, fn() -> bool);

/// What one Python-driven tool needs.
struct PythonNeeds {
    /// The PyPI package to install into the venv.
    package: &'static str,
    /// Python code that succeeds once the package works.
    import: &'static str,
    /// The name [`PRETEND_MISSING_VAR`] uses for this tool.
    tool: &'static str,
    /// Debian packages the install needs, each with its check.
    system: &'static [SystemPackage],
}

/// The venv's Python with `needs.package` importable, set up if needed.
fn python_with(needs: &PythonNeeds) -> Result<PathBuf, Missing> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/interop-venv");
    let python = venv.join("bin/python");
    let pretend = pretending(needs.tool);
    if !pretend && runs(Command::new(&python).args(["-c", needs.import])) {
        return Ok(python);
    }
    let mut absent: Vec<&str> = needs
        .system
        .iter()
        .filter(|(_, present)| !present())
        .map(|(package, _)| *package)
        .collect();
    let need_venv = !python.exists();
    if need_venv && (pretending("python3-venv") || !venv_module_present()) {
        absent.push("python3-venv");
    }
    if pretend && absent.is_empty() {
        absent.push(
            needs
                .system
                .first()
                .map_or(needs.tool, |(package, _)| package),
        );
    }
    if !absent.is_empty() {
        return Err(Missing::packages(&absent));
    }
    if need_venv {
        let created = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .output();
        if let Some(e) = failed(created, "python3 -m venv target/interop-venv") {
            return Err(Missing {
                what: format!("{e} failed"),
                install: "apt-get install python3-venv".to_owned(),
            });
        }
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(needs.package)
        .output();
    if let Some(e) = failed(installed, &format!("pip install {}", needs.package)) {
        return Err(Missing {
            what: format!("{e} failed"),
            install: "pip needs network access to PyPI; `bash .ci/run` installs everything"
                .to_owned(),
        });
    }
    if runs(Command::new(&python).args(["-c", needs.import])) {
        Ok(python)
    } else {
        // Installed but unusable: a broken environment, not a missing tool.
        panic!(
            "{} cannot `{}` after installing {}",
            python.display(),
            needs.import,
            needs.package
        )
    }
}

fn librtmp_headers_present() -> bool {
    Path::new("/usr/include/librtmp/rtmp.h").exists()
}

fn python_headers_present() -> bool {
    runs(Command::new("python3").args([
        "-c",
        "import os, sys, sysconfig; \
         sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))",
    ]))
}

fn venv_module_present() -> bool {
    // Debian's python3 has `venv` but needs python3-venv for `ensurepip`.
    runs(Command::new("python3").args(["-c", "import venv, ensurepip"]))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether [`PRETEND_MISSING_VAR`] names `tool`.
fn pretending(tool: &str) -> bool {
    std::env::var(PRETEND_MISSING_VAR)
        .is_ok_and(|list| list.split(',').any(|name| name.trim() == tool))
}

/// Whether `command` starts and exits successfully (its output discarded).
fn runs(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `None` if `output` is a success, else what went wrong.
fn failed(output: std::io::Result<Output>, what: &str) -> Option<String> {
    match output {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "`{what}` ({}: {})",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )),
        Err(e) => Some(format!("`{what}` ({e})")),
    }
}
