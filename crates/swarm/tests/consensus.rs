//! Proposals: quorum policies, authenticated one-per-member votes, deadlines, final results.

mod common;
use common::cases;

use mcpflow_swarm::{
    AgentId, Ballot, Consensus, Credential, Decision, Error, Keyring, Quorum, SwarmId, Topology,
    TopologyKind,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const S: SwarmId = SwarmId(9);

fn setup(n: u64) -> (Topology, Keyring, Vec<Credential>) {
    let mut t = Topology::new(S, TopologyKind::Mesh).unwrap();
    let mut k = Keyring::from_secret(S, [7; 32]);
    let creds = (0..n)
        .map(|i| {
            t.add(AgentId(i)).unwrap();
            k.issue(AgentId(i))
        })
        .collect();
    (t, k, creds)
}

fn ballot(c: &Credential, proposal: u64, approve: bool) -> Ballot {
    Ballot {
        proposal,
        voter: c.member(),
        approve,
        tag: c.sign_vote(proposal, approve),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn majority_decides_early_and_the_result_is_final() {
    let (t, k, c) = setup(5);
    let mut cs = Consensus::new(S);
    let p = cs
        .propose(
            &t,
            AgentId(0),
            "deploy".into(),
            Quorum::Majority,
            secs(10),
            secs(0),
        )
        .unwrap();
    assert_eq!(
        cs.vote(&t, &k, &ballot(&c[0], p, true), secs(1)).unwrap(),
        None
    );
    assert_eq!(
        cs.vote(&t, &k, &ballot(&c[1], p, true), secs(1)).unwrap(),
        None
    );
    let o = cs
        .vote(&t, &k, &ballot(&c[2], p, true), secs(2))
        .unwrap()
        .unwrap();
    assert_eq!((o.decision, o.yes, o.total), (Decision::Accepted, 3, 5));
    assert_eq!(
        cs.vote(&t, &k, &ballot(&c[3], p, false), secs(3)),
        Err(Error::AlreadyDecided(p))
    );
    assert!(cs.tick(secs(20)).is_empty());
    assert_eq!(cs.get(p).unwrap().outcome, Some(o));
}

#[test]
fn unanimous_fails_on_one_no_and_two_thirds_counts_right() {
    let (t, k, c) = setup(3);
    let mut cs = Consensus::new(S);
    let p = cs
        .propose(
            &t,
            AgentId(0),
            "x".into(),
            Quorum::Unanimous,
            secs(10),
            secs(0),
        )
        .unwrap();
    let o = cs
        .vote(&t, &k, &ballot(&c[1], p, false), secs(1))
        .unwrap()
        .unwrap();
    assert_eq!(o.decision, Decision::Rejected);

    let q = cs
        .propose(
            &t,
            AgentId(0),
            "y".into(),
            Quorum::TwoThirds,
            secs(10),
            secs(0),
        )
        .unwrap();
    assert_eq!(
        cs.vote(&t, &k, &ballot(&c[0], q, true), secs(1)).unwrap(),
        None
    );
    let o = cs
        .vote(&t, &k, &ballot(&c[1], q, true), secs(1))
        .unwrap()
        .unwrap();
    assert_eq!(o.decision, Decision::Accepted);
}

#[test]
fn weighted_quorum_and_invalid_quorums() {
    let (t, k, c) = setup(3);
    let mut cs = Consensus::new(S);
    let weights: BTreeMap<_, _> = [(AgentId(0), 6), (AgentId(1), 3), (AgentId(2), 1)].into();
    let p = cs
        .propose(
            &t,
            AgentId(2),
            "w".into(),
            Quorum::Weighted {
                weights: weights.clone(),
                threshold: 0.6,
            },
            secs(5),
            secs(0),
        )
        .unwrap();
    let o = cs
        .vote(&t, &k, &ballot(&c[0], p, true), secs(1))
        .unwrap()
        .unwrap();
    assert_eq!((o.decision, o.yes, o.total), (Decision::Accepted, 6, 10));

    for threshold in [0.0, 1.5, f64::NAN] {
        let q = Quorum::Weighted {
            weights: weights.clone(),
            threshold,
        };
        assert!(matches!(
            cs.propose(&t, AgentId(0), "bad".into(), q, secs(5), secs(0)),
            Err(Error::InvalidQuorum(_))
        ));
    }
    let mut missing = weights.clone();
    missing.remove(&AgentId(1));
    let mut stranger = weights.clone();
    stranger.insert(AgentId(99), 1);
    let zero: BTreeMap<_, _> = weights.keys().map(|a| (*a, 0)).collect();
    for w in [missing, stranger, zero] {
        let err = cs
            .propose(
                &t,
                AgentId(0),
                "bad".into(),
                Quorum::Weighted {
                    weights: w,
                    threshold: 0.5,
                },
                secs(5),
                secs(0),
            )
            .unwrap_err();
        assert!(matches!(err, Error::InvalidQuorum(_)), "{err}");
    }
    assert_eq!(
        cs.propose(
            &t,
            AgentId(0),
            "late".into(),
            Quorum::Majority,
            secs(1),
            secs(1)
        ),
        Err(Error::DeadlineInPast {
            deadline: secs(1),
            now: secs(1)
        })
    );
    assert_eq!(
        cs.propose(
            &t,
            AgentId(42),
            "who".into(),
            Quorum::Majority,
            secs(5),
            secs(0)
        ),
        Err(Error::NotMember {
            swarm: S,
            agent: AgentId(42)
        })
    );
}

#[test]
fn forged_repeated_late_and_foreign_votes_are_refused() {
    let (mut t, mut k, c) = setup(4);
    let mut cs = Consensus::new(S);
    let p = cs
        .propose(
            &t,
            AgentId(0),
            "x".into(),
            Quorum::Unanimous,
            secs(10),
            secs(0),
        )
        .unwrap();
    // Member 1 signs, but claims to be member 2.
    let mut forged = ballot(&c[1], p, true);
    forged.voter = AgentId(2);
    assert_eq!(
        cs.vote(&t, &k, &forged, secs(1)),
        Err(Error::ForgedVote {
            proposal: p,
            voter: AgentId(2)
        })
    );
    // A yes tag replayed as a no.
    let mut flipped = ballot(&c[1], p, true);
    flipped.approve = false;
    assert!(matches!(
        cs.vote(&t, &k, &flipped, secs(1)),
        Err(Error::ForgedVote { .. })
    ));
    cs.vote(&t, &k, &ballot(&c[1], p, true), secs(1)).unwrap();
    assert_eq!(
        cs.vote(&t, &k, &ballot(&c[1], p, true), secs(2)),
        Err(Error::AlreadyVoted {
            proposal: p,
            voter: AgentId(1)
        })
    );
    // Joined after the proposal opened: not in its electorate.
    t.add(AgentId(7)).unwrap();
    let late = k.issue(AgentId(7));
    assert!(matches!(
        cs.vote(&t, &k, &ballot(&late, p, true), secs(2)),
        Err(Error::NotEligible { .. })
    ));
    // Left the swarm: no longer votes; rejoined: the old credential is dead.
    t.remove(AgentId(3)).unwrap();
    k.revoke(AgentId(3));
    assert!(matches!(
        cs.vote(&t, &k, &ballot(&c[3], p, true), secs(2)),
        Err(Error::NotEligible { .. })
    ));
    t.add(AgentId(3)).unwrap();
    let _fresh = k.issue(AgentId(3));
    assert!(matches!(
        cs.vote(&t, &k, &ballot(&c[3], p, true), secs(2)),
        Err(Error::ForgedVote { .. })
    ));
    // The deadline closes it.
    let err = cs
        .vote(&t, &k, &ballot(&c[2], p, true), secs(10))
        .unwrap_err();
    assert_eq!(
        err,
        Error::DeadlinePassed {
            proposal: p,
            deadline: secs(10)
        }
    );
    assert_eq!(
        cs.get(p).unwrap().outcome.unwrap().decision,
        Decision::Expired
    );
    assert_eq!(
        cs.vote(&t, &k, &ballot(&c[0], 99, true), secs(1)),
        Err(Error::UnknownProposal(99))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]
    /// Whatever arrives — forged, repeated, late — a decided proposal never changes, and the
    /// decision agrees with the policy applied to the counted votes.
    #[test]
    fn decisions_are_final_and_match_the_policy(
        n in 1u64..8,
        policy in 0u8..3,
        votes in proptest::collection::vec((0u64..10, any::<bool>(), any::<bool>(), 0u64..15), 0..40),
    ) {
        let (t, k, c) = setup(n);
        let quorum = [Quorum::Majority, Quorum::TwoThirds, Quorum::Unanimous][policy as usize].clone();
        let mut cs = Consensus::new(S);
        let p = cs.propose(&t, AgentId(0), "p".into(), quorum, secs(10), secs(0)).unwrap();
        let mut decided = None;
        let mut now = 0;
        for (who, approve, forge, dt) in votes {
            now = (now + dt / 3).min(14);
            let mut b = match c.get(who as usize) {
                Some(cr) => ballot(cr, p, approve),
                None => Ballot { proposal: p, voter: AgentId(who), approve, tag: [0; 32] },
            };
            if forge { b.tag[0] ^= 1; }
            let r = cs.vote(&t, &k, &b, secs(now));
            if forge { prop_assert!(r.is_err()); }
            if let Ok(Some(o)) = r {
                prop_assert!(decided.is_none(), "decided twice");
                decided = Some(o);
            }
            let current = cs.get(p).unwrap().outcome;
            if let Some(d) = decided { prop_assert_eq!(current, Some(d)); }
            if let Some(cur) = current { decided.get_or_insert(cur); }
        }
        cs.tick(secs(20));
        let prop = cs.get(p).unwrap();
        let o = prop.outcome.unwrap();
        if let Some(d) = decided { prop_assert_eq!(o, d); }
        let yes = prop.votes.values().filter(|v| **v).count() as u64;
        let needed = match policy { 0 => n / 2 + 1, 1 => (2 * n).div_ceil(3), _ => n };
        prop_assert_eq!(o.decision == Decision::Accepted, yes >= needed);
    }
}
