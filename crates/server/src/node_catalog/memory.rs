//! Memory tools and resources: `memory_store`, `memory_retrieve`, `memory_search`,
//! `memory_delete`, `memory_list`, `memory_stats` and `mcpflow://memory/{namespace}`.
//!
//! Arguments are parsed into typed structs that refuse unknown fields. Refusals (unknown
//! namespace, wrong vector dimension, oversized value, bad TTL, empty key, ...) come back as
//! tool results with `isError` and a message saying what to do. Every search answer names
//! the embedder whose space it searched, and says when that embedder is degraded.

use mcpflow_node::{
    Content, MAX_PAGE, MAX_TTL_SECONDS, MemoryFailure, StoreRequest, namespace_from_uri_segment,
};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    ReadResourceResult, ResourceContents, ResourceTemplate, Tool, ToolAnnotations, object,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::mcp::{Catalog, ResourceRead, ToolCall};

use super::{ToolResult, args, refuse, structured};

/// Default page size of `memory_list`.
const DEFAULT_LIST: usize = 100;
/// Default `k` of `memory_search`.
const DEFAULT_K: usize = 10;
/// Keys listed in a namespace's resource.
const RESOURCE_KEYS: usize = 100;

/// Adds the memory entries to `catalog`.
pub fn register(catalog: &mut Catalog) {
    write_tools(catalog);
    read_tools(catalog);
    resources(catalog);
}

fn answer<T: serde::Serialize>(r: Result<T, MemoryFailure>) -> ToolResult {
    match r {
        Ok(v) => structured(&v),
        Err(e) => {
            if matches!(e, MemoryFailure::Stopped(_)) {
                tracing::warn!(error = %e, "memory tool failed");
            }
            refuse(e.to_string())
        }
    }
}

macro_rules! parse {
    ($call:expr, $tool:literal) => {
        match args(&$call, $tool) {
            Ok(a) => a,
            Err(e) => return refuse(e),
        }
    };
}

fn schema(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

fn namespace() -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9_.:/-]+$",
        "description": "The namespace, e.g. lessons or team/alpha"
    })
}

fn key() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 512, "description": "The entry's key (unique in its namespace)" })
}

fn vector(what: &str) -> Value {
    json!({ "type": "array", "items": { "type": "number" }, "minItems": 1, "description": what })
}

fn filter() -> Value {
    json!({
        "type": "object",
        "description": "Only entries whose metadata has these fields with equal values (nested objects match as subsets), e.g. {\"agent\": \"coder\"}"
    })
}

