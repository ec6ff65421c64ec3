//! PII and secret recognisers: a pattern finds candidates, a validator (checksum, structure,
//! or nearby context words) decides.
//!
//! Number-like entities are matched on the normalised view (so full-width digits and
//! zero-width characters do not hide them); secrets, whose case matters, on the original.

pub mod validate;

use crate::normalize::Normalized;
use base64::Engine;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The kinds of personal or secret data the recognisers find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// Payment card number (Luhn-valid).
    CreditCard,
    /// International bank account number (mod-97-valid).
    Iban,
    /// US Social Security Number (area/group/serial rules).
    Ssn,
    /// Email address.
    Email,
    /// Telephone number (strong formats alone, loose digit groups only next to a phone word).
    Phone,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// A provider API key or token (AWS, GitHub, OpenAI, Slack, Google, Stripe, ...), or a
    /// long value assigned to a key/secret/token/password name.
    ApiKey,
    /// A PEM private key block.
    PrivateKey,
    /// A JSON Web Token whose header decodes to a JSON object with `alg`.
    Jwt,
}

impl PiiKind {
    /// All kinds.
    pub const ALL: [PiiKind; 9] = [
        PiiKind::CreditCard,
        PiiKind::Iban,
        PiiKind::Ssn,
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::IpAddress,
        PiiKind::ApiKey,
        PiiKind::PrivateKey,
        PiiKind::Jwt,
    ];

    /// The snake_case name (also the suffix of the finding's rule id, `pii.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::CreditCard => "credit_card",
            PiiKind::Iban => "iban",
            PiiKind::Ssn => "ssn",
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::IpAddress => "ip_address",
            PiiKind::ApiKey => "api_key",
            PiiKind::PrivateKey => "private_key",
            PiiKind::Jwt => "jwt",
        }
    }

    /// The placeholder used by redaction, e.g. `[CREDIT_CARD]`.
    pub fn placeholder(self) -> String {
        format!("[{}]", self.as_str().to_ascii_uppercase())
    }

    /// Evidence weight: secrets and financial identifiers weigh more than contact details.
    pub fn weight(self) -> f32 {
        match self {
            PiiKind::PrivateKey | PiiKind::ApiKey | PiiKind::Jwt => 0.95,
            PiiKind::CreditCard | PiiKind::Iban | PiiKind::Ssn => 0.9,
            PiiKind::Email | PiiKind::Phone | PiiKind::IpAddress => 0.5,
        }
    }

    /// When two candidates overlap, the higher rank wins (a card number is not also a phone).
    fn rank(self) -> u8 {
        match self {
            PiiKind::PrivateKey => 9,
            PiiKind::Jwt => 8,
            PiiKind::ApiKey => 7,
            PiiKind::Email => 6,
            PiiKind::Iban => 5,
            PiiKind::CreditCard => 4,
            PiiKind::Ssn => 3,
            PiiKind::IpAddress => 2,
            PiiKind::Phone => 1,
        }
    }
}

/// One recognised entity: byte offsets into the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiMatch {
    /// What it is.
    pub kind: PiiKind,
    /// First byte in the original text.
    pub start: usize,
    /// One past the last byte in the original text.
    pub end: usize,
}

/// The compiled recognisers. Build once, share (it is `Send + Sync`).
#[derive(Debug)]
pub struct PiiScanner {
    card: Regex,
    iban: Regex,
    ssn: Regex,
    ssn_bare: Regex,
    email: Regex,
    phone: Regex,
    ipv4: Regex,
    ipv6: Regex,
    api_key: Regex,
    assigned_secret: Regex,
    private_key: Regex,
    jwt: Regex,
}

/// Words that make a loose digit group a phone number when they stand close by.
const PHONE_CONTEXT: &[&str] = &[
    "phone", "tel", "call", "fax", "mobile", "cell", "office", "contact", "reach", "text", "sms",
    "whatsapp", "message", "dial", "number", "answer", "ring", "home", "work",
];

