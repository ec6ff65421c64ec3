//! The JSON-RPC gate in front of `/mcp`: every POST body is bounded, parsed once and classified
//! before rmcp sees it.
//!
//! rmcp answers malformed JSON with a bare 4xx and accepts bodies of any size; the protocol
//! wants `-32700 Parse error`, and a server wants a limit. Batches (JSON arrays) were removed
//! from MCP in 2025-06-18 and are refused here with a message saying so.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::json;

/// What the gate learnt of a request; later layers find it in the request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpcInfo {
    /// The JSON-RPC method, or `None` for a response / notification-less body.
    pub method: Option<String>,
    /// Whether the message carries an `id` (a request, not a notification).
    pub has_id: bool,
    /// What the request acts on, for authorisation before dispatch: `params.name` of a
    /// `tools/call`, `params.uri` of a `resources/read` or `resources/subscribe`.
    pub target: Option<String>,
}

/// The few fields the gate reads; the rest is validated as JSON and skipped.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    id: Option<serde::de::IgnoredAny>,
    #[serde(borrow, default)]
    params: Option<ParamsProbe<'a>>,
}

/// `params` as authorisation reads it; any other shape is left to the protocol layer.
#[derive(Deserialize)]
#[serde(untagged)]
enum ParamsProbe<'a> {
    Fields(#[serde(borrow)] ProbeParams<'a>),
    Other(serde::de::IgnoredAny),
}

/// The `params` fields authorisation needs; other params are skipped.
#[derive(Deserialize)]
struct ProbeParams<'a> {
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    uri: Option<std::borrow::Cow<'a, str>>,
}

/// Why a body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over the configured limit.
    TooLarge { limit: usize },
    /// Not JSON at all.
    Parse(String),
    /// A JSON array (batch).
    Batch,
    /// JSON, but not a JSON-RPC message object.
    NotAnObject,
}

impl Refusal {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Refusal::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                -32600,
                format!("request body exceeds the limit of {limit} bytes (http.max_body_bytes)"),
            ),
            Refusal::Parse(e) => (StatusCode::BAD_REQUEST, -32700, format!("Parse error: {e}")),
            Refusal::Batch => (
                StatusCode::BAD_REQUEST,
                -32600,
                "Invalid Request: JSON-RPC batches are not supported by MCP since 2025-06-18; send one message per POST".to_owned(),
            ),
            Refusal::NotAnObject => (
                StatusCode::BAD_REQUEST,
                -32600,
                "Invalid Request: the body must be one JSON-RPC message object".to_owned(),
            ),
        };
        metrics::counter!("mcpflow_http_rejected_total", "reason" => reason_label(code, status))
            .increment(1);
        error_response(status, code, &message).into_response()
    }
}

fn reason_label(code: i32, status: StatusCode) -> &'static str {
    match (code, status) {
        (_, StatusCode::PAYLOAD_TOO_LARGE) => "too_large",
        (-32700, _) => "parse_error",
        _ => "invalid_request",
    }
}

/// Classifies one body.
pub fn inspect(body: &[u8]) -> Result<RpcInfo, Refusal> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            // Tell a malformed array from a batch: both are refused, with the right code.
            return match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => Err(Refusal::Batch),
                Err(e) => Err(Refusal::Parse(e.to_string())),
            };
        }
        Some(b'{') => {}
        _ => {
            return match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => Err(Refusal::NotAnObject),
                Err(e) => Err(Refusal::Parse(e.to_string())),
            };
        }
    }
    match serde_json::from_slice::<Probe<'_>>(body) {
        Ok(probe) => {
            let target = match (probe.method.as_deref(), probe.params) {
                (Some("tools/call"), Some(ParamsProbe::Fields(p))) => {
                    p.name.map(|n| n.into_owned())
                }
                (Some("resources/read" | "resources/subscribe"), Some(ParamsProbe::Fields(p))) => {
                    p.uri.map(|u| u.into_owned())
                }
                _ => None,
            };
            Ok(RpcInfo {
                method: probe.method.map(|m| m.into_owned()),
                has_id: probe.id.is_some(),
                target,
            })
        }
        // The object is syntactically fine but `method` is not a string, etc.: let rmcp
        // produce its precise Invalid Request answer; only real syntax errors stop here.
        Err(e) if e.is_data() => Ok(RpcInfo::default()),
        Err(e) => Err(Refusal::Parse(e.to_string())),
    }
}

