//! The admission decisions, without I/O: parse the reviewed object, run the shared defaulting
//! and validation, and build the response. Cluster-context checks are layered on top by
//! [`crate::cluster`].

use ais_crd::{AIStoreSpec, Defaults, default_spec, validate};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

use crate::patch::additions;

/// API group of the reviewed resource.
pub const GROUP: &str = "ais.nvidia.com";
/// Kind of the reviewed resource.
pub const KIND: &str = "AIStore";

/// How a review was answered, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed unchanged.
    Allowed,
    /// Allowed with a defaulting patch.
    Patched,
    /// Denied.
    Denied,
}

impl Verdict {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Patched => "patched",
            Self::Denied => "denied",
        }
    }
}

/// What the validating endpoint needs after the pure checks: the parsed specs, for the
/// cluster-context checks.
#[derive(Debug)]
pub struct Parsed {
    /// The reviewed request.
    pub request: AdmissionRequest<DynamicObject>,
    /// The submitted spec.
    pub spec: AIStoreSpec,
    /// The stored spec, on update.
    pub old: Option<AIStoreSpec>,
}

/// Outcome of the pure validation step.
#[derive(Debug)]
pub enum Validated {
    /// Final answer; no cluster check needed.
    Done(AdmissionResponse, Verdict),
    /// The spec passed the pure checks; `response` carries the warnings so far.
    Checked(Box<Parsed>, AdmissionResponse),
}

/// Validates a review: every error at once, warnings as admission warnings.
pub fn validate_review(review: AdmissionReview<DynamicObject>) -> Validated {
    let request = match request_of(review) {
        Ok(r) => r,
        Err(resp) => return Validated::Done(*resp, Verdict::Denied),
    };
    let response = AdmissionResponse::from(&request);
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return Validated::Done(response, Verdict::Allowed);
    }
    let (spec, raw) = match spec_of(request.object.as_ref(), "object") {
        Ok(parsed) => parsed,
        Err(msg) => return Validated::Done(response.deny(msg), Verdict::Denied),
    };
    let mut old = None;
    if request.operation == Operation::Update {
        match spec_of(request.old_object.as_ref(), "oldObject") {
            Ok((old_spec, old_raw)) => {
                if old_raw == raw {
                    // Metadata or finalizer changes only: never block them, even when rules
                    // have tightened since the object was stored (it could not be deleted).
                    return Validated::Done(response, Verdict::Allowed);
                }
                old = Some(old_spec);
            }
            Err(msg) => return Validated::Done(response.deny(msg), Verdict::Denied),
        }
    }
    let result = validate(&spec, old.as_ref());
    let mut response = with_warnings(response, result.warnings.clone());
    if !result.is_valid() {
        let name = object_name(&request);
        response = response.deny(format!(
            "AIStore {name} is invalid: {}",
            result.error_message()
        ));
        return Validated::Done(response, Verdict::Denied);
    }
    Validated::Checked(Box::new(Parsed { request, spec, old }), response)
}

/// Defaults a review: a patch that adds the absent defaults. Never denies a well-formed
/// review; problems are left to the validating endpoint, which names them.
pub fn mutate_review(
    review: AdmissionReview<DynamicObject>,
    defaults: &Defaults,
) -> (AdmissionResponse, Verdict) {
    let request = match request_of(review) {
        Ok(r) => r,
        Err(resp) => return (*resp, Verdict::Denied),
    };
    let response = AdmissionResponse::from(&request);
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return (response, Verdict::Allowed);
    }
    let Ok((spec, raw)) = spec_of(request.object.as_ref(), "object") else {
        return (response, Verdict::Allowed);
    };
    let defaulted = match serde_json::to_value(default_spec(&spec, defaults)) {
        Ok(v) => v,
        Err(err) => {
            return (
                response.deny(format!("serializing the defaulted spec: {err}")),
                Verdict::Denied,
            );
        }
    };
    let patch = additions(&["spec"], &raw, &defaulted);
    if patch.0.is_empty() {
        return (response, Verdict::Allowed);
    }
    match response.clone().with_patch(patch) {
        Ok(patched) => (patched, Verdict::Patched),
        Err(err) => (
            response.deny(format!("serializing the defaulting patch: {err}")),
            Verdict::Denied,
        ),
    }
}

/// Appends warnings to a response.
pub fn with_warnings(mut response: AdmissionResponse, warnings: Vec<String>) -> AdmissionResponse {
    if !warnings.is_empty() {
        response
            .warnings
            .get_or_insert_with(Vec::new)
            .extend(warnings);
    }
    response
}

fn request_of(
    review: AdmissionReview<DynamicObject>,
) -> Result<AdmissionRequest<DynamicObject>, Box<AdmissionResponse>> {
    let request: AdmissionRequest<DynamicObject> = review.try_into().map_err(|_| {
        Box::new(AdmissionResponse::invalid(
            "the AdmissionReview has no request",
        ))
    })?;
    if request.kind.group != GROUP || request.kind.kind != KIND {
        let kind = &request.kind;
        let msg = format!(
            "this webhook reviews {GROUP} {KIND} objects only, not {}/{} {}; check the webhook configuration's rules",
            kind.group, kind.version, kind.kind
        );
        return Err(Box::new(AdmissionResponse::from(&request).deny(msg)));
    }
    Ok(request)
}

/// Parses `object.spec`, naming the offending field when it does not fit the API.
fn spec_of(object: Option<&DynamicObject>, which: &str) -> Result<(AIStoreSpec, Value), String> {
    let object = object.ok_or_else(|| format!("the admission request has no {which}"))?;
    let raw = object.data.get("spec").cloned().ok_or_else(|| {
        format!("{which} has no spec; an AIStore needs spec.targetSpec.mounts and a size")
    })?;
    let spec = serde_path_to_error::deserialize(&raw).map_err(|err| {
        let path = err.path().to_string();
        format!("spec.{path}: {}", err.into_inner())
    })?;
    Ok((spec, raw))
}

fn object_name<T: kube::Resource>(request: &AdmissionRequest<T>) -> String {
    match &request.namespace {
        Some(ns) => format!("{ns}/{}", request.name),
        None => request.name.clone(),
    }
}

#[cfg(test)]
mod tests;
