//! `mcpflow bench routing`: does the learned router learn? A seeded simulation, no clocks.
//!
//! **World.** `K` agents and `T` task types. Every (agent, type) pair has a hidden skill: a
//! success probability (for each type one random *specialist* draws from 0.85–0.97, every
//! other agent from 0.15–0.85) and a mean latency (200–2000 ms). A task of a type gets an
//! embedding near its type's random centre (clustered unit vectors). Reward is
//! `1{success} − 0.2·latency/2000 ms`, so the best agent is the one with the highest
//! `p − 0.2·mean latency/2000`.
//!
//! **Stream.** A task arrives every `--gap-ms` of simulated time and occupies its agent for its
//! drawn latency (±20 %); completions are processed in time order before each arrival, so
//! feedback arrives late and several tasks are in flight, as in a real node. Outcome draws
//! are shared by all routers (common random numbers): task `i` succeeds for agent `a` iff
//! `u_i < p(a, type_i)`.
//!
//! **Routers.** *learned* — `mcpflow_intel::routing::Router` (route, take the first, start,
//! end, learning cycles every 10 trajectories); *random*; *round-robin*; *least-loaded*
//! (fewest in flight, ties rotate); *oracle* (knows the hidden skill: highest expected
//! reward). Reported: cumulative regret against the oracle (expected reward of the oracle's
//! choice minus that of the router's choice) and the success rate in each tenth of the
//! stream.
//!
//! **Task-type switch.** Phase A (the first half of the types), phase B (the other half),
//! then A again. The learned router runs twice, consolidation on (the default EWC λ) and off
//! (λ = 0), everything else equal; reported is how it does on A after B.

use clap::Args;
use mcpflow_intel::memory::{Clock, ManualClock};
use mcpflow_intel::rng::SplitMix64;
use mcpflow_intel::routing::{Router, RouterConfig};
use mcpflow_intel::trajectory::{InMemoryTrajectories, Outcome, TaskSpec};
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

/// Flags of `mcpflow bench routing`.
#[derive(Debug, Args, Clone)]
pub struct RoutingBenchArgs {
    /// Agents.
    #[arg(long, default_value_t = 8)]
    agents: usize,
    /// Task types.
    #[arg(long, default_value_t = 8)]
    types: usize,
    /// Tasks in the main stream.
    #[arg(long, default_value_t = 5000)]
    tasks: usize,
    /// Embedding dimension.
    #[arg(long, default_value_t = 32)]
    dim: usize,
    /// Simulated milliseconds between task arrivals.
    #[arg(long, default_value_t = 50)]
    gap_ms: u64,
    /// Tasks per phase of the switch experiment (A, B, then A again).
    #[arg(long, default_value_t = 2000)]
    phase_tasks: usize,
    /// Worlds the switch experiment runs in (seeds `seed`, `seed + 1`, …); it reports their
    /// mean, because one world's result turns on a few early choices.
    #[arg(long, default_value_t = 10)]
    switch_worlds: u64,
    /// Seed of the world, the stream and the random router.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

impl Default for RoutingBenchArgs {
    fn default() -> Self {
        Self {
            agents: 8,
            types: 8,
            tasks: 5000,
            dim: 32,
            gap_ms: 50,
            phase_tasks: 2000,
            switch_worlds: 10,
            seed: 42,
            json: false,
        }
    }
}

const LATENCY_COST: f64 = 0.2;

/// The hidden truth of a simulation.
#[derive(Debug, Clone)]
struct World {
    agents: Vec<String>,
    /// `[agent][type]` = (success probability, mean latency ms).
    skill: Vec<Vec<(f64, f64)>>,
    centres: Vec<Vec<f32>>,
    dim: usize,
}

impl World {
    fn new(args: &RoutingBenchArgs) -> Self {
        let mut rng = SplitMix64::new(args.seed);
        let (k, t) = (args.agents.max(1), args.types.max(1));
        let mut skill = vec![vec![(0.0, 0.0); t]; k];
        for ty in 0..t {
            let specialist = rng.below(k as u64) as usize;
            for (a, row) in skill.iter_mut().enumerate() {
                let p = if a == specialist {
                    0.85 + 0.12 * rng.next_f64()
                } else {
                    0.15 + 0.70 * rng.next_f64()
                };
                row[ty] = (p, 200.0 + 1800.0 * rng.next_f64());
            }
        }
        let centres = (0..t)
            .map(|_| unit((0..args.dim).map(|_| rng.gaussian() as f32).collect()))
            .collect();
        Self {
            agents: (0..k).map(|a| format!("agent-{a}")).collect(),
            skill,
            centres,
            dim: args.dim,
        }
    }

