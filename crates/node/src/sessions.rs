//! Recording client sessions: interfaces report lifecycle moves, the node persists them and
//! publishes them on the bus.

use mcpflow_model::{Event, SessionRecord, SessionState, Timestamp, Transport};

use crate::{Error, Node};

/// How a session ended, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOutcome {
    /// The client closed it (HTTP DELETE, EOF on stdio, WebSocket close).
    Closed,
    /// It sat idle past the idle timeout.
    Expired,
    /// The server is shutting down.
    Shutdown,
}

impl Node {
    /// A session was created on `transport`; records it as initializing.
    pub async fn session_created(&self, id: &str, transport: Transport) -> Result<(), Error> {
        let record = SessionRecord::new(id, self.id(), transport, Timestamp::now());
        self.store().upsert_session(&record).await?;
        self.publish(Event::SessionStateChanged {
            session_id: id.to_owned(),
            state: SessionState::Initializing,
        });
        Ok(())
    }

    /// The session completed its handshake; records the negotiated version and client.
    ///
    /// Two separate, atomic steps, so a handshake racing the session's end can never write
    /// a dead session back to life: the state move is refused once the session is dead.
    pub async fn session_initialized(
        &self,
        id: &str,
        protocol_version: &str,
        client: &str,
    ) -> Result<(), Error> {
        self.store()
            .describe_session(id, protocol_version, client)
            .await?;
        self.store()
            .set_session_state(id, SessionState::Active, Timestamp::now())
            .await?;
        self.publish(Event::SessionStateChanged {
            session_id: id.to_owned(),
            state: SessionState::Active,
        });
        Ok(())
    }

    /// The session is gone.
    pub async fn session_ended(&self, id: &str, outcome: SessionOutcome) -> Result<(), Error> {
        tracing::debug!(session_id = id, ?outcome, "session ended");
        self.store()
            .set_session_state(id, SessionState::Dead, Timestamp::now())
            .await?;
        self.publish(Event::SessionStateChanged {
            session_id: id.to_owned(),
            state: SessionState::Dead,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeConfig;

    #[tokio::test]
    async fn sessions_are_persisted_and_announced() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::open(NodeConfig::new(dir.path())).await.unwrap();
        let mut events = node.events();
        node.session_created("s1", Transport::Stdio).await.unwrap();
        node.session_initialized("s1", "2025-11-25", "test/1")
            .await
            .unwrap();
        node.session_ended("s1", SessionOutcome::Closed)
            .await
            .unwrap();
        let states: Vec<_> = (0..3)
            .map(|_| match events.try_recv().unwrap() {
                Event::SessionStateChanged { state, .. } => state,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            states,
            [
                SessionState::Initializing,
                SessionState::Active,
                SessionState::Dead
            ]
        );
        let stored = node.store().session("s1").await.unwrap().unwrap();
        assert_eq!(stored.protocol_version.as_deref(), Some("2025-11-25"));
        assert_eq!(stored.node, node.id());
    }

    #[tokio::test]
    async fn a_restart_keeps_the_id_and_buries_old_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let first = Node::open(NodeConfig::new(dir.path())).await.unwrap();
        first
            .session_created("old", Transport::StreamableHttp)
            .await
            .unwrap();
        let id = first.id().to_owned();
        drop(first);
        let second = Node::open(NodeConfig::new(dir.path())).await.unwrap();
        assert_eq!(second.id(), id);
        let old = second.store().session("old").await.unwrap().unwrap();
        assert_eq!(old.state, SessionState::Dead);
    }
}
