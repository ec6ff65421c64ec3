//! The declarative rules layer: keywords (one Aho-Corasick automaton) and regular expressions
//! (one `RegexSet`) loaded from a TOML file, matched against normalised views.
//!
//! A rule file is a list of `[[rule]]` tables:
//!
//! ```toml
//! [[rule]]
//! id = "override.ignore_previous"     # unique, shown in findings
//! category = "prompt_injection"       # one of the five categories
//! weight = 0.9                        # evidence weight in 0..=1
//! keywords = ["ignore all previous instructions"]   # matched on word boundaries
//! patterns = ['''\b(ignore|disregard)\b.{0,40}\binstructions\b''']
//! channels = ["tool_output", "memory"]  # optional: only in these channels
//! min_count = 1                        # optional: fire only with this many matches
//! ```
//!
//! Keywords and patterns are matched against the *normalised* text: lower case, NFKC,
//! look-alikes and diacritics folded, whitespace collapsed to one space (or one `\n`). Write
//! them that way. Patterns use the `regex` crate's syntax, with one change: `\b` means an
//! *ASCII* word boundary (it is rewritten to `(?-u:\b)`), because a Unicode word boundary
//! makes the regex engine fall back to its slowest matcher on any non-ASCII text. Around words
//! in other scripts, leave `\b` out.

use crate::normalize::Normalized;
use crate::types::{Category, Channel};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexSet};
use regex_automata::{Anchored, Input, meta};
use serde::Deserialize;
use std::path::Path;

/// The rules shipped with mcpflow, compiled in.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// Why a rules file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("cannot read rules file {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("rules file is not valid: {0} (see the format in the mcpflow-guard rules docs)")]
    Toml(#[from] toml::de::Error),
    /// A rule is inconsistent.
    #[error("rule `{id}`: {reason}")]
    Invalid {
        /// The rule id (or its position when the id is empty).
        id: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A pattern does not compile.
    #[error("rule `{id}`: pattern does not compile: {source}")]
    Regex {
        /// The rule id.
        id: String,
        /// The regex error.
        source: Box<regex::Error>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default, rename = "rule")]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    category: Category,
    weight: f32,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    channels: Vec<Channel>,
    #[serde(default)]
    min_count: Option<usize>,
}

/// One compiled rule's metadata.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id.
    pub id: String,
    /// The category it counts towards.
    pub category: Category,
    /// Evidence weight, `0..=1`.
    pub weight: f32,
    /// What it looks for, for humans.
    pub description: Option<String>,
    channels: Vec<Channel>,
    min_count: usize,
}

impl Rule {
    fn applies(&self, channel: Channel) -> bool {
        self.channels.is_empty() || self.channels.contains(&channel)
    }
}

/// A rule match on a view: byte offsets into that view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleHit {
    /// Index into [`RuleSet::rules`].
    pub rule: usize,
    /// Start in the view.
    pub start: usize,
    /// End in the view.
    pub end: usize,
}

/// Compiled rules. Build once (it is `Send + Sync`) and share.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    keyword_list: Vec<String>,
    /// Keywords (patterns `0..keyword_list.len()`) followed by the trigger literals of the
    /// patterns: one automaton, one pass over a view for both.
    literals: Option<AhoCorasick>,
    /// The keywords alone (same pattern numbers): enough, and several times faster, when the
    /// set says no pattern with trigger literals matches — as in almost every text.
    keywords: Option<AhoCorasick>,
    keyword_rule: Vec<usize>,
    keyword_bounded: Vec<(bool, bool)>,
    /// Every pattern in one `RegexSet`: one pass over a view says which patterns match at
    /// all (in ordinary text, none), and only those are searched for their positions.
    set: RegexSet,
    /// For each trigger literal (automaton pattern `keyword_list.len() + i`): its index in
    /// `regexes`. A pattern runs only where one of its literal prefixes occurs.
    trigger_pattern: Vec<usize>,
    /// For each pattern with trigger literals: the same pattern for anchored searches that
    /// start where a trigger occurs (so the pattern never scans the whole text).
    anchored: Vec<Option<meta::Regex>>,
    /// For each pattern: the rule it belongs to.
    set_rule: Vec<usize>,
    /// For each pattern without trigger literals: the pattern for whole-view searches.
    regexes: Vec<Option<Regex>>,
}

