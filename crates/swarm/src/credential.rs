//! Member credentials: an HMAC-SHA256 key issued when a member joins, so its votes can be
//! told from anyone else's. The swarm keeps a copy of each key to check votes; a member that
//! leaves has its key revoked, and a rejoin gets a fresh one.

use crate::id::{AgentId, Map, SwarmId};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A member's secret, handed to it at join. Keep it private to the member.
#[derive(Clone)]
pub struct Credential {
    swarm: SwarmId,
    member: AgentId,
    key: [u8; 32],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("swarm", &self.swarm)
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// An authentication tag over one vote.
pub type VoteTag = [u8; 32];

fn vote_bytes(swarm: SwarmId, proposal: u64, voter: AgentId, approve: bool) -> [u8; 29] {
    let mut b = [0u8; 29];
    b[..4].copy_from_slice(b"vote");
    b[4..12].copy_from_slice(&swarm.0.to_be_bytes());
    b[12..20].copy_from_slice(&proposal.to_be_bytes());
    b[20..28].copy_from_slice(&voter.0.to_be_bytes());
    b[28] = u8::from(approve);
    b
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length")
}

impl Credential {
    /// The member this credential belongs to.
    pub fn member(&self) -> AgentId {
        self.member
    }

    /// The swarm that issued it.
    pub fn swarm(&self) -> SwarmId {
        self.swarm
    }

    /// Signs a vote on `proposal`.
    pub fn sign_vote(&self, proposal: u64, approve: bool) -> VoteTag {
        let mut m = mac(&self.key);
        m.update(&vote_bytes(self.swarm, proposal, self.member, approve));
        m.finalize().into_bytes().into()
    }
}

/// The swarm's side: issues keys and checks tags.
pub struct Keyring {
    swarm: SwarmId,
    secret: [u8; 32],
    issued: u64,
    keys: Map<AgentId, [u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("swarm", &self.swarm)
            .field("members", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring with a secret from the operating system's RNG.
    pub fn random(swarm: SwarmId) -> Self {
        let mut secret = [0u8; 32];
        if getrandom::fill(&mut secret).is_err() {
            // No OS randomness: fall back to std's per-process random hasher keys.
            use std::hash::{BuildHasher, RandomState};
            for (i, chunk) in secret.chunks_mut(8).enumerate() {
                let v = RandomState::new().hash_one(i);
                chunk.copy_from_slice(&v.to_le_bytes());
            }
        }
        Self::from_secret(swarm, secret)
    }

    /// A keyring from a fixed secret (deterministic simulations and tests).
    pub fn from_secret(swarm: SwarmId, secret: [u8; 32]) -> Self {
        Self {
            swarm,
            secret,
            issued: 0,
            keys: Map::default(),
        }
    }

    /// Issues a fresh credential for `member` (replacing any earlier one).
    pub fn issue(&mut self, member: AgentId) -> Credential {
        self.issued += 1;
        let mut m = mac(&self.secret);
        m.update(b"member");
        m.update(&member.0.to_be_bytes());
        m.update(&self.issued.to_be_bytes());
        let key: [u8; 32] = m.finalize().into_bytes().into();
        self.keys.insert(member, key);
        Credential {
            swarm: self.swarm,
            member,
            key,
        }
    }

    /// Revokes `member`'s credential.
    pub fn revoke(&mut self, member: AgentId) {
        self.keys.remove(&member);
    }

    /// Whether `tag` is `voter`'s signature of this vote (constant-time comparison).
    pub fn verify_vote(&self, proposal: u64, voter: AgentId, approve: bool, tag: &VoteTag) -> bool {
        let Some(key) = self.keys.get(&voter) else {
            return false;
        };
        let mut m = mac(key);
        m.update(&vote_bytes(self.swarm, proposal, voter, approve));
        m.verify_slice(tag).is_ok()
    }
}
