//! The scan loop of `mcpflow scan` without the rest of the CLI, for quick rule iteration:
//! `cargo run -p mcpflow-guard --example scan -- [--eval] [--redact] < lines.jsonl`.

use mcpflow_guard::Guard;
use mcpflow_guard::jsonl::{ProcessOptions, process};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = ProcessOptions {
        eval: args.iter().any(|a| a == "--eval"),
        redact: args.iter().any(|a| a == "--redact"),
    };
    let guard = Guard::with_defaults()?;
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let summary = process(&guard, std::io::stdin().lock(), &mut out, &mut err, options)?;
    if options.eval {
        println!("{}", summary.counts.to_json());
    }
    Ok(())
}
