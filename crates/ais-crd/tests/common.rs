//! Helpers shared by the integration tests: locating the reference data and loading samples.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

/// `../shared/reference/data` beside the repository, or `$AIS_REFERENCE_DIR`.
pub fn reference_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("AIS_REFERENCE_DIR") {
        return PathBuf::from(dir);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/data");
    assert!(
        dir.is_dir(),
        "reference data not found at {}; set AIS_REFERENCE_DIR",
        dir.display()
    );
    dir
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every YAML document of every file in `samples-*` directories, with the file name.
pub fn sample_documents() -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(reference_dir())
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
    out
}

/// The AIStore documents among the samples.
pub fn aistore_samples() -> Vec<(String, serde_json::Value)> {
    sample_documents()
        .into_iter()
        .filter(|(_, v)| v["kind"] == "AIStore")
        .collect()
}
