//! The layering rules of docs/ARCHITECTURE.md, checked over the source tree. Each rule is a grep (the document
//! gives it); this module is the same grep in Rust, so `cargo test` fails when a change breaks a rule.
//! Test code (a file named `tests.rs`/`*_tests.rs`, or anything after `#[cfg(test)]`) is exempt: a test may
//! reach across rooms to check them.

use std::path::{Path, PathBuf};

/// The crate's root folder.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The non-comment, non-test lines of a file, with their numbers.
fn code_lines(p: &Path) -> Vec<(usize, String)> {
    let name = p.file_name().unwrap().to_string_lossy();
    if name == "tests.rs" || name.ends_with("_tests.rs") {
        return Vec::new();
    }
    let text = std::fs::read_to_string(p).unwrap();
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if !t.starts_with("//") {
            out.push((i + 1, l.to_string()));
        }
    }
    out
}

/// The module paths a line names after `crate::` (`crate::a::b` gives `a::b`; `crate::{a, b::c}` gives `a`
/// and `b::c`).
fn crate_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let ident_path = |s: &str| {
            s.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .trim_end_matches(':')
                .to_string()
        };
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                out.push(ident_path(part.trim()));
            }
        } else {
            out.push(ident_path(rest));
        }
    }
    out
}

/// The lines under `src/<room>` that import any of `forbidden` (module paths, matched as prefixes by whole
/// segments: `backend::cuda` forbids `backend::cuda::user` but not `backend::cpu`).
fn imports(room: &str, forbidden: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for f in rust_files(&root().join("src").join(room)) {
        for (n, l) in code_lines(&f) {
            for p in crate_paths(&l) {
                if forbidden
                    .iter()
                    .any(|m| p == *m || p.starts_with(&format!("{m}::")))
                {
                    bad.push(format!("{}:{n}: {}", f.display(), l.trim()));
                }
            }
        }
    }
    bad
}

/// The lines under `src/<room>` that print.
fn prints(room: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for f in rust_files(&root().join("src").join(room)) {
        for (n, l) in code_lines(&f) {
            if ["print!(", "println!(", "eprint!(", "eprintln!("]
                .iter()
                .any(|m| l.contains(m))
            {
                bad.push(format!("{}:{n}: {}", f.display(), l.trim()));
            }
        }
    }
    bad
}

fn assert_none(rule: &str, hits: Vec<String>) {
    assert!(hits.is_empty(), "{rule}:\n{}", hits.join("\n"));
}

#[test]
fn cli_only_builds_requests() {
    assert_none(
        "cli never imports quant, gemm or backend::cuda",
        imports("cli", &["quant", "gemm", "backend::cuda"]),
    );
}

#[test]
fn experiments_return_results() {
    assert_none(
        "experiment never imports report or cli",
        imports("experiment", &["report", "cli"]),
    );
    assert_none("experiment never prints", prints("experiment"));
}

#[test]
fn numerics_know_no_backend() {
    for room in ["gemm", "quant"] {
        assert_none(
            &format!("{room} never imports backend, experiment, report or cli"),
            imports(room, &["backend", "experiment", "report", "cli"]),
        );
        assert_none(&format!("{room} never prints"), prints(room));
    }
    for room in ["formats", "io", "metrics"] {
        assert_none(
            &format!("{room} imports no layer above it"),
            imports(
                room,
                &["quant", "gemm", "backend", "experiment", "report", "cli"],
            ),
        );
    }
}

#[test]
fn backend_never_prints_nor_parses_flags() {
    assert_none("backend never prints", prints("backend"));
    assert_none(
        "backend never imports experiment, report or cli",
        imports("backend", &["experiment", "report", "cli"]),
    );
    let clap: Vec<String> = rust_files(&root().join("src/backend"))
        .iter()
        .flat_map(|f| {
            code_lines(f)
                .into_iter()
                .filter(|(_, l)| l.contains("clap"))
                .map(move |(n, l)| format!("{}:{n}: {}", f.display(), l.trim()))
        })
        .collect();
    assert_none("backend never uses clap", clap);
    assert_none("report never imports cli", imports("report", &["cli"]));
}

#[test]
fn the_repository_stands_on_its_own() {
    let mut hits = Vec::new();
    for dir in ["src", "tests", "benches"] {
        for f in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, l) in text.lines().enumerate() {
                // Spelled in pieces so that this file does not match itself.
                for needle in [
                    concat!("design", ".md"),
                    concat!("numerics", "-spec"),
                    concat!("../", "shared"),
                ] {
                    if l.contains(needle) {
                        hits.push(format!("{}:{}: {}", f.display(), n + 1, l.trim()));
                    }
                }
            }
        }
    }
    assert_none("no source cites a file outside the repository", hits);
}

#[test]
fn kernels_holds_kernel_sources_only() {
    let others: Vec<String> = std::fs::read_dir(root().join("kernels"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !(n.ends_with(".cu") || n.ends_with(".cuh")))
        .collect();
    assert_none("kernels/ holds only .cu and .cuh files", others);
}

#[test]
fn the_checker_sees_grouped_imports() {
    assert_eq!(
        crate_paths("use crate::{gemm::GemmSpec, io::Tensor}; let x = crate::backend::cuda::f();"),
        ["gemm::GemmSpec", "io::Tensor", "backend::cuda::f"]
    );
}
