//! Our MiniLM against sentence-transformers: `fixtures/reference.json` holds the vectors
//! PyTorch computed for 22 texts (short, long past the 256-token limit, several scripts,
//! emoji, empty and whitespace-only), written by `scripts/reference-embeddings.py`. Every one
//! of ours must have cosine ≥ 0.999 with its reference.
//!
//! The model comes from `$MCPFLOW_MODEL_DIR` or the default model directory
//! (`scripts/test.sh` installs it first). When it is not installed the tests print why and
//! return; an installed but broken model fails them.

use mcpflow_embed::{CachedEmbedder, Embedder, MiniLm, default_model_dir, dot};
use serde_json::Value;

fn model() -> Option<MiniLm> {
    let dir = default_model_dir();
    if !dir.join("model.safetensors").exists() {
        eprintln!(
            "SKIPPED: no MiniLM model in {} — run `cargo run -p mcpflow -- model install` \
             (scripts/test.sh does) or set MCPFLOW_MODEL_DIR",
            dir.display()
        );
        return None;
    }
    Some(MiniLm::load(&dir).expect("installed model loads"))
}

fn reference() -> Vec<(String, usize, Vec<f32>)> {
    let text = include_str!("fixtures/reference.json");
    let v: Value = serde_json::from_str(text).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            (
                it["text"].as_str().unwrap().to_string(),
                it["tokens"].as_u64().unwrap() as usize,
                it["embedding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect(),
            )
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

#[test]
fn matches_sentence_transformers() {
    let Some(m) = model() else { return };
    let refs = reference();
    assert!(refs.len() >= 20);
    assert!(
        refs.iter().any(|(_, n, _)| *n >= 256),
        "fixture has a truncated text"
    );
    let texts: Vec<&str> = refs.iter().map(|(t, _, _)| t.as_str()).collect();
    // Passes of 5 mix lengths, so packing texts end to end is exercised too.
    let ours = m.with_batch_size(5).embed(&texts).unwrap();
    let mut worst = (f32::MAX, String::new());
    for ((text, _, want), got) in refs.iter().zip(&ours) {
        assert_eq!(got.len(), 384);
        let c = cosine(want, got);
        if c < worst.0 {
            worst = (c, text.chars().take(40).collect());
        }
        assert!(c >= 0.999, "cosine {c} for {text:?}");
        assert!((dot(got, got) - 1.0).abs() < 1e-4, "normalised");
    }
    eprintln!("worst cosine {:.6} for {:?}", worst.0, worst.1);
}

#[test]
fn one_at_a_time_equals_batched() {
    let Some(m) = model() else { return };
    let refs = reference();
    let texts: Vec<&str> = refs.iter().map(|(t, _, _)| t.as_str()).collect();
    let batched = m.embed(&texts).unwrap();
    for (t, b) in texts.iter().zip(&batched) {
        let single = m.embed_one(t).unwrap();
        assert!(cosine(&single, b) > 0.99999, "packing changed {t:?}");
    }
}

#[test]
fn meaning_not_spelling() {
    let Some(m) = model() else { return };
    let e = CachedEmbedder::new(m, 16);
    let v = e
        .embed(&[
            "A cat sits on the mat.",
            "A kitten rests on a rug.",
            "The central bank raised interest rates.",
            "A cat sits on the mat.",
        ])
        .unwrap();
    assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.3);
    assert_eq!(v[0], v[3]);
    assert_eq!(e.label(), "minilm-l6-v2");
    assert!(!e.is_degraded());
    assert_eq!(e.stats().misses, 3, "the repeated text is embedded once");
}
