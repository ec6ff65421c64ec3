//! The tokio runtime end to end (paused clock, so timers run instantly and deterministically).

use bytes::Bytes;
use mcpflow_swarm::{
    AgentId, Ballot, Decision, DetectorConfig, Error, Mail, Quorum, RuntimeConfig, SwarmConfig,
    SwarmEvent, SwarmHandle, SwarmId, TopologyKind,
};
use std::time::Duration;

fn cfg(kind: TopologyKind) -> SwarmConfig {
    let mut c = SwarmConfig::new(kind);
    c.detector = DetectorConfig {
        interval: Duration::from_secs(1),
        suspect_after: 3,
        remove_after: 4,
    };
    c
}

#[tokio::test(start_paused = true)]
async fn messages_broadcasts_votes_and_failures() {
    let (h, _task) = SwarmHandle::start(RuntimeConfig::default());
    let mut events = h.subscribe();
    let s = h.create_swarm(cfg(TopologyKind::Ring)).await.unwrap();
    let mut members = Vec::new();
    for i in 0..5 {
        members.push(h.join(s, AgentId(i)).await.unwrap());
    }
    let id = h
        .send(s, AgentId(0), AgentId(2), Bytes::from_static(b"hello"))
        .await
        .unwrap();
    match members[2].mailbox.recv().await.unwrap() {
        Mail::Message(m) => assert_eq!(
            (m.id, m.payload, m.broadcast),
            (id, Bytes::from_static(b"hello"), false)
        ),
        other => panic!("{other:?}"),
    }
    h.broadcast(s, AgentId(1), Bytes::from_static(b"all"))
        .await
        .unwrap();
    for (i, m) in members.iter_mut().enumerate() {
        if i == 1 {
            assert!(m.mailbox.try_recv().is_err());
            continue;
        }
        let Mail::Message(d) = m.mailbox.recv().await.unwrap() else {
            panic!()
        };
        assert!(d.broadcast);
        assert!(
            m.mailbox.try_recv().is_err(),
            "member {i} got the broadcast twice"
        );
    }
    let view = h.topology(s).await.unwrap();
    assert_eq!(view.nodes.len(), 5);
    assert_eq!(view.edges.len(), 5);
    assert_eq!(
        h.paths(s, AgentId(0), AgentId(2), 3).await.unwrap().len(),
        2
    );

    // Consensus with signed votes.
    let p = h
        .propose(
            s,
            AgentId(0),
            "go".into(),
            Quorum::Majority,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    for m in &members[..3] {
        let b = Ballot {
            proposal: p,
            voter: m.id,
            approve: true,
            tag: m.credential.sign_vote(p, true),
        };
        h.vote(s, b).await.unwrap();
    }
    assert_eq!(
        h.proposal(s, p).await.unwrap().outcome.unwrap().decision,
        Decision::Accepted
    );

    // Member 4 stops beating; the others keep going until it is removed.
    let mut removed = None;
    for _ in 0..20 {
        for m in &members[..4] {
            h.heartbeat(s, m.id).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        while let Ok((sid, e)) = events.try_recv() {
            if let SwarmEvent::Removed(r) = e {
                assert_eq!(sid, s);
                removed = Some(r.removed);
            }
        }
        if removed.is_some() {
            break;
        }
    }
    assert_eq!(removed, Some(AgentId(4)));
    let view = h.topology(s).await.unwrap();
    assert_eq!(
        view.nodes,
        vec![AgentId(0), AgentId(1), AgentId(2), AgentId(3)]
    );
    assert!(
        members[4].mailbox.recv().await.is_none(),
        "a removed member's mailbox closes"
    );

    // Bad input.
    assert_eq!(
        h.send(s, AgentId(4), AgentId(0), Bytes::new()).await,
        Err(Error::NotMember {
            swarm: s,
            agent: AgentId(4)
        })
    );
    assert_eq!(
        h.send(SwarmId(77), AgentId(0), AgentId(1), Bytes::new())
            .await,
        Err(Error::UnknownSwarm(SwarmId(77)))
    );
    assert!(matches!(
        h.join(s, AgentId(0)).await,
        Err(Error::AlreadyMember { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_full_mailbox_pushes_back() {
    let (h, _task) = SwarmHandle::start(RuntimeConfig {
        mailbox: 2,
        ..RuntimeConfig::default()
    });
    let s = h.create_swarm(cfg(TopologyKind::Star)).await.unwrap();
    let _a = h.join(s, AgentId(1)).await.unwrap();
    let mut b = h.join(s, AgentId(2)).await.unwrap();
    let mut refused = 0;
    for _ in 0..8 {
        match h
            .send(s, AgentId(1), AgentId(2), Bytes::from_static(b"x"))
            .await
        {
            Ok(_) => {}
            Err(Error::MailboxFull { agent, capacity }) => {
                assert_eq!((agent, capacity), (AgentId(2), 2));
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(refused, 6, "2 in the mailbox, the rest refused");
    // Reading makes room again; nothing accepted is lost.
    let mut got = Vec::new();
    for _ in 0..2 {
        let Mail::Message(m) = b.mailbox.recv().await.unwrap() else {
            panic!()
        };
        got.push(m.id.seq);
    }
    h.send(s, AgentId(1), AgentId(2), Bytes::from_static(b"x"))
        .await
        .unwrap();
    let Mail::Message(m) = b.mailbox.recv().await.unwrap() else {
        panic!()
    };
    got.push(m.id.seq);
    assert_eq!(got, vec![0, 1, 2]);
}

/// A batch of sends larger than one routing chunk arrives complete and in order.
#[tokio::test(start_paused = true)]
async fn a_large_batch_arrives_in_order() {
    let (h, _task) = SwarmHandle::start(RuntimeConfig::default());
    let s = h.create_swarm(cfg(TopologyKind::Ring)).await.unwrap();
    let mut members = Vec::new();
    for i in 0..4 {
        members.push(h.join(s, AgentId(i)).await.unwrap());
    }
    // Two hops each (0 → 1 → 2), in one call of more than two routing chunks.
    let n = 700u32;
    let msgs = (0..n)
        .map(|i| {
            (
                AgentId(0),
                AgentId(2),
                Bytes::from(i.to_le_bytes().to_vec()),
            )
        })
        .collect();
    for r in h.send_many(s, msgs).await.unwrap() {
        r.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < n as usize {
        match members[2].mailbox.recv().await.unwrap() {
            Mail::Message(m) => got.push(u32::from_le_bytes(m.payload[..].try_into().unwrap())),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    assert!(members[1].mailbox.try_recv().is_err(), "a relay got mail");
}

#[tokio::test]
async fn the_runtime_counts_the_work_it_does() {
    let (h, _task) = SwarmHandle::start(RuntimeConfig::default());
    let s = h.create_swarm(cfg(TopologyKind::Mesh)).await.unwrap();
    let _a = h.join(s, AgentId(0)).await.unwrap();
    let mut b = h.join(s, AgentId(1)).await.unwrap();
    let before = h.load();
    let msgs = (0..1000)
        .map(|_| (AgentId(0), AgentId(1), Bytes::from_static(b"x")))
        .collect();
    for r in h.send_many(s, msgs).await.unwrap() {
        r.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 1000 {
        b.mailbox.recv_many(&mut got, 1000).await;
    }
    let after = h.load();
    assert!(after.rounds > before.rounds, "{before:?} → {after:?}");
    assert!(after.busy > before.busy, "{before:?} → {after:?}");
}
