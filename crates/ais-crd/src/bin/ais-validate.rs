//! Checks AIStore manifests offline, as the admission webhook would: defaulting, validation,
//! and the deprecation warnings. Other kinds in the files are skipped.
//!
//! Usage: `ais-validate FILE...`. Exit code 1 when any AIStore is invalid or a file cannot be
//! read or parsed.

use std::process::ExitCode;

use ais_crd::{AIStore, Defaults, default_spec, validate};
use serde::Deserialize;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: ais-validate FILE...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for file in &files {
        match check_file(file) {
            Ok(ok) => failed |= !ok,
            Err(err) => {
                eprintln!("{file}: {err}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Checks every AIStore in `file`; returns whether all of them are valid.
fn check_file(file: &str) -> Result<bool, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let mut all_valid = true;
    for (index, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
        let value = serde_json::Value::deserialize(doc)
            .map_err(|e| format!("document {index}: not YAML: {e}"))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("AIStore") {
            continue;
        }
        let ais: AIStore = serde_json::from_value(value)
            .map_err(|e| format!("document {index}: not an AIStore: {e}"))?;
        let name = ais.metadata.name.clone().unwrap_or_default();
        let result = validate(&default_spec(&ais.spec, &Defaults::default()), None);
        for warning in &result.warnings {
            println!("{file}: {name}: warning: {warning}");
        }
        for error in &result.errors {
            println!("{file}: {name}: error: {error}");
        }
        if result.is_valid() {
            println!("{file}: {name}: valid");
        }
        all_valid &= result.is_valid();
    }
    Ok(all_valid)
}
