//! Rough per-layer timing on stdin text (a profiling aid; `mcpflow bench guard` is the bench).
use mcpflow_guard::{Channel, Guard, GuardConfig, Normalized};
use std::time::Instant;

fn main() {
    let text = std::io::read_to_string(std::io::stdin()).unwrap();
    let guard = Guard::new(GuardConfig {
        pii: false,
        ..GuardConfig::default()
    })
    .unwrap();
    let n = 20;
    let kb = text.len() as f64 / 1000.0;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(Normalized::new(&text));
    }
    println!(
        "normalise {:.1} µs/KB",
        t.elapsed().as_secs_f64() * 1e6 / n as f64 / kb
    );
    let norm = Normalized::new(&text);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(guard.rules().scan(norm.main.as_str(), Channel::User));
    }
    println!(
        "rules on main view {:.1} µs/KB",
        t.elapsed().as_secs_f64() * 1e6 / n as f64 / kb
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(guard.scan(&text, Channel::User));
    }
    println!(
        "scan {:.1} µs/KB",
        t.elapsed().as_secs_f64() * 1e6 / n as f64 / kb
    );
}
