//! A BERT encoder for sentence embeddings, written for the CPU: packed sequences, fused
//! element-wise passes, reused buffers.
//!
//! What it computes is exactly BERT's forward pass followed by mean pooling and L2
//! normalisation (what sentence-transformers does for all-MiniLM-L6-v2). How it differs from a
//! general tensor library, and why it is faster on the CPU:
//!
//! - **No padding.** The texts of a pass are laid end to end as one `tokens × hidden` matrix;
//!   the linear layers see only real tokens, and attention runs per text over its own tokens,
//!   so there is no mask and no work on pad positions.
//! - **One product for Q, K and V** (their weights stacked at load), biases written into the
//!   destination before the product accumulates onto them.
//! - **Fused element-wise passes** (residual + layer norm, GELU, softmax) vectorised for the
//!   CPU at run time (`kernels.rs`), with our own `exp`/`erf` polynomials instead of scalar
//!   libm calls.
//! - **Buffers reused** per thread across passes, so steady state allocates only the output.
//! - **Parallel over passes**: each pass runs on one core with single-threaded products, the
//!   passes spread over rayon's pool; a single pass (one short batch) splits its products.
//!
//! Matrix products go through `gemm` (`matmul.rs`).

mod kernels;
mod matmul;
mod weights;

use crate::EmbedError;
use matmul::{View, matmul};
use rayon::prelude::*;
use std::cell::RefCell;
use std::path::Path;
pub(crate) use weights::Config;
use weights::{Norm, Weights};

/// Most tokens laid into one pass: bounds the per-thread buffers (about 16 MB for MiniLM)
/// while keeping the products large enough to run near the CPU's peak.
const MAX_PASS_TOKENS: usize = 1024;

/// The encoder: config, weights and the detected instruction set.
#[derive(Debug)]
pub(crate) struct Encoder {
    config: Config,
    weights: Weights,
    arch: pulp::Arch,
}

/// Per-thread working memory of a pass, grown on demand and kept.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    up: Vec<f32>,
    scores: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `buf[..len]`, growing `buf` first if needed; contents are whatever was there.
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// A PyTorch `Linear` layer over every row of `input`: `dst = input · weightᵀ + bias`, with
/// `weight` stored `out × in` (`out = bias.len()`) and `dst` rows of `out`. The bias is
/// written first and the product accumulates onto it.
fn linear(dst: &mut [f32], input: View<'_>, weight: &[f32], bias: &[f32], threads: usize) {
    let out = bias.len();
    for row in dst.chunks_exact_mut(out) {
        row.copy_from_slice(bias);
    }
    let cols = input.cols();
    matmul(
        dst,
        out,
        input,
        View::rows(weight, out, cols, cols).t(),
        true,
        1.0,
        threads,
    );
}

impl Encoder {
    /// Parses `config.json` and `model.safetensors` (already read into memory).
    pub(crate) fn load(
        config_path: &Path,
        config: &[u8],
        weights_path: &Path,
        weights: &[u8],
    ) -> Result<Self, EmbedError> {
        let config = Config::parse(config_path, config)?;
        let weights = Weights::parse(weights_path, weights, &config)?;
        Ok(Self {
            config,
            weights,
            arch: pulp::Arch::new(),
        })
    }