/// Text or vector, never both; `required` says whether one must be given.
fn content(
    tool: &str,
    text: Option<String>,
    vector: Option<Vec<f32>>,
    text_name: &str,
    vector_name: &str,
    required: bool,
) -> Result<Option<Content>, String> {
    match (text, vector) {
        (Some(_), Some(_)) => Err(format!(
            "invalid arguments for {tool}: give {text_name} or {vector_name}, not both"
        )),
        (Some(t), None) => Ok(Some(Content::Text(t))),
        (None, Some(v)) => Ok(Some(Content::Vector(v))),
        (None, None) if required => Err(format!(
            "invalid arguments for {tool}: give {text_name} (embedded by the node) or {vector_name} (a vector of the embedder's dimension; memory_stats shows it)"
        )),
        (None, None) => Ok(None),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreArgs {
    namespace: String,
    key: String,
    value: Value,
    #[serde(default)]
    metadata: Value,
    ttl_seconds: Option<i64>,
    text: Option<String>,
    embedding: Option<Vec<f32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyArgs {
    namespace: String,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    namespace: String,
    query: Option<String>,
    vector: Option<Vec<f32>>,
    k: Option<usize>,
    filter: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    namespace: String,
    filter: Option<Value>,
    cursor: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsArgs {}

fn write_tools(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "memory_store",
            format!(
                "Store (or replace, by key) an entry in a namespace of semantic memory: a JSON \
                 value, optional metadata (a JSON object, searchable with filters), an optional \
                 time to live (1 to {MAX_TTL_SECONDS} seconds) and, to make it findable by \
                 memory_search, either text (embedded by the node) or an explicit embedding \
                 vector. Storing creates the namespace. The write is durable when this answers."
            ),
            object(schema(
                json!({
                    "namespace": namespace(),
                    "key": key(),
                    "value": { "description": "Any JSON: the payload (value and metadata together are capped; memory_stats shows the limit)" },
                    "metadata": { "type": "object", "description": "A JSON object of searchable fields" },
                    "ttl_seconds": { "type": "integer", "minimum": 1, "maximum": MAX_TTL_SECONDS, "description": "Expire after this many seconds (omit: keep until deleted)" },
                    "text": { "type": "string", "minLength": 1, "description": "Text to embed for semantic search" },
                    "embedding": vector("A ready embedding instead of text (the embedder's dimension)")
                }),
                &["namespace", "key", "value"],
            )),
        )
        .with_annotations(ToolAnnotations::new().idempotent(true)),
        |call: ToolCall| async move {
            let a: StoreArgs = parse!(call, "memory_store");
            let content = match content(
                "memory_store",
                a.text,
                a.embedding,
                "text",
                "embedding",
                false,
            ) {
                Ok(c) => c,
                Err(e) => return refuse(e),
            };
            let request = StoreRequest {
                key: a.key,
                value: a.value,
                metadata: a.metadata,
                ttl_seconds: a.ttl_seconds,
                content,
            };
            answer(call.cx.node().memory().store(&a.namespace, request).await)
        },
    );
    catalog.add_tool(
        Tool::new(
            "memory_delete",
            "Delete an entry by key. Answers deleted: false when there was no live entry.",
            object(schema(
                json!({ "namespace": namespace(), "key": key() }),
                &["namespace", "key"],
            )),
        )
        .with_annotations(ToolAnnotations::new().destructive(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: KeyArgs = parse!(call, "memory_delete");
            answer(
                call.cx
                    .node()
                    .memory()
                    .delete(&a.namespace, &a.key)
                    .await
                    .map(|deleted| json!({ "namespace": a.namespace, "key": a.key, "deleted": deleted })),
            )
        },
    );
}

fn read_tools(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "memory_retrieve",
            "An entry by key: found: false when the namespace has no live entry under it.",
            object(schema(
                json!({ "namespace": namespace(), "key": key() }),
                &["namespace", "key"],
            )),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: KeyArgs = parse!(call, "memory_retrieve");
            answer(call.cx.node().memory().retrieve(&a.namespace, &a.key).map(
                |entry| match entry {
                    Some(e) => json!({ "found": true, "entry": e }),
                    None => json!({ "found": false, "namespace": a.namespace, "key": a.key }),
                },
            ))
        },
    );
    catalog.add_tool(
        Tool::new(
            "memory_search",
            format!(
                "Semantic search in a namespace: the k (1-{MAX_PAGE}, default {DEFAULT_K}) live \
                 entries nearest to a query text (embedded by the node) or a query vector, \
                 optionally only those whose metadata matches a filter. Hits come nearest \
                 first with score (cosine similarity) and distance; the answer names the \
                 embedder and says whether it is degraded."
            ),
            object(schema(
                json!({
                    "namespace": namespace(),
                    "query": { "type": "string", "minLength": 1, "description": "Text to search for" },
                    "vector": vector("A query vector instead of text"),
                    "k": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_K },
                    "filter": filter()
                }),
                &["namespace"],
            )),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: SearchArgs = parse!(call, "memory_search");
            let query = match content("memory_search", a.query, a.vector, "query", "vector", true)
            {
                Ok(Some(q)) => q,
                Ok(None) => unreachable!("required"),
                Err(e) => return refuse(e),
            };
            answer(
                call.cx
                    .node()
                    .memory()
                    .search(&a.namespace, query, a.k.unwrap_or(DEFAULT_K), a.filter)
                    .await,
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "memory_list",
            format!(
                "Live entries of a namespace in key order, optionally filtered by metadata, \
                 at most limit (1-{MAX_PAGE}, default {DEFAULT_LIST}) per page: pass the \
                 answer's next as cursor for the following page."
            ),
            object(schema(
                json!({
                    "namespace": namespace(),
                    "filter": filter(),
                    "cursor": { "type": "string", "description": "next from the previous page" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_LIST }
                }),
                &["namespace"],
            )),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: ListArgs = parse!(call, "memory_list");
            let limit = a.limit.unwrap_or(DEFAULT_LIST);
            if limit == 0 || limit > MAX_PAGE {
                return refuse(format!(
                    "invalid arguments for memory_list: limit must be between 1 and {MAX_PAGE}, got {limit}"
                ));
            }
            answer(call.cx.node().memory().list(
                &a.namespace,
                a.filter,
                a.cursor.as_deref(),
                limit,
            ))
        },
    );
    catalog.add_tool(
        Tool::new(
            "memory_stats",
            "Semantic memory's state: namespaces with entry counts, index parameters, the \
             embedder (label, dimension) and whether it is degraded, limits, reaper and \
             snapshot activity, and how each namespace's index was loaded at start.",
            object(schema(json!({}), &[])),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let _: StatsArgs = parse!(call, "memory_stats");
            structured(&call.cx.node().memory().stats())
        },
    );
}

fn resources(catalog: &mut Catalog) {
    catalog.add_template(
        ResourceTemplate::new("mcpflow://memory/{namespace}", "memory-namespace")
            .with_description(format!(
                "A memory namespace as JSON: entry counts, the embedder, and its first \
                 {RESOURCE_KEYS} keys (page the rest with memory_list). A `/` in the name is \
                 written %2F. Subscribe to hear of every write, delete and expiry in it."
            ))
            .with_mime_type("application/json"),
        None,
        |read: ResourceRead| async move {
            let ns = namespace_from_uri_segment(
                read.vars
                    .get("namespace")
                    .map(String::as_str)
                    .unwrap_or_default(),
            );
            let memory = read.cx.node().memory();
            let not_found = |e: MemoryFailure| McpError::resource_not_found(e.to_string(), None);
            let summary = memory.namespace_stats(&ns).map_err(not_found)?;
            let page = memory
                .list(&ns, None, None, RESOURCE_KEYS)
                .map_err(not_found)?;
            let stats = memory.stats();
            let body = json!({
                "namespace": summary.name,
                "entries": summary.entries,
                "embedded": summary.embedded,
                "embedder": stats.embedder,
                "degraded": stats.degraded,
                "keys": page.entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
                "next": page.next,
            });
            let text = serde_json::to_string_pretty(&body)
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
            Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, read.uri).with_mime_type("application/json"),
            ])
            .into())
        },
    );
}
