//! all-MiniLM-L6-v2 in-process: tokenizer + our BERT encoder (`bert/`) + mean pooling + L2.
//!
//! This reproduces sentence-transformers' pipeline for the model (modules.json: Transformer →
//! Pooling(mean) → Normalize) with its `max_seq_length` of 256 tokens:
//!
//! 1. tokenise with the model's `tokenizer.json`, truncating to 256 tokens (the file itself
//!    says 128 and fixed padding; sentence-transformers overrides both, and so do we);
//! 2. order the texts by token count and cut them into passes of at most `batch_size` texts,
//!    so that a pass holds texts of similar length;
//! 3. run the encoder on each pass (packed, no padding; passes in parallel), mean-pool each
//!    text's last hidden states, divide by the L2 norm; put the vectors back in input order.

use crate::bert::Encoder;
use crate::{DIM, EmbedError, Embedder};
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};

/// Tokens per text, including `[CLS]` and `[SEP]`: sentence-transformers' `max_seq_length`
/// for this model (used when the model dir has no `sentence_bert_config.json`).
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// Texts per forward pass unless [`MiniLm::with_batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// The MiniLM sentence embedder. Load once, share everywhere (`Send + Sync`).
pub struct MiniLm {
    encoder: Encoder,
    tokenizer: Tokenizer,
    batch_size: usize,
    max_tokens: usize,
}

impl std::fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLm")
            .field("batch_size", &self.batch_size)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

fn require(dir: &Path, name: &str) -> Result<PathBuf, EmbedError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(EmbedError::MissingFile {
            dir: dir.to_path_buf(),
            path,
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|e| EmbedError::io(format!("reading {}", path.display()), e))
}

fn bad(path: &Path, reason: impl ToString) -> EmbedError {
    EmbedError::BadFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl MiniLm {
    /// Loads the model from a directory holding `config.json`, `tokenizer.json` and
    /// `model.safetensors` (as written by [`crate::install`]); `sentence_bert_config.json`
    /// is read for `max_seq_length` when present.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let config_path = require(dir, "config.json")?;
        let tokenizer_path = require(dir, "tokenizer.json")?;
        let weights_path = require(dir, "model.safetensors")?;

        let encoder = Encoder::load(
            &config_path,
            &read(&config_path)?,
            &weights_path,
            &read(&weights_path)?,
        )?;
        if encoder.hidden_size() != DIM {
            return Err(bad(
                &config_path,
                format!("hidden_size is {}, expected {DIM}", encoder.hidden_size()),
            ));
        }
        let max_tokens = match require(dir, "sentence_bert_config.json") {
            Ok(p) => {
                let v: serde_json::Value = serde_json::from_slice(&read(&p)?)
                    .map_err(|e| bad(&p, format!("not JSON: {e}")))?;
                v["max_seq_length"]
                    .as_u64()
                    .map_or(DEFAULT_MAX_TOKENS, |n| n as usize)
            }
            Err(_) => DEFAULT_MAX_TOKENS,
        }
        .min(encoder.max_positions());

        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| bad(&tokenizer_path, format!("not a tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| bad(&tokenizer_path, e))?;

        Ok(Self {
            encoder,
            tokenizer,
            batch_size: DEFAULT_BATCH_SIZE,
            max_tokens,
        })
    }

    /// Sets how many texts go through one forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Tokens kept per text (longer texts are truncated, like sentence-transformers does).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Token ids of each text, truncated, without padding.
    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }
}

impl Embedder for MiniLm {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
        let sorted: Vec<&[u32]> = order.iter().map(|&i| tokens[i].as_slice()).collect();
        let vectors = self.encoder.embed(&sorted, self.batch_size)?;
        let mut out = vec![Vec::new(); texts.len()];
        for (&i, v) in order.iter().zip(vectors) {
            out[i] = v;
        }
        Ok(out)
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn name(&self) -> &str {
        "minilm-l6-v2"
    }

    fn is_degraded(&self) -> bool {
        false
    }
}
