//! Compliance policies in Cedar: files in a directory, validated on load, hot-reloaded, with
//! cached decisions and a bounded decision log for reports.
//!
//! The directory holds `*.cedar` policy files and optionally one `*.cedarschema` schema. With
//! a schema, the policies are validated strictly against it on every (re)load, and requests and
//! entities are checked against it too. A file that fails to parse or validate is refused: the
//! last good policy set stays in force and the error is logged and kept in
//! [`PolicyStore::last_error`].
//!
//! Entities as policies see them:
//! - principal `User::"<id>"`, `Agent::"<id>"` or `Service::"<id>"` with attributes
//!   `tenant: String` and `roles: Set<String>`;
//! - action `Action::"call_tool"` or `Action::"read_resource"`;
//! - resource `Tool::"<name>"` or `Resource::"<uri>"` with attribute `tenant: String` when the
//!   resource belongs to a tenant.
//!
//! Policy ids in decisions are the `@id("...")` annotation when present, else
//! `<file stem>:<n>`. Cedar denies unless some `permit` matches and no `forbid` does: a
//! forbid-only policy set needs a base `permit(principal, action, resource);`.

mod log;

pub use log::{ComplianceReport, LoggedDecision};

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use lru::LruCache;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use crate::error::ConfigError;
use crate::principal::Principal;
use crate::rbac::{Action, Resource};
use log::DecisionLog;

/// The answer of [`PolicyStore::check_compliance`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// Whether the request complies.
    pub allow: bool,
    /// Ids of the policies that decided (the permits that allowed, or the forbids that denied).
    pub reasons: Vec<String>,
    /// Evaluation errors (a policy that errors is skipped by Cedar; shown here so it is seen).
    pub errors: Vec<String>,
}

/// Settings (the `[auth.compliance]` section).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComplianceConfig {
    /// Directory of `*.cedar` policies and an optional `*.cedarschema`.
    pub policy_dir: PathBuf,
    /// How often the directory is polled for changes, milliseconds. Default 1000.
    pub poll_ms: u64,
    /// Cached decisions (LRU), cleared on reload. Default 4096.
    pub cache_size: usize,
    /// Decisions kept for reports (oldest dropped first). Default 100000.
    pub log_size: usize,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        Self {
            policy_dir: PathBuf::from("policies"),
            poll_ms: 1000,
            cache_size: 4096,
            log_size: 100_000,
        }
    }
}

/// One loaded, validated generation of the policies.
struct Loaded {
    policies: PolicySet,
    schema: Option<Schema>,
    /// `(path, mtime, len)` of every file read, to notice changes.
    fingerprint: Vec<(PathBuf, Option<SystemTime>, u64)>,
}

/// The cache key: everything a decision depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    principal: Principal,
    action: Action,
    resource: Resource,
}

