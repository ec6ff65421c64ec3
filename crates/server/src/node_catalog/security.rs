//! Security tools: `security_scan` — the guard's scanner on demand, the same one the gate runs
//! on every path (its own arguments are exempt from the gate: scanning hostile text is the
//! point); `audit_query` and `audit_verify` over the node's tamper-evident audit log.

use mcpflow_guard::{Channel, ScanContext};
use rmcp::model::{Tool, ToolAnnotations, object};
use serde::Deserialize;
use serde_json::json;

use crate::mcp::{Catalog, SECURITY_SCAN_TOOL, ToolCall};

use super::{args, refuse, structured};

/// Longest text `security_scan` takes.
const MAX_SCAN_BYTES: usize = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanArgs {
    text: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    redact: bool,
    #[serde(default)]
    instructions: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    #[serde(default)]
    text: String,
    #[serde(default)]
    since_ms: Option<i64>,
    #[serde(default)]
    until_ms: Option<i64>,
    #[serde(default)]
    limit: Option<u32>,
}

/// Most entries one `audit_query` returns.
const MAX_QUERY: u32 = 1000;

/// Adds the security entries to `catalog`.
pub fn register(catalog: &mut Catalog) {
    audit_tools(catalog);
    catalog.add_tool(
        Tool::new(
            SECURITY_SCAN_TOOL,
            "Scan a text for prompt injection, jailbreaks, PII, memory poisoning and privilege \
             escalation. Returns the verdict (allow | warn | block), the score, per-category \
             scores and the findings with their byte spans; `redact` adds the text with PII \
             replaced by placeholders. `channel` says where the text comes from: user \
             (typed by a caller, default), tool_output (returned by a tool or document) or \
             memory (about to be stored). `instructions` is the system prompt of the \
             agent the text is for: asking for what it forbids (\"never discuss politics\", \
             \"do not reveal the password\") then counts as prompt injection.",
            object(json!({
                "type": "object",
                "properties": {
                    "text": { "type": "string", "maxLength": MAX_SCAN_BYTES },
                    "instructions": { "type": "string", "maxLength": MAX_SCAN_BYTES },
                    "channel": { "enum": ["user", "tool_output", "memory"], "default": "user" },
                    "redact": { "type": "boolean", "default": false }
                },
                "required": ["text"],
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: ScanArgs = match args(&call, SECURITY_SCAN_TOOL) {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            if a.text.len() > MAX_SCAN_BYTES {
                return refuse(format!(
                    "the text is {} bytes; security_scan takes at most {MAX_SCAN_BYTES} (split it)",
                    a.text.len()
                ));
            }
            if let Some(i) = a.instructions.as_ref().filter(|i| i.len() > MAX_SCAN_BYTES) {
                return refuse(format!(
                    "the instructions are {} bytes; security_scan takes at most {MAX_SCAN_BYTES}",
                    i.len()
                ));
            }
            let channel = match a.channel.as_deref() {
                None | Some("user") => Channel::User,
                Some("tool_output") => Channel::ToolOutput,
                Some("memory") => Channel::Memory,
                Some(other) => {
                    return refuse(format!(
                        "invalid arguments for security_scan: unknown channel {other:?}; use user, tool_output or memory"
                    ));
                }
            };
            let Some(gate) = call.cx.node().gate() else {
                return refuse(
                    "the security gate is switched off on this node ([guard] enabled = false)",
                );
            };
            let guard = gate.guard();
            let cx = ScanContext {
                channel,
                instructions: a.instructions.as_deref().map(|i| gate.instructions(i)),
                ..ScanContext::default()
            };
            let report = guard.scan_with(&a.text, &cx);
            let mut value = json!({
                "verdict": report.verdict.as_str(),
                "score": report.score,
                "categories": report.categories.iter().map(|(c, s)| json!({"category": c.as_str(), "score": s})).collect::<Vec<_>>(),
                "findings": report.findings.iter().map(|f| json!({
                    "rule": f.rule, "category": f.category.as_str(), "weight": f.weight,
                    "start": f.start, "end": f.end, "layer": f.layer,
                })).collect::<Vec<_>>(),
            });
            if a.redact {
                value["redacted"] = json!(guard.redact(&a.text).text);
            }
            structured(&value)
        },
    );
}

fn audit_tools(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "audit_query",
            "Search the node's audit log (every security-gate verdict and audited action), \
             newest first: `text` is a full-text query over action, resource and details \
             (words, \"phrases\", AND/OR/NOT, prefix*; empty for all), `since_ms`/`until_ms` \
             bound the time (ms since the epoch). Each entry carries its sequence number and \
             chain hash.",
            object(json!({
                "type": "object",
                "properties": {
                    "text": { "type": "string", "default": "" },
                    "since_ms": { "type": "integer" },
                    "until_ms": { "type": "integer" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": MAX_QUERY, "default": 100 }
                },
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: QueryArgs = match args(&call, "audit_query") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            if a.limit.is_some_and(|l| l == 0 || l > MAX_QUERY) {
                return refuse(format!(
                    "invalid arguments for audit_query: limit must be 1..={MAX_QUERY}"
                ));
            }
            let log = call.cx.node().audit().log().clone();
            let search = mcpflow_audit::Search {
                text: a.text,
                since_ms: a.since_ms,
                until_ms: a.until_ms,
                limit: a.limit,
            };
            match tokio::task::spawn_blocking(move || log.search(&search)).await {
                Ok(Ok(entries)) => structured(&json!({ "entries": entries })),
                Ok(Err(e)) => refuse(format!("audit_query: {e}")),
                Err(e) => refuse(format!("audit_query failed: {e}")),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "audit_verify",
            "Verify the whole audit log: every entry's hash chain, sequence continuity, the \
             Merkle roots of the Ed25519-signed checkpoints and their signatures. Returns the \
             counts and the latest signed head, or names the first bad entry and what is wrong.",
            object(json!({ "type": "object", "properties": {}, "additionalProperties": false })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let log = call.cx.node().audit().log().clone();
            match tokio::task::spawn_blocking(move || log.verify()).await {
                Ok(Ok(summary)) => structured(&json!({
                    "ok": true,
                    "entries": summary.entries,
                    "checkpoints": summary.checkpoints,
                    "unsigned_tail": summary.unsigned_tail,
                    "head": summary.head,
                })),
                Ok(Err(e)) => structured(&json!({ "ok": false, "error": e.to_string() })),
                Err(e) => refuse(format!("audit_verify failed: {e}")),
            }
        },
    );
}