impl Default for PiiScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl PiiScanner {
    /// Compiles the recognisers.
    pub fn new() -> Self {
        // The patterns are constants: a failure here is a bug caught by every test run.
        // ASCII word boundaries keep the fast DFA engines usable on non-ASCII text.
        let re = |p: &str| {
            Regex::new(&crate::rules::ascii_word_boundaries(p))
                .expect("built-in PII pattern compiles")
        };
        PiiScanner {
            card: re(r"\b\d(?:[ -]?\d){11,18}\b"),
            iban: re(r"\b[a-z]{2}\d{2}(?: ?[a-z0-9]){11,32}\b"),
            ssn: re(r"\b(\d{3})([- ])(\d{2})([- ])(\d{4})\b"),
            ssn_bare: re(r"\b(\d{3})(\d{2})(\d{4})\b"),
            email: re(
                r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,24}\b",
            ),
            phone: re(
                r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?|\(\d{1,4}\)[ .-]?|\b)\d{1,12}(?:[ .-]\d{1,10}){0,5}(?: ?(?:x|ext\.?) ?\d{1,5})?\b",
            ),
            ipv4: re(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
            ipv6: re(r"(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}"),
            api_key: re(concat!(
                r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
                r"|\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
                r"|\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
                r"|\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}",
                r"|\bxox[abposr]-[A-Za-z0-9-]{10,}",
                r"|\bAIza[0-9A-Za-z_-]{35}",
                r"|\b[rs]k_(?:live|test)_[0-9a-zA-Z]{16,}\b",
                r"|\bglpat-[A-Za-z0-9_-]{20,}",
                r"|\bnpm_[A-Za-z0-9]{36}\b",
            )),
            assigned_secret: re(
                r#"(?i)\b(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|bearer|password|passwd|client[_-]?secret)["']?\s*[:=]?\s*["']?([A-Za-z0-9_\-/+=.]{16,})"#,
            ),
            private_key: re(
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\z)",
            ),
            jwt: re(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        }
    }

    /// Finds validated PII in `original` (whose normalisation is `norm`). Matches do not
    /// overlap; they are ordered by start.
    pub fn scan(&self, original: &str, norm: &Normalized) -> Vec<PiiMatch> {
        let view = norm.main.as_str();
        let mut found: Vec<PiiMatch> = Vec::new();
        let on_view = |kind: PiiKind, s: usize, e: usize, found: &mut Vec<PiiMatch>| {
            let (start, end) = norm.main.to_original(s, e);
            found.push(PiiMatch { kind, start, end });
        };
        let mut on_original = |kind: PiiKind, start: usize, end: usize| {
            found.push(PiiMatch { kind, start, end });
        };

        for m in self.private_key.find_iter(original) {
            on_original(PiiKind::PrivateKey, m.start(), m.end());
        }
        for m in self.jwt.find_iter(original) {
            if jwt_header_ok(m.as_str()) {
                on_original(PiiKind::Jwt, m.start(), m.end());
            }
        }
        for m in self.api_key.find_iter(original) {
            on_original(PiiKind::ApiKey, m.start(), m.end());
        }
        for c in self.assigned_secret.captures_iter(original) {
            if let Some(v) = c.get(1) {
                let s = v.as_str();
                let letters = s.bytes().any(|b| b.is_ascii_alphabetic());
                let digits = s.bytes().any(|b| b.is_ascii_digit());
                if letters && digits {
                    on_original(PiiKind::ApiKey, v.start(), v.end());
                }
            }
        }

        let mut view_hits = Vec::new();
        for m in self.email.find_iter(view) {
            if validate::email(m.as_str()) {
                view_hits.push((PiiKind::Email, m.start(), m.end()));
            }
        }
        for m in self.iban.find_iter(view) {
            if let Some(len) = iban_prefix(m.as_str()) {
                view_hits.push((PiiKind::Iban, m.start(), m.start() + len));
            }
        }
        for m in self.card.find_iter(view) {
            // After a `+` it is an international phone number.
            if card_shape(m.as_str()) && !view[..m.start()].ends_with('+') {
                view_hits.push((PiiKind::CreditCard, m.start(), m.end()));
            }
        }
        for c in self.ssn.captures_iter(view) {
            let g = |i: usize| c.get(i).map_or(&b""[..], |m| m.as_str().as_bytes());
            if g(2) == g(4) && validate::ssn(g(1), g(3), g(5)) {
                let m = c.get(0).map_or((0, 0), |m| (m.start(), m.end()));
                view_hits.push((PiiKind::Ssn, m.0, m.1));
            }
        }
        for c in self.ssn_bare.captures_iter(view) {
            let g = |i: usize| c.get(i).map_or(&b""[..], |m| m.as_str().as_bytes());
            let Some(m) = c.get(0) else { continue };
            let before = window(view, m.start().saturating_sub(40), m.start());
            if (before.contains("ssn") || before.contains("social security"))
                && validate::ssn(g(1), g(2), g(3))
            {
                view_hits.push((PiiKind::Ssn, m.start(), m.end()));
            }
        }
        for m in self.ipv4.find_iter(view) {
            let dotted_neighbour = view[m.end()..].starts_with('.')
                && view[m.end() + 1..].starts_with(|c: char| c.is_ascii_digit());
            if m.as_str().parse::<Ipv4Addr>().is_ok() && !dotted_neighbour {
                view_hits.push((PiiKind::IpAddress, m.start(), m.end()));
            }
        }
        for m in self.ipv6.find_iter(view) {
            let s = m.as_str();
            let hex = s.bytes().filter(u8::is_ascii_hexdigit).count();
            if hex >= 4 && s.parse::<Ipv6Addr>().is_ok() {
                view_hits.push((PiiKind::IpAddress, m.start(), m.end()));
            }
        }
        for m in self.phone.find_iter(view) {
            if phone_ok(view, m.start(), m.end()) {
                view_hits.push((PiiKind::Phone, m.start(), m.end()));
            }
        }
        for (kind, s, e) in view_hits {
            on_view(kind, s, e, &mut found);
        }
        resolve_overlaps(found)
    }
}