    /// Width of the vectors.
    pub(crate) fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// Longest sequence the position table allows.
    pub(crate) fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// Sentence vectors (mean-pooled, L2-normalised) of token sequences, in input order.
    ///
    /// Sequences are grouped into passes of at most `batch` sequences and
    /// [`MAX_PASS_TOKENS`] tokens (a longer single sequence gets a pass of its own), in the
    /// order given — callers sort by length so that a pass holds similar work.
    pub(crate) fn embed(&self, seqs: &[&[u32]], batch: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        for s in seqs {
            if s.len() > self.config.max_position_embeddings {
                return Err(EmbedError::Inference(format!(
                    "a sequence of {} tokens exceeds the model's {} positions",
                    s.len(),
                    self.config.max_position_embeddings
                )));
            }
            if let Some(id) = s.iter().find(|&&id| id as usize >= self.config.vocab_size) {
                return Err(EmbedError::Inference(format!(
                    "token id {id} is outside the vocabulary of {}: the tokenizer does not \
                     belong to this model",
                    self.config.vocab_size
                )));
            }
        }
        let mut passes: Vec<&[&[u32]]> = Vec::new();
        let (mut start, mut tokens) = (0, 0);
        for (i, s) in seqs.iter().enumerate() {
            if i > start && (i - start == batch.max(1) || tokens + s.len() > MAX_PASS_TOKENS) {
                passes.push(&seqs[start..i]);
                (start, tokens) = (i, 0);
            }
            tokens += s.len();
        }
        if start < seqs.len() {
            passes.push(&seqs[start..]);
        }
        let vectors: Vec<Vec<Vec<f32>>> = if passes.len() == 1 {
            vec![self.pass(passes[0], rayon::current_num_threads())]
        } else {
            passes.par_iter().map(|p| self.pass(p, 1)).collect()
        };
        Ok(vectors.into_iter().flatten().collect())
    }

