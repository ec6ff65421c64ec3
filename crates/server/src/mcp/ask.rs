//! Asking the client something mid-request — a model completion (sampling) or user input
//! (elicitation) — in whichever way the request's protocol era allows.
//!
//! - 2025-11-25 and earlier: a server→client request on the same session
//!   (`sampling/createMessage`, `elicitation/create`), awaited in place.
//! - 2026-07-28: multi round-trip requests (MRTR). The first round returns an
//!   `input_required` result carrying the question; the client retries the same call with
//!   `inputResponses`, and the second round finds its answer there.
//!
//! - Inside an MCP task (any era): the question parks the task in `input_required`, the client
//!   answers with `tasks/update`, and the task resumes.
//!
//! Callers write one path: `match cx.ask(...)? { Asked::Answer(a) => ..., Asked::Pending(r) =>
//! return Ok(r.into()) }`.

#![allow(deprecated)] // sampling is SEP-2577-deprecated in rmcp 3.x, still used by clients.

use rmcp::ErrorData as McpError;
use rmcp::model::{
    ClientCapabilities, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequest, ElicitRequestParams, ElicitResult, InputRequest, InputRequests,
    InputRequiredResult, InputResponses,
};
use serde_json::json;

use super::context::Cx;

/// The outcome of asking: the answer, or (2026-07-28, first round) the `input_required`
/// result to return to the client.
#[derive(Debug)]
pub enum Asked<T> {
    /// The client answered.
    Answer(T),
    /// Return this to the client; it will retry with the answer.
    Pending(InputRequiredResult),
}

impl Cx {
    /// Asks the client's model for a completion.
    ///
    /// `key` names the question within the request (MRTR answers are keyed by it);
    /// `responses` are the `inputResponses` the retried request carried, if any.
    pub async fn ask_sampling(
        &self,
        key: &str,
        params: CreateMessageRequestParams,
        responses: Option<&InputResponses>,
    ) -> Result<Asked<CreateMessageResult>, McpError> {
        if !self.client_can(|c| c.sampling.is_some()) {
            return Err(missing_capability("sampling"));
        }
        let question = || InputRequest::CreateMessage(CreateMessageRequest::new(params.clone()));
        if let Some(answer) = self.ask_in_task(key, question()).await? {
            return Ok(Asked::Answer(answer));
        }
        if self.is_modern() {
            return answer_or_pending(key, responses, question);
        }
        self.peer()
            .create_message(params)
            .await
            .map(Asked::Answer)
            .map_err(|e| {
                McpError::internal_error(format!("sampling/createMessage failed: {e}"), None)
            })
    }

    /// Asks the user (through the client) to fill in a form.
    pub async fn ask_elicitation(
        &self,
        key: &str,
        params: ElicitRequestParams,
        responses: Option<&InputResponses>,
    ) -> Result<Asked<ElicitResult>, McpError> {
        if !self.client_can(|c| c.elicitation.is_some()) {
            return Err(missing_capability("elicitation"));
        }
        let question = || InputRequest::Elicitation(ElicitRequest::new(params.clone()));
        if let Some(answer) = self.ask_in_task(key, question()).await? {
            return Ok(Asked::Answer(answer));
        }
        if self.is_modern() {
            return answer_or_pending(key, responses, question);
        }
        self.peer()
            .create_elicitation(params)
            .await
            .map(Asked::Answer)
            .map_err(|e| McpError::internal_error(format!("elicitation/create failed: {e}"), None))
    }

    /// Inside a task: asks through the task and waits for `tasks/update`. Outside: `None`.
    async fn ask_in_task<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        question: InputRequest,
    ) -> Result<Option<T>, McpError> {
        let Some(task) = &self.task else {
            return Ok(None);
        };
        let answer = task.request_input(key, question).await.map_err(|_| {
            McpError::internal_error("the task was cancelled while waiting for input", None)
        })?;
        serde_json::from_value(answer).map(Some).map_err(|e| {
            McpError::invalid_params(format!("the answer to {key:?} is not valid: {e}"), None)
        })
    }

    /// Whether the client declared the sampling capability.
    pub fn client_can_sample(&self) -> bool {
        self.client_can(|c| c.sampling.is_some())
    }

    fn client_can(&self, check: impl Fn(&rmcp::model::ClientCapabilities) -> bool) -> bool {
        self.request()
            .client_capabilities()
            .is_some_and(|c| check(&c))
    }
}

/// -32021 naming the capability the client would need to declare.
fn missing_capability(name: &str) -> McpError {
    let required: ClientCapabilities =
        serde_json::from_value(json!({ name: {} })).unwrap_or_default();
    McpError::missing_required_client_capability(required)
}

fn answer_or_pending<T: serde::de::DeserializeOwned>(
    key: &str,
    responses: Option<&InputResponses>,
    question: impl FnOnce() -> InputRequest,
) -> Result<Asked<T>, McpError> {
    if let Some(answer) = responses.and_then(|r| r.get(key)) {
        return serde_json::from_value(answer.clone())
            .map(Asked::Answer)
            .map_err(|e| {
                McpError::invalid_params(
                    format!("inputResponses.{key} is not a valid answer: {e}"),
                    None,
                )
            });
    }
    let mut requests = InputRequests::new();
    requests.insert(key.to_owned(), question());
    Ok(Asked::Pending(InputRequiredResult::new(
        Some(requests),
        None,
    )))
}
