//! Single-thread query speed and recall of our HNSW on the clustered data of
//! `mcpflow bench memory --data clustered`, without building the `mcpflow` binary.
//!
//! ```text
//! taskset -c 1 cargo run --release -p mcpflow-intel --example hnsw_speed -- \
//!     [--n 100000] [--dim 384] [--queries 1000] [--ef 16,32,64,128] [--repeat 3] \
//!     [--seed 42] [--dump DIR] [--peer PYTHON] [--index FILE]
//! ```
//!
//! Same generator, seeds, M = 16 and ef_construction = 200 as the bench; recall@10 against
//! our exact scan; queries/s as the best of `--repeat` passes through [`SharedIndex`] (the
//! bench's path), both per wall-clock second and per second of this thread's CPU time (the
//! latter is steadier on a loaded machine: time spent descheduled does not count; hnswlib's
//! side uses Python's `time.thread_time`, the same clock). `--dump DIR` writes `base.f32`, `queries.f32` (little-endian f32, row-major)
//! and `truth.u64` (k ids per query) for a peer; `--peer PYTHON` then runs hnswlib on them in
//! this run (a python with `hnswlib` and `numpy`, one thread) and prints the ratio per ef.
//! The truth is reused from `DIR` when it was computed for the same data (`meta.txt`).
//! `--index FILE` loads our index from FILE if it exists (else builds and saves it there):
//! for iterating on the search path only; a build-path change needs a fresh build.

use mcpflow_intel::rng::clustered_unit_vectors;
use mcpflow_intel::{Hit, HnswIndex, Metric, Params, SharedIndex, recall};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const K: usize = 10;

/// hnswlib on the dumped files: build single-threaded, then per ef the recall and the best
/// single-thread queries/s over `repeat` passes. Prints one line per ef: `ef recall qps`.
const PEER: &str = r#"
import sys, time
import numpy as np
import hnswlib
d, dim, k, m, efc, seed, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
efs = [int(x) for x in sys.argv[8].split(",")]
base = np.fromfile(d + "/base.f32", dtype="<f4").reshape(-1, dim)
queries = np.fromfile(d + "/queries.f32", dtype="<f4").reshape(-1, dim)
truth = np.fromfile(d + "/truth.u64", dtype="<u8").reshape(-1, k)
index = hnswlib.Index(space="cosine", dim=dim)
index.init_index(max_elements=len(base), M=m, ef_construction=efc, random_seed=seed)
index.set_num_threads(1)
t = time.perf_counter()
index.add_items(base, np.arange(len(base)), num_threads=1)
print("build", time.perf_counter() - t, flush=True)
for ef in efs:
    index.set_ef(max(ef, k))
    labels, _ = index.knn_query(queries, k=k, num_threads=1)
    hits = sum(len(set(l.tolist()) & set(t.tolist())) for l, t in zip(labels, truth))
    best, best_cpu = 0.0, 0.0
    for _ in range(repeat):
        t, c = time.perf_counter(), time.thread_time()
        index.knn_query(queries, k=k, num_threads=1)
        best = max(best, len(queries) / (time.perf_counter() - t))
        best_cpu = max(best_cpu, len(queries) / (time.thread_time() - c))
    print(ef, hits / truth.size, best, best_cpu, flush=True)
"#;

struct Opts {
    n: usize,
    dim: usize,
    queries: usize,
    ef: Vec<usize>,
    repeat: usize,
    seed: u64,
    dump: Option<PathBuf>,
    peer: Option<PathBuf>,
    index: Option<PathBuf>,
}