/// A JSON-RPC error response with `id: null` and the given HTTP status.
pub fn error_response(status: StatusCode, code: i32, message: &str) -> impl IntoResponse + use<> {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Middleware state: the body limit.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Middleware: bound, parse and classify POST bodies; put [`RpcInfo`] in the extensions.
pub async fn gate(
    State(BodyLimit(limit)): State<BodyLimit>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Refusal::TooLarge { limit }.into_response();
    }
    let (mut parts, body) = request.into_parts();
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Refusal::TooLarge { limit }.into_response();
        }
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                -32600,
                &format!("could not read the request body: {e}"),
            )
            .into_response();
        }
    };
    match inspect(&bytes) {
        Ok(info) => {
            parts.extensions.insert(info);
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let info = inspect(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert_eq!(info.method.as_deref(), Some("tools/list"));
        assert!(info.has_id);
        let note = inspect(br#" {"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(!note.has_id);
        let resp = inspect(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert_eq!(resp.method, None);
        // Escaped method names are decoded, not refused.
        let esc = inspect(br#"{"method":"tools\/call","id":2}"#).unwrap();
        assert_eq!(esc.method.as_deref(), Some("tools/call"));
    }

    #[test]
    fn reads_the_target_authorisation_needs() {
        let call = inspect(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"agent_spawn","arguments":{"uri":"x"}}}"#).unwrap();
        assert_eq!(call.target.as_deref(), Some("agent_spawn"));
        let read = inspect(br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"mcpflow://tenants/b/x"}}"#).unwrap();
        assert_eq!(read.target.as_deref(), Some("mcpflow://tenants/b/x"));
        let odd = inspect(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":5}"#).unwrap();
        assert_eq!(
            (odd.method.as_deref(), odd.target),
            (Some("tools/call"), None)
        );
        let list =
            inspect(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"x"}}"#)
                .unwrap();
        assert_eq!(list.target, None);
    }

    #[test]
    fn refuses_what_mcp_does_not_allow() {
        assert!(matches!(inspect(b"{not json"), Err(Refusal::Parse(_))));
        assert!(matches!(inspect(b""), Err(Refusal::Parse(_))));
        assert!(matches!(inspect(b"[1,"), Err(Refusal::Parse(_))));
        assert_eq!(
            inspect(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            Err(Refusal::Batch)
        );
        assert_eq!(inspect(b"42"), Err(Refusal::NotAnObject));
        assert_eq!(inspect(br#""ping""#), Err(Refusal::NotAnObject));
    }

    #[test]
    fn wrong_field_types_are_left_to_the_protocol_layer() {
        assert_eq!(
            inspect(br#"{"method":7,"id":1}"#).unwrap(),
            RpcInfo::default()
        );
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the gate, and its verdict agrees with serde_json:
        /// anything serde_json cannot parse is a parse error, anything it can is not.
        #[test]
        fn inspect_agrees_with_serde_json(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let parses = serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok();
            match inspect(&body) {
                Err(Refusal::Parse(_)) => proptest::prop_assert!(!parses),
                _ => proptest::prop_assert!(parses),
            }
        }

        /// Any JSON value is classified without panicking: objects pass, arrays are batches,
        /// scalars are not messages.
        #[test]
        fn classifies_every_json_shape(value in json_value()) {
            let body = serde_json::to_vec(&value).unwrap();
            let verdict = inspect(&body);
            match value {
                serde_json::Value::Object(_) => proptest::prop_assert!(verdict.is_ok()),
                serde_json::Value::Array(_) => proptest::prop_assert_eq!(verdict, Err(Refusal::Batch)),
                _ => proptest::prop_assert_eq!(verdict, Err(Refusal::NotAnObject)),
            }
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(
                    "(method|id|jsonrpc|params|[a-z]{1,5})",
                    inner,
                    0..4
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
