//! The f64 reference is only worth its name if a bug in the generic code cannot hide in it: this
//! test reads the reference's sources and fails if they reach any item of the crate other than
//! the error types (which exist so that its errors convert into `edgetune::Error`).

use std::fs;
use std::path::Path;

/// Paths into the crate the reference may name (error types only, with their variants): its
/// errors convert into `edgetune::Error`.
const ALLOWED: &[&str] = &[
    "crate::Error",
    "crate::ValueFault",
    "crate::nn::NnError",
    "crate::train::TrainError",
];

/// Every `crate::…` or `super::super::…` path in `text`, with the line it is on.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            found.push((n + 1, tail[..end].trim_end_matches(':').to_string()));
            rest = &tail[end..];
        }
        if code.contains("super::super") {
            found.push((n + 1, "super::super".to_string()));
        }
    }
    found
}

#[test]
fn the_reference_uses_nothing_of_the_crate_but_its_error_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/reference");
    let mut files = 0;
    for entry in fs::read_dir(&dir).expect("src/reference exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        files += 1;
        let text = fs::read_to_string(&path).expect("readable source");
        for (line, p) in crate_paths(&text) {
            let allowed = ALLOWED
                .iter()
                .any(|a| p == *a || p.starts_with(&format!("{a}::")));
            assert!(
                allowed,
                "{}:{line}: the reference names `{p}`; it may only use {ALLOWED:?}",
                path.display()
            );
        }
    }
    assert!(files >= 2, "expected the reference's sources, read {files}");
}

#[test]
fn the_scan_finds_a_forbidden_path() {
    // The scanner must see a use of the generic code, or the test above could never fail.
    let found = crate_paths("use crate::optim::Adam; let e = crate::Error::StepCountOverflow;");
    let names: Vec<&str> = found.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        names,
        ["crate::optim::Adam", "crate::Error::StepCountOverflow"]
    );
}
