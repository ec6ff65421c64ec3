//! Scanner configuration: thresholds per category, channel factors, where the rules come from.

use crate::types::Category;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// When a category's score turns into a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Score at or above which the verdict is at least `warn`.
    pub warn: f32,
    /// Score at or above which the verdict is `block`.
    pub block: f32,
}

/// Thresholds for every category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CategoryThresholds {
    /// Prompt injection (direct and indirect).
    pub prompt_injection: Thresholds,
    /// Jailbreak attempts.
    pub jailbreak: Thresholds,
    /// PII and secrets. By default one contact detail warns; a card, IBAN, SSN or key warns;
    /// only several kinds together block.
    pub pii_exposure: Thresholds,
    /// Memory/data poisoning.
    pub memory_poisoning: Thresholds,
    /// Privilege escalation.
    pub privilege_escalation: Thresholds,
}

impl Default for CategoryThresholds {
    fn default() -> Self {
        let t = |warn, block| Thresholds { warn, block };
        CategoryThresholds {
            prompt_injection: t(0.5, 0.8),
            jailbreak: t(0.5, 0.8),
            pii_exposure: t(0.45, 0.97),
            memory_poisoning: t(0.5, 0.8),
            privilege_escalation: t(0.5, 0.8),
        }
    }
}

impl CategoryThresholds {
    /// The thresholds of one category.
    pub fn get(&self, category: Category) -> Thresholds {
        match category {
            Category::PromptInjection => self.prompt_injection,
            Category::Jailbreak => self.jailbreak,
            Category::PiiExposure => self.pii_exposure,
            Category::MemoryPoisoning => self.memory_poisoning,
            Category::PrivilegeEscalation => self.privilege_escalation,
        }
    }
}

/// Multipliers for instruction-like evidence by channel: the same imperative weighs more in a
/// tool's output or a memory than when the user typed it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelFactors {
    /// Factor for `tool_output`.
    pub tool_output: f32,
    /// Factor for `memory`.
    pub memory: f32,
}

impl Default for ChannelFactors {
    fn default() -> Self {
        ChannelFactors {
            tool_output: 1.3,
            memory: 1.3,
        }
    }
}

/// Everything the scanner can be told. Deserialises from a TOML/JSON table; unknown keys are
/// errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Per-category thresholds.
    pub thresholds: CategoryThresholds,
    /// Thresholds for all attack evidence together (every category but PII, each rule once):
    /// weak signals of different kinds — a persona plus a dictated answer — add up. Set higher
    /// than the per-category ones because it asks for corroboration.
    pub combined: Thresholds,
    /// Per-channel factors for injection, jailbreak and poisoning evidence.
    pub channel_factors: ChannelFactors,
    /// A rules file to use instead of the built-in rules.
    pub rules_path: Option<PathBuf>,
    /// Run the PII recognisers.
    pub pii: bool,
    /// How deep to follow payloads inside decoded payloads (0 = do not decode).
    pub decode_depth: u8,
    /// Most encoded payloads decoded per text (bounds the work on hostile input).
    pub max_payloads: usize,
    /// Texts longer than this (bytes) are scanned only up to it, on a character boundary, and
    /// the report says so with a `scan.truncated` finding.
    pub max_input_bytes: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            thresholds: CategoryThresholds::default(),
            combined: Thresholds {
                warn: 0.6,
                block: 0.9,
            },
            channel_factors: ChannelFactors::default(),
            rules_path: None,
            pii: true,
            decode_depth: 2,
            max_payloads: 16,
            max_input_bytes: 1 << 20,
        }
    }
}

impl GuardConfig {
    /// Checks values that serde cannot: thresholds in range and ordered.
    pub fn validate(&self) -> Result<(), String> {
        for c in Category::ALL {
            let t = self.thresholds.get(c);
            if !(0.0..=1.0).contains(&t.warn) || !(0.0..=1.0).contains(&t.block) || t.warn > t.block
            {
                return Err(format!(
                    "thresholds.{c}: need 0 <= warn <= block <= 1, got warn {} block {}",
                    t.warn, t.block
                ));
            }
        }
        let t = self.combined;
        if !(0.0..=1.0).contains(&t.warn) || !(0.0..=1.0).contains(&t.block) || t.warn > t.block {
            return Err(format!(
                "combined: need 0 <= warn <= block <= 1, got warn {} block {}",
                t.warn, t.block
            ));
        }
        for (name, f) in [
            ("tool_output", self.channel_factors.tool_output),
            ("memory", self.channel_factors.memory),
        ] {
            if !(f.is_finite() && f > 0.0 && f <= 4.0) {
                return Err(format!(
                    "channel_factors.{name}: need 0 < factor <= 4, got {f}"
                ));
            }
        }
        if self.max_input_bytes == 0 {
            return Err("max_input_bytes must be at least 1".into());
        }
        Ok(())
    }
}
