//! `mcpflow bench embed`: our MiniLM (own encoder, in-process) against sentence-transformers
//! (PyTorch) embedding the same texts with the same model weights, in one run.
//!
//! Reported for both: throughput in texts/s embedding `--n` texts with `--batch` texts per
//! forward pass (best of `--repeat` passes; both sides sort by length before batching, as
//! sentence-transformers' `encode` does), and single-text latency p50/p99 over `--latency`
//! calls. The ratio is ours / theirs. As a check that both computed the same thing, the
//! cosine between our and their vector of every text is summarised (min and mean).
//!
//! Texts are generated deterministically from `--seed`: sentences of 4 to ~200 words drawn
//! from a fixed vocabulary, most short (search queries, memory snippets), some long enough
//! to be truncated at 256 tokens. sentence-transformers runs in the venv made by
//! `ensure_python_st` in scripts/lib.sh; texts and vectors travel through a temp directory.

use anyhow::{Context, bail};
use clap::Args;
use hdrhistogram::Histogram;
use mcpflow_embed::{Embedder, MiniLm, default_model_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Flags of `mcpflow bench embed`.
#[derive(Debug, Args)]
pub struct EmbedBenchArgs {
    /// Texts to embed for throughput.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Texts per forward pass, both sides.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Single-text calls for the latency percentiles.
    #[arg(long, default_value_t = 200)]
    latency: usize,
    /// Timed throughput passes; the best counts (the machine is shared).
    #[arg(long, default_value_t = 2)]
    repeat: usize,
    /// Seed of the texts.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Model directory (default: $MCPFLOW_MODEL_DIR or the default install location).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Python with sentence-transformers (default: the venv from scripts/lib.sh, created on
    /// first use in $MCPFLOW_CACHE).
    #[arg(long, env = "MCPFLOW_ST_PYTHON")]
    python: Option<PathBuf>,
    /// Measure only mcpflow.
    #[arg(long)]
    no_peer: bool,
}

/// One side's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    texts_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs the benchmark.
pub fn run(args: EmbedBenchArgs) -> anyhow::Result<()> {
    if args.n == 0 || args.batch == 0 || args.latency == 0 || args.repeat == 0 {
        bail!("--n, --batch, --latency and --repeat must all be at least 1");
    }
    let dir = args.model_dir.clone().unwrap_or_else(default_model_dir);
    let model = MiniLm::load(&dir)
        .with_context(|| format!("loading MiniLM from {}", dir.display()))?
        .with_batch_size(args.batch);
    let texts = texts(args.n, args.seed);
    let words: usize = texts.iter().map(|t| t.split(' ').count()).sum();
    println!(
        "mcpflow bench embed: {} texts ({} words, mean {:.0}), batch {}, {} single-text calls, \
         {} CPU threads",
        texts.len(),
        words,
        words as f64 / texts.len() as f64,
        args.batch,
        args.latency,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

    // Warm-up: first-touch allocations, rayon pool start.
    model.embed(&refs[..args.batch.min(refs.len())])?;
    let mut best = f64::MAX;
    let mut ours_vecs = Vec::new();
    for _ in 0..args.repeat {
        let started = Instant::now();
        ours_vecs = model.embed(&refs)?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mut hist = Histogram::<u64>::new(3)?;
    for i in 0..args.latency {
        let t = refs[i * 7919 % refs.len()];
        let started = Instant::now();
        model.embed_one(t)?;
        hist.record(started.elapsed().as_micros() as u64)?;
    }
    let ours = Figures {
        texts_per_sec: refs.len() as f64 / best,
        p50_ms: hist.value_at_quantile(0.5) as f64 / 1e3,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1e3,
    };
    println!(
        "mcpflow (own encoder):     {:>8.1} texts/s   single p50 {:>7.2} ms  p99 {:>7.2} ms",
        ours.texts_per_sec, ours.p50_ms, ours.p99_ms
    );
    if args.no_peer {
        return Ok(());
    }

    let (theirs, their_vecs) = run_peer(&texts, &dir, &args)?;
    println!(
        "sentence-transformers:     {:>8.1} texts/s   single p50 {:>7.2} ms  p99 {:>7.2} ms",
        theirs.texts_per_sec, theirs.p50_ms, theirs.p99_ms
    );
    println!(
        "ratio (mcpflow / s-t):     {:>8.2}x throughput, {:.2}x p50 latency (lower is better)",
        ours.texts_per_sec / theirs.texts_per_sec,
        ours.p50_ms / theirs.p50_ms
    );
    let cosines: Vec<f32> = ours_vecs
        .iter()
        .zip(&their_vecs)
        .map(|(a, b)| mcpflow_embed::dot(a, b))
        .collect();
    let min = cosines.iter().copied().fold(f32::MAX, f32::min);
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    println!("agreement: cosine(ours, theirs) min {min:.6}, mean {mean:.6}");
    if min < 0.999 {
        bail!("the two sides disagree (min cosine {min:.6} < 0.999): the comparison is invalid");
    }
    Ok(())
}

/// Deterministic texts of mixed length.
fn texts(n: usize, seed: u64) -> Vec<String> {
    const WORDS: &[&str] = &[
        "agent",
        "swarm",
        "memory",
        "vector",
        "search",
        "the",
        "a",
        "of",
        "and",
        "to",
        "in",
        "server",
        "request",
        "latency",
        "error",
        "retry",
        "policy",
        "token",
        "user",
        "file",
        "database",
        "index",
        "query",
        "result",
        "cache",
        "network",
        "timeout",
        "supervisor",
        "restart",
        "task",
        "queue",
        "message",
        "topic",
        "deploy",
        "release",
        "build",
        "test",
        "failed",
        "succeeded",
        "quickly",
        "slowly",
        "because",
        "after",
        "before",
        "while",
        "customer",
        "invoice",
        "payment",
        "report",
        "quarterly",
        "revenue",
        "growth",
        "cat",
        "dog",
        "weather",
        "rain",
        "sunny",
        "mountain",
        "river",
        "city",
        "train",
        "airport",
        "learn",
        "model",
        "embedding",
        "sentence",
        "similar",
        "different",
        "meaning",
        "word",
        "is",
        "was",
        "will",
        "be",
        "has",
        "have",
        "not",
        "with",
        "from",
        "for",
        "on",
        "by",
        "configuration",
        "authentication",
        "permission",
        "denied",
        "granted",
        "secret",
        "key",
        "über",
        "café",
        "naïve",
        "東京",
        "données",
        "función",
        "2026",
        "42",
        "v1.2.3",
        "#123",
    ];
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        // xorshift64*: small, deterministic, good enough to pick words.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    (0..n)
        .map(|_| {
            let bucket = next() % 100;
            let len = match bucket {
                0..60 => 4 + next() % 16,   // queries, short notes
                60..90 => 20 + next() % 40, // paragraphs
                _ => 60 + next() % 140,     // documents, some truncated at 256 tokens
            } as usize;
            let mut s = String::new();
            for i in 0..len {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
            }
            s.push('.');
            s
        })
        .collect()
}

const ST_SCRIPT: &str = r#"
import json, sys, time
import numpy as np
import torch
from sentence_transformers import SentenceTransformer, models
cfg = json.loads(sys.argv[1])
texts = json.load(open(cfg["texts"], encoding="utf-8"))
# Built explicitly from the same files mcpflow loads: BERT, mean pooling, L2 normalisation.
word = models.Transformer(cfg["model_dir"], max_seq_length=256)
pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
model = SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu")
model.encode(texts[: cfg["batch"]], batch_size=cfg["batch"])
best, emb = float("inf"), None
for _ in range(cfg["repeat"]):
    t = time.perf_counter()
    emb = model.encode(texts, batch_size=cfg["batch"], convert_to_numpy=True)
    best = min(best, time.perf_counter() - t)
lat = []
for i in range(cfg["latency"]):
    text = texts[i * 7919 % len(texts)]
    t = time.perf_counter()
    model.encode([text], batch_size=1)
    lat.append(time.perf_counter() - t)
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
np.asarray(emb, dtype="<f4").tofile(cfg["out"])
print(json.dumps({"texts_per_sec": len(texts) / best, "p50_ms": pct(0.5) * 1e3,
                  "p99_ms": pct(0.99) * 1e3, "threads": torch.get_num_threads(),
                  "torch": torch.__version__}))
"#;

fn run_peer(
    texts: &[String],
    model_dir: &Path,
    args: &EmbedBenchArgs,
) -> anyhow::Result<(Figures, Vec<Vec<f32>>)> {
    let python = match &args.python {
        Some(p) => p.clone(),
        None => default_python()?,
    };
    let dir = tempfile::tempdir()?;
    let texts_path = dir.path().join("texts.json");
    std::fs::write(&texts_path, serde_json::to_vec(texts)?)?;
    let script = dir.path().join("st_bench.py");
    std::fs::write(&script, ST_SCRIPT)?;
    let out_path = dir.path().join("emb.f32");
    let config = serde_json::json!({
        "texts": texts_path,
        "model_dir": model_dir,
        "batch": args.batch,
        "repeat": args.repeat,
        "latency": args.latency,
        "out": out_path,
    });
    println!("sentence-transformers: measuring in {}", python.display());
    let out = Command::new(&python)
        .arg(&script)
        .arg(config.to_string())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "sentence-transformers run failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.lines().last().unwrap_or_default())
        .context("the sentence-transformers script printed no JSON result")?;
    let num = |key: &str| {
        v[key]
            .as_f64()
            .context(format!("sentence-transformers result lacks {key}"))
    };
    println!(
        "sentence-transformers: torch {} on {} threads",
        v["torch"].as_str().unwrap_or("?"),
        v["threads"]
    );
    let figures = Figures {
        texts_per_sec: num("texts_per_sec")?,
        p50_ms: num("p50_ms")?,
        p99_ms: num("p99_ms")?,
    };
    let bytes = std::fs::read(&out_path)?;
    let flat: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if flat.len() != texts.len() * mcpflow_embed::DIM {
        bail!(
            "sentence-transformers wrote {} floats, expected {} x {}",
            flat.len(),
            texts.len(),
            mcpflow_embed::DIM
        );
    }
    let vecs = flat
        .chunks_exact(mcpflow_embed::DIM)
        .map(<[f32]>::to_vec)
        .collect();
    Ok((figures, vecs))
}

/// The venv python from scripts/lib.sh, created there on first use.
fn default_python() -> anyhow::Result<PathBuf> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib.sh");
    if !lib.exists() {
        bail!(
            "no scripts/lib.sh next to this build to create the sentence-transformers venv: \
             pass --python (a python with sentence-transformers) or --no-peer"
        );
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && ensure_python_st"#)
        .arg("bash")
        .arg(&lib)
        .output()
        .context("running bash to create the sentence-transformers venv")?;
    if !out.status.success() {
        bail!(
            "could not create the sentence-transformers venv: {}\npass --python or --no-peer",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_deterministic_and_mixed() {
        let a = texts(500, 7);
        assert_eq!(a, texts(500, 7));
        assert_ne!(a, texts(500, 8));
        let lens: Vec<usize> = a.iter().map(|t| t.split(' ').count()).collect();
        assert!(lens.iter().any(|&l| l < 10));
        assert!(lens.iter().any(|&l| l > 150));
    }
}