    fn expected(&self, agent: usize, ty: usize) -> f64 {
        let (p, lat) = self.skill[agent][ty];
        p - LATENCY_COST * lat / 2000.0
    }

    fn best(&self, ty: usize) -> usize {
        (0..self.agents.len())
            .max_by(|&a, &b| self.expected(a, ty).total_cmp(&self.expected(b, ty)))
            .expect("at least one agent")
    }
}

/// One task of the stream, with its outcome draws.
#[derive(Debug, Clone)]
struct Task {
    ty: usize,
    embedding: Vec<f32>,
    /// Success iff `u < p(agent, ty)`.
    u: f64,
    /// Latency multiplier in 0.8–1.2.
    jitter: f64,
}

fn stream(world: &World, types: &[usize], n: usize, seed: u64) -> Vec<Task> {
    let mut rng = SplitMix64::new(seed);
    let noise = 0.35 / (world.dim as f64).sqrt();
    (0..n)
        .map(|_| {
            let ty = types[rng.below(types.len() as u64) as usize];
            let embedding = unit(
                world.centres[ty]
                    .iter()
                    .map(|&c| c + (noise * rng.gaussian()) as f32)
                    .collect(),
            );
            Task {
                ty,
                embedding,
                u: rng.next_f64(),
                jitter: 0.8 + 0.4 * rng.next_f64(),
            }
        })
        .collect()
}

/// Which router to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Learned { ewc_lambda: f64 },
    Random,
    RoundRobin,
    LeastLoaded,
    Oracle,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Learned { .. } => "learned",
            Kind::Random => "random",
            Kind::RoundRobin => "round-robin",
            Kind::LeastLoaded => "least-loaded",
            Kind::Oracle => "oracle",
        }
    }
}

/// A router under simulation, with the state the simple ones need.
struct Sim<'w> {
    kind: Kind,
    world: &'w World,
    router: Option<(Router, Arc<ManualClock>)>,
    rng: SplitMix64,
    next: usize,
    in_flight: Vec<u64>,
    /// Completions, earliest first.
    pending: BinaryHeap<Reverse<Completion>>,
    route_seconds: f64,
    routes: u64,
}

/// A task in flight, ordered by end time then arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Completion {
    at: u64,
    seq: u64,
    agent: usize,
    id: u64,
    success: bool,
    /// Reward in millionths (integers keep the heap's ordering total).
    reward_micro: i64,
    latency: u64,
}

/// What a run produced, per task.
#[derive(Debug, Clone, Default)]
struct Trace {
    regret: Vec<f64>,
    success: Vec<bool>,
}

impl<'w> Sim<'w> {
    fn new(kind: Kind, world: &'w World, seed: u64) -> anyhow::Result<Self> {
        let router = match kind {
            Kind::Learned { ewc_lambda } => {
                let mut config = RouterConfig::new(world.dim);
                config.policy.ewc_lambda = ewc_lambda;
                let clock = Arc::new(ManualClock::new(0));
                let router = Router::open(
                    config,
                    Arc::new(InMemoryTrajectories::default()),
                    clock.clone(),
                )?;
                for a in &world.agents {
                    router.register_agent(a, ["code"])?;
                }
                Some((router, clock))
            }
            _ => None,
        };
        Ok(Self {
            kind,
            world,
            router,
            rng: SplitMix64::new(seed ^ 0xA11CE),
            next: 0,
            in_flight: vec![0; world.agents.len()],
            pending: BinaryHeap::new(),
            route_seconds: 0.0,
            routes: 0,
        })
    }

    fn spec(&self, task: &Task) -> TaskSpec {
        TaskSpec::new(format!("type-{}", task.ty), task.embedding.clone()).capabilities(["code"])
    }

