//! The vocabulary of a scan: where text came from, what was found, and the verdict.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a text came from. The same words mean different things in different places: an
/// instruction typed by the user is a request, the same instruction inside a tool's output or a
/// stored memory is an indirect injection or a poisoning attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Typed by the caller.
    #[default]
    User,
    /// Returned by a tool or retrieved from a document: it should carry data, never instructions.
    ToolOutput,
    /// About to be stored (or replayed) as memory.
    Memory,
}

impl Channel {
    /// All channels, in a fixed order.
    pub const ALL: [Channel; 3] = [Channel::User, Channel::ToolOutput, Channel::Memory];

    /// The snake_case name used in JSON and in the rules file.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::User => "user",
            Channel::ToolOutput => "tool_output",
            Channel::Memory => "memory",
        }
    }
}

/// What kind of threat a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Text trying to replace the instructions the model was given (directly or via content).
    PromptInjection,
    /// Text trying to talk the model out of its rules (personas, hypotheticals, "no limits").
    Jailbreak,
    /// Personal or secret data: cards, IBANs, SSNs, emails, phones, IPs, keys, tokens.
    PiiExposure,
    /// Instructions planted in content that will be stored or replayed later.
    MemoryPoisoning,
    /// Asking for tools, roles or data beyond the caller's permissions.
    PrivilegeEscalation,
}

impl Category {
    /// All categories, in a fixed order.
    pub const ALL: [Category; 5] = [
        Category::PromptInjection,
        Category::Jailbreak,
        Category::PiiExposure,
        Category::MemoryPoisoning,
        Category::PrivilegeEscalation,
    ];

    /// The snake_case name used in JSON and in the rules file.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::PromptInjection => "prompt_injection",
            Category::Jailbreak => "jailbreak",
            Category::PiiExposure => "pii_exposure",
            Category::MemoryPoisoning => "memory_poisoning",
            Category::PrivilegeEscalation => "privilege_escalation",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision for one text. Ordered: `Allow < Warn < Block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing reached a warn threshold.
    Allow,
    /// Something reached a warn threshold: pass it on, but flag it.
    Warn,
    /// Something reached a block threshold: do not pass it on.
    Block,
}

impl Verdict {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Warn => "warn",
            Verdict::Block => "block",
        }
    }
}

/// Which layer produced a finding, so a reader can tell a rule hit from a decoded payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// A rule matched the normalised text.
    Rules,
    /// A rule matched text decoded from base64, hex, binary, rot13 or hidden tag characters;
    /// the span covers the encoded payload in the original text.
    Decoded,
    /// A PII recogniser matched and its validator agreed.
    Pii,
    /// A caller-supplied context check (tool permissions).
    Context,
    /// A semantic layer plugged in through [`crate::SemanticLayer`].
    Semantic,
}

/// One piece of evidence.
///
/// `start..end` are **byte offsets into the original text** (always on UTF-8 character
/// boundaries, so `&text[start..end]` is valid). Use [`crate::char_offsets`] for character
/// (code point) offsets, as Python and most annotation tools count them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The category this evidence counts towards.
    pub category: Category,
    /// The rule or recogniser id, e.g. `override.ignore_previous` or `pii.credit_card`.
    pub rule: String,
    /// The evidence weight in `0..=1` before channel factors.
    pub weight: f32,
    /// Byte offset of the first byte in the original text.
    pub start: usize,
    /// Byte offset one past the last byte in the original text.
    pub end: usize,
    /// The layer that produced it.
    pub layer: Layer,
}

/// The result of scanning one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The decision.
    pub verdict: Verdict,
    /// The highest of the category scores and the attack score, in `0..=1`.
    pub score: f32,
    /// All attack evidence together (every category but PII, each rule once), in `0..=1`.
    pub attack_score: f32,
    /// Per-category scores, only categories with a score above zero, highest first.
    pub categories: Vec<(Category, f32)>,
    /// The evidence, ordered by start offset.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The score of one category (0 when it has none).
    pub fn category_score(&self, category: Category) -> f32 {
        self.categories
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(0.0, |(_, s)| *s)
    }

    /// True when a category reached at least the given score.
    pub fn has(&self, category: Category) -> bool {
        self.category_score(category) > 0.0
    }
}

/// Converts byte offsets into the same text to character (Unicode scalar) offsets.
///
/// # Panics
/// Never: offsets past the end or inside a character are clamped to the character before them.
pub fn char_offsets(text: &str, start: usize, end: usize) -> (usize, usize) {
    let count = |b: usize| {
        let b = b.min(text.len());
        text.char_indices().take_while(|(i, _)| *i < b).count()
    };
    (count(start), count(end))
}
