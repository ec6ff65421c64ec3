//! `mcpflow bench memory`: our HNSW index against hnswlib (the C++ library most vector
//! stores wrap), on the same vectors, with the same M / ef_construction / ef, in one run.
//!
//! Reported per `ef`: recall@k against exact search (our brute-force scan, also the ground
//! truth hnswlib is scored with) and queries/s on 1 and on 2 threads, plus build time. Both
//! sides build single-threaded and time queries as the best of `--repeat` passes, because
//! this machine is shared and a pass can be slowed by a neighbour.
//!
//! hnswlib runs in a Python venv (`ensure_python_hnswlib` in scripts/lib.sh: pip builds it
//! from its sdist with `-march=native`); vectors go to it as raw little-endian f32 files in a
//! temporary directory.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use mcpflow_intel::rng::{clustered_unit_vectors, random_unit_vectors};
use mcpflow_intel::{Hit, HnswIndex, Metric, Params, SharedIndex, recall};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Which synthetic data to index.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Data {
    /// Uniform on the unit sphere: no structure, the hard case.
    Random,
    /// 100 topics with variation along 16 shared directions plus noise: the low intrinsic
    /// dimension of real embeddings.
    Clustered,
}

/// Flags of `mcpflow bench memory`.
#[derive(Debug, Args)]
pub struct MemoryBenchArgs {
    /// Vectors in the index.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Dimension (384 = MiniLM-class embeddings).
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Queries (not in the index; same distribution).
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// HNSW M (links per node; 2M on the bottom layer), both sides.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW ef_construction, both sides.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Search beam widths to measure, both sides.
    #[arg(long, value_delimiter = ',', default_value = "64,128,256,512")]
    ef: Vec<usize>,
    /// Data set.
    #[arg(long, value_enum, default_value_t = Data::Random)]
    data: Data,
    /// Cosine (default) or L2 (squared).
    #[arg(long, default_value = "cosine", value_parser = parse_metric)]
    metric: Metric,
    /// Seed of the data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Timed passes over the queries per measurement; the best counts.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Python with hnswlib and numpy (default: the venv from scripts/lib.sh, created on
    /// first use in $MCPFLOW_CACHE).
    #[arg(long, env = "MCPFLOW_HNSWLIB_PYTHON")]
    python: Option<PathBuf>,
    /// Measure only mcpflow (no hnswlib).
    #[arg(long)]
    no_peer: bool,
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    match s {
        "cosine" => Ok(Metric::Cosine),
        "l2" => Ok(Metric::L2),
        other => Err(format!("unknown metric {other:?}: use cosine or l2")),
    }
}

/// One side's figures at one `ef`.
#[derive(Debug, Clone, Copy)]
struct Point {
    ef: usize,
    recall: f64,
    qps1: f64,
    qps2: f64,
}

/// Runs the benchmark.
pub fn run(args: MemoryBenchArgs) -> anyhow::Result<()> {
    if args.n == 0 || args.dim == 0 || args.queries == 0 || args.k == 0 || args.repeat == 0 {
        bail!("--n, --dim, --queries, --k and --repeat must all be at least 1");
    }
    if args.ef.is_empty() || args.ef.contains(&0) {
        bail!("--ef needs one or more beam widths, each at least 1");
    }
    println!(
        "mcpflow bench memory: {} x {} {:?} vectors ({:?}), {} queries, k = {}, M = {}, ef_construction = {}",
        args.n,
        args.dim,
        args.data,
        args.metric,
        args.queries,
        args.k,
        args.m,
        args.ef_construction
    );
    let (base, queries) = data(&args);

    let mut params = Params::new(args.dim, args.metric);
    params.m = args.m;
    params.ef_construction = args.ef_construction;
    let started = Instant::now();
    let mut index = HnswIndex::new(params)?;
    for (i, v) in base.chunks_exact(args.dim).enumerate() {
        index.insert(i as u64, v)?;
    }
    let build_secs = started.elapsed().as_secs_f64();
    println!("mcpflow build: {build_secs:.2} s (1 thread)");

    let started = Instant::now();
    let truth = exact_truth(&index, &queries, &args)?;
    println!(
        "exact search for ground truth: {:.2} s (2 threads)",
        started.elapsed().as_secs_f64()
    );

    let shared = SharedIndex::new(index);
    let ours: Vec<Point> = args
        .ef
        .iter()
        .map(|&ef| measure_ours(&shared, &queries, &truth, ef, &args))
        .collect::<anyhow::Result<_>>()?;

    let peer = if args.no_peer {
        None
    } else {
        Some(run_hnswlib(&base, &queries, &truth, &args)?)
    };

    println!(
        "\n{:>6} | {:>9} {:>10} {:>10} | {:>9} {:>10} {:>10} | {:>8} {:>8}",
        "ef", "recall", "qps 1t", "qps 2t", "hnswlib", "qps 1t", "qps 2t", "ratio 1t", "ratio 2t"
    );
    for (i, o) in ours.iter().enumerate() {
        match peer.as_ref().map(|p| p.1[i]) {
            Some(p) => println!(
                "{:>6} | {:>9.4} {:>10.0} {:>10.0} | {:>9.4} {:>10.0} {:>10.0} | {:>7.2}x {:>7.2}x",
                o.ef,
                o.recall,
                o.qps1,
                o.qps2,
                p.recall,
                p.qps1,
                p.qps2,
                o.qps1 / p.qps1,
                o.qps2 / p.qps2
            ),
            None => println!(
                "{:>6} | {:>9.4} {:>10.0} {:>10.0} |",
                o.ef, o.recall, o.qps1, o.qps2
            ),
        }
    }
    println!(
        "(recall = mcpflow recall@{}; ratio = mcpflow qps / hnswlib qps)",
        args.k
    );
    if let Some((peer_build, peer_points)) = &peer {
        println!(
            "build: mcpflow {build_secs:.2} s, hnswlib {peer_build:.2} s, ratio {:.2}x (time; lower is better)",
            build_secs / peer_build
        );
        let target = 0.95;
        match (best_at(&ours, target), best_at(peer_points, target)) {
            (Some(o), Some(p)) => println!(
                "fastest setting with recall@{} >= {target}: mcpflow ef={} {:.0} q/s (recall {:.4}), hnswlib ef={} {:.0} q/s (recall {:.4}): {:.2}x",
                args.k,
                o.ef,
                o.qps1,
                o.recall,
                p.ef,
                p.qps1,
                p.recall,
                o.qps1 / p.qps1
            ),
            (o, p) => println!(
                "recall@{} >= {target} reached by: mcpflow {}, hnswlib {} (raise --ef)",
                args.k,
                o.map_or("no ef".to_string(), |o| format!("ef={}", o.ef)),
                p.map_or("no ef".to_string(), |p| format!("ef={}", p.ef))
            ),
        }
    }
    Ok(())
}