    fn choose(&mut self, task: &Task) -> anyhow::Result<usize> {
        let k = self.world.agents.len();
        Ok(match self.kind {
            Kind::Learned { .. } => {
                let spec = self.spec(task);
                let (router, _) = self.router.as_ref().expect("learned has a router");
                let started = Instant::now();
                let ranked = router.route(&spec)?;
                self.route_seconds += started.elapsed().as_secs_f64();
                self.routes += 1;
                self.world
                    .agents
                    .iter()
                    .position(|a| *a == ranked[0].agent)
                    .expect("ranked agents are registered")
            }
            Kind::Random => self.rng.below(k as u64) as usize,
            Kind::RoundRobin => {
                self.next += 1;
                (self.next - 1) % k
            }
            Kind::LeastLoaded => {
                self.next += 1;
                let start = self.next;
                (0..k)
                    .min_by_key(|&a| (self.in_flight[a], (a + k - start % k) % k))
                    .expect("agents")
            }
            Kind::Oracle => self.world.best(task.ty),
        })
    }

    fn advance_to(&mut self, now: u64) -> anyhow::Result<()> {
        while let Some(Reverse(top)) = self.pending.peek() {
            if top.at > now {
                break;
            }
            let Reverse(Completion {
                at,
                agent,
                id,
                success,
                reward_micro,
                latency,
                ..
            }) = self.pending.pop().expect("peeked");
            self.in_flight[agent] -= 1;
            if let Some((router, clock)) = &self.router {
                clock.advance(at - clock.now_ms());
                let outcome = if success {
                    Outcome::Success
                } else {
                    Outcome::Failure
                };
                router.end(id, outcome, reward_micro as f32 / 1e6, latency)?;
            }
        }
        if let Some((_, clock)) = &self.router {
            clock.advance(now.saturating_sub(clock.now_ms()));
        }
        Ok(())
    }

    /// Runs `tasks` arriving from `t0` every `gap` ms; returns the trace and the end time.
    fn run(&mut self, tasks: &[Task], t0: u64, gap: u64, trace: &mut Trace) -> anyhow::Result<u64> {
        let mut now = t0;
        for (i, task) in tasks.iter().enumerate() {
            now = t0 + i as u64 * gap;
            self.advance_to(now)?;
            let agent = self.choose(task)?;
            let (p, lat) = self.world.skill[agent][task.ty];
            let success = task.u < p;
            let latency = (lat * task.jitter).round() as u64;
            let reward = f64::from(u8::from(success)) - LATENCY_COST * latency as f64 / 2000.0;
            let id = match &self.router {
                Some((router, _)) => router.start(&self.world.agents[agent], self.spec(task))?,
                None => 0,
            };
            self.in_flight[agent] += 1;
            self.pending.push(Reverse(Completion {
                at: now + latency,
                seq: i as u64,
                agent,
                id,
                success,
                reward_micro: (reward * 1e6).round() as i64,
                latency,
            }));
            let best = self.world.best(task.ty);
            trace
                .regret
                .push(self.world.expected(best, task.ty) - self.world.expected(agent, task.ty));
            trace.success.push(success);
        }
        Ok(now + gap)
    }

    /// Lets everything in flight finish.
    fn drain(&mut self) -> anyhow::Result<()> {
        self.advance_to(u64::MAX / 2)
    }
}

/// One router's result on the main stream.
#[derive(Debug, Clone)]
struct StreamResult {
    name: &'static str,
    /// Cumulative regret at each tenth of the stream.
    cumulative_regret: Vec<f64>,
    /// Success rate within each tenth.
    success: Vec<f64>,
    /// Mean regret per task over the second half.
    late_regret: f64,
    /// Mean route() time, learned router only.
    route_us: Option<f64>,
    cycles: Option<u64>,
}