/// Most hits reported per rule and view: evidence, not an exhaustive list.
const MAX_HITS_PER_RULE: usize = 8;

impl RuleSet {
    /// The built-in rules.
    pub fn default_rules() -> Result<Self, RulesError> {
        Self::from_toml(DEFAULT_RULES)
    }

    /// Loads and compiles a rules file.
    pub fn from_path(path: &Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Compiles rules from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        let file: RuleFile = toml::from_str(text)?;
        let mut rules = Vec::with_capacity(file.rules.len());
        let mut kw_patterns = Vec::new();
        let mut keyword_rule = Vec::new();
        let mut keyword_bounded = Vec::new();
        let mut set_patterns = Vec::new();
        let mut set_rule = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (pos, spec) in file.rules.into_iter().enumerate() {
            let id = if spec.id.trim().is_empty() {
                return Err(RulesError::Invalid {
                    id: format!("#{}", pos + 1),
                    reason: "empty id: give every rule a unique `id`".into(),
                });
            } else {
                spec.id.clone()
            };
            let invalid = |reason: &str| RulesError::Invalid {
                id: id.clone(),
                reason: reason.into(),
            };
            if !seen.insert(id.clone()) {
                return Err(invalid("duplicate id: ids must be unique"));
            }
            if !(spec.weight > 0.0 && spec.weight <= 1.0) {
                return Err(invalid("weight must be in (0, 1]"));
            }
            if spec.keywords.is_empty() && spec.patterns.is_empty() {
                return Err(invalid("needs at least one of `keywords` or `patterns`"));
            }
            if spec.min_count == Some(0) {
                return Err(invalid("min_count must be at least 1"));
            }
            let index = rules.len();
            for kw in &spec.keywords {
                // Keywords go through the same normalisation as the text they will meet.
                let norm = Normalized::new(kw);
                let k = norm.main.as_str().to_string();
                if k.is_empty() {
                    return Err(invalid("empty keyword"));
                }
                let bounded = (
                    k.starts_with(|c: char| c.is_ascii_alphanumeric()),
                    k.ends_with(|c: char| c.is_ascii_alphanumeric()),
                );
                kw_patterns.push(k);
                keyword_rule.push(index);
                keyword_bounded.push(bounded);
            }
            for p in &spec.patterns {
                let p = &ascii_word_boundaries(p);
                if let Err(e) = Regex::new(p) {
                    return Err(RulesError::Regex {
                        id: id.clone(),
                        source: Box::new(e),
                    });
                }
                set_patterns.push(p.clone());
                set_rule.push(index);
            }
            rules.push(Rule {
                id,
                category: spec.category,
                weight: spec.weight,
                description: spec.description,
                channels: spec.channels,
                min_count: spec.min_count.unwrap_or(1),
            });
        }
        // Split the patterns: those that must start with one of a few literals are found
        // through those literals (one Aho-Corasick pass) and tried anchored there; the rest
        // run as one RegexSet, and those it reports as a whole-view search.
        let mut trigger_literals: Vec<Vec<u8>> = Vec::new();
        let mut trigger_pattern = Vec::new();
        let mut anchored = Vec::with_capacity(set_patterns.len());
        let mut regexes = Vec::with_capacity(set_patterns.len());
        for (i, p) in set_patterns.iter().enumerate() {
            let id = || rule_id(&rules, set_rule[i]);
            match prefix_literals(p) {
                Some(lits) => {
                    for l in lits {
                        trigger_literals.push(l);
                        trigger_pattern.push(i);
                    }
                    // A generous lazy-DFA budget: gap patterns (`[^.]{0,40}`) otherwise
                    // exhaust the cache and drop to the slow NFA engine.
                    let re = meta::Regex::builder()
                        .configure(
                            meta::Config::new()
                                .hybrid_cache_capacity(16 << 20)
                                .nfa_size_limit(Some(64 << 20)),
                        )
                        .build(p)
                        .map_err(|e| RulesError::Invalid {
                            id: id(),
                            reason: format!("pattern does not compile: {e}"),
                        })?;
                    anchored.push(Some(re));
                    regexes.push(None);
                }
                None => {
                    let re = regex::RegexBuilder::new(p)
                        .dfa_size_limit(16 << 20)
                        .size_limit(64 << 20)
                        .build()
                        .map_err(|e| RulesError::Regex {
                            id: id(),
                            source: Box::new(e),
                        })?;
                    anchored.push(None);
                    regexes.push(Some(re));
                }
            }
        }
        let set = regex::RegexSetBuilder::new(&set_patterns)
            // A bigger lazy-DFA budget: the default makes a set of gap patterns
            // (`[^.]{0,40}`) thrash its cache and fall back to the slow NFA engine.
            .dfa_size_limit(64 << 20)
            .size_limit(64 << 20)
            .build()
            .map_err(|e| RulesError::Regex {
                id: "regex set".into(),
                source: Box::new(e),
            })?;
        let automaton = |literals: Vec<Vec<u8>>| -> Result<Option<AhoCorasick>, RulesError> {
            if literals.is_empty() {
                return Ok(None);
            }
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                // A full DFA: one table lookup per byte in the overlapping pass, instead of
                // the NFA's failure transitions.
                .kind(Some(AhoCorasickKind::DFA))
                .build(literals)
                .map(Some)
                .map_err(|e| RulesError::Invalid {
                    id: "keywords".into(),
                    reason: format!("keyword automaton: {e}"),
                })
        };
        let keyword_bytes: Vec<Vec<u8>> =
            kw_patterns.iter().map(|k| k.as_bytes().to_vec()).collect();
        let literals = automaton(
            keyword_bytes
                .iter()
                .cloned()
                .chain(trigger_literals)
                .collect(),
        )?;
        let keywords = automaton(keyword_bytes)?;
        Ok(RuleSet {
            rules,
            keyword_list: kw_patterns,
            literals,
            keywords,
            keyword_rule,
            keyword_bounded,
            set,
            trigger_pattern,
            anchored,
            set_rule,
            regexes,
        })
    }