/// The highest single-thread QPS among settings that reach `target` recall.
fn best_at(points: &[Point], target: f64) -> Option<Point> {
    points
        .iter()
        .filter(|p| p.recall >= target)
        .max_by(|a, b| a.qps1.total_cmp(&b.qps1))
        .copied()
}

fn data(args: &MemoryBenchArgs) -> (Vec<f32>, Vec<f32>) {
    let (n, q, d, s) = (args.n, args.queries, args.dim, args.seed);
    match args.data {
        Data::Random => (
            random_unit_vectors(n, d, s),
            random_unit_vectors(q, d, s.wrapping_add(1)),
        ),
        Data::Clustered => (
            clustered_unit_vectors(n, d, 100, s, s.wrapping_add(2)),
            clustered_unit_vectors(q, d, 100, s, s.wrapping_add(3)),
        ),
    }
}

/// Exact k nearest for every query, on 2 threads.
fn exact_truth(
    index: &HnswIndex,
    queries: &[f32],
    args: &MemoryBenchArgs,
) -> anyhow::Result<Vec<Vec<Hit>>> {
    let rows: Vec<&[f32]> = queries.chunks_exact(args.dim).collect();
    let half = rows.len().div_ceil(2);
    std::thread::scope(|s| {
        let parts: Vec<_> = rows
            .chunks(half)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|q| index.exact_search(q, args.k, None))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(rows.len());
        for p in parts {
            all.extend(p.join().expect("exact search thread")?);
        }
        Ok(all)
    })
}

