//! `load_or_fallback` without a model: the hashing embedder, flagged as degraded.

use mcpflow_embed::{EmbedError, MiniLm, load_or_fallback};

#[test]
fn missing_model_falls_back_to_degraded_hashing() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_or_fallback(&dir.path().join("nothing-here"));
    assert!(e.is_degraded());
    assert_eq!(e.label(), "hashing (degraded)");
    assert_eq!(e.embed(&["x y"]).unwrap()[0].len(), e.dim());
}

#[test]
fn missing_model_error_says_how_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let err = MiniLm::load(dir.path()).unwrap_err();
    assert!(matches!(err, EmbedError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("mcpflow model install"), "{err}");
}

#[test]
fn corrupt_config_is_reported_as_unusable() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::write(dir.path().join(f), b"not json").unwrap();
    }
    let err = MiniLm::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("config.json is unusable"), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
}
