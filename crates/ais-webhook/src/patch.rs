//! The defaulting patch: JSON Patch `add` operations for values that are absent in the
//! object as submitted. It can only add; it never replaces or removes what the user wrote.

use json_patch::{AddOperation, Patch, PatchOperation, jsonptr::PointerBuf};
use serde_json::Value;

/// Operations that turn `original` into a document containing everything in `defaulted`,
/// adding only members missing from `original`. `base` is the JSON pointer of `original`
/// inside the object (e.g. `/spec`).
pub fn additions(base: &[&str], original: &Value, defaulted: &Value) -> Patch {
    let mut ops = Vec::new();
    let mut path: Vec<String> = base.iter().map(|s| (*s).to_string()).collect();
    collect(&mut path, original, defaulted, &mut ops);
    Patch(ops)
}

fn collect(
    path: &mut Vec<String>,
    original: &Value,
    defaulted: &Value,
    ops: &mut Vec<PatchOperation>,
) {
    let (Value::Object(orig), Value::Object(def)) = (original, defaulted) else {
        return;
    };
    for (key, value) in def {
        path.push(key.clone());
        match orig.get(key) {
            None | Some(Value::Null) => ops.push(PatchOperation::Add(AddOperation {
                path: PointerBuf::from_tokens(path.iter().map(String::as_str)),
                value: value.clone(),
            })),
            Some(existing) => collect(path, existing, value, ops),
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn adds_only_missing_members_and_escapes_keys() {
        let original = json!({"a": 1, "b": {"c": 2}, "n": null});
        let defaulted = json!({"a": 9, "b": {"c": 3, "d": 4}, "e/f": 5, "n": 6});
        let patch = additions(&["spec"], &original, &defaulted);
        let text = serde_json::to_value(&patch).unwrap();
        assert_eq!(
            text,
            json!([
                {"op": "add", "path": "/spec/b/d", "value": 4},
                {"op": "add", "path": "/spec/e~1f", "value": 5},
                {"op": "add", "path": "/spec/n", "value": 6}
            ])
        );
    }

    #[test]
    fn applying_the_patch_yields_the_union() {
        let mut doc = json!({"spec": {"size": 1, "targetSpec": {"mounts": []}}});
        let defaulted = json!({"size": 1, "proxySpec": {"servicePort": 51080}, "targetSpec": {"mounts": [], "portPublic": 51081}});
        let patch = additions(&["spec"], &doc["spec"].clone(), &defaulted);
        json_patch::patch(&mut doc, &patch).unwrap();
        assert_eq!(doc["spec"], defaulted);
    }
}
