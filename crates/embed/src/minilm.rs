//! all-MiniLM-L6-v2 in-process: tokenizer + BERT forward (candle, CPU) + mean pooling + L2.
//!
//! This reproduces sentence-transformers' pipeline for the model (modules.json: Transformer →
//! Pooling(mean) → Normalize) with its `max_seq_length` of 256 tokens:
//!
//! 1. tokenise with the model's `tokenizer.json`, truncating to 256 tokens (the file itself
//!    says 128 and fixed padding; sentence-transformers overrides both, and so do we);
//! 2. order the batch by token count and cut it into chunks of `batch_size`, each padded only
//!    to its own longest text — padding is wasted compute, and sorted chunks have little;
//! 3. run BERT on each chunk; mean-pool the last hidden state over the attention mask; divide
//!    by the L2 norm; put the vectors back in input order.
//!
//! Matrix products go through candle's CPU backend (the `gemm` crate, multi-threaded with
//! rayon over all cores); there is no MKL on this platform.

use crate::{DIM, EmbedError, Embedder};
use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};

/// Tokens per text, including `[CLS]` and `[SEP]`: sentence-transformers' `max_seq_length`
/// for this model (used when the model dir has no `sentence_bert_config.json`).
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// Texts per forward pass unless [`MiniLm::with_batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// The MiniLM sentence embedder. Load once, share everywhere (`Send + Sync`).
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
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

        let config: Config = serde_json::from_slice(&read(&config_path)?)
            .map_err(|e| bad(&config_path, format!("not a BERT config: {e}")))?;
        if config.hidden_size != DIM {
            return Err(bad(
                &config_path,
                format!("hidden_size is {}, expected {DIM}", config.hidden_size),
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
        .min(config.max_position_embeddings);

        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| bad(&tokenizer_path, format!("not a tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| bad(&tokenizer_path, e))?;

        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(read(&weights_path)?, DType::F32, &device)
            .map_err(|e| bad(&weights_path, e))?;
        let model = BertModel::load(vb, &config).map_err(|e| bad(&weights_path, e))?;
        Ok(Self {
            model,
            tokenizer,
            device,
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

    /// One forward pass over texts already tokenised; returns normalised vectors in order.
    fn forward(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let batch = ids.len();
        let len = ids.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
        let mut flat_ids = vec![0u32; batch * len];
        let mut flat_mask = vec![0u32; batch * len];
        for (row, t) in ids.iter().enumerate() {
            flat_ids[row * len..row * len + t.len()].copy_from_slice(t);
            flat_mask[row * len..row * len + t.len()].fill(1);
        }
        let input_ids = Tensor::from_vec(flat_ids, (batch, len), &self.device)?;
        let mask = Tensor::from_vec(flat_mask, (batch, len), &self.device)?;
        let token_types = input_ids.zeros_like()?;
        let hidden = self.model.forward(&input_ids, &token_types, Some(&mask))?;

        // Mean over real tokens: sum(hidden · mask) / count(mask).
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        // L2 normalise, with torch.nn.functional.normalize's eps.
        let norms = mean
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        Ok(mean.broadcast_div(&norms)?.to_vec2::<f32>()?)
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
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.batch_size) {
            let ids: Vec<&[u32]> = chunk.iter().map(|&i| tokens[i].as_slice()).collect();
            for (&i, v) in chunk.iter().zip(self.forward(&ids)?) {
                out[i] = v;
            }
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
