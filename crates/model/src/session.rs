//! Client sessions and their lifecycle.
//!
//! The lifecycle follows the seed design (`003`, "sessions"):
//! `initializing → active ⇄ suspended → terminating → dead`. Any live state may also die
//! abruptly (a dropped connection), but nothing leaves `dead`.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::Timestamp;

/// Where a session's messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Newline-delimited JSON-RPC on stdin/stdout.
    Stdio,
    /// MCP Streamable HTTP (`/mcp`).
    StreamableHttp,
    /// JSON-RPC over WebSocket text frames (`/ws`).
    WebSocket,
}

impl Transport {
    /// The stable name used in storage and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::StreamableHttp => "streamable_http",
            Transport::WebSocket => "websocket",
        }
    }

    /// Parses [`Transport::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stdio" => Some(Transport::Stdio),
            "streamable_http" => Some(Transport::StreamableHttp),
            "websocket" => Some(Transport::WebSocket),
            _ => None,
        }
    }
}

/// A session's place in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Created; the initialize handshake has not completed.
    Initializing,
    /// Serving requests.
    Active,
    /// Kept but idle (e.g. no open stream); may resume.
    Suspended,
    /// Closing: draining in-flight requests.
    Terminating,
    /// Gone. Terminal.
    Dead,
}

impl SessionState {
    /// The stable name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Initializing => "initializing",
            SessionState::Active => "active",
            SessionState::Suspended => "suspended",
            SessionState::Terminating => "terminating",
            SessionState::Dead => "dead",
        }
    }

    /// Parses [`SessionState::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "initializing" => Some(SessionState::Initializing),
            "active" => Some(SessionState::Active),
            "suspended" => Some(SessionState::Suspended),
            "terminating" => Some(SessionState::Terminating),
            "dead" => Some(SessionState::Dead),
            _ => None,
        }
    }

    /// Whether a session in `self` may move to `next`.
    pub fn can_become(self, next: SessionState) -> bool {
        use SessionState::*;
        match (self, next) {
            (Dead, _) => false,
            (_, Dead) => true,
            (Initializing, Active | Terminating) => true,
            (Active, Suspended | Terminating) => true,
            (Suspended, Active | Terminating) => true,
            _ => false,
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused lifecycle move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session {session_id} cannot go from {from} to {to}")]
pub struct InvalidTransition {
    /// The session concerned.
    pub session_id: String,
    /// Its current state.
    pub from: SessionState,
    /// The refused target state.
    pub to: SessionState,
}

/// What is remembered of a client session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session id; for HTTP the `Mcp-Session-Id` header value.
    pub id: String,
    /// The node that holds the session's streams (sessions die with their node).
    pub node: String,
    /// The transport the session arrived on.
    pub transport: Transport,
    /// The negotiated MCP protocol version, once known.
    pub protocol_version: Option<String>,
    /// The client's self-reported `name/version`, once known.
    pub client: Option<String>,
    /// Lifecycle state.
    pub state: SessionState,
    /// When the session was created.
    pub created_at: Timestamp,
    /// When the session last changed state or was seen.
    pub updated_at: Timestamp,
}

impl SessionRecord {
    /// A new session in [`SessionState::Initializing`].
    pub fn new(
        id: impl Into<String>,
        node: impl Into<String>,
        transport: Transport,
        now: Timestamp,
    ) -> Self {
        Self {
            id: id.into(),
            node: node.into(),
            transport,
            protocol_version: None,
            client: None,
            state: SessionState::Initializing,
            created_at: now,
            updated_at: now,
        }
    }

    /// Moves the session to `next`, refusing moves the lifecycle forbids.
    pub fn transition(
        &mut self,
        next: SessionState,
        now: Timestamp,
    ) -> Result<(), InvalidTransition> {
        if !self.state.can_become(next) {
            return Err(InvalidTransition {
                session_id: self.id.clone(),
                from: self.state,
                to: next,
            });
        }
        self.state = next;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState::*;

    const ALL: [SessionState; 5] = [Initializing, Active, Suspended, Terminating, Dead];

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(SessionState::parse(s.as_str()), Some(s));
        }
        for t in [
            Transport::Stdio,
            Transport::StreamableHttp,
            Transport::WebSocket,
        ] {
            assert_eq!(Transport::parse(t.as_str()), Some(t));
        }
        assert_eq!(SessionState::parse("zombie"), None);
    }

    #[test]
    fn dead_is_terminal_and_reachable_from_every_live_state() {
        for s in ALL {
            assert!(!Dead.can_become(s));
            if s != Dead {
                assert!(s.can_become(Dead), "{s} -> dead");
            }
        }
    }

    #[test]
    fn the_happy_path_is_allowed_and_shortcuts_are_not() {
        assert!(Initializing.can_become(Active));
        assert!(Active.can_become(Suspended));
        assert!(Suspended.can_become(Active));
        assert!(Active.can_become(Terminating));
        assert!(!Initializing.can_become(Suspended));
        assert!(!Terminating.can_become(Active));
        assert!(!Active.can_become(Initializing));
    }

    #[test]
    fn refused_transition_leaves_the_record_untouched() {
        let mut s = SessionRecord::new("a", "n1", Transport::Stdio, Timestamp(1));
        let err = s.transition(Suspended, Timestamp(2)).unwrap_err();
        assert_eq!(err.from, Initializing);
        assert_eq!(s.state, Initializing);
        assert_eq!(s.updated_at, Timestamp(1));
    }
}
