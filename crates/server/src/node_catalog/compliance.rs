//! Compliance tools: `compliance_check` asks the configured Cedar policies a what-if question
//! (not counted as a decision); `compliance_report` summarises the decisions the server made
//! while authorising, read from the node's durable audit log (they survive restarts).
//!
//! Like every tool they are gated by RBAC (`tool:compliance_check`, `tool:compliance_report`):
//! grant them to auditors and operators only, since they reveal what the policies allow to
//! whom.

use mcpflow_auth::{Action, Principal, PrincipalKind, Resource};
use rmcp::model::{Tool, ToolAnnotations, object};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::SystemTime;

use crate::mcp::{Catalog, ToolCall};

use super::{args, refuse, structured};

/// Most violations one `compliance_report` lists.
const MAX_VIOLATIONS: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalArg {
    id: String,
    #[serde(default)]
    kind: PrincipalKind,
    tenant: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckArgs {
    principal: PrincipalArg,
    action: String,
    resource: String,
    #[serde(default)]
    resource_tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportArgs {
    #[serde(default)]
    since: Option<Value>,
    #[serde(default)]
    until: Option<Value>,
    #[serde(default)]
    max_violations: Option<usize>,
}

/// What to add when compliance is not configured.
const NOT_CONFIGURED: &str = "compliance is not configured on this server: add an [auth.compliance] section to mcpflow.toml \
     (policy_dir = a directory of *.cedar policies, optionally with one *.cedarschema) under [auth], and restart";

/// Adds the compliance tools to `catalog`.
pub fn register(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "compliance_check",
            "Ask the Cedar compliance policies whether `principal` ({id, kind: user | agent | \
             service, tenant, roles}) may do `action` (call_tool | read_resource) on `resource` \
             (a tool name or resource URI; `resource_tenant` sets its tenant, else it comes \
             from mcpflow://tenants/<t>/... URIs). Returns allow, the ids of the deciding \
             policies (reasons) and evaluation errors. A what-if question: it checks only the \
             Cedar policies (not RBAC) and is not counted in compliance_report.",
            object(json!({
                "type": "object",
                "properties": {
                    "principal": {
                        "type": "object",
                        "properties": {
                            "id": { "type": "string", "minLength": 1 },
                            "kind": { "enum": ["user", "agent", "service"], "default": "user" },
                            "tenant": { "type": "string" },
                            "roles": { "type": "array", "items": { "type": "string" }, "default": [] }
                        },
                        "required": ["id", "tenant"],
                        "additionalProperties": false
                    },
                    "action": { "enum": ["call_tool", "read_resource"] },
                    "resource": { "type": "string", "minLength": 1 },
                    "resource_tenant": { "type": "string" }
                },
                "required": ["principal", "action", "resource"],
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: CheckArgs = match args(&call, "compliance_check") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            let action = match a.action.as_str() {
                "call_tool" => Action::CallTool,
                "read_resource" => Action::ReadResource,
                other => {
                    return refuse(format!(
                        "invalid arguments for compliance_check: unknown action {other:?}; use call_tool or read_resource"
                    ));
                }
            };
            if a.principal.id.trim().is_empty() {
                return refuse(
                    "invalid arguments for compliance_check: principal.id must not be empty",
                );
            }
            if a.resource.trim().is_empty() {
                return refuse(
                    "invalid arguments for compliance_check: resource must name a tool or resource URI",
                );
            }
            let Some(store) = call.cx.auth().and_then(|auth| auth.compliance()) else {
                return refuse(NOT_CONFIGURED);
            };
            let principal = Principal::new(
                a.principal.id,
                a.principal.tenant,
                a.principal.roles,
                a.principal.kind,
            );
            let mut resource = Resource::new(a.resource);
            if let Some(tenant) = a.resource_tenant {
                resource = resource.in_tenant(tenant);
            }
            let decision = store.decide(&principal, action, &resource);
            structured(&json!({
                "allow": decision.allow,
                "reasons": decision.reasons,
                "errors": decision.errors,
                "policy_generation": store.generation(),
                "last_reload_error": store.last_error(),
            }))
        },
    );
    catalog.add_tool(
        Tool::new(
            "compliance_report",
            "Summarise the compliance decisions this server made while authorising tool calls \
             and resource reads in a time range, from the durable audit log: totals, allowed, \
             denied, per action, per deciding policy, denials per principal and per resource, \
             and the newest violations. `since` and `until` are RFC 3339 timestamps \
             (2026-01-31T12:00:00Z) or Unix seconds; both optional (default: everything up to \
             now).",
            object(json!({
                "type": "object",
                "properties": {
                    "since": { "type": ["string", "integer"] },
                    "until": { "type": ["string", "integer"] },
                    "max_violations": { "type": "integer", "minimum": 0, "maximum": MAX_VIOLATIONS, "default": 100 }
                },
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: ReportArgs = match args(&call, "compliance_report") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            let since = match a.since.as_ref().map(|v| instant(v, "since")).transpose() {
                Ok(t) => t.unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                Err(e) => return refuse(e),
            };
            let until = match a.until.as_ref().map(|v| instant(v, "until")).transpose() {
                Ok(Some(t)) => t,
                Ok(None) => jiff::Timestamp::try_from(SystemTime::now())
                    .unwrap_or(jiff::Timestamp::MAX),
                Err(e) => return refuse(e),
            };
            if since > until {
                return refuse(format!(
                    "invalid arguments for compliance_report: since ({since}) is after until ({until}); swap them"
                ));
            }
            let max = a.max_violations.unwrap_or(100);
            if max > MAX_VIOLATIONS {
                return refuse(format!(
                    "invalid arguments for compliance_report: max_violations must be 0..={MAX_VIOLATIONS}"
                ));
            }
            let (from, to) = match (SystemTime::try_from(since), SystemTime::try_from(until)) {
                (Ok(from), Ok(to)) => (from, to),
                (Err(e), _) | (_, Err(e)) => {
                    return refuse(format!(
                        "invalid arguments for compliance_report: the range {since}..{until} is not representable here: {e}"
                    ));
                }
            };
            // Without `until`, the node reads "now" once earlier decisions are written.
            let to = a.until.is_some().then_some(to);
            let audit = call.cx.node().audit().clone();
            let configured = call.cx.auth().and_then(|a| a.compliance()).is_some();
            let report = tokio::task::spawn_blocking(move || {
                audit.compliance_report(from, to, max)
            })
            .await;
            let report = match report {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return refuse(format!("compliance_report: {e}")),
                Err(e) => return refuse(format!("compliance_report failed: {e}")),
            };
            let violations: Vec<Value> = report
                .violations
                .iter()
                .map(|v| {
                    json!({
                        "at": rfc3339(v.at),
                        "principal": v.principal,
                        "tenant": v.tenant,
                        "action": v.action.as_str(),
                        "resource": v.resource,
                        "reasons": v.decision.reasons,
                        "errors": v.decision.errors,
                    })
                })
                .collect();
            let by_action: serde_json::Map<String, Value> = report
                .by_action
                .iter()
                .map(|(k, (allowed, denied))| {
                    (k.clone(), json!({ "allowed": allowed, "denied": denied }))
                })
                .collect();
            structured(&json!({
                "since": since.to_string(),
                "until": rfc3339(report.to),
                "source": "audit_log",
                "compliance_configured": configured,
                "total": report.total,
                "allowed": report.allowed,
                "denied": report.denied,
                "with_errors": report.with_errors,
                "by_action": by_action,
                "by_policy": report.by_policy,
                "denied_by_principal": report.denied_by_principal,
                "denied_by_resource": report.denied_by_resource,
                "violations": violations,
                "violations_omitted": report.violations_omitted,
                "truncated": report.truncated,
            }))
        },
    );
}

/// An RFC 3339 timestamp or Unix seconds (a number, or a string of digits).
fn instant(value: &Value, field: &str) -> Result<jiff::Timestamp, String> {
    let bad = |why: String| {
        format!(
            "invalid arguments for compliance_report: {field} {value}: {why}; use RFC 3339 (2026-01-31T12:00:00Z) or Unix seconds"
        )
    };
    let secs = match value {
        Value::Number(n) => Some(n.as_i64().ok_or_else(|| bad("not whole seconds".into()))?),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.parse::<i64>().map_err(|e| bad(e.to_string()))?)
        }
        Value::String(_) => None,
        _ => return Err(bad("neither a string nor a number".into())),
    };
    match (secs, value) {
        (Some(secs), _) => jiff::Timestamp::from_second(secs).map_err(|e| bad(e.to_string())),
        (None, Value::String(s)) => s.parse::<jiff::Timestamp>().map_err(|e| bad(e.to_string())),
        (None, _) => Err(bad("neither a string nor a number".into())),
    }
}

fn rfc3339(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::instant;
    use serde_json::json;

    #[test]
    fn instants_are_rfc3339_or_unix_seconds() {
        let t = instant(&json!("2026-01-31T12:00:00Z"), "since").unwrap();
        assert_eq!(t.as_second(), 1_769_860_800);
        assert_eq!(instant(&json!(1_769_860_800), "since").unwrap(), t);
        assert_eq!(instant(&json!("1769860800"), "since").unwrap(), t);
        let offset = instant(&json!("2026-01-31T13:00:00+01:00"), "since").unwrap();
        assert_eq!(offset, t);
        for bad in [json!("yesterday"), json!(1.5), json!(true), json!("")] {
            let e = instant(&bad, "until").unwrap_err();
            assert!(e.contains("until") && e.contains("RFC 3339"), "{e}");
        }
    }
}
