//! Reading a BERT encoder's shape (`config.json`) and weights (`model.safetensors`).

use crate::EmbedError;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use std::path::Path;

/// The fields of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Config {
    pub(crate) hidden_size: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) max_position_embeddings: usize,
    pub(crate) vocab_size: usize,
    #[serde(default = "default_eps")]
    pub(crate) layer_norm_eps: f32,
    #[serde(default = "default_act")]
    pub(crate) hidden_act: String,
    #[serde(default = "default_position_type")]
    pub(crate) position_embedding_type: String,
}

fn default_eps() -> f32 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_position_type() -> String {
    "absolute".into()
}

impl Config {
    /// Parses and checks that the encoder can run this model.
    pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Self, EmbedError> {
        let bad = |reason: String| EmbedError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let c: Self =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not a BERT config: {e}")))?;
        if c.hidden_act != "gelu" {
            return Err(bad(format!(
                "hidden_act is {:?}; only BERT's exact \"gelu\" is implemented",
                c.hidden_act
            )));
        }
        if c.position_embedding_type != "absolute" {
            return Err(bad(format!(
                "position_embedding_type is {:?}; only \"absolute\" is implemented",
                c.position_embedding_type
            )));
        }
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                c.hidden_size, c.num_attention_heads
            )));
        }
        Ok(c)
    }
}

/// Gamma and beta of one layer norm.
#[derive(Debug)]
pub(crate) struct Norm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
}

/// One transformer block. Linear weights are PyTorch's `out × in`, row-major.
#[derive(Debug)]
pub(crate) struct Layer {
    /// Query, key and value stacked: `3·hidden × hidden`, so one product makes all three.
    pub(crate) qkv_w: Vec<f32>,
    pub(crate) qkv_b: Vec<f32>,
    pub(crate) attn_out_w: Vec<f32>,
    pub(crate) attn_out_b: Vec<f32>,
    pub(crate) attn_norm: Norm,
    pub(crate) up_w: Vec<f32>,
    pub(crate) up_b: Vec<f32>,
    pub(crate) down_w: Vec<f32>,
    pub(crate) down_b: Vec<f32>,
    pub(crate) out_norm: Norm,
}

/// Every weight of the encoder.
#[derive(Debug)]
pub(crate) struct Weights {
    pub(crate) word: Vec<f32>,
    pub(crate) position: Vec<f32>,
    /// Row 0 of the token-type table: sentence embeddings use a single segment.
    pub(crate) token_type: Vec<f32>,
    pub(crate) embed_norm: Norm,
    pub(crate) layers: Vec<Layer>,
}

impl Weights {
    /// Reads the tensors `config` calls for; names may carry a `bert.` prefix.
    pub(crate) fn parse(path: &Path, bytes: &[u8], config: &Config) -> Result<Self, EmbedError> {
        let bad = |reason: String| EmbedError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let prefix = if file.names().iter().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        let tensor = |name: &str, shape: &[usize]| -> Result<Vec<f32>, EmbedError> {
            let full = format!("{prefix}{name}");
            let t = file
                .tensor(&full)
                .map_err(|_| bad(format!("tensor {full} is missing")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor {full} is {:?}, expected F32",
                    t.dtype()
                )));
            }
            if t.shape() != shape {
                return Err(bad(format!(
                    "tensor {full} has shape {:?}, expected {shape:?}",
                    t.shape()
                )));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let norm = |name: &str| -> Result<Norm, EmbedError> {
            Ok(Norm {
                gamma: tensor(&format!("{name}.weight"), &[h])?,
                beta: tensor(&format!("{name}.bias"), &[h])?,
            })
        };
        let mut token_type = tensor("embeddings.token_type_embeddings.weight", &[2, h])
            .or_else(|_| tensor("embeddings.token_type_embeddings.weight", &[1, h]))?;
        token_type.truncate(h);
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let mut qkv_w = Vec::with_capacity(3 * h * h);
            let mut qkv_b = Vec::with_capacity(3 * h);
            for part in ["query", "key", "value"] {
                qkv_w.extend(tensor(
                    &format!("{p}.attention.self.{part}.weight"),
                    &[h, h],
                )?);
                qkv_b.extend(tensor(&format!("{p}.attention.self.{part}.bias"), &[h])?);
            }
            layers.push(Layer {
                qkv_w,
                qkv_b,
                attn_out_w: tensor(&format!("{p}.attention.output.dense.weight"), &[h, h])?,
                attn_out_b: tensor(&format!("{p}.attention.output.dense.bias"), &[h])?,
                attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                up_w: tensor(&format!("{p}.intermediate.dense.weight"), &[i, h])?,
                up_b: tensor(&format!("{p}.intermediate.dense.bias"), &[i])?,
                down_w: tensor(&format!("{p}.output.dense.weight"), &[h, i])?,
                down_b: tensor(&format!("{p}.output.dense.bias"), &[h])?,
                out_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Self {
            word: tensor("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: tensor(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type,
            embed_norm: norm("embeddings.LayerNorm")?,
            layers,
        })
    }
}
