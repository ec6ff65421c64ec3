//! Redaction: replace recognised PII and secrets with typed placeholders.

use crate::pii::{PiiKind, PiiMatch};

/// One replacement made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// What was replaced.
    pub kind: PiiKind,
    /// Byte range in the original text.
    pub start: usize,
    /// End of that range.
    pub end: usize,
}

/// A redacted text and what was replaced in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every match replaced by its placeholder, e.g. `[CREDIT_CARD]`.
    pub text: String,
    /// The replacements, in order.
    pub redactions: Vec<Redaction>,
}

/// Replaces `matches` (non-overlapping, byte offsets into `text`, as returned by the PII
/// scanner) with placeholders. Matches that overlap an earlier one or fall outside the text or
/// off a character boundary are skipped, never a panic.
pub fn redact(text: &str, matches: &[PiiMatch]) -> Redacted {
    let mut sorted: Vec<PiiMatch> = matches.to_vec();
    sorted.sort_by_key(|m| (m.start, m.end));
    let mut out = String::with_capacity(text.len());
    let mut redactions = Vec::new();
    let mut at = 0;
    for m in sorted {
        if m.start < at
            || m.end > text.len()
            || m.start >= m.end
            || !text.is_char_boundary(m.start)
            || !text.is_char_boundary(m.end)
        {
            continue;
        }
        out.push_str(&text[at..m.start]);
        out.push_str(&m.kind.placeholder());
        redactions.push(Redaction {
            kind: m.kind,
            start: m.start,
            end: m.end,
        });
        at = m.end;
    }
    out.push_str(&text[at..]);
    Redacted {
        text: out,
        redactions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_in_order_and_skips_bad_ranges() {
        let text = "card 4111111111111111, mail a@b.io";
        let m = |kind, start, end| PiiMatch { kind, start, end };
        let r = redact(
            text,
            &[
                m(PiiKind::Email, 28, 34),
                m(PiiKind::CreditCard, 5, 21),
                m(PiiKind::Phone, 6, 9),
                m(PiiKind::Phone, 30, 99),
            ],
        );
        assert_eq!(r.text, "card [CREDIT_CARD], mail [EMAIL]");
        assert_eq!(r.redactions.len(), 2);
    }
}
