#!/usr/bin/env python3
"""Every rule the chart grants the controller is used: each (apiGroup, resource, verb) of the
controller's ClusterRoles and Roles appears in the audit log as a request of the e2e operator
identity, unless it is listed in HELD with the reason it cannot appear there.

Usage: rbac-usage.py <rules.json> <audit.log> <username>
  rules.json: the chart's rendered RBAC as JSON objects (one after another, or a List)."""
import json
import sys

SSA = "server-side apply that creates the object is a PATCH request, also authorized as create"
# Rules that no e2e request can show, and why.
HELD = {
    ("", "configmaps", "create"): SSA,
    ("", "services", "create"): SSA,
    ("", "serviceaccounts", "create"): SSA,
    ("apps", "statefulsets", "create"): SSA,
    ("apps", "deployments", "create"): SSA,
    ("policy", "poddisruptionbudgets", "create"): SSA,
    ("rbac.authorization.k8s.io", "roles", "create"): SSA,
    ("rbac.authorization.k8s.io", "rolebindings", "create"): SSA,
    ("", "pods", "get"): "granted to the AIS pods by the per-cluster Role (RBAC escalation check)",
    ("", "pods", "create"): "granted to the AIS pods by the per-cluster Role (RBAC escalation check)",
    ("", "pods", "update"): "granted to the AIS pods by the per-cluster Role (RBAC escalation check)",
    ("", "pods/log", "get"): "granted to the AIS pods by the per-cluster Role (RBAC escalation check)",
    ("", "services", "update"): "granted to the AIS pods by the per-cluster Role (RBAC escalation check)",
    ("ais.nvidia.com", "aistores/finalizers", "update"): "checked by the API server when an owner reference blocks owner deletion; no request of its own",
    ("", "serviceaccounts/token", "create"): "spec.auth.tokenExchange without tokenPath only (no token service in the local cluster)",
    ("cert-manager.io", "certificates", "create"): SSA,
}


def main():
    rules_file, audit_file, user = sys.argv[1:4]
    granted = set()
    text, objects, pos = open(rules_file).read(), [], 0
    decoder = json.JSONDecoder()
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        obj, pos = decoder.raw_decode(text, pos)
        objects.extend(obj.get("items", []) if obj.get("kind") == "List" else [obj])
    for obj in objects:
        if obj.get("kind") not in ("ClusterRole", "Role"):
            continue
        name = obj["metadata"]["name"]
        if not name.startswith("ais-operator-e2e-controller"):
            continue
        for rule in obj.get("rules", []):
            for group in rule.get("apiGroups", []):
                for res in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        granted.add((group, res, verb))
    used = set()
    refused = []
    with open(audit_file) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("user", {}).get("username") != user or e.get("stage") != "ResponseComplete":
                continue
            ref = e.get("objectRef") or {}
            res = ref.get("resource", "")
            if ref.get("subresource"):
                res += "/" + ref["subresource"]
            key = (ref.get("apiGroup", ""), res, e.get("verb", ""))
            used.add(key)
            if e.get("responseStatus", {}).get("code") == 403:
                refused.append(key)
    unused = sorted(k for k in granted - used if k not in HELD)
    stale = sorted(k for k in HELD if k not in granted)
    # A held rule that requests now use: its reason is wrong, the list must stay honest.
    seen = sorted(k for k in HELD if k in used)
    ok = True
    if refused:
        ok = False
        print("rbac-usage: requests refused (403):", sorted(set(refused)))
    if unused:
        ok = False
        print("rbac-usage: rules no request used (remove them, or list them in HELD with the reason):")
        for k in unused:
            print("   ", k)
    if stale:
        ok = False
        print("rbac-usage: HELD lists rules the chart no longer grants:", stale)
    if seen:
        ok = False
        print("rbac-usage: HELD lists rules the e2e requests used (drop them from HELD):", seen)
    print(f"rbac-usage: {len(granted)} granted (group, resource, verb), {len(granted & used)} used, "
          f"{len([k for k in HELD if k in granted])} held with a reason")
    sys.exit(0 if ok else 1)


main()
