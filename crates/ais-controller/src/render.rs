//! `ais-controller render`: every object the operator would create for the AIStores in a
//! manifest, as multi-document YAML, without a cluster.

use std::path::Path;

use ais_crd::AIStore;
use serde::Deserialize;

use crate::build::{self, Facts};

/// Why a manifest could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A document is not YAML, or not an AIStore.
    #[error("{path}, document {index}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The document index (0-based).
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The objects could not be built.
    #[error("{path}, AIStore {name}: {source}")]
    Build {
        /// The file.
        path: String,
        /// The AIStore.
        name: String,
        /// Why.
        source: build::BuildError,
    },
}

/// Renders the AIStores of a manifest file.
pub fn render_file(path: &Path, facts: &Facts) -> Result<String, RenderError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RenderError::Read {
        path: p.clone(),
        source,
    })?;
    render(&p, &text, facts)
}

/// Renders the AIStores of a manifest. Objects without a namespace go to `default`; a missing
/// UID gets a placeholder (owner references need one).
pub fn render(path: &str, text: &str, facts: &Facts) -> Result<String, RenderError> {
    let mut out = String::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let parse = |message: String| RenderError::Parse {
            path: path.to_string(),
            index,
            message,
        };
        let value =
            serde_json::Value::deserialize(doc).map_err(|e| parse(format!("not YAML: {e}")))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("AIStore") {
            continue;
        }
        let mut ais: AIStore =
            serde_json::from_value(value).map_err(|e| parse(format!("not an AIStore: {e}")))?;
        ais.metadata
            .namespace
            .get_or_insert_with(|| "default".to_string());
        ais.metadata
            .uid
            .get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".to_string());
        let name = ais.metadata.name.clone().unwrap_or_default();
        let desired = build::build(&ais, facts).map_err(|source| RenderError::Build {
            path: path.to_string(),
            name,
            source,
        })?;
        for object in desired.objects() {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(&object).map_err(|e| parse(e.to_string()))?);
        }
    }
    Ok(out)
}
