//! Per-principal token buckets (governor), with the bucket size chosen by role.
//!
//! Each distinct quota gets its own keyed limiter, keyed by principal id; a principal uses the
//! most generous quota among its roles, or the default one.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::principal::Principal;
use crate::rbac::Rbac;

/// Default quota (the `[auth.rate_limit]` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per second refilled into a principal's bucket.
    pub per_sec: u32,
    /// Bucket size (burst).
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_sec: 50,
            burst: 100,
        }
    }
}

/// Refused: retry after this long (HTTP 429 with `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded ({per_sec}/s, burst {burst}); retry in {retry_after:?}")]
pub struct RateLimited {
    /// Time until a request would be admitted.
    pub retry_after: Duration,
    /// The quota that applied.
    pub per_sec: u32,
    /// Its burst.
    pub burst: u32,
}

/// Token buckets per principal.
pub struct PrincipalLimiter {
    default: (u32, u32),
    role_quota: HashMap<String, (u32, u32)>,
    limiters: HashMap<(u32, u32), DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for PrincipalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrincipalLimiter")
            .field("default", &self.default)
            .field("role_quota", &self.role_quota)
            .finish_non_exhaustive()
    }
}

fn quota(per_sec: u32, burst: u32) -> Quota {
    let per = NonZeroU32::new(per_sec.max(1)).expect("max(1) is non-zero");
    let burst = NonZeroU32::new(burst.max(1)).expect("max(1) is non-zero");
    Quota::per_second(per).allow_burst(burst)
}

impl PrincipalLimiter {
    /// Builds the limiters for the default quota and every role that sets its own.
    pub fn new(default: RateLimitConfig, rbac: &Rbac) -> Self {
        let default = (default.per_sec.max(1), default.burst.max(1));
        let mut role_quota = HashMap::new();
        let mut limiters = HashMap::new();
        limiters.insert(default, RateLimiter::keyed(quota(default.0, default.1)));
        for (name, spec) in rbac.roles() {
            if spec.rate_per_sec.is_none() && spec.burst.is_none() {
                continue;
            }
            let q = (
                spec.rate_per_sec.unwrap_or(default.0).max(1),
                spec.burst.unwrap_or(default.1).max(1),
            );
            role_quota.insert(name.clone(), q);
            limiters
                .entry(q)
                .or_insert_with(|| RateLimiter::keyed(quota(q.0, q.1)));
        }
        Self {
            default,
            role_quota,
            limiters,
            clock: DefaultClock::default(),
        }
    }

    /// The quota that applies to `principal`: its most generous role's, else the default.
    pub fn quota_for(&self, principal: &Principal) -> (u32, u32) {
        principal
            .roles
            .iter()
            .filter_map(|r| self.role_quota.get(r).copied())
            .max()
            .unwrap_or(self.default)
    }

    /// Takes one token from `principal`'s bucket.
    pub fn check(&self, principal: &Principal) -> Result<(), RateLimited> {
        let q = self.quota_for(principal);
        let limiter = &self.limiters[&q];
        limiter.check_key(&principal.id).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            RateLimited {
                retry_after: wait,
                per_sec: q.0,
                burst: q.1,
            }
        })
    }

    /// Forgets idle buckets (call now and then so the key space stays bounded).
    pub fn gc(&self) {
        for limiter in self.limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrincipalKind;

    #[test]
    fn burst_then_refused_per_principal_and_role_quota_wins() {
        let rbac = Rbac::from_toml("[roles.bulk]\npermissions = []\nrate_per_sec = 1\nburst = 5\n")
            .unwrap();
        let limiter = PrincipalLimiter::new(
            RateLimitConfig {
                per_sec: 1,
                burst: 2,
            },
            &rbac,
        );
        let a = Principal::new("a", "t", Vec::<String>::new(), PrincipalKind::User);
        let b = Principal::new("b", "t", ["bulk"], PrincipalKind::User);
        assert!(limiter.check(&a).is_ok());
        assert!(limiter.check(&a).is_ok());
        let refused = limiter.check(&a).unwrap_err();
        assert!(refused.retry_after > Duration::ZERO);
        for _ in 0..5 {
            assert!(limiter.check(&b).is_ok(), "b has its role's burst of 5");
        }
        assert!(limiter.check(&b).is_err());
    }
}
