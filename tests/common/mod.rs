//! Shared by the test harnesses (`tests/cli.rs`, `tests/numerics.rs`): the one runner of the `isolate` binary
//! and the paths of the bundled fixtures.
// tests/cli.rs uses every item here; tests/numerics.rs only `fixture` (the rest would be dead code there).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `fixtures/REL` of this crate, as an absolute path: `fixture("demo/quant_drift.safetensors")`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What one run of the binary gave.
pub struct Run {
    /// The arguments it ran with (for messages).
    pub args: Vec<String>,
    /// The exit status; −1 when a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `isolate ARGS` to its end, in this crate's folder (where the relative `fixtures/...` and
/// `examples/...` paths some tests pass point; cargo runs the tests there too).
pub fn isolate<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_isolate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run isolate");
    Run {
        args: args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect(),
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

impl Run {
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{:?}: stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.args, self.stdout, self.stderr
            )
        })
    }

    /// Asserts a bad-input failure: exit 2, no panic, and exactly one line on stderr containing every `needle`.
    pub fn assert_bad_input(&self, needles: &[&str]) {
        assert_eq!(
            self.code, 2,
            "{:?}\nstdout: {}\nstderr: {}",
            self.args, self.stdout, self.stderr
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "{:?}: one line: {}",
            self.args,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "'{n}' not in: {}", self.stderr);
        }
    }
}

/// `isolate ARGS` is bad input: exit 2 with one line on stderr containing every `needle`.
pub fn bad(args: &[&str], needles: &[&str]) {
    isolate(args).assert_bad_input(needles);
}