/// Cedar policies from a directory, hot-reloaded.
pub struct PolicyStore {
    dir: PathBuf,
    current: RwLock<Arc<Loaded>>,
    cache: Mutex<LruCache<CacheKey, Decision>>,
    log: DecisionLog,
    last_error: Mutex<Option<String>>,
    generation: std::sync::atomic::AtomicU64,
    authorizer: Authorizer,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("dir", &self.dir)
            .field("generation", &self.generation())
            .field("last_error", &*self.last_error.lock())
            .finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// Loads and validates the policies in `config.policy_dir`; fails if they are invalid (a
    /// server must not start with broken compliance rules).
    pub fn open(config: &ComplianceConfig) -> Result<Arc<Self>, ConfigError> {
        let loaded = load_dir(&config.policy_dir)?;
        Ok(Arc::new(Self {
            dir: config.policy_dir.clone(),
            current: RwLock::new(Arc::new(loaded)),
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(config.cache_size.max(1)).expect("max(1) is non-zero"),
            )),
            log: DecisionLog::new(config.log_size.max(1)),
            last_error: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(1),
            authorizer: Authorizer::new(),
        }))
    }

    /// Starts a background thread polling the directory every `every`; it ends when the store
    /// is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("cedar-reload".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    match weak.upgrade() {
                        Some(store) => {
                            store.reload_if_changed();
                        }
                        None => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the policy reload thread; policies will not hot-reload");
        }
    }

    /// How many times a policy set was (re)loaded successfully.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The error of the last failed reload, cleared by the next good one.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Reloads if any file changed (added, removed, modified). Returns whether a new policy set
    /// is now in force. A bad change keeps the old set and records the error.
    pub fn reload_if_changed(&self) -> bool {
        let now = match fingerprint(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                self.fail(e.to_string());
                return false;
            }
        };
        if now == self.current.read().fingerprint {
            return false;
        }
        match load_dir(&self.dir) {
            Ok(loaded) => {
                *self.current.write() = Arc::new(loaded);
                self.cache.lock().clear();
                *self.last_error.lock() = None;
                let generation = self
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
                    + 1;
                tracing::info!(dir = %self.dir.display(), generation, "compliance policies reloaded");
                true
            }
            Err(e) => {
                // Remember the fingerprint of the bad files so the error is logged once per
                // change, not on every poll.
                let current = self.current.read().clone();
                *self.current.write() = Arc::new(Loaded {
                    policies: current.policies.clone(),
                    schema: current.schema.clone(),
                    fingerprint: now,
                });
                self.fail(e.to_string());
                false
            }
        }
    }

    fn fail(&self, message: String) {
        tracing::error!(dir = %self.dir.display(), error = %message, "compliance policies NOT reloaded; the last good set stays in force");
        *self.last_error.lock() = Some(message);
    }

    /// Decides whether `principal` may do `action` on `resource` under the current policies.
    /// The decision is logged for [`Self::report`].
    pub fn check_compliance(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Decision {
        let decision = self.decide(principal, action, resource);
        self.log.push(principal, action, resource, &decision);
        decision
    }

    /// [`Self::check_compliance`] without logging: the answer the policies would give, for
    /// what-if questions (`compliance_check`) that must not count as decisions in reports.
    pub fn decide(&self, principal: &Principal, action: Action, resource: &Resource) -> Decision {
        let key = CacheKey {
            principal: principal.clone(),
            action,
            resource: resource.clone(),
        };
        let cached = self.cache.lock().get(&key).cloned();
        match cached {
            Some(d) => d,
            None => {
                let loaded = self.current.read().clone();
                let d = self.evaluate(&loaded, principal, action, resource);
                // A reload between read and insert would cache an old answer: only insert if
                // the generation did not move.
                if Arc::ptr_eq(&loaded, &self.current.read()) {
                    self.cache.lock().put(key, d.clone());
                }
                d
            }
        }
    }

    fn evaluate(
        &self,
        loaded: &Loaded,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Decision {
        match self.try_evaluate(loaded, principal, action, resource) {
            Ok(d) => d,
            // Fail closed: a request the schema rejects is not compliant.
            Err(e) => Decision {
                allow: false,
                reasons: Vec::new(),
                errors: vec![e],
            },
        }
    }

    fn try_evaluate(
        &self,
        loaded: &Loaded,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Result<Decision, String> {
        let schema = loaded.schema.as_ref();
        let p_type = match principal.kind {
            crate::PrincipalKind::User => "User",
            crate::PrincipalKind::Agent => "Agent",
            crate::PrincipalKind::Service => "Service",
        };
        let p_uid = uid(p_type, &principal.id)?;
        let a_uid = uid("Action", action.as_str())?;
        let r_type = match action {
            Action::CallTool => "Tool",
            Action::ReadResource => "Resource",
        };
        let r_uid = uid(r_type, &resource.name)?;
        let p_attrs = HashMap::from([
            (
                "tenant".to_owned(),
                RestrictedExpression::new_string(principal.tenant.clone()),
            ),
            (
                "roles".to_owned(),
                RestrictedExpression::new_set(
                    principal
                        .roles
                        .iter()
                        .map(|r| RestrictedExpression::new_string(r.clone())),
                ),
            ),
        ]);
        let mut r_attrs = HashMap::new();
        if let Some(t) = &resource.tenant {
            r_attrs.insert(
                "tenant".to_owned(),
                RestrictedExpression::new_string(t.clone()),
            );
        }
        let entities = [
            Entity::new(p_uid.clone(), p_attrs, HashSet::new()).map_err(|e| e.to_string())?,
            Entity::new(r_uid.clone(), r_attrs, HashSet::new()).map_err(|e| e.to_string())?,
        ];
        let entities = Entities::from_entities(entities, schema).map_err(|e| e.to_string())?;
        let request = Request::new(p_uid, a_uid, r_uid, Context::empty(), schema)
            .map_err(|e| e.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &loaded.policies, &entities);
        let diagnostics = response.diagnostics();
        Ok(Decision {
            allow: response.decision() == cedar_policy::Decision::Allow,
            reasons: diagnostics.reason().map(|id| id.to_string()).collect(),
            errors: diagnostics.errors().map(|e| e.to_string()).collect(),
        })
    }

    /// Counts and violations (denied decisions) logged in `[from, to]`.
    pub fn report(&self, from: SystemTime, to: SystemTime) -> ComplianceReport {
        self.log.report(from, to)
    }
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

/// Lists the policy and schema files with their mtimes and sizes, sorted.
fn fingerprint(dir: &Path) -> Result<Vec<(PathBuf, Option<SystemTime>, u64)>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str());
        if !matches!(ext, Some("cedar" | "cedarschema")) {
            continue;
        }
        let meta = entry.metadata().ok();
        files.push((
            path,
            meta.as_ref().and_then(|m| m.modified().ok()),
            meta.map_or(0, |m| m.len()),
        ));
    }
    files.sort();
    Ok(files)
}

