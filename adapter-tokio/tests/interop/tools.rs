//! The tools the interop tests drive: found once per run, and a clear
//! failure when one is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// What to do when a tool is missing.
pub(crate) const INSTALL_HINT: &str =
    "run `bash .ci/run`, or `apt-get install librtmp-dev tshark` and let the test create its venv";

/// The Python of `target/interop-venv` with `python-librtmp` importable,
/// set up once per run (venv created and the package installed if needed).
pub(crate) fn python_with_librtmp() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(set_up_python) {
        Ok(python) => python,
        Err(e) => panic!("cannot set up Python with python-librtmp: {e}\n{INSTALL_HINT}"),
    }
}

/// `tshark`, checked once per run.
pub(crate) fn tshark() -> &'static str {
    static TSHARK: OnceLock<Result<(), String>> = OnceLock::new();
    let found = TSHARK.get_or_init(|| {
        check(
            Command::new("tshark").arg("--version").output(),
            "tshark --version",
        )
    });
    match found {
        Ok(()) => "tshark",
        Err(e) => panic!("tshark is not usable: {e}\n{INSTALL_HINT}"),
    }
}

fn set_up_python() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/interop-venv");
    let python = venv.join("bin/python");
    if imports_librtmp(&python) {
        return Ok(python);
    }
    // pip builds python-librtmp against the C library's headers.
    if !Path::new("/usr/include/librtmp/rtmp.h").exists() {
        return Err("librtmp's headers (/usr/include/librtmp/rtmp.h) are missing".into());
    }
    if !python.exists() {
        check(
            Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .output(),
            "python3 -m venv target/interop-venv",
        )?;
    }
    check(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "python-librtmp",
            ])
            .output(),
        "pip install python-librtmp",
    )?;
    if imports_librtmp(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import librtmp after installing python-librtmp",
            python.display()
        ))
    }
}

fn imports_librtmp(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import librtmp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn check(output: std::io::Result<Output>, what: &str) -> Result<(), String> {
    match output {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "`{what}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )),
        Err(e) => Err(format!("`{what}` could not start: {e}")),
    }
}
