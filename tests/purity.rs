//! The purity rule, checked: the modules that decide things (core, prep, tree, watch,
//! session, acl, txn, zab) do no I/O, read no clock, draw no randomness and start no threads,
//! so a test can drive them step by step and a simulation can replay them by seed. A use of
//! tokio, sockets, files, clocks, threads or a random source outside their test code fails
//! this test with the file and line.

use std::path::{Path, PathBuf};

const PURE: &[&str] = &[
    "src/core",
    "src/prep",
    "src/tree",
    "src/watch",
    "src/zab",
    "src/session.rs",
    "src/acl.rs",
    "src/txn.rs",
    "src/stats.rs",
];

/// What a pure module must not name. `std::net::IpAddr` is a plain value and allowed.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "std::fs",
    "std::net::Tcp",
    "std::net::Udp",
    "ToSocketAddrs",
    "std::time::Instant",
    "Instant::now",
    "SystemTime",
    "std::thread",
    "getrandom",
    "std::env",
    "std::process",
];

/// Uses that are allowed, and why: the snapshot decoder parses znodes on a scoped second
/// thread that is joined before it returns, so its result is the same whatever the timing.
const ALLOWED: &[(&str, &str)] = &[("src/tree/snapshot.rs", "std::thread::scope")];

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            rust_files(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// A file's code outside its tests: test files are skipped, and an inline `mod tests` is cut.
/// Test files are those whose path under `root` has a part named `tests…` (`tests.rs`,
/// `tests_sim.rs`, and whatever lives under a test module's directory, `tests_sim/…`).
fn non_test_code(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    if rel.components().any(|c| c.as_os_str().to_str().is_some_and(|s| s.starts_with("tests"))) {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    Some(match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text,
    })
}

#[test]
fn deciding_modules_do_no_io_and_read_no_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for p in PURE {
        rust_files(&root.join(p), &mut files);
    }
    assert!(files.len() > 20, "the pure modules were not found under {}", root.display());
    let mut found = Vec::new();
    for f in &files {
        let Some(code) = non_test_code(root, f) else { continue };
        for (i, line) in code.lines().enumerate() {
            let code_part = line.split("//").next().unwrap_or("");
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if ALLOWED.iter().any(|(file, what)| rel == *file && code_part.contains(what)) {
                continue;
            }
            for word in FORBIDDEN {
                if code_part.contains(word) {
                    found.push(format!(
                        "{}:{}: {word}: {}",
                        f.strip_prefix(root).unwrap().display(),
                        i + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(found.is_empty(), "pure modules must not do I/O or read clocks:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_planted_violation() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("planted.rs");
    std::fs::write(&f, "fn f() { let _ = std::time::Instant::now(); }\n#[cfg(test)]\nmod tests { use tokio; }\n")
        .unwrap();
    let code = non_test_code(dir.path(), &f).unwrap();
    assert!(code.contains("Instant::now"), "the violation outside tests is seen");
    assert!(!code.contains("use tokio"), "test code is not checked");
    // Files of a test module's directory are test code; a checkout under a `tests` directory
    // is not.
    std::fs::create_dir_all(dir.path().join("zab/tests_sim")).unwrap();
    let in_tests = dir.path().join("zab/tests_sim/cases.rs");
    std::fs::write(&in_tests, "fn f() { std::env::var(\"X\"); }\n").unwrap();
    assert!(non_test_code(dir.path(), &in_tests).is_none());
    let checkout = dir.path().join("tests/repo");
    std::fs::create_dir_all(checkout.join("src")).unwrap();
    let pure = checkout.join("src/pure.rs");
    std::fs::write(&pure, "fn f() {}\n").unwrap();
    assert!(non_test_code(&checkout, &pure).is_some(), "the checkout's own path does not count");
}