fn measure_ours(
    index: &SharedIndex,
    queries: &[f32],
    truth: &[Vec<Hit>],
    ef: usize,
    args: &MemoryBenchArgs,
) -> anyhow::Result<Point> {
    let rows: Vec<&[f32]> = queries.chunks_exact(args.dim).collect();
    let search = |q: &[f32]| index.search_with(q, args.k, Some(ef), None);
    let found: Vec<Vec<Hit>> = rows.iter().map(|q| search(q)).collect::<Result<_, _>>()?;
    let recall_sum: f64 = found.iter().zip(truth).map(|(f, t)| recall(f, t)).sum();
    let mut qps1 = 0.0f64;
    let mut qps2 = 0.0f64;
    for _ in 0..args.repeat {
        let started = Instant::now();
        for q in &rows {
            std::hint::black_box(search(q)?);
        }
        qps1 = qps1.max(rows.len() as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        let half = rows.len().div_ceil(2);
        std::thread::scope(|s| -> anyhow::Result<()> {
            let parts: Vec<_> = rows
                .chunks(half)
                .map(|part| {
                    s.spawn(move || -> anyhow::Result<()> {
                        for q in part {
                            std::hint::black_box(search(q)?);
                        }
                        Ok(())
                    })
                })
                .collect();
            for p in parts {
                p.join().expect("search thread")?;
            }
            Ok(())
        })?;
        qps2 = qps2.max(rows.len() as f64 / started.elapsed().as_secs_f64());
    }
    Ok(Point {
        ef,
        recall: recall_sum / rows.len() as f64,
        qps1,
        qps2,
    })
}

const HNSWLIB_SCRIPT: &str = r#"
import json, sys, time
import numpy as np
import hnswlib

d = json.loads(sys.argv[1])
dim, k = d["dim"], d["k"]
base = np.fromfile(d["base"], dtype="<f4").reshape(-1, dim)
queries = np.fromfile(d["queries"], dtype="<f4").reshape(-1, dim)
truth = np.fromfile(d["truth"], dtype="<u8").reshape(-1, k)

index = hnswlib.Index(space=d["space"], dim=dim)
index.init_index(max_elements=len(base), M=d["m"], ef_construction=d["ef_construction"], random_seed=d["seed"])
index.set_num_threads(1)
t = time.perf_counter()
index.add_items(base, np.arange(len(base)), num_threads=1)
build = time.perf_counter() - t

points = []
for ef in d["ef"]:
    index.set_ef(max(ef, k))
    labels, _ = index.knn_query(queries, k=k, num_threads=1)
    hits = sum(len(set(l.tolist()) & set(t.tolist())) for l, t in zip(labels, truth))
    best = {}
    for threads in (1, 2):
        for _ in range(d["repeat"]):
            t = time.perf_counter()
            index.knn_query(queries, k=k, num_threads=threads)
            qps = len(queries) / (time.perf_counter() - t)
            best[threads] = max(best.get(threads, 0.0), qps)
    points.append({"ef": ef, "recall": hits / truth.size, "qps1": best[1], "qps2": best[2]})
print(json.dumps({"build": build, "points": points}))
"#;

fn run_hnswlib(
    base: &[f32],
    queries: &[f32],
    truth: &[Vec<Hit>],
    args: &MemoryBenchArgs,
) -> anyhow::Result<(f64, Vec<Point>)> {
    let python = match &args.python {
        Some(p) => p.clone(),
        None => default_python()?,
    };
    let dir = tempfile::tempdir()?;
    let write_f32 = |name: &str, v: &[f32]| -> anyhow::Result<PathBuf> {
        let path = dir.path().join(name);
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&path, bytes)?;
        Ok(path)
    };
    let base_path = write_f32("base.f32", base)?;
    let queries_path = write_f32("queries.f32", queries)?;
    let truth_path = dir.path().join("truth.u64");
    let mut truth_bytes = Vec::with_capacity(truth.len() * args.k * 8);
    for row in truth {
        if row.len() != args.k {
            bail!(
                "ground truth has fewer than k = {} entries per query",
                args.k
            );
        }
        truth_bytes.extend(row.iter().flat_map(|h| h.id.to_le_bytes()));
    }
    std::fs::write(&truth_path, truth_bytes)?;
    let script = dir.path().join("hnswlib_bench.py");
    std::fs::write(&script, HNSWLIB_SCRIPT)?;
    let config = serde_json::json!({
        "dim": args.dim,
        "k": args.k,
        "m": args.m,
        "ef_construction": args.ef_construction,
        "ef": args.ef,
        "seed": args.seed,
        "repeat": args.repeat,
        "space": match args.metric { Metric::Cosine => "cosine", Metric::L2 => "l2" },
        "base": base_path,
        "queries": queries_path,
        "truth": truth_path,
    });
    println!("hnswlib: building and measuring in {}", python.display());
    let out = Command::new(&python)
        .arg(&script)
        .arg(config.to_string())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "hnswlib run failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.lines().last().unwrap_or_default())
        .context("hnswlib script printed no JSON result")?;
    let num = |v: &Value, key: &str| {
        v[key]
            .as_f64()
            .context(format!("hnswlib result lacks {key}"))
    };
    let build = num(&v, "build")?;
    println!("hnswlib build: {build:.2} s (1 thread)");
    let points = v["points"]
        .as_array()
        .context("hnswlib result lacks points")?
        .iter()
        .map(|p| {
            Ok(Point {
                ef: num(p, "ef")? as usize,
                recall: num(p, "recall")?,
                qps1: num(p, "qps1")?,
                qps2: num(p, "qps2")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((build, points))
}

/// The venv python from scripts/lib.sh, created there on first use.
fn default_python() -> anyhow::Result<PathBuf> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib.sh");
    if !lib.exists() {
        bail!(
            "no scripts/lib.sh next to this build to create the hnswlib venv: pass --python \
             (a python with hnswlib and numpy) or --no-peer"
        );
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && ensure_python_hnswlib"#)
        .arg("bash")
        .arg(&lib)
        .output()
        .context("running bash to create the hnswlib venv")?;
    if !out.status.success() {
        bail!(
            "could not create the hnswlib venv (pip must build hnswlib with g++): {}\n\
             pass --python or --no-peer",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(PathBuf::from(path))
}