    /// The compiled rules' metadata.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every keyword (normalised), for callers that want the literal part alone — the
    /// benchmark uses it as an Aho-Corasick-only baseline.
    pub fn keywords(&self) -> &[String] {
        &self.keyword_list
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Matches every rule that applies to `channel` against `view`. Hits carry view offsets.
    pub fn scan(&self, view: &str, channel: Channel) -> Vec<RuleHit> {
        let mut hits = Vec::new();
        let mut per_rule = vec![0usize; self.rules.len()];
        let bytes = view.as_bytes();
        let nk = self.keyword_list.len();
        let matched = self.set.matches(view);
        // Pattern starts to try: (pattern, start) from the trigger literals.
        let mut starts: Vec<(usize, usize)> = Vec::new();
        // Trigger hits only serve patterns the set matched: without such a pattern, the
        // keywords alone are searched.
        let triggered = matched.iter().any(|p| self.anchored[p].is_some());
        let automaton = if triggered {
            &self.literals
        } else {
            &self.keywords
        };
        if let Some(ac) = automaton {
            for m in ac.find_overlapping_iter(view) {
                let p = m.pattern().as_usize();
                if p >= nk {
                    let pattern = self.trigger_pattern[p - nk];
                    if matched.matched(pattern) {
                        starts.push((pattern, m.start()));
                    }
                    continue;
                }
                let rule = self.keyword_rule[p];
                if !self.rules[rule].applies(channel) || per_rule[rule] >= MAX_HITS_PER_RULE {
                    continue;
                }
                let (left, right) = self.keyword_bounded[p];
                let word = |b: u8| b.is_ascii_alphanumeric();
                if left && m.start() > 0 && word(bytes[m.start() - 1]) {
                    continue;
                }
                if right && m.end() < bytes.len() && word(bytes[m.end()]) {
                    continue;
                }
                per_rule[rule] += 1;
                hits.push(RuleHit {
                    rule,
                    start: m.start(),
                    end: m.end(),
                });
            }
        }
        for p in matched.iter() {
            let rule = self.set_rule[p];
            if !self.rules[rule].applies(channel) {
                continue;
            }
            let Some(re) = &self.regexes[p] else {
                continue;
            };
            for m in re.find_iter(view) {
                if per_rule[rule] >= MAX_HITS_PER_RULE {
                    break;
                }
                if m.start() == m.end() {
                    continue;
                }
                per_rule[rule] += 1;
                hits.push(RuleHit {
                    rule,
                    start: m.start(),
                    end: m.end(),
                });
            }
        }
        {
            // Every match of a triggered pattern starts with one of its literals: trying the
            // pattern anchored at each literal, leftmost first and never inside the previous
            // match, finds exactly what `find_iter` would, without a pass over the whole view.
            starts.sort_unstable();
            starts.dedup();
            let mut resume = 0;
            let mut current = usize::MAX;
            for (p, at) in starts {
                if p != current {
                    current = p;
                    resume = 0;
                }
                let rule = self.set_rule[p];
                if at < resume
                    || per_rule[rule] >= MAX_HITS_PER_RULE
                    || !self.rules[rule].applies(channel)
                {
                    continue;
                }
                let Some(re) = &self.anchored[p] else {
                    continue;
                };
                let input = Input::new(view)
                    .span(at..view.len())
                    .anchored(Anchored::Yes);
                if let Some(m) = re.search(&input)
                    && m.start() < m.end()
                {
                    resume = m.end();
                    per_rule[rule] += 1;
                    hits.push(RuleHit {
                        rule,
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        }
        // Rules that need several matches (fake dialogue turns, repeated tokens) drop out
        // when they have fewer.
        hits.retain(|h| per_rule[h.rule] >= self.rules[h.rule].min_count);
        hits
    }
}

fn rule_id(rules: &[Rule], index: usize) -> String {
    rules
        .get(index)
        .map_or_else(|| "regex".into(), |r| r.id.clone())
}

/// The literals every match of `pattern` must start with, when there are few enough and they
/// are long enough to be a useful filter (at least two bytes, at most 512 of them).
fn prefix_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix).limit_total(512);
    let seq = extractor.extract(&hir);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > 512 || lits.iter().any(|l| l.as_bytes().len() < 2) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

/// Rewrites every `\b` (not itself escaped) to the ASCII word boundary `(?-u:\b)`.
pub(crate) fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?-u:\\b)"),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_compile() {
        let rules = RuleSet::default_rules().expect("default rules compile");
        assert!(rules.len() > 20);
    }

    #[test]
    fn keywords_respect_word_boundaries_and_channels() {
        let rules = RuleSet::from_toml(
            r#"
            [[rule]]
            id = "k"
            category = "jailbreak"
            weight = 0.5
            keywords = ["DAN"]
            [[rule]]
            id = "t"
            category = "prompt_injection"
            weight = 0.5
            keywords = ["note to the ai"]
            channels = ["tool_output"]
            "#,
        )
        .unwrap();
        assert_eq!(rules.scan("you are dan now", Channel::User).len(), 1);
        assert!(rules.scan("dance", Channel::User).is_empty());
        assert!(rules.scan("a note to the ai", Channel::User).is_empty());
        assert_eq!(rules.scan("a note to the ai", Channel::ToolOutput).len(), 1);
    }

    #[test]
    fn patterns_with_literal_prefixes_use_the_automaton() {
        let lits = prefix_literals(r"(?-u:\b)(ignore|forget) (all )?x").unwrap();
        assert!(lits.contains(&b"ignore all x".to_vec()));
        assert!(lits.contains(&b"forget x".to_vec()));
        assert_eq!(prefix_literals(r"(^|\n)\s*system:"), None);
        assert_eq!(prefix_literals(r"[a-z]\d?\s*="), None);
    }

    /// The default rules compiled twice: as a `RuleSet`, and as one plain `Regex` per keyword
    /// and pattern, by rule, with each rule's `min_count`.
    type Reference = (RuleSet, Vec<(Vec<regex::Regex>, usize)>);

    fn reference() -> &'static Reference {
        static REFERENCE: std::sync::OnceLock<Reference> = std::sync::OnceLock::new();
        REFERENCE.get_or_init(|| {
            let file: RuleFile = toml::from_str(DEFAULT_RULES).unwrap();
            let bound = |yes: bool| if yes { r"(?-u:\b)" } else { "" };
            let plain = file
                .rules
                .iter()
                .map(|spec| {
                    let mut res = Vec::new();
                    for kw in &spec.keywords {
                        let k = Normalized::new(kw).main.as_str().to_string();
                        let left = bound(k.starts_with(|c: char| c.is_ascii_alphanumeric()));
                        let right = bound(k.ends_with(|c: char| c.is_ascii_alphanumeric()));
                        let p = format!("{left}{}{right}", regex::escape(&k));
                        res.push(regex::Regex::new(&p).unwrap());
                    }
                    for p in &spec.patterns {
                        res.push(regex::Regex::new(&ascii_word_boundaries(p)).unwrap());
                    }
                    (res, spec.min_count.unwrap_or(1))
                })
                .collect();
            (RuleSet::default_rules().unwrap(), plain)
        })
    }