fn load_dir(dir: &Path) -> Result<Loaded, ConfigError> {
    let files = fingerprint(dir)?;
    let mut schema = None;
    let mut policies = PolicySet::new();
    for (path, _, _) in files
        .iter()
        .filter(|(p, _, _)| p.extension().is_some_and(|e| e == "cedarschema"))
    {
        if schema.is_some() {
            return Err(ConfigError::invalid(
                dir.display(),
                "more than one *.cedarschema file; keep one schema per policy directory",
            ));
        }
        let text = ConfigError::read(path)?;
        let (parsed, warnings) = Schema::from_cedarschema_str(&text)
            .map_err(|e| ConfigError::invalid(path.display(), format!("{e:?}")))?;
        for w in warnings {
            tracing::warn!(file = %path.display(), warning = %w, "Cedar schema warning");
        }
        schema = Some(parsed);
    }
    for (path, _, _) in files
        .iter()
        .filter(|(p, _, _)| p.extension().is_some_and(|e| e == "cedar"))
    {
        let text = ConfigError::read(path)?;
        let set = PolicySet::from_str(&text)
            .map_err(|e| ConfigError::invalid(path.display(), format!("{e:?}")))?;
        if set.templates().next().is_some() {
            return Err(ConfigError::invalid(
                path.display(),
                "policy templates are not supported; write static policies",
            ));
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (n, policy) in set.policies().enumerate() {
            let id = policy
                .annotation("id")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{stem}:{n}"));
            policies
                .add(policy.new_id(PolicyId::new(&id)))
                .map_err(|e| ConfigError::invalid(path.display(), format!("policy {id:?}: {e}")))?;
        }
    }
    if policies.policies().next().is_none() {
        tracing::warn!(dir = %dir.display(), "no Cedar policies: every compliance check will deny");
    }
    if let Some(schema) = &schema {
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            let errors: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
            return Err(ConfigError::invalid(
                dir.display(),
                format!(
                    "policies do not validate against the schema: {}",
                    errors.join("; ")
                ),
            ));
        }
    }
    Ok(Loaded {
        policies,
        schema,
        fingerprint: files,
    })
}