    /// One forward pass over packed sequences; products split over `threads`.
    fn pass(&self, seqs: &[&[u32]], threads: usize) -> Vec<Vec<f32>> {
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            self.pass_in(&mut scratch, seqs, threads)
        })
    }

    fn pass_in(&self, s: &mut Scratch, seqs: &[&[u32]], threads: usize) -> Vec<Vec<f32>> {
        let c = &self.config;
        let w = &self.weights;
        let (h, inter) = (c.hidden_size, c.intermediate_size);
        let t: usize = seqs.iter().map(|q| q.len()).sum();
        let longest = seqs.iter().map(|q| q.len()).max().unwrap_or(0);
        let x = sized(&mut s.x, t * h);
        let qkv = sized(&mut s.qkv, t * 3 * h);
        let ctx = sized(&mut s.ctx, t * h);
        let tmp = sized(&mut s.tmp, t * h);
        let up = sized(&mut s.up, t * inter);
        let scores = sized(&mut s.scores, longest * longest);
        let eps = c.layer_norm_eps;

        self.arch.dispatch(|| {
            let mut rows = x.chunks_exact_mut(h);
            for seq in seqs {
                for (pos, (&id, row)) in seq.iter().zip(&mut rows).enumerate() {
                    let word = &w.word[id as usize * h..][..h];
                    let position = &w.position[pos * h..][..h];
                    for (((x, a), b), c) in
                        row.iter_mut().zip(word).zip(position).zip(&w.token_type)
                    {
                        *x = a + b + c;
                    }
                    let n = &w.embed_norm;
                    kernels::add_layer_norm(row, &[], &n.gamma, &n.beta, eps);
                }
            }
        });

        for l in &w.layers {
            linear(qkv, View::rows(x, t, h, h), &l.qkv_w, &l.qkv_b, threads);
            self.attention(qkv, ctx, scores, seqs);
            linear(
                tmp,
                View::rows(ctx, t, h, h),
                &l.attn_out_w,
                &l.attn_out_b,
                threads,
            );
            self.residual_norm(x, tmp, &l.attn_norm, h, eps);
            linear(up, View::rows(x, t, h, h), &l.up_w, &l.up_b, threads);
            self.arch.dispatch(|| kernels::gelu(up));
            linear(
                tmp,
                View::rows(up, t, inter, inter),
                &l.down_w,
                &l.down_b,
                threads,
            );
            self.residual_norm(x, tmp, &l.out_norm, h, eps);
        }

        // Mean over each sequence's tokens, then L2 normalisation (torch's eps of 1e-12).
        let mut out = Vec::with_capacity(seqs.len());
        let mut rows = x.chunks_exact(h);
        for seq in seqs {
            let mut v = vec![0.0f32; h];
            for row in rows.by_ref().take(seq.len()) {
                for (a, b) in v.iter_mut().zip(row) {
                    *a += b;
                }
            }
            let count = seq.len().max(1) as f32;
            v.iter_mut().for_each(|a| *a /= count);
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|a| *a /= norm);
            out.push(v);
        }
        out
    }

    /// `x = layer_norm(x + add)`, row by row (rows of `h`).
    fn residual_norm(&self, x: &mut [f32], add: &[f32], norm: &Norm, h: usize, eps: f32) {
        self.arch.dispatch(|| {
            for (row, add) in x.chunks_exact_mut(h).zip(add.chunks_exact(h)) {
                kernels::add_layer_norm(row, add, &norm.gamma, &norm.beta, eps);
            }
        });
    }

    /// Scaled dot-product self-attention of each sequence with itself, head by head:
    /// `ctx[seq, head] = softmax(Q Kᵀ / √d) V`, reading Q, K and V from the stacked `qkv`.
    fn attention(&self, qkv: &[f32], ctx: &mut [f32], scores: &mut [f32], seqs: &[&[u32]]) {
        let h = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let d = h / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let mut start = 0;
        for seq in seqs {
            let len = seq.len();
            if len == 0 {
                continue;
            }
            let block = &qkv[start * 3 * h..(start + len) * 3 * h];
            for head in 0..heads {
                let q = View::rows(&block[head * d..], len, d, 3 * h);
                let k = View::rows(&block[h + head * d..], len, d, 3 * h);
                let v = View::rows(&block[2 * h + head * d..], len, d, 3 * h);
                let s = &mut scores[..len * len];
                matmul(s, len, q, k.t(), false, scale, 1);
                self.arch.dispatch(|| {
                    for row in s.chunks_exact_mut(len) {
                        kernels::softmax(row);
                    }
                });
                let weights = View::rows(s, len, len, len);
                matmul(
                    &mut ctx[start * h + head * d..],
                    h,
                    weights,
                    v,
                    false,
                    1.0,
                    1,
                );
            }
            start += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;
    use std::collections::BTreeMap;

    const H: usize = 8;
    const HEADS: usize = 2;
    const INTER: usize = 16;
    const LAYERS: usize = 2;
    const VOCAB: usize = 50;
    const POSITIONS: usize = 24;

    /// A tiny BERT with deterministic pseudo-random weights: name → (shape, values).
    fn tiny() -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut m = BTreeMap::new();
        let mut put = |name: String, shape: Vec<usize>, scale: f32, offset: f32| {
            let n = shape.iter().product();
            let v = (0..n).map(|_| offset + scale * next()).collect();
            m.insert(name, (shape, v));
        };
        put(
            "embeddings.word_embeddings.weight".into(),
            vec![VOCAB, H],
            2.0,
            0.0,
        );
        put(
            "embeddings.position_embeddings.weight".into(),
            vec![POSITIONS, H],
            1.0,
            0.0,
        );
        put(
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, H],
            1.0,
            0.0,
        );
        let norm = |put: &mut dyn FnMut(String, Vec<usize>, f32, f32), p: &str| {
            put(format!("{p}.weight"), vec![H], 0.4, 1.0);
            put(format!("{p}.bias"), vec![H], 0.4, 0.0);
        };
        norm(&mut put, "embeddings.LayerNorm");
        for l in 0..LAYERS {
            let p = format!("encoder.layer.{l}");
            for part in ["query", "key", "value"] {
                put(
                    format!("{p}.attention.self.{part}.weight"),
                    vec![H, H],
                    1.5,
                    0.0,
                );
                put(format!("{p}.attention.self.{part}.bias"), vec![H], 0.5, 0.0);
            }
            put(
                format!("{p}.attention.output.dense.weight"),
                vec![H, H],
                1.0,
                0.0,
            );
            put(
                format!("{p}.attention.output.dense.bias"),
                vec![H],
                0.5,
                0.0,
            );
            norm(&mut put, &format!("{p}.attention.output.LayerNorm"));
            put(
                format!("{p}.intermediate.dense.weight"),
                vec![INTER, H],
                1.0,
                0.0,
            );
            put(
                format!("{p}.intermediate.dense.bias"),
                vec![INTER],
                0.5,
                0.0,
            );
            put(format!("{p}.output.dense.weight"), vec![H, INTER], 0.5, 0.0);
            put(format!("{p}.output.dense.bias"), vec![H], 0.5, 0.0);
            norm(&mut put, &format!("{p}.output.LayerNorm"));
        }
        m
    }

    fn config() -> String {
        format!(
            r#"{{"hidden_size": {H}, "intermediate_size": {INTER}, "num_attention_heads": {HEADS},
                "num_hidden_layers": {LAYERS}, "max_position_embeddings": {POSITIONS},
                "vocab_size": {VOCAB}, "hidden_act": "gelu", "layer_norm_eps": 1e-12}}"#
        )
    }

    fn encoder(m: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Encoder {
        let bytes: BTreeMap<&String, (Vec<usize>, Vec<u8>)> = m
            .iter()
            .map(|(k, (s, v))| {
                (
                    k,
                    (s.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                )
            })
            .collect();
        let views = bytes.iter().map(|(k, (s, b))| {
            (
                k.as_str(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        });
        let file = safetensors::serialize(views, None).unwrap();
        Encoder::load(
            Path::new("config.json"),
            config().as_bytes(),
            Path::new("model.safetensors"),
            &file,
        )
        .unwrap()
    }

    /// BERT + mean pooling + L2, one text at a time, in f64, straight from the definitions.
    fn reference(m: &BTreeMap<String, (Vec<usize>, Vec<f32>)>, ids: &[u32]) -> Vec<f64> {
        let w = |name: &str| -> Vec<f64> { m[name].1.iter().map(|&x| f64::from(x)).collect() };
        let linear = |x: &[f64], name: &str, out: usize| -> Vec<f64> {
            let (wt, b) = (w(&format!("{name}.weight")), w(&format!("{name}.bias")));
            (0..out)
                .map(|o| {
                    b[o] + x
                        .iter()
                        .enumerate()
                        .map(|(i, xi)| wt[o * x.len() + i] * xi)
                        .sum::<f64>()
                })
                .collect()
        };
        let norm = |x: &mut Vec<f64>, name: &str| {
            let (g, b) = (w(&format!("{name}.weight")), w(&format!("{name}.bias")));
            let mean = x.iter().sum::<f64>() / H as f64;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / H as f64;
            for (i, v) in x.iter_mut().enumerate() {
                *v = (*v - mean) / (var + 1e-12).sqrt() * g[i] + b[i];
            }
        };
        let (word, pos, typ) = (
            w("embeddings.word_embeddings.weight"),
            w("embeddings.position_embeddings.weight"),
            w("embeddings.token_type_embeddings.weight"),
        );
        let mut x: Vec<Vec<f64>> = ids
            .iter()
            .enumerate()
            .map(|(p, &id)| {
                let mut r: Vec<f64> = (0..H)
                    .map(|i| word[id as usize * H + i] + pos[p * H + i] + typ[i])
                    .collect();
                norm(&mut r, "embeddings.LayerNorm");
                r
            })
            .collect();
        let d = H / HEADS;
        for l in 0..LAYERS {
            let p = format!("encoder.layer.{l}");
            let q: Vec<_> = x
                .iter()
                .map(|r| linear(r, &format!("{p}.attention.self.query"), H))
                .collect();
            let k: Vec<_> = x
                .iter()
                .map(|r| linear(r, &format!("{p}.attention.self.key"), H))
                .collect();
            let v: Vec<_> = x
                .iter()
                .map(|r| linear(r, &format!("{p}.attention.self.value"), H))
                .collect();
            let mut ctx = vec![vec![0.0; H]; ids.len()];
            for head in 0..HEADS {
                let cols = head * d..(head + 1) * d;
                for i in 0..ids.len() {
                    let s: Vec<f64> = (0..ids.len())
                        .map(|j| {
                            cols.clone().map(|c| q[i][c] * k[j][c]).sum::<f64>() / (d as f64).sqrt()
                        })
                        .collect();
                    let max = s.iter().copied().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for c in cols.clone() {
                        ctx[i][c] = (0..ids.len()).map(|j| e[j] / sum * v[j][c]).sum();
                    }
                }
            }
            for (r, c) in x.iter_mut().zip(&ctx) {
                let a = linear(c, &format!("{p}.attention.output.dense"), H);
                r.iter_mut().zip(a).for_each(|(v, a)| *v += a);
                norm(r, &format!("{p}.attention.output.LayerNorm"));
                let up: Vec<f64> = linear(r, &format!("{p}.intermediate.dense"), INTER)
                    .into_iter()
                    .map(|u| 0.5 * u * (1.0 + erf64(u / std::f64::consts::SQRT_2)))
                    .collect();
                let down = linear(&up, &format!("{p}.output.dense"), H);
                r.iter_mut().zip(down).for_each(|(v, a)| *v += a);
                norm(r, &format!("{p}.output.LayerNorm"));
            }
        }
        let mut mean: Vec<f64> = (0..H)
            .map(|i| x.iter().map(|r| r[i]).sum::<f64>() / ids.len() as f64)
            .collect();
        let n = mean.iter().map(|v| v * v).sum::<f64>().sqrt();
        mean.iter_mut().for_each(|v| *v /= n);
        mean
    }

    /// erf in f64 by its Maclaurin series (|x| ≤ 6 here) or 1.
    fn erf64(x: f64) -> f64 {
        if x.abs() > 6.0 {
            return x.signum();
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..400 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn texts() -> Vec<Vec<u32>> {
        (0..9u32)
            .map(|t| {
                (0..1 + (t * 7) % POSITIONS as u32)
                    .map(|i| (t * 13 + i * 5) % VOCAB as u32)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn matches_a_direct_f64_implementation_whatever_the_packing() {
        let m = tiny();
        let enc = encoder(&m);
        let texts = texts();
        let seqs: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
        let want: Vec<Vec<f64>> = seqs.iter().map(|s| reference(&m, s)).collect();
        for batch in [1, 2, 4, 32] {
            let got = enc.embed(&seqs, batch).unwrap();
            assert_eq!(got.len(), seqs.len());
            for (g, w) in got.iter().zip(&want) {
                for (a, b) in g.iter().zip(w) {
                    assert!(
                        (f64::from(*a) - b).abs() < 1e-4,
                        "batch {batch}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_foreign_token_ids_and_overlong_sequences() {
        let enc = encoder(&tiny());
        let e = enc.embed(&[&[1, VOCAB as u32]], 8).unwrap_err().to_string();
        assert!(e.contains("outside the vocabulary"), "{e}");
        let long = vec![1u32; POSITIONS + 1];
        let e = enc.embed(&[&long], 8).unwrap_err().to_string();
        assert!(e.contains("exceeds the model's"), "{e}");
    }

    #[test]
    fn a_missing_or_misshapen_tensor_is_named() {
        let mut m = tiny();
        m.remove("encoder.layer.1.output.dense.bias");
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = m
            .iter()
            .map(|(k, (s, v))| {
                (
                    k.clone(),
                    s.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views = bytes.iter().map(|(k, s, b)| {
            (
                k.as_str(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        });
        let file = safetensors::serialize(views, None).unwrap();
        let e = Encoder::load(Path::new("c"), config().as_bytes(), Path::new("w"), &file)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("encoder.layer.1.output.dense.bias is missing"),
            "{e}"
        );
        let bad = config().replace("\"gelu\"", "\"relu\"");
        let e = Encoder::load(Path::new("c"), bad.as_bytes(), Path::new("w"), &file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hidden_act"), "{e}");
    }
}
