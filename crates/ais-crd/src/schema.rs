//! Schema helpers: value types whose OpenAPI shape the derive cannot express, and small
//! transforms that keep the generated CRD identical in shape to the reference operator's.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A value that may be written as an integer or a string (`x-kubernetes-int-or-string`).
///
/// Unlike `IntOrString` from k8s-openapi it holds 64-bit integers, which v1.x manifests used for
/// byte sizes such as `memsys.min_free: 2147483648`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrStr {
    /// An integer, as v1.x manifests wrote sizes and durations.
    Int(i64),
    /// A string such as `"4MiB"` or `"10s"`.
    Str(String),
}

impl fmt::Display for IntOrStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Str(s) => f.write_str(s),
        }
    }
}

impl JsonSchema for IntOrStr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IntOrStr".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        int_or_string()
    }

    fn inline_schema() -> bool {
        true
    }
}

/// The structural schema of an int-or-string value.
pub fn int_or_string() -> Schema {
    json_schema!({
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    })
}

/// Schema of an optional port (`IntOrString` in the reference API).
pub fn port_schema(_: &mut SchemaGenerator) -> Schema {
    int_or_string()
}

/// Schema of a resource quantity such as `10Gi` (the pattern the API server uses for quantities).
pub fn quantity_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
    })
}

/// Marks `names` as required properties of an object schema.
///
/// Used where the Rust field is optional so that defaulting can fill it (ports, images), while
/// the CRD keeps the reference operator's `required` list: the API server validates the schema
/// after mutating webhooks run, so a defaulted object passes and an undefaulted one is told
/// exactly which field is missing.
pub fn add_required(schema: &mut Schema, names: &[&str]) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let entry = obj
        .entry("required")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(list) = entry.as_array_mut() {
        for name in names {
            let value = serde_json::Value::String((*name).to_string());
            if !list.contains(&value) {
                list.push(value);
            }
        }
        list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
}

/// Appends an `x-kubernetes-validations` rule to an object schema.
pub fn add_rule(schema: &mut Schema, rule: &str, message: &str) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let entry = obj
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(list) = entry.as_array_mut() {
        list.push(serde_json::json!({"rule": rule, "message": message}));
    }
}