fn run_stream(args: &RoutingBenchArgs, world: &World, kind: Kind) -> anyhow::Result<StreamResult> {
    let all: Vec<usize> = (0..world.centres.len()).collect();
    let tasks = stream(world, &all, args.tasks, args.seed ^ 0x57_8EA3);
    let mut sim = Sim::new(kind, world, args.seed)?;
    let mut trace = Trace::default();
    sim.run(&tasks, 0, args.gap_ms, &mut trace)?;
    sim.drain()?;
    let n = trace.regret.len();
    let tenth = |d: usize| (n * d).div_ceil(10);
    let mut cumulative_regret = Vec::new();
    let mut success = Vec::new();
    for d in 1..=10 {
        let (lo, hi) = (tenth(d - 1), tenth(d));
        cumulative_regret.push(trace.regret[..hi].iter().sum());
        let window = &trace.success[lo..hi];
        success.push(window.iter().filter(|s| **s).count() as f64 / window.len().max(1) as f64);
    }
    let half = &trace.regret[n / 2..];
    Ok(StreamResult {
        name: kind.name(),
        cumulative_regret,
        success,
        late_regret: half.iter().sum::<f64>() / half.len().max(1) as f64,
        route_us: (sim.routes > 0).then(|| sim.route_seconds / sim.routes as f64 * 1e6),
        cycles: sim.router.as_ref().map(|(r, _)| r.learning_stats().cycles),
    })
}

/// The switch experiment's result for one consolidation setting.
#[derive(Debug, Clone)]
struct SwitchResult {
    ewc_lambda: f64,
    /// Success on A at the end of phase 1 (its last quarter).
    a_before: f64,
    /// Success on B over phase 2's last quarter.
    b_end: f64,
    /// Success on A over the first quarter of the return to A.
    a_after: f64,
    /// Mean regret per task over the first quarter of the return to A.
    a_after_regret: f64,
}

fn run_switch(args: &RoutingBenchArgs, world: &World, kind: Kind) -> anyhow::Result<SwitchResult> {
    let t = world.centres.len();
    let split = (t / 2).max(1);
    let a: Vec<usize> = (0..split).collect();
    let b: Vec<usize> = (split..t).collect();
    let b = if b.is_empty() { a.clone() } else { b };
    let n = args.phase_tasks.max(4);
    let phases = [
        stream(world, &a, n, args.seed ^ 0xA1),
        stream(world, &b, n, args.seed ^ 0xB2),
        stream(world, &a, n, args.seed ^ 0xA3),
    ];
    let mut sim = Sim::new(kind, world, args.seed)?;
    let mut traces = Vec::new();
    let mut t0 = 0;
    for tasks in &phases {
        let mut trace = Trace::default();
        t0 = sim.run(tasks, t0, args.gap_ms, &mut trace)?;
        traces.push(trace);
    }
    sim.drain()?;
    let q = n / 4;
    let rate = |s: &[bool]| s.iter().filter(|x| **x).count() as f64 / s.len().max(1) as f64;
    Ok(SwitchResult {
        ewc_lambda: match kind {
            Kind::Learned { ewc_lambda } => ewc_lambda,
            _ => f64::NAN,
        },
        a_before: rate(&traces[0].success[n - q..]),
        b_end: rate(&traces[1].success[n - q..]),
        a_after: rate(&traces[2].success[..q]),
        a_after_regret: traces[2].regret[..q].iter().sum::<f64>() / q as f64,
    })
}

/// The switch experiment in `args.switch_worlds` worlds (seeds from `args.seed` on), averaged.
fn switch_mean(args: &RoutingBenchArgs, kind: Kind) -> anyhow::Result<SwitchResult> {
    let worlds = args.switch_worlds.max(1);
    let mut sum = SwitchResult {
        ewc_lambda: f64::NAN,
        a_before: 0.0,
        b_end: 0.0,
        a_after: 0.0,
        a_after_regret: 0.0,
    };
    for i in 0..worlds {
        let args = RoutingBenchArgs {
            seed: args.seed.wrapping_add(i),
            ..args.clone()
        };
        let r = run_switch(&args, &World::new(&args), kind)?;
        sum.ewc_lambda = r.ewc_lambda;
        sum.a_before += r.a_before;
        sum.b_end += r.b_end;
        sum.a_after += r.a_after;
        sum.a_after_regret += r.a_after_regret;
    }
    let n = worlds as f64;
    Ok(SwitchResult {
        a_before: sum.a_before / n,
        b_end: sum.b_end / n,
        a_after: sum.a_after / n,
        a_after_regret: sum.a_after_regret / n,
        ..sum
    })
}

/// Everything the benchmark measures.
#[derive(Debug, Clone)]
struct Report {
    stream: Vec<StreamResult>,
    switch_on: SwitchResult,
    switch_off: SwitchResult,
    switch_oracle: SwitchResult,
}

