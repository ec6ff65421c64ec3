//! Cedar compliance: validation on load, hot reload keeping the last good set, cache cleared
//! on reload, decision log and report.

use mcpflow_auth::compliance::{ComplianceConfig, PolicyStore};
use mcpflow_auth::{Action, Principal, PrincipalKind, Resource};
use std::path::Path;
use std::time::{Duration, SystemTime};

const SCHEMA: &str = r#"
entity User = { tenant: String, roles: Set<String> };
entity Agent = { tenant: String, roles: Set<String> };
entity Service = { tenant: String, roles: Set<String> };
entity Tool = { tenant?: String };
entity Resource = { tenant?: String };
action call_tool appliesTo { principal: [User, Agent, Service], resource: [Tool] };
action read_resource appliesTo { principal: [User, Agent, Service], resource: [Resource] };
"#;

const BASE: &str = r#"
@id("base-permit")
permit(principal, action, resource);

@id("agents-no-spawn")
forbid(principal is Agent, action == Action::"call_tool", resource == Tool::"agent_spawn");
"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Rewrites a file so its fingerprint surely changes even on coarse-mtime filesystems.
fn rewrite(dir: &Path, name: &str, text: &str) {
    write(dir, name, text);
    let path = dir.join(name);
    let bump = SystemTime::now() + Duration::from_secs(5);
    let f = std::fs::File::options().append(true).open(&path).unwrap();
    f.set_modified(bump).unwrap();
}

fn store(dir: &Path) -> std::sync::Arc<PolicyStore> {
    PolicyStore::open(&ComplianceConfig {
        policy_dir: dir.to_owned(),
        ..ComplianceConfig::default()
    })
    .unwrap()
}

fn agent() -> Principal {
    Principal::new("bot", "acme", ["worker"], PrincipalKind::Agent)
}
fn user() -> Principal {
    Principal::new("alice", "acme", ["worker"], PrincipalKind::User)
}

#[test]
fn decisions_name_the_deciding_policies() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "schema.cedarschema", SCHEMA);
    write(dir.path(), "base.cedar", BASE);
    let s = store(dir.path());
    let spawn = Resource::new("agent_spawn");
    let d = s.check_compliance(&agent(), Action::CallTool, &spawn);
    assert!(!d.allow);
    assert_eq!(d.reasons, vec!["agents-no-spawn".to_owned()]);
    let d = s.check_compliance(&user(), Action::CallTool, &spawn);
    assert!(d.allow);
    assert_eq!(d.reasons, vec!["base-permit".to_owned()]);
    assert!(d.errors.is_empty());
}

#[test]
fn invalid_policies_are_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "schema.cedarschema", SCHEMA);
    // Valid syntax, but `clearance` is not in the schema: strict validation refuses it.
    write(
        dir.path(),
        "bad.cedar",
        "permit(principal, action, resource) when { principal.clearance == 3 };",
    );
    let err = PolicyStore::open(&ComplianceConfig {
        policy_dir: dir.path().to_owned(),
        ..ComplianceConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("validate"), "{err}");
    write(dir.path(), "bad.cedar", "permit(principal, action");
    assert!(
        PolicyStore::open(&ComplianceConfig {
            policy_dir: dir.path().to_owned(),
            ..ComplianceConfig::default()
        })
        .is_err()
    );
}

#[test]
fn hot_reload_applies_good_changes_clears_the_cache_and_keeps_the_last_good_set() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "schema.cedarschema", SCHEMA);
    write(dir.path(), "base.cedar", BASE);
    let s = store(dir.path());
    let read = Resource::new("mcpflow://memory/x").in_tenant("acme");
    assert!(
        s.check_compliance(&user(), Action::ReadResource, &read)
            .allow
    );
    assert!(!s.reload_if_changed(), "nothing changed");

    // A good change: users may no longer read memory. The cached allow must not survive.
    let stricter = format!(
        "{BASE}\n@id(\"no-memory-reads\")\nforbid(principal is User, action == Action::\"read_resource\", resource);\n"
    );
    rewrite(dir.path(), "base.cedar", &stricter);
    assert!(s.reload_if_changed());
    assert_eq!(s.generation(), 2);
    let d = s.check_compliance(&user(), Action::ReadResource, &read);
    assert!(!d.allow);
    assert_eq!(d.reasons, vec!["no-memory-reads".to_owned()]);

    // A bad change: the last good set stays, the error is visible.
    rewrite(
        dir.path(),
        "base.cedar",
        "forbid(principal, action, resource) when {",
    );
    assert!(!s.reload_if_changed());
    assert_eq!(s.generation(), 2);
    assert!(s.last_error().is_some());
    assert!(
        !s.check_compliance(&user(), Action::ReadResource, &read)
            .allow
    );
    assert!(
        s.check_compliance(&user(), Action::CallTool, &Resource::new("t"))
            .allow
    );

    // Fixed again: the error clears.
    rewrite(dir.path(), "base.cedar", BASE);
    assert!(s.reload_if_changed());
    assert!(s.last_error().is_none());
    assert!(
        s.check_compliance(&user(), Action::ReadResource, &read)
            .allow
    );
}

