//! What both HTTP providers share: one connection pool, sending a JSON request, turning an
//! HTTP failure into an [`ExecError`] (with `Retry-After` honoured), and reading a body or an
//! event stream with bounds.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, StatusCode};

use crate::ExecError;
use crate::secret::ApiKey;
use crate::sse::{SseEvent, SseParser};

/// Largest non-streamed reply body we read.
const MAX_BODY: usize = 16 << 20;
/// Longest wait a provider may ask for; beyond it we would rather fail and let the task retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Wait after a 429/529 that names no time.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The process-wide client: pooled keep-alive connections to each provider.
pub(crate) fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("mcpflow/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .tcp_nodelay(true)
                .build()
                .expect("the HTTP client's fixed configuration is valid")
        })
        .clone()
}

/// A header whose value is marked sensitive (kept out of debug output).
pub(crate) fn secret_header(
    name: &'static str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), ExecError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        ExecError::Permanent("the API key contains characters not allowed in an HTTP header".into())
    })?;
    value.set_sensitive(true);
    Ok((HeaderName::from_static(name), value))
}

/// Posts `body` as JSON; a non-2xx answer becomes an error carrying the provider's message.
pub(crate) async fn post_json(
    provider: &str,
    url: &str,
    headers: HeaderMap,
    body: &serde_json::Value,
    key: Option<&ApiKey>,
) -> Result<Response, ExecError> {
    let response = client()
        .post(url)
        .headers(headers)
        .json(body)
        .send()
        .await
        .map_err(|e| {
            ExecError::Transient(format!(
                "cannot reach {provider} at {url}: {}",
                error_chain(&e)
            ))
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers(), SystemTime::now());
    let body = response.bytes().await.unwrap_or_default();
    let message = error_message(&body[..body.len().min(64 << 10)]);
    let message = match key {
        Some(key) => key.redact(&message),
        None => message,
    };
    Err(status_error(provider, status, retry_after, &message))
}

/// Maps an HTTP failure to retryable or not, as the providers document their status codes.
pub(crate) fn status_error(
    provider: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    message: &str,
) -> ExecError {
    let code = status.as_u16();
    let reason = format!("{provider} answered {status}: {message}");
    match code {
        401 | 403 => ExecError::Permanent(format!(
            "{reason} — check the API key in the agent's api_key_env variable"
        )),
        429 | 529 => ExecError::Throttled {
            reason,
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        408 | 409 | 425 | 500..=599 => match retry_after {
            Some(retry_after) => ExecError::Throttled {
                reason,
                retry_after,
            },
            None => ExecError::Transient(reason),
        },
        _ => ExecError::Permanent(reason),
    }
}

/// `retry-after-ms` (OpenAI), or `Retry-After` as seconds or an HTTP date; capped.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let wait = if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()?
    } else {
        let value = text("retry-after")?;
        match value.parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs).ok()?,
            Err(_) => httpdate::parse_http_date(value)
                .ok()?
                .duration_since(now)
                .unwrap_or_default(),
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The provider's error message: `error.message`, `error` as a string, `message`, or the body.
pub(crate) fn error_message(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let error = &json["error"];
        let found = error["message"]
            .as_str()
            .or_else(|| error.as_str())
            .or_else(|| json["message"].as_str())
            .or_else(|| json["detail"].as_str());
        if let Some(message) = found {
            return match error["type"].as_str().or_else(|| error["code"].as_str()) {
                Some(kind) => format!("{message} ({kind})"),
                None => message.to_owned(),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(no body)".to_owned()
    } else {
        text.chars().take(500).collect()
    }
}

/// Reads a whole (non-streamed) body, refusing one over [`MAX_BODY`].
pub(crate) async fn read_body(
    provider: &str,
    mut response: Response,
) -> Result<Vec<u8>, ExecError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| cut(provider, &e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ExecError::Permanent(format!(
                "{provider}'s reply is larger than {} MiB",
                MAX_BODY >> 20
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Feeds a streamed body through the SSE parser; `on_event` sees each event in order. Returns
/// when the body ends; the caller decides whether the stream was complete.
pub(crate) async fn read_events(
    provider: &str,
    mut response: Response,
    mut on_event: impl FnMut(SseEvent) -> Result<(), ExecError>,
) -> Result<(), ExecError> {
    let mut parser = SseParser::default();
    let mut failed = None;
    while let Some(chunk) = response.chunk().await.map_err(|e| cut(provider, &e))? {
        parser
            .feed(&chunk, |event| {
                if failed.is_none()
                    && let Err(e) = on_event(event)
                {
                    failed = Some(e);
                }
            })
            .map_err(|e| ExecError::Permanent(format!("{provider}'s stream: {e}")))?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}

fn cut(provider: &str, e: &reqwest::Error) -> ExecError {
    ExecError::Transient(format!(
        "{provider}'s reply was cut off: {}",
        error_chain(e)
    ))
}

/// An error with its causes: reqwest's top-level message alone rarely says what happened.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_every_spelling() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        h.insert("retry-after", HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(500)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert("retry-after", HeaderValue::from_static("99999999"));
        assert_eq!(retry_after(&h, now), Some(MAX_RETRY_AFTER));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(250)));
    }

    #[test]
    fn statuses_map_to_retryability() {
        let e = |code| status_error("p", StatusCode::from_u16(code).unwrap(), None, "m");
        assert!(!e(400).is_retryable());
        assert!(!e(401).is_retryable());
        assert!(e(401).reason().contains("api_key_env"));
        assert!(!e(404).is_retryable());
        assert_eq!(e(429).retry_after(), Some(DEFAULT_RETRY_AFTER));
        assert_eq!(e(529).retry_after(), Some(DEFAULT_RETRY_AFTER));
        assert!(e(500).is_retryable() && e(500).retry_after().is_none());
        assert!(e(408).is_retryable());
        let slow = status_error(
            "p",
            StatusCode::SERVICE_UNAVAILABLE,
            Some(Duration::from_secs(2)),
            "m",
        );
        assert_eq!(slow.retry_after(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn error_messages_of_each_dialect() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#),
            "bad model (invalid_request_error)"
        );
        assert_eq!(
            error_message(
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "Overloaded (overloaded_error)"
        );
        assert_eq!(
            error_message(br#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(error_message(b"  Bad Gateway \n"), "Bad Gateway");
        assert_eq!(error_message(b""), "(no body)");
    }
}
