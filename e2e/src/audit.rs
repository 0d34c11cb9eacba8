//! API requests of the controller's identity, counted from the API server's audit log (the
//! local cluster logs every request of that identity, reads included: `e2e/cluster/up.sh`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Requests by `(verb, resource)`; a subresource is written `resource/sub`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requests(pub BTreeMap<(String, String), u64>);

impl Requests {
    /// Every request.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Requests that change something (create, update, patch, delete).
    pub fn mutating(&self) -> u64 {
        self.0
            .iter()
            .filter(|((verb, _), _)| is_mutating(verb))
            .map(|(_, n)| n)
            .sum()
    }

    /// `verb resource: n` lines, most first.
    pub fn lines(&self) -> Vec<String> {
        let mut rows: Vec<_> = self.0.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        rows.into_iter()
            .map(|((verb, resource), n)| format!("{verb} {resource}: {n}"))
            .collect()
    }
}

fn is_mutating(verb: &str) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

/// Which requests count: those of `user` received in `[from, to)` (RFC 3339 UTC times as the
/// audit log writes them, so that they compare as strings) and, with `namespace`, only those
/// in namespaces whose name starts with it (every e2e controller has the same identity, and
/// cases run in parallel).
#[derive(Clone, Copy, Debug)]
pub struct Filter<'a> {
    /// The identity.
    pub user: &'a str,
    /// Namespace name prefix; `None`: every request, cluster-scoped ones included.
    pub namespace: Option<&'a str>,
    /// Start (inclusive).
    pub from: &'a str,
    /// End (exclusive).
    pub to: &'a str,
}

/// The requests `filter` selects, from every `audit*.log` in `dir` (the log rotates at
/// 100 MB). A request counts once, when it completed (a watch: when it started).
pub fn count(dir: &Path, filter: &Filter<'_>) -> Requests {
    let user = filter.user;
    let mut out = Requests::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("audit") && name.ends_with(".log")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in text.lines() {
            // Cheap filters first: most lines are other users'.
            if !line.contains(user) {
                continue;
            }
            let Ok(e) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(key) = counted(&e, filter) {
                *out.0.entry(key).or_default() += 1;
            }
        }
    }
    out
}

fn counted(e: &Value, filter: &Filter<'_>) -> Option<(String, String)> {
    if e["user"]["username"] != filter.user {
        return None;
    }
    if let Some(prefix) = filter.namespace
        && !e["objectRef"]["namespace"]
            .as_str()
            .is_some_and(|ns| ns.starts_with(prefix))
    {
        return None;
    }
    let verb = e["verb"].as_str()?;
    let stage = e["stage"].as_str()?;
    let wanted = if verb == "watch" {
        "ResponseStarted"
    } else {
        "ResponseComplete"
    };
    if stage != wanted {
        return None;
    }
    let at = e["requestReceivedTimestamp"].as_str()?;
    if at < filter.from || at >= filter.to {
        return None;
    }
    let resource = e["objectRef"]["resource"].as_str().unwrap_or("-");
    let resource = match e["objectRef"]["subresource"].as_str() {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    Some((verb.to_string(), resource))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counts_one_line_per_request_of_the_user_in_the_window() {
        let dir = std::env::temp_dir().join(format!("ais-bench-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let me = "system:serviceaccount:op:ctl";
        let line = |user: &str, verb: &str, stage: &str, at: &str, sub: Option<&str>| {
            serde_json::json!({"user": {"username": user}, "verb": verb, "stage": stage,
                "requestReceivedTimestamp": at,
                "objectRef": {"resource": "aistores", "subresource": sub,
                    "namespace": if sub.is_some() { "case-a" } else { "case-b" }}})
            .to_string()
        };
        let log = [
            line(
                me,
                "patch",
                "ResponseComplete",
                "2026-12-02T10:00:01.000000Z",
                Some("status"),
            ),
            line(
                me,
                "get",
                "ResponseComplete",
                "2026-12-02T10:00:02.000000Z",
                None,
            ),
            line(
                me,
                "watch",
                "ResponseStarted",
                "2026-12-02T10:00:03.000000Z",
                None,
            ),
            line(
                me,
                "watch",
                "ResponseComplete",
                "2026-12-02T10:00:03.000000Z",
                None,
            ),
            line(
                "someone-else",
                "patch",
                "ResponseComplete",
                "2026-12-02T10:00:04.000000Z",
                None,
            ),
            line(
                me,
                "patch",
                "ResponseComplete",
                "2026-12-02T10:00:09.000000Z",
                None,
            ),
        ]
        .join("\n");
        std::fs::write(dir.join("audit.log"), log).unwrap();
        let mut filter = Filter {
            user: me,
            namespace: None,
            from: "2026-12-02T10:00:00",
            to: "2026-12-02T10:00:05",
        };
        let got = count(&dir, &filter);
        assert_eq!(got.total(), 3);
        assert_eq!(got.mutating(), 1);
        assert_eq!(got.0[&("patch".into(), "aistores/status".into())], 1);
        filter.namespace = Some("case-a");
        let got = count(&dir, &filter);
        assert_eq!(
            (got.total(), got.mutating()),
            (1, 1),
            "another case's requests"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