/// `text[start..end]` shrunk inwards to character boundaries (windows are cut at byte counts).
fn window(text: &str, mut start: usize, mut end: usize) -> &str {
    end = end.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    start = start.min(end);
    while start < end && !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..end]
}

/// Keeps the higher-ranked (then longer, then earlier) of overlapping matches.
fn resolve_overlaps(mut found: Vec<PiiMatch>) -> Vec<PiiMatch> {
    found.sort_by(|a, b| {
        b.kind
            .rank()
            .cmp(&a.kind.rank())
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<PiiMatch> = Vec::with_capacity(found.len());
    for m in found {
        if m.start < m.end && kept.iter().all(|k| m.end <= k.start || m.start >= k.end) {
            kept.push(m);
        }
    }
    kept.sort_by_key(|m| (m.start, m.end));
    kept
}

/// Card numbers are written contiguous or in groups of four (Amex: 4-6-5); other groupings
/// are phone numbers or references that happen to pass Luhn.
fn card_shape(candidate: &str) -> bool {
    let digits: Vec<u8> = candidate.bytes().filter(u8::is_ascii_digit).collect();
    if !validate::card(&digits) {
        return false;
    }
    let groups: Vec<usize> = candidate.split([' ', '-']).map(str::len).collect();
    match groups.as_slice() {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        g => g[..g.len() - 1].iter().all(|&n| n == 4) && (1..=4).contains(&g[g.len() - 1]),
    }
}

/// The length (in view bytes, spaces included) of a valid IBAN at the start of `candidate`,
/// trimming anything the greedy pattern took from the following words.
fn iban_prefix(candidate: &str) -> Option<usize> {
    let mut compact = Vec::with_capacity(34);
    let mut ends = Vec::with_capacity(34);
    for (i, b) in candidate.bytes().enumerate() {
        if b != b' ' {
            compact.push(b);
            ends.push(i + 1);
        }
    }
    (15..=compact.len().min(34))
        .rev()
        .find(|&n| validate::iban(&compact[..n]))
        .map(|n| ends[n - 1])
        .filter(|&end| {
            // Only at a token end: never cut a word in half.
            candidate[end..].is_empty() || candidate[end..].starts_with(' ')
        })
}

fn jwt_header_ok(token: &str) -> bool {
    let Some(header) = token.split('.').next() else {
        return false;
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('='))
    else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("alg").cloned())
        .is_some()
}

/// A phone candidate is accepted when its shape is unmistakable (`+` prefix, parenthesised
/// area code, North-American 3-3-4, an extension) or a phone word stands next to it.
fn phone_ok(view: &str, start: usize, end: usize) -> bool {
    let s = &view[start..end];
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    if looks_like_date(s) {
        return false;
    }
    let groups: Vec<&str> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let nanp = {
        let g: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        matches!(
            g.as_slice(),
            [3, 3, 4] | [1, 3, 3, 4] | [3, 3, 3, 4] | [3, 3, 4, _]
        ) && s.contains(['-', '.', ' ', ')'])
    };
    let strong = s.starts_with('+') || s.starts_with('(') || nanp || s.contains('x');
    if strong {
        return true;
    }
    let before = window(view, start.saturating_sub(48), start);
    let after = window(view, end, end + 16);
    PHONE_CONTEXT
        .iter()
        .any(|w| before.contains(w) || after.contains(w))
}

fn looks_like_date(s: &str) -> bool {
    let g: Vec<&str> = s.split(['-', '/', '.', ' ']).collect();
    let n = |x: &str| x.parse::<u32>().unwrap_or(99);
    let md = |m: &str, d: &str| (1..=12).contains(&n(m)) && (1..=31).contains(&n(d));
    match g.as_slice() {
        [y, m, d, ..] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => md(m, d),
        [d, m, y, ..] if d.len() <= 2 && m.len() <= 2 && y.len() == 4 => md(m, d) || md(d, m),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, &str)> {
        let norm = Normalized::new(text);
        PiiScanner::new()
            .scan(text, &norm)
            .into_iter()
            .map(|m| (m.kind, &text[m.start..m.end]))
            .collect()
    }

    #[test]
    fn cards_need_luhn_and_card_grouping() {
        assert_eq!(
            kinds("My card 4111 1111 1111 1111 expires"),
            vec![(PiiKind::CreditCard, "4111 1111 1111 1111")]
        );
        assert!(kinds("order 4111111111111112 shipped").is_empty());
        assert_eq!(
            kinds("amex 3782-822463-10005"),
            vec![(PiiKind::CreditCard, "3782-822463-10005")]
        );
    }

    #[test]
    fn iban_is_trimmed_to_the_valid_prefix() {
        assert_eq!(
            kinds("pay to GB82 WEST 1234 5698 7654 32 today"),
            vec![(PiiKind::Iban, "GB82 WEST 1234 5698 7654 32")]
        );
        assert!(kinds("code GB82WEST12345698765433").is_empty());
    }

    #[test]
    fn ssn_formats_and_rules() {
        assert_eq!(
            kinds("Here's my SSN: 460-89-9847"),
            vec![(PiiKind::Ssn, "460-89-9847")]
        );
        assert!(
            kinds("ticket 666-12-3456")
                .iter()
                .all(|(k, _)| *k != PiiKind::Ssn)
        );
        assert_eq!(kinds("ssn 460899847"), vec![(PiiKind::Ssn, "460899847")]);
        assert!(
            kinds("order 460899847")
                .iter()
                .all(|(k, _)| *k != PiiKind::Ssn)
        );
    }

    #[test]
    fn emails_ips_and_fullwidth_digits() {
        assert_eq!(
            kinds("mail UtaKortig@jourrapide.com now"),
            vec![(PiiKind::Email, "UtaKortig@jourrapide.com")]
        );
        assert_eq!(
            kinds("host 10.0.0.255 up"),
            vec![(PiiKind::IpAddress, "10.0.0.255")]
        );
        assert!(kinds("version 1.2.3.4.5").is_empty());
        assert_eq!(
            kinds("addr 6e40:4041:c617:e898:c11:40d2:c669:2eb4"),
            vec![(PiiKind::IpAddress, "6e40:4041:c617:e898:c11:40d2:c669:2eb4")]
        );
        assert!(kinds("at 12:20:39 today").is_empty());
        let t = "ssn ４６０-８９-９８４７";
        assert_eq!(kinds(t), vec![(PiiKind::Ssn, "４６０-８９-９８４７")]);
    }

    #[test]
    fn phones_strong_alone_loose_with_context() {
        assert_eq!(
            kinds("ring 905-674-3793 now"),
            vec![(PiiKind::Phone, "905-674-3793")]
        );
        assert_eq!(
            kinds("+46 (0)8 928 571 38 fax"),
            vec![(PiiKind::Phone, "+46 (0)8 928 571 38")]
        );
        assert_eq!(
            kinds("Phone:\n60-56-85-91"),
            vec![(PiiKind::Phone, "60-56-85-91")]
        );
        assert!(kinds("the street 6750 Koskikatu 25 Apt. 864").is_empty());
        assert!(kinds("born 1978-04-13 in town").is_empty());
        assert_eq!(
            kinds("Phone: 0490 75 40 81"),
            vec![(PiiKind::Phone, "0490 75 40 81")]
        );
        assert_eq!(
            kinds("call 5403926876"),
            vec![(PiiKind::Phone, "5403926876")]
        );
        assert_eq!(
            kinds("at +447700677662"),
            vec![(PiiKind::Phone, "+447700677662")]
        );
        assert_eq!(
            kinds("fax 0961-7596216"),
            vec![(PiiKind::Phone, "0961-7596216")]
        );
    }

    #[test]
    fn secrets_keys_and_tokens() {
        let k = kinds("key AKIAIOSFODNN7EXAMPLE in config");
        assert_eq!(k, vec![(PiiKind::ApiKey, "AKIAIOSFODNN7EXAMPLE")]);
        let k = kinds("password = \"hunter2hunter2hunter2x9\"");
        assert_eq!(k, vec![(PiiKind::ApiKey, "hunter2hunter2hunter2x9")]);
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        assert_eq!(kinds(pem), vec![(PiiKind::PrivateKey, pem)]);
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(kinds(&format!("auth {jwt}")), vec![(PiiKind::Jwt, jwt)]);
        // Same shape, header is not JSON with alg.
        assert!(kinds("eyJub3Rqc29uIjoxfQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc").is_empty());
    }
}