fn measure(args: &RoutingBenchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.agents >= 2 && args.types >= 2 && args.dim >= 2 && args.tasks >= 10,
        "need at least 2 agents, 2 types, 2 dimensions and 10 tasks"
    );
    let world = World::new(args);
    let on = RouterConfig::new(args.dim).policy.ewc_lambda;
    let kinds = [
        Kind::Learned { ewc_lambda: on },
        Kind::Random,
        Kind::RoundRobin,
        Kind::LeastLoaded,
        Kind::Oracle,
    ];
    let stream = kinds
        .iter()
        .map(|k| run_stream(args, &world, *k))
        .collect::<anyhow::Result<_>>()?;
    Ok(Report {
        stream,
        switch_on: switch_mean(args, Kind::Learned { ewc_lambda: on })?,
        switch_off: switch_mean(args, Kind::Learned { ewc_lambda: 0.0 })?,
        switch_oracle: switch_mean(args, Kind::Oracle)?,
    })
}

/// Runs the benchmark.
pub fn run(args: RoutingBenchArgs) -> anyhow::Result<()> {
    let report = measure(&args)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&args, &report))?
        );
        return Ok(());
    }
    print_tables(&args, &report);
    Ok(())
}

fn print_tables(args: &RoutingBenchArgs, report: &Report) {
    println!(
        "mcpflow bench routing: {} agents, {} task types, {} tasks every {} ms (simulated), dim {}, seed {}",
        args.agents, args.types, args.tasks, args.gap_ms, args.dim, args.seed
    );
    println!(
        "\ncumulative regret vs oracle (expected reward lost) after each tenth of the stream:"
    );
    print!("  {:<13}", "router");
    (1..=10).for_each(|d| print!(" {:>7}", format!("{}%", d * 10)));
    println!(" {:>12}", "late/task");
    for r in &report.stream {
        print!("  {:<13}", r.name);
        r.cumulative_regret.iter().for_each(|v| print!(" {v:>7.1}"));
        println!(" {:>12.4}", r.late_regret);
    }
    println!("\nsuccess rate within each tenth:");
    for r in &report.stream {
        print!("  {:<13}", r.name);
        r.success
            .iter()
            .for_each(|v| print!(" {:>6.1}%", v * 100.0));
        println!();
    }
    let learned = &report.stream[0];
    let random = &report.stream[1];
    println!(
        "\nlearned: {} learning cycles, mean route() {:.1} us; late regret/task = {:.3} x random's",
        learned.cycles.unwrap_or(0),
        learned.route_us.unwrap_or(0.0),
        learned.late_regret / random.late_regret.max(f64::MIN_POSITIVE)
    );
    println!(
        "\ntask-type switch: A = first half of the types, B = the rest; {} tasks per phase (A, B, A); \
         mean of {} worlds (seeds {}..={})",
        args.phase_tasks,
        args.switch_worlds.max(1),
        args.seed,
        args.seed.wrapping_add(args.switch_worlds.max(1) - 1)
    );
    println!(
        "  {:<26} {:>12} {:>12} {:>14} {:>16}",
        "router", "A end of 1", "B end of 2", "A after B", "A-after regret"
    );
    for (name, s) in [
        ("learned, consolidation on", &report.switch_on),
        ("learned, consolidation off", &report.switch_off),
        ("oracle", &report.switch_oracle),
    ] {
        println!(
            "  {:<26} {:>11.1}% {:>11.1}% {:>13.1}% {:>16.4}",
            name,
            s.a_before * 100.0,
            s.b_end * 100.0,
            s.a_after * 100.0,
            s.a_after_regret
        );
    }
    println!(
        "  (success rates over the last quarter of phases 1 and 2 and the first quarter of the return to A; ewc_lambda on = {}, off = {})",
        report.switch_on.ewc_lambda, report.switch_off.ewc_lambda
    );
}