    /// What `scan` must find, computed the slow way: every keyword's and pattern's
    /// `find_iter` over the whole view.
    fn reference_hits(view: &str, channel: Channel) -> Vec<(usize, usize, usize)> {
        let (rules, plain) = reference();
        let mut hits: Vec<(usize, usize, usize)> = Vec::new();
        for (index, (res, min_count)) in plain.iter().enumerate() {
            if !rules.rules()[index].applies(channel) {
                continue;
            }
            let found: Vec<_> = res
                .iter()
                .flat_map(|re| re.find_iter(view))
                .filter(|m| m.start() < m.end())
                .map(|m| (index, m.start(), m.end()))
                .collect();
            if found.len() >= *min_count {
                hits.extend(found);
            }
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Anchored searches at trigger literals, gated by the set, find exactly what a
        /// whole-view search of every pattern finds (texts short enough that no rule reaches
        /// its hit cap).
        #[test]
        fn triggered_search_equals_whole_view_search(
            words in proptest::collection::vec(proptest::sample::select(vec![
                "ignore", "all", "previous", "instructions", "the", "system", "prompt", "you",
                "are", "now", "dan", "reveal", "your", "password", "pretend", "to", "be", "as",
                "admin", "what", "is", "john's", "address", "forget", "that", ",", ".", "\n",
                "user:", "assistant:", "hypothetically", "mode", "enable", "developer", "a",
                "new", "task", ":", "from", "now", "on", "decode", "base64", "and", "follow",
            ]), 0..14),
            tool in proptest::bool::ANY,
        ) {
            let text = words.join(" ");
            let view = Normalized::new(&text);
            let view = view.main.as_str();
            let channel = if tool { Channel::ToolOutput } else { Channel::User };
            let rules = &reference().0;
            let mut got: Vec<(usize, usize, usize)> = rules
                .scan(view, channel)
                .into_iter()
                .map(|h| (h.rule, h.start, h.end))
                .collect();
            got.sort_unstable();
            got.dedup();
            proptest::prop_assert_eq!(got, reference_hits(view, channel), "view {:?}", view);
        }
    }

    #[test]
    fn word_boundaries_become_ascii() {
        assert_eq!(ascii_word_boundaries(r"\bx\\b\d"), r"(?-u:\b)x\\b\d");
    }

    #[test]
    fn min_count_and_patterns() {
        let rules = RuleSet::from_toml(
            r#"
            [[rule]]
            id = "turns"
            category = "prompt_injection"
            weight = 0.5
            patterns = ['(?m)^q:']
            min_count = 2
            "#,
        )
        .unwrap();
        assert!(rules.scan("q: one", Channel::User).is_empty());
        assert_eq!(rules.scan("q: one\nq: two", Channel::User).len(), 2);
    }

    #[test]
    fn bad_files_name_the_rule() {
        let err = |t: &str| RuleSet::from_toml(t).unwrap_err().to_string();
        assert!(
            err("[[rule]]\nid='a'\ncategory='jailbreak'\nweight=2.0\nkeywords=['x']")
                .contains("`a`")
        );
        assert!(err("[[rule]]\nid='b'\ncategory='jailbreak'\nweight=0.5").contains("keywords"));
        assert!(
            err("[[rule]]\nid='c'\ncategory='jailbreak'\nweight=0.5\npatterns=['(']")
                .contains("`c`")
        );
        assert!(
            err("[[rule]]\nid='d'\ncategory='nope'\nweight=0.5\nkeywords=['x']")
                .contains("not valid")
        );
        assert!(err("[[rule]]\nid='e'\ncategory='jailbreak'\nweight=0.5\nkeywords=['x']\n[[rule]]\nid='e'\ncategory='jailbreak'\nweight=0.5\nkeywords=['y']").contains("duplicate"));
    }
}
