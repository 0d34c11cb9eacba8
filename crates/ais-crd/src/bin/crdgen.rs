//! Writes the generated AIStore CRD to `deploy/crds/` and into the Helm chart.
//!
//! Usage: `crdgen [--check] [REPO_ROOT]`. With `--check` nothing is written and the exit code
//! says whether the committed files are current.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ais_crd::crd::aistore_crd_yaml;

const CRD_FILE: &str = "deploy/crds/ais.nvidia.com_aistores.yaml";
const CHART_CRD_FILE: &str = "charts/ais-operator/templates/crds/ais.nvidia.com_aistores.yaml";

fn chart_wrap(crd: &str) -> String {
    format!("{{{{- if .Values.crds.install }}}}\n{crd}{{{{- end }}}}\n")
}

fn main() -> ExitCode {
    let mut check = false;
    let mut root = PathBuf::from(".");
    for arg in std::env::args().skip(1) {
        if arg == "--check" {
            check = true;
        } else {
            root = PathBuf::from(arg);
        }
    }
    let crd = match aistore_crd_yaml() {
        Ok(crd) => crd,
        Err(err) => {
            eprintln!("crdgen: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outputs = [(CRD_FILE, crd.clone()), (CHART_CRD_FILE, chart_wrap(&crd))];
    let mut stale = false;
    for (rel, content) in outputs {
        let path = root.join(rel);
        if check {
            if read(&path).as_deref() != Some(content.as_str()) {
                eprintln!("crdgen: {} is out of date; run `just crds`", path.display());
                stale = true;
            }
            continue;
        }
        if let Err(err) = write(&path, &content) {
            eprintln!("crdgen: writing {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    if stale {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn write(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, content)
}