fn to_json(args: &RoutingBenchArgs, r: &Report) -> Value {
    let switch = |s: &SwitchResult| {
        json!({
            "ewc_lambda": if s.ewc_lambda.is_nan() { Value::Null } else { json!(s.ewc_lambda) },
            "a_success_end_of_phase1": s.a_before,
            "b_success_end_of_phase2": s.b_end,
            "a_success_after_b": s.a_after,
            "a_regret_per_task_after_b": s.a_after_regret,
        })
    };
    json!({
        "config": {
            "agents": args.agents, "types": args.types, "tasks": args.tasks, "dim": args.dim,
            "gap_ms": args.gap_ms, "phase_tasks": args.phase_tasks, "seed": args.seed,
            "switch_worlds": args.switch_worlds,
        },
        "stream": r.stream.iter().map(|s| json!({
            "router": s.name,
            "checkpoints_percent": (1..=10).map(|d| d * 10).collect::<Vec<_>>(),
            "cumulative_regret": s.cumulative_regret,
            "success_rate": s.success,
            "late_regret_per_task": s.late_regret,
            "route_us": s.route_us,
            "learning_cycles": s.cycles,
        })).collect::<Vec<_>>(),
        "switch": {
            "consolidation_on": switch(&r.switch_on),
            "consolidation_off": switch(&r.switch_off),
            "oracle": switch(&r.switch_oracle),
        },
    })
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> RoutingBenchArgs {
        RoutingBenchArgs {
            agents: 6,
            types: 6,
            tasks: 3000,
            phase_tasks: 1500,
            seed: 7,
            ..RoutingBenchArgs::default()
        }
    }

    #[test]
    fn learned_router_beats_random_and_round_robin() {
        let args = small();
        let world = World::new(&args);
        let learned = run_stream(&args, &world, Kind::Learned { ewc_lambda: 1.0 }).unwrap();
        let random = run_stream(&args, &world, Kind::Random).unwrap();
        let rr = run_stream(&args, &world, Kind::RoundRobin).unwrap();
        let oracle = run_stream(&args, &world, Kind::Oracle).unwrap();
        assert_eq!(oracle.late_regret, 0.0);
        assert!(
            learned.late_regret < 0.5 * random.late_regret,
            "learned {} vs random {}",
            learned.late_regret,
            random.late_regret
        );
        assert!(learned.late_regret < 0.5 * rr.late_regret);
        assert!(learned.success[9] > random.success[9] + 0.1);
    }

    #[test]
    fn consolidation_reduces_forgetting() {
        // The benchmark's own experiment: the default world shape, the mean over ten seeded
        // worlds (one world's result turns on a few early choices). On the smaller `small()`
        // worlds the two are about even (mean regret on return 0.133 vs 0.128 over seeds
        // 1–10): with fewer types per phase there is less to forget.
        let args = RoutingBenchArgs::default();
        let on = switch_mean(&args, Kind::Learned { ewc_lambda: 1.0 }).unwrap();
        let off = switch_mean(&args, Kind::Learned { ewc_lambda: 0.0 }).unwrap();
        assert!(
            on.a_after_regret < 0.8 * off.a_after_regret,
            "on {on:?} off {off:?}"
        );
        assert!(on.a_after > off.a_after, "on {on:?} off {off:?}");
    }

    #[test]
    fn default_configuration_learns() {
        // The benchmark's own configuration (printed: `cargo test -- --nocapture`).
        let args = RoutingBenchArgs::default();
        let report = measure(&args).unwrap();
        print_tables(&args, &report);
        let (learned, random) = (&report.stream[0], &report.stream[1]);
        assert!(learned.late_regret < 0.5 * random.late_regret);
        // It improves over time: the last tenth succeeds more often than the first.
        assert!(
            learned.success[9] > learned.success[0] + 0.05,
            "{:?}",
            learned.success
        );
        let json = to_json(&args, &report);
        assert_eq!(json["stream"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn seeded_runs_repeat_exactly() {
        let args = RoutingBenchArgs {
            tasks: 400,
            ..small()
        };
        let world = World::new(&args);
        let a = run_stream(&args, &world, Kind::Learned { ewc_lambda: 1.0 }).unwrap();
        let b = run_stream(&args, &world, Kind::Learned { ewc_lambda: 1.0 }).unwrap();
        assert_eq!(a.cumulative_regret, b.cumulative_regret);
        assert_eq!(a.success, b.success);
        let other = World::new(&RoutingBenchArgs {
            seed: 8,
            ..args.clone()
        });
        let c = run_stream(&args, &other, Kind::Random).unwrap();
        let d = run_stream(&args, &world, Kind::Random).unwrap();
        assert_ne!(c.cumulative_regret, d.cumulative_regret);
    }
}