fn opts() -> Opts {
    let mut o = Opts {
        n: 100_000,
        dim: 384,
        queries: 1000,
        ef: vec![16, 32, 64, 128],
        repeat: 3,
        seed: 42,
        dump: None,
        peer: None,
        index: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"))
            .as_str();
        let num = || value.parse::<usize>().expect("a number");
        match flag.as_str() {
            "--n" => o.n = num(),
            "--dim" => o.dim = num(),
            "--queries" => o.queries = num(),
            "--repeat" => o.repeat = num().max(1),
            "--seed" => o.seed = num() as u64,
            "--ef" => o.ef = value.split(',').map(|s| s.parse().expect("ef")).collect(),
            "--dump" => o.dump = Some(value.into()),
            "--peer" => o.peer = Some(value.into()),
            "--index" => o.index = Some(value.into()),
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = opts();
    let s = o.seed;
    // The bench's clustered data set: 100 topics, centres from `seed`, points from seed+2/+3.
    let base = clustered_unit_vectors(o.n, o.dim, 100, s, s.wrapping_add(2));
    let queries = clustered_unit_vectors(o.queries, o.dim, 100, s, s.wrapping_add(3));

    let mut params = Params::new(o.dim, Metric::Cosine);
    params.m = 16;
    params.ef_construction = 200;
    let started = Instant::now();
    let (index, build) = match o.index.as_deref().filter(|p| p.exists()) {
        Some(path) => {
            let index = HnswIndex::from_bytes(&std::fs::read(path)?)?;
            println!("loaded index from {}", path.display());
            (index, None)
        }
        None => {
            let mut index = HnswIndex::new(params)?;
            for (i, v) in base.chunks_exact(o.dim).enumerate() {
                index.insert(i as u64, v)?;
            }
            let build = started.elapsed().as_secs_f64();
            println!("build: {build:.2} s ({} x {})", o.n, o.dim);
            if let Some(path) = &o.index {
                std::fs::write(path, index.to_bytes())?;
            }
            (index, Some(build))
        }
    };

    let rows: Vec<&[f32]> = queries.chunks_exact(o.dim).collect();
    let meta = format!("{} {} {} {}", o.n, o.dim, o.queries, o.seed);
    let cached = o.dump.as_ref().and_then(|dir| {
        let same = std::fs::read_to_string(dir.join("meta.txt")).ok()? == meta;
        let bytes = std::fs::read(dir.join("truth.u64")).ok()?;
        (same && bytes.len() == rows.len() * K * 8).then_some(bytes)
    });
    let truth: Vec<Vec<Hit>> = match cached {
        // Ids only: recall compares ids.
        Some(bytes) => bytes
            .chunks_exact(K * 8)
            .map(|row| {
                row.chunks_exact(8)
                    .map(|b| Hit {
                        id: u64::from_le_bytes(b.try_into().expect("8 bytes")),
                        distance: 0.0,
                    })
                    .collect()
            })
            .collect(),
        None => {
            let started = Instant::now();
            let truth = rows
                .iter()
                .map(|q| index.exact_search(q, K, None))
                .collect::<Result<_, _>>()?;
            println!("exact truth: {:.2} s", started.elapsed().as_secs_f64());
            truth
        }
    };

    let shared = SharedIndex::new(index);
    let mut ours = Vec::new();
    for &ef in &o.ef {
        let search = |q: &[f32]| shared.search_with(q, K, Some(ef), None);
        let found: Vec<Vec<Hit>> = rows.iter().map(|q| search(q)).collect::<Result<_, _>>()?;
        let r = found
            .iter()
            .zip(&truth)
            .map(|(f, t)| recall(f, t))
            .sum::<f64>()
            / rows.len() as f64;
        let (mut best, mut best_cpu) = (0.0f64, 0.0f64);
        for _ in 0..o.repeat {
            let (started, cpu) = (Instant::now(), thread_cpu_secs());
            for q in &rows {
                std::hint::black_box(search(q)?);
            }
            best = best.max(rows.len() as f64 / started.elapsed().as_secs_f64());
            best_cpu = best_cpu.max(rows.len() as f64 / (thread_cpu_secs() - cpu));
        }
        println!("ours ef {ef:>4}: recall@{K} {r:.4}, {best:.0} q/s, {best_cpu:.0} q/cpu-s");
        ours.push((ef, r, best, best_cpu));
    }

    let Some(dir) = o.dump.clone() else {
        return Ok(());
    };
    std::fs::create_dir_all(&dir)?;
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(dir.join("base.f32"), f32s(&base))?;
    std::fs::write(dir.join("queries.f32"), f32s(&queries))?;
    let ids: Vec<u8> = truth
        .iter()
        .flat_map(|t| t.iter().flat_map(|h| h.id.to_le_bytes()))
        .collect();
    std::fs::write(dir.join("truth.u64"), ids)?;
    std::fs::write(dir.join("meta.txt"), meta)?;
    println!("dumped base/queries/truth to {}", dir.display());

    let Some(python) = o.peer else {
        return Ok(());
    };
    let efs: Vec<String> = o.ef.iter().map(|e| e.to_string()).collect();
    let out = Command::new(&python)
        .arg("-c")
        .arg(PEER)
        .arg(&dir)
        .args([o.dim, K, 16, 200].map(|x| x.to_string()))
        .arg(o.seed.to_string())
        .arg(o.repeat.to_string())
        .arg(efs.join(","))
        .output()?;
    if !out.status.success() {
        return Err(format!("hnswlib failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let peer_build: f64 = lines
        .next()
        .and_then(|l| l.strip_prefix("build "))
        .ok_or("hnswlib printed no build time")?
        .parse()?;
    match build {
        Some(build) => println!(
            "build: ours {build:.2} s, hnswlib {peer_build:.2} s, ratio {:.2}x (time)",
            build / peer_build
        ),
        None => println!("build: hnswlib {peer_build:.2} s (ours loaded)"),
    }
    for ((ef, r, qps, cpu), line) in ours.iter().zip(lines) {
        let f: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().expect("number"))
            .collect();
        println!(
            "ef {ef:>4}: ours recall {r:.4} {qps:>6.0} q/s {cpu:>6.0} q/cpu-s | hnswlib recall {:.4} {:>6.0} q/s {:>6.0} q/cpu-s | {:.2}x wall, {:.2}x cpu",
            f[1],
            f[2],
            f[3],
            qps / f[2],
            cpu / f[3]
        );
    }
    Ok(())
}

/// CPU time this thread has run, in seconds (Linux `/proc/thread-self/schedstat`, in ns;
/// NaN elsewhere, which prints as NaN rather than a wrong number).
fn thread_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}
