//! Property tests: the normaliser, the scanner and the JSON Lines parser never panic on any
//! input, and every offset they return lies inside the original text on a character boundary.

use mcpflow_guard::jsonl::{ProcessOptions, parse_line, process};
use mcpflow_guard::{Channel, Guard, Normalized, View};
use proptest::prelude::*;
use std::sync::OnceLock;

fn guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(|| Guard::with_defaults().expect("default guard"))
}

/// Text mixing the characters that exercise every normalisation path: ASCII, full-width and
/// look-alike letters, combining marks, invisibles, bidi controls, tag characters, CJK,
/// emoji with joiners, digits, leetspeak symbols, separators and base64-ish runs.
fn tricky_text() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "a",
        "I",
        "g",
        "n",
        "o",
        "r",
        "e",
        " ",
        "  ",
        "\n",
        "\t",
        "0",
        "1",
        "3",
        "4",
        "@",
        "$",
        "|",
        "+",
        ".",
        "-",
        "/",
        "=",
        "'",
        "\"",
        "ＩＧＮ",
        "ο",
        "а",
        "е",
        "\u{200B}",
        "\u{202E}",
        "\u{FEFF}",
        "\u{00AD}",
        "\u{E0069}",
        "\u{E0067}",
        "\u{0301}",
        "é",
        "ß",
        "İ",
        "ﬁ",
        "ǅ",
        "ŉ",
        "ΐ",
        "パスワード",
        "무시",
        "👨\u{200D}👩",
        "SWdub3Jl",
        "4111 1111 1111 1111",
        "GB82 WEST 1234 5698 7654 32",
        "a@b.io",
        "+1-984-182-0190",
        "ignore previous",
        "instructions",
        "Lpsruh",
        "01001001 ",
        ".- ",
        "%41",
        "\u{1F3F4}",
        "\u{10FFFF}",
    ]);
    prop::collection::vec(
        prop_oneof![
            atoms.prop_map(str::to_string),
            any::<char>().prop_map(String::from)
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

fn check_view(original: &str, view: &View) {
    let len = view.as_str().len();
    // Every single-byte and whole-range mapping lands on boundaries inside the original.
    let mut probes: Vec<(usize, usize)> = (0..len).map(|i| (i, i + 1)).collect();
    probes.push((0, len));
    probes.push((len, len + 3));
    for (s, e) in probes {
        let (a, b) = view.to_original(s, e);
        assert!(
            a <= b && b <= original.len(),
            "({s},{e}) -> ({a},{b}) in {original:?}"
        );
        assert!(original.is_char_boundary(a) && original.is_char_boundary(b));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d63_7066), ..ProptestConfig::default() })]

    #[test]
    fn normaliser_offsets_stay_on_boundaries(text in tricky_text()) {
        let n = Normalized::new(&text);
        check_view(&text, &n.main);
        if let Some(l) = n.leet() {
            prop_assert_eq!(l.as_str().len(), n.main.as_str().len());
            check_view(&text, &l);
        }
        if let Some(d) = n.despaced() {
            check_view(&text, &d);
        }
        for &(s, e) in n.hidden.iter().chain(&n.homoglyphs) {
            prop_assert!(s < e && e <= text.len());
            prop_assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
        }
    }

    #[test]
    fn scanner_spans_stay_on_boundaries(text in tricky_text(), channel in 0..3usize) {
        let channel = Channel::ALL[channel];
        let report = guard().scan(&text, channel);
        prop_assert!((0.0..=1.0).contains(&report.score));
        for f in &report.findings {
            prop_assert!(f.start <= f.end && f.end <= text.len(), "{f:?}");
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        }
        let redacted = guard().redact(&text);
        prop_assert!(redacted.redactions.iter().all(|r| text.is_char_boundary(r.start) && text.is_char_boundary(r.end)));
    }

    #[test]
    fn any_string_parses_or_fails_with_its_line_number(line in ".{0,200}", no in 1..1000usize) {
        if let Err(e) = parse_line(no, &line) {
            let prefix = format!("line {no}: ");
            prop_assert!(e.to_string().starts_with(&prefix));
        }
    }

    #[test]
    fn arbitrary_bytes_through_process_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = process(guard(), &bytes[..], &mut out, &mut err, ProcessOptions::default()).unwrap();
        let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count();
        prop_assert!(s.scanned + s.rejected <= lines);
    }

    #[test]
    fn json_objects_with_tricky_text_round_trip(text in tricky_text(), id in any::<u32>()) {
        let line = serde_json::json!({"id": id, "text": text, "channel": "memory"}).to_string();
        let parsed = parse_line(1, &line).unwrap().unwrap();
        prop_assert_eq!(parsed.text, text);
        prop_assert_eq!(parsed.channel, Channel::Memory);
    }
}
