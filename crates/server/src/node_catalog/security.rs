//! Security tools: `security_scan` — the guard's scanner on demand, the same one the gate runs
//! on every path (its own arguments are exempt from the gate: scanning hostile text is the
//! point).

use mcpflow_guard::Channel;
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
}

/// Adds the security entries to `catalog`.
pub fn register(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            SECURITY_SCAN_TOOL,
            "Scan a text for prompt injection, jailbreaks, PII, memory poisoning and privilege \
             escalation. Returns the verdict (allow | warn | block), the score, per-category \
             scores and the findings with their byte spans; `redact` adds the text with PII \
             replaced by placeholders. `channel` says where the text comes from: user \
             (typed by a caller, default), tool_output (returned by a tool or document) or \
             memory (about to be stored).",
            object(json!({
                "type": "object",
                "properties": {
                    "text": { "type": "string", "maxLength": MAX_SCAN_BYTES },
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
            let report = guard.scan(&a.text, channel);
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
