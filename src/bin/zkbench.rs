//! `zkbench`: the load generator. Speaks the client protocol to any ZooKeeper-compatible
//! server and prints ops/s and latency percentiles; `--json` writes the reports.

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;
use zabkeeper::bench::{self, BenchConfig, Workload};

#[derive(Parser)]
#[command(name = "zkbench", about = "Load generator for ZooKeeper-compatible servers")]
struct Args {
    /// host:port of the server; a comma-separated list (an ensemble) spreads the raw
    /// workloads' sessions over them round-robin (the others connect to the first that answers).
    #[arg(long, default_value = "127.0.0.1:2181")]
    server: String,
    /// Workloads, comma separated: read, write, create, create-seq, delete, mixed:R, watch, churn, multi,
    /// hold (--sessions sessions each setting --watches-per-session data watches on --keys
    /// znodes, held open for --duration seconds; prints "holding ..." once all are in place).
    #[arg(long, default_value = "read,write")]
    workload: String,
    #[arg(long, default_value_t = 8)]
    sessions: usize,
    /// Requests in flight per session.
    #[arg(long, default_value_t = 8)]
    pipeline: usize,
    /// Payload bytes for writes and created znodes.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Number of keys read/written.
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Watching sessions for the watch workload.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Ops per multi for the multi workload.
    #[arg(long, default_value_t = 4)]
    multi_ops: usize,
    #[arg(long, default_value = "/zkbench")]
    root: String,
    /// Offered load in ops/s over all workers (0 = closed loop, as fast as replies allow).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Stop each workload after this many completed ops (0 = run for --duration).
    #[arg(long, default_value_t = 0)]
    stop_after: u64,
    /// Data watches each session sets in the hold workload.
    #[arg(long, default_value_t = 100)]
    watches_per_session: usize,
    /// Write the reports as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkbench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut reports = Vec::new();
    for w in args.workload.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let workload = match Workload::parse(w) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("zkbench: {e}");
                return ExitCode::from(2);
            }
        };
        let cfg = BenchConfig {
            server: args.server.clone(),
            workload,
            sessions: args.sessions,
            pipeline: args.pipeline,
            payload: args.payload,
            keys: args.keys,
            duration: Duration::from_secs_f64(args.duration),
            warmup: Duration::from_secs_f64(args.warmup),
            root: args.root.clone(),
            watchers: args.watchers,
            multi_ops: args.multi_ops,
            rate: args.rate,
            stop_after: args.stop_after,
            watches_per_session: args.watches_per_session,
        };
        match rt.block_on(bench::run(cfg)) {
            Ok(r) => {
                println!("{}", r.line());
                reports.push(r);
            }
            Err(e) => {
                eprintln!("zkbench: {w}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&reports).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("zkbench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