#[test]
fn the_watcher_thread_picks_up_changes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.cedar", BASE);
    let s = store(dir.path());
    s.watch(Duration::from_millis(20));
    rewrite(
        dir.path(),
        "extra.cedar",
        "@id(\"x\") forbid(principal, action, resource == Tool::\"x\");",
    );
    // Wait for the event, not a fixed time: poll the generation with a generous cap.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while s.generation() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "watcher never reloaded"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !s.check_compliance(&user(), Action::CallTool, &Resource::new("x"))
            .allow
    );
}

#[test]
fn report_counts_by_action_and_policy_and_lists_violations() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "schema.cedarschema", SCHEMA);
    write(dir.path(), "base.cedar", BASE);
    let s = store(dir.path());
    let before = SystemTime::now();
    let spawn = Resource::new("agent_spawn");
    for _ in 0..3 {
        s.check_compliance(&agent(), Action::CallTool, &spawn);
    }
    s.check_compliance(&user(), Action::CallTool, &spawn);
    s.check_compliance(
        &user(),
        Action::ReadResource,
        &Resource::new("mcpflow://node/status"),
    );
    let r = s.report(before, SystemTime::now());
    assert_eq!((r.total, r.allowed, r.denied), (5, 2, 3));
    assert_eq!(r.by_action["call_tool"], (1, 3));
    assert_eq!(r.by_action["read_resource"], (1, 0));
    assert_eq!(r.by_policy["agents-no-spawn"], 3);
    assert_eq!(r.by_policy["base-permit"], 2);
    assert_eq!(r.violations.len(), 3);
    assert!(r.violations.iter().all(|v| v.principal == "bot"));
    assert_eq!(r.denied_by_principal["bot"], 3);
    assert_eq!(r.denied_by_resource["agent_spawn"], 3);
    assert_eq!(r.violations_omitted, 0);
    assert!(!r.truncated);
    let empty = s.report(SystemTime::UNIX_EPOCH, before - Duration::from_secs(1));
    assert_eq!(empty.total, 0);
}

#[test]
fn bounded_log_reports_truncation() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.cedar", BASE);
    let s = PolicyStore::open(&ComplianceConfig {
        policy_dir: dir.path().to_owned(),
        log_size: 2,
        ..ComplianceConfig::default()
    })
    .unwrap();
    let start = SystemTime::now();
    for i in 0..5 {
        s.check_compliance(&user(), Action::CallTool, &Resource::new(format!("t{i}")));
    }
    let r = s.report(start, SystemTime::now());
    assert_eq!(r.total, 2);
    assert!(r.truncated);
}

#[test]
fn decide_answers_without_logging() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.cedar", BASE);
    let s = store(dir.path());
    let start = SystemTime::now();
    let spawn = Resource::new("agent_spawn");
    let d = s.decide(&agent(), Action::CallTool, &spawn);
    assert!(!d.allow);
    assert_eq!(d.reasons, ["agents-no-spawn"]);
    assert_eq!(s.check_compliance(&agent(), Action::CallTool, &spawn), d);
    let r = s.report(start, SystemTime::now());
    assert_eq!(r.total, 1, "only check_compliance is logged");
}

/// Keeps the decisions it is told about.
#[derive(Debug, Default)]
struct Decisions(parking_lot::Mutex<Vec<(String, String, bool)>>);

impl mcpflow_auth::AuthAudit for Decisions {
    fn record(&self, _: &mcpflow_auth::AuthEvent) {}
    fn decision(&self, e: &mcpflow_auth::ComplianceEvent<'_>) {
        self.0.lock().push((
            e.principal.id.clone(),
            e.resource.name.clone(),
            e.decision.allow,
        ));
    }
}

#[test]
fn authorize_reports_every_cedar_decision_to_the_audit_hook() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.cedar", BASE);
    let rbac = mcpflow_auth::Rbac::from_toml(
        r#"
[roles.worker]
permissions = ["tool:agent_*"]
"#,
    )
    .unwrap();
    let audit = std::sync::Arc::new(Decisions::default());
    let auth = mcpflow_auth::Auth::new(
        String::new(),
        None,
        None,
        rbac,
        mcpflow_auth::ratelimit::RateLimitConfig::default(),
        Some(store(dir.path())),
    )
    .with_audit(audit.clone());
    let spawn = Resource::new("agent_spawn");
    assert!(auth.authorize(&user(), Action::CallTool, &spawn).is_ok());
    assert!(auth.authorize(&agent(), Action::CallTool, &spawn).is_err());
    // RBAC refuses first: Cedar is not asked, nothing to report.
    assert!(
        auth.authorize(&user(), Action::CallTool, &Resource::new("task_submit"))
            .is_err()
    );
    assert_eq!(
        *audit.0.lock(),
        [
            ("alice".to_owned(), "agent_spawn".to_owned(), true),
            ("bot".to_owned(), "agent_spawn".to_owned(), false),
        ]
    );
}
