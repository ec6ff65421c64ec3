//! Profiling aid: scans the `scan_speed` texts in a loop, for `perf record`, and prints the
//! fastest pass (the one least disturbed by other work on a shared core):
//! `cargo run --release -p mcpflow-guard --example prof_loop -- [rules|full] [all|KIND] [SECONDS]`.
use mcpflow_guard::{Channel, Guard, GuardConfig};
use std::hint::black_box;

#[path = "scan_speed.rs"]
#[allow(dead_code)]
mod speed;

fn main() {
    let pii = std::env::args().nth(1).is_some_and(|a| a == "full");
    let kind = std::env::args().nth(2).filter(|k| k != "all");
    let guard = Guard::new(GuardConfig {
        pii,
        ..GuardConfig::default()
    })
    .unwrap();
    let texts: Vec<String> = speed::kinds(4096)
        .into_iter()
        .filter(|(k, _)| kind.as_deref().is_none_or(|want| want == *k))
        .flat_map(|(_, t)| t)
        .collect();
    let secs: f64 = std::env::args().nth(3).map_or(8.0, |s| s.parse().unwrap());
    let kb = texts.iter().map(|t| t.len()).sum::<usize>() as f64 / 1000.0;
    // The fastest pass over all texts: the least disturbed by other work on a shared core.
    let mut best = f64::INFINITY;
    let start = std::time::Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        let t0 = std::time::Instant::now();
        for t in &texts {
            black_box(guard.scan(black_box(t), Channel::ToolOutput));
        }
        best = best.min(t0.elapsed().as_secs_f64() * 1e6 / kb);
    }
    println!("best {best:.2} µs/KB");
}
