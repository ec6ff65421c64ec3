//! Signals no keyword can express: hidden characters, mixed-script words, runs of one
//! repeated token, and text written in pig latin.

use crate::normalize::Normalized;
use crate::types::{Category, Finding, Layer};

/// Repetitions of one token in a row that count as flooding.
const REPEAT_RUN: usize = 8;

/// Adds structural findings for `original` (normalised as `norm`).
pub fn findings(original: &str, norm: &Normalized, out: &mut Vec<Finding>) {
    hidden(original, norm, out);
    if let (Some(first), Some(last)) = (norm.homoglyphs.first(), norm.homoglyphs.last()) {
        out.push(finding(
            "obfuscation.homoglyphs",
            Category::PromptInjection,
            0.35,
            (first.0, last.1),
        ));
    }
    repeated_and_pig_latin(norm, out);
}

fn finding(rule: &str, category: Category, weight: f32, span: (usize, usize)) -> Finding {
    Finding {
        category,
        rule: rule.to_string(),
        weight,
        start: span.0,
        end: span.1,
        layer: Layer::Rules,
    }
}

/// Invisible characters between letters split words on purpose; tag characters spell hidden
/// text. (Zero-width joiners inside emoji sequences sit between symbols, not letters.)
fn hidden(original: &str, norm: &Normalized, out: &mut Vec<Finding>) {
    let mut between_letters = 0;
    let mut tags = 0;
    for &(s, e) in &norm.hidden {
        let c = original[s..e].chars().next();
        if c.is_some_and(|c| ('\u{E0020}'..='\u{E007E}').contains(&c)) {
            tags += 1;
            continue;
        }
        let before = original[..s].chars().next_back();
        let after = original[e..].chars().next();
        if before.is_some_and(char::is_alphanumeric) && after.is_some_and(char::is_alphanumeric) {
            between_letters += 1;
        }
    }
    let span = match (norm.hidden.first(), norm.hidden.last()) {
        (Some(f), Some(l)) => (f.0, l.1),
        _ => return,
    };
    if tags >= 4 {
        out.push(finding(
            "obfuscation.tag_characters",
            Category::PromptInjection,
            0.6,
            span,
        ));
    }
    if between_letters >= 2 {
        out.push(finding(
            "obfuscation.invisible_characters",
            Category::PromptInjection,
            0.45,
            span,
        ));
    }
}

/// Runs of one repeated token, and pig latin (most words end in "ay" after a moved consonant
/// cluster): both from one pass over the tokens.
fn repeated_and_pig_latin(norm: &Normalized, out: &mut Vec<Finding>) {
    let text = norm.main.as_str();
    let mut prev: Option<&str> = None;
    let mut run = 0usize;
    let mut run_start = 0usize;
    let mut best: Option<(usize, usize, usize)> = None;
    let (mut words, mut pig) = (0usize, 0usize);
    let mut span: Option<(usize, usize)> = None;
    for (pos, token) in tokens(text) {
        if Some(token) == prev {
            run += 1;
        } else {
            prev = Some(token);
            run = 1;
            run_start = pos;
        }
        let end = pos + token.len();
        if run >= REPEAT_RUN && best.is_none_or(|b| run > b.2) {
            best = Some((run_start, end, run));
        }
        if token.bytes().all(|b| b.is_ascii_alphabetic()) {
            words += 1;
            if token.len() >= 4 && token.ends_with("ay") {
                pig += 1;
            }
            span = Some((span.map_or(pos, |s| s.0), end));
        }
    }
    if let Some((s, e, _)) = best {
        let span = norm.main.to_original(s, e);
        out.push(finding(
            "obfuscation.repeated_token",
            Category::PromptInjection,
            0.55,
            span,
        ));
    }
    if words < 4 {
        return;
    }
    if let Some((s, e)) = span
        && pig * 2 >= words
    {
        let span = norm.main.to_original(s, e);
        out.push(finding(
            "obfuscation.pig_latin",
            Category::PromptInjection,
            0.5,
            span,
        ));
    }
}

/// Alphanumeric tokens with their byte offsets. ASCII bytes are classified directly; only
/// non-ASCII characters are decoded.
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let class = move |i: usize| -> (bool, usize) {
        let b = bytes[i];
        if b.is_ascii() {
            (b.is_ascii_alphanumeric(), 1)
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            (c.is_alphanumeric(), c.len_utf8())
        }
    };
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let (alnum, n) = class(i);
            if alnum {
                break;
            }
            i += n;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() {
            let (alnum, n) = class(i);
            if !alnum {
                break;
            }
            i += n;
        }
        Some((start, &text[start..i]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<String> {
        let norm = Normalized::new(text);
        let mut out = Vec::new();
        findings(text, &norm, &mut out);
        out.into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn repeated_tokens_and_pig_latin() {
        assert_eq!(
            rules(&"cake ".repeat(10)),
            vec!["obfuscation.repeated_token"]
        );
        assert!(rules("cake cake cake is fine").is_empty());
        assert_eq!(
            rules("erewhay oesday ethay useryay urrentlycay ivelay?"),
            vec!["obfuscation.pig_latin"]
        );
        assert!(rules("today I may stay or go away with you").is_empty());
    }

    #[test]
    fn hidden_characters_between_letters() {
        assert_eq!(
            rules("ig\u{200B}no\u{200B}re this"),
            vec!["obfuscation.invisible_characters"]
        );
        // An emoji ZWJ sequence is not hiding anything.
        assert!(rules("family 👨\u{200D}👩\u{200D}👧 photo").is_empty());
    }

    #[test]
    fn tokens_have_true_offsets() {
        let t = "a—bc d";
        let toks: Vec<_> = tokens(t).collect();
        assert_eq!(toks, vec![(0, "a"), (4, "bc"), (7, "d")]);
        for (s, w) in toks {
            assert_eq!(&t[s..s + w.len()], w);
        }
    }
}
