//! Helpers shared by the integration tests: locating the reference data and loading samples.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

/// `../shared/reference/data` beside the repository, or `$AIS_REFERENCE_DIR`. Without it the
/// calling test says that it is skipped and why, and `None` tells it to return; with
/// `AIS_REFERENCE_REQUIRED=1` (CI) its absence fails the test.
pub fn reference_dir() -> Option<PathBuf> {
    let dir = std::env::var("AIS_REFERENCE_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/data"),
        PathBuf::from,
    );
    if dir.is_dir() {
        return Some(dir);
    }
    let why = format!(
        "reference data not found at {} (set AIS_REFERENCE_DIR to the shared/reference/data directory)",
        dir.display()
    );
    assert!(
        std::env::var("AIS_REFERENCE_REQUIRED").as_deref() != Ok("1"),
        "{why}; AIS_REFERENCE_REQUIRED=1 makes that a failure"
    );
    // Past the test harness's capture, so the skip shows in every run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every YAML document of every file in `samples-*` directories, with the file name; `None`
/// (the test is skipped) without the reference data.
pub fn sample_documents() -> Option<Vec<(String, serde_json::Value)>> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(reference_dir()?)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("samples-")
        })
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
                if !value.is_null() {
                    let name = format!(
                        "{}/{}",
                        dir.file_name().unwrap().to_string_lossy(),
                        file.file_name().unwrap().to_string_lossy()
                    );
                    out.push((name, value));
                }
            }
        }
    }
    Some(out)
}

/// The AIStore documents among the samples; `None` (skip) without the reference data.
pub fn aistore_samples() -> Option<Vec<(String, serde_json::Value)>> {
    Some(
        sample_documents()?
            .into_iter()
            .filter(|(_, v)| v["kind"] == "AIStore")
            .collect(),
    )
}
