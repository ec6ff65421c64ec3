//! `mcpflow audit`: verify the tamper-evident audit log, search it, and prove an entry's
//! inclusion under the latest signed tree head. All read-only: safe while a server writes.

use anyhow::Context;
use clap::{Args, Subcommand};
use mcpflow_audit::{Error, Search, Tamper, Verifier};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Flags shared by every `mcpflow audit` subcommand.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The audit database (default: `audit.db` in the data directory).
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// The signing key the log was written with; its public half `<key>.pub` is used when it
    /// exists (default: `audit-signing.key` beside the database).
    #[arg(long, global = true, value_name = "PATH")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    command: AuditCommand,
}

/// The `mcpflow audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole log: hash chain, sequence, timestamps, every signed checkpoint (key,
    /// signature, Merkle root) and truncation. Exit status 1 names the first bad entry.
    Verify {
        /// A signed head kept outside the database (JSON, as printed by `prove`'s `head`): the
        /// log must still contain it, which also catches a tail cut together with its
        /// checkpoints.
        #[arg(long, value_name = "FILE")]
        head: Option<PathBuf>,
    },
    /// Full-text search over action, resource and details; prints JSON lines, newest first.
    Search {
        /// FTS5 query: words, "quoted phrases", AND/OR/NOT, prefix*.
        query: String,
        /// Only entries at or after this time: ms since the epoch, or an age like 30m, 2h, 7d.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only entries before this time (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Print an inclusion proof (JSON) of entry SEQ against the latest signed head, after
    /// verifying it.
    Prove {
        /// The entry's sequence number.
        seq: u64,
    },
}

/// Parses `1700000000000` (ms since the epoch) or an age `90s`, `30m`, `2h`, `7d` (before now).
fn parse_time(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().ok().filter(|n| *n >= 0).with_context(|| {
        format!("time {s:?}: use milliseconds since the epoch, or an age like 30m, 2h, 7d")
    })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => anyhow::bail!("time {s:?}: unit must be s, m, h or d (e.g. 2h)"),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    Ok(now - secs * 1000)
}

fn verifier(key: &Path) -> anyhow::Result<Verifier> {
    Verifier::for_key_file(key).with_context(|| {
        format!(
            "loading the audit public key for {} (pass --key with the log's signing key)",
            key.display()
        )
    })
}

/// Runs `mcpflow audit`.
pub fn run(args: AuditArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let db = args.db.unwrap_or_else(|| data_dir.join("audit.db"));
    let key = args.key.unwrap_or_else(|| {
        db.parent()
            .unwrap_or(Path::new("."))
            .join("audit-signing.key")
    });
    match args.command {
        AuditCommand::Verify { head } => {
            let verifier = verifier(&key)?;
            let head =
                match head {
                    None => None,
                    Some(path) => {
                        let text = std::fs::read_to_string(&path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        Some(serde_json::from_str(&text).with_context(|| {
                            format!("{}: not a signed head (JSON)", path.display())
                        })?)
                    }
                };
            match mcpflow_audit::verify_db(&db, &verifier, head.as_ref()) {
                Ok(summary) => {
                    println!("{}", serde_json::to_string_pretty(&summary)?);
                    if summary.unsigned_tail > 0 {
                        eprintln!(
                            "note: the last {} entries are not yet under a signed checkpoint",
                            summary.unsigned_tail
                        );
                    }
                    eprintln!(
                        "audit log OK: {} entries, {} checkpoints",
                        summary.entries, summary.checkpoints
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(Error::Tampered(t)) => {
                    report_tamper(&t);
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        AuditCommand::Search {
            query,
            since,
            until,
            limit,
        } => {
            let search = Search {
                text: query,
                since_ms: since.as_deref().map(parse_time).transpose()?,
                until_ms: until.as_deref().map(parse_time).transpose()?,
                limit: Some(limit),
            };
            for entry in mcpflow_audit::search_db(&db, &search)? {
                println!("{}", serde_json::to_string(&entry)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Prove { seq } => {
            let verifier = verifier(&key)?;
            match mcpflow_audit::prove_db(&db, seq, &verifier) {
                Ok(proof) => {
                    println!("{}", serde_json::to_string_pretty(&proof)?);
                    eprintln!(
                        "inclusion of entry {seq} in the signed tree of {} entries: verified",
                        proof.head.size
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(Error::Tampered(t)) => {
                    report_tamper(&t);
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn report_tamper(t: &Tamper) {
    match t.first_bad_seq() {
        Some(seq) => eprintln!("audit log verification FAILED at entry {seq}: {t}"),
        None => eprintln!("audit log verification FAILED: {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        let two_hours_ago = parse_time("2h").unwrap();
        let one_hour_ago = parse_time("1h").unwrap();
        assert!(two_hours_ago < one_hour_ago);
        assert!(parse_time("2w").unwrap_err().to_string().contains("unit"));
        assert!(parse_time("abc").is_err());
        assert!(parse_time("").is_err());
    }
}
