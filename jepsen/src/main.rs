//! `zkjepsen`: check a history (`check`), or run workloads against an ensemble under faults
//! (`run`). Exits 0 only when every verdict is valid.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use zkjepsen::checker::Validity;
use zkjepsen::cluster::Target;
use zkjepsen::nemesis::{Nemesis, Schedule};
use zkjepsen::run::{self, RunOpts};
use zkjepsen::workload::{ReadMode, Workload};

/// Debian's ZooKeeper jar and a logging binding for it.
fn zookeeper_classpath() -> Result<String, String> {
    let jar = "/usr/share/java/zookeeper.jar";
    if !std::path::Path::new(jar).is_file() {
        return Err(format!("{jar} is missing (apt-get install zookeeper)"));
    }
    let mut cp = vec![jar.to_string()];
    for b in ["slf4j-simple.jar", "slf4j-nop.jar"] {
        let p = format!("/usr/share/java/{b}");
        if std::path::Path::new(&p).is_file() {
            cp.push(p);
            break;
        }
    }
    Ok(cp.join(":"))
}

#[derive(Parser)]
#[command(name = "zkjepsen", about = "A Jepsen-style harness for ZooKeeper-compatible ensembles")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

// Parsed once per process: the size of `Run`'s options does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Runs workloads against a fresh ensemble (one network namespace per member; needs root,
    /// `ip` and `nft`) under faults, writes the history and checks it.
    Run {
        /// zabkeeper or zookeeper (Apache ZooKeeper from Debian's packages).
        #[arg(long, default_value = "zabkeeper")]
        target: String,
        /// Comma-separated: register, set, ids, lock, sessions, watches.
        #[arg(long, default_value = "register")]
        workload: String,
        /// Comma-separated: kill, kill-leader, kill-majority, pause, pause-leader,
        /// pause-follower, partition, partition-leader, partition-follower, bridge, loss,
        /// slow, clock, crash, crash-all;
        /// "none" for no faults.
        #[arg(long, default_value = "kill,partition")]
        nemesis: String,
        /// Faults applied together in each window (1: they take turns; 2 or more: that many
        /// different ones drawn at random each time).
        #[arg(long, default_value_t = 1)]
        mix: usize,
        /// An extra line for every member's zoo.cfg (repeatable), e.g. `forceSync=no`.
        #[arg(long = "server-config")]
        server_config: Vec<String>,
        /// Seconds of workload.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// Where the history, nemesis log, summary and server logs go.
        #[arg(long, default_value = "jepsen-out")]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Client processes per workload.
        #[arg(long, default_value_t = 5)]
        concurrency: usize,
        /// Extra register processes per member that only read.
        #[arg(long, default_value_t = 0)]
        readers: usize,
        /// Seconds between the starts of two faults, and how long each lasts.
        #[arg(long, default_value_t = 10)]
        interval: u64,
        #[arg(long, default_value_t = 5)]
        fault_for: u64,
        /// Register reads: sync (sync then read), linearizable (zabkeeper's read mode), or
        /// plain (no sync: stale reads are allowed by ZooKeeper's guarantees and get flagged).
        #[arg(long, default_value = "sync")]
        read: String,
        /// Registers in the register workload.
        #[arg(long, default_value_t = 3)]
        keys: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Milliseconds each process waits between operations.
        #[arg(long, default_value_t = 20)]
        think_ms: u64,
        #[arg(long, default_value_t = 4000)]
        session_timeout_ms: i32,
        /// Milliseconds a register read may take before it counts as failed and the process
        /// reads again on the same connection (shorter than a pause, reads pile up on the
        /// paused member and are answered when it resumes).
        #[arg(long, default_value_t = 3000)]
        read_timeout_ms: u64,
        /// The zabkeeper server binary (default: beside this one).
        #[arg(long)]
        bin: Option<PathBuf>,
    },
    /// Re-checks a history written as JSON lines (ours, or another tool's in Jepsen's fields).
    Check {
        /// The workload the history is of: register, set. In a history of several workloads
        /// (events carrying a `workload` field) only that workload's events are checked.
        #[arg(long)]
        workload: String,
        /// The history file (`history.jsonl`).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            target,
            workload,
            nemesis,
            mix,
            server_config,
            time,
            out,
            nodes,
            concurrency,
            readers,
            interval,
            fault_for,
            read,
            keys,
            seed,
            think_ms,
            session_timeout_ms,
            read_timeout_ms,
            bin,
        } => {
            let parsed = (|| -> Result<RunOpts, String> {
                let reads: ReadMode = read.parse()?;
                let target = match target.as_str() {
                    "zabkeeper" => {
                        let bin = match bin {
                            Some(b) => b,
                            None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("zabkeeper"),
                        };
                        if !bin.is_file() {
                            return Err(format!("no zabkeeper binary at {} (build it, or give --bin)", bin.display()));
                        }
                        Target::Zabkeeper { bin }
                    }
                    "zookeeper" => Target::Zookeeper { classpath: zookeeper_classpath()? },
                    other => return Err(format!("unknown target {other:?} (zabkeeper, zookeeper)")),
                };
                let workloads = workload
                    .split(',')
                    .map(|w| match w {
                        "register" => Ok(Workload::Register { keys, reads }),
                        "set" => Ok(Workload::Set),
                        "ids" => Ok(Workload::Ids),
                        "lock" => Ok(Workload::Lock),
                        "sessions" => Ok(Workload::Sessions),
                        "watches" => Ok(Workload::Watches),
                        "checkpoints" => Ok(Workload::Checkpoints),
                        other => Err(format!(
                            "unknown workload {other:?} (register, set, ids, lock, sessions, watches, checkpoints)"
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let nemeses = if nemesis == "none" {
                    Vec::new()
                } else {
                    nemesis.split(',').map(str::parse).collect::<Result<Vec<Nemesis>, _>>()?
                };
                Ok(RunOpts {
                    target,
                    workloads,
                    schedule: Schedule {
                        nemeses,
                        interval: Duration::from_secs(interval),
                        fault_for: Duration::from_secs(fault_for),
                        mix,
                        seed,
                    },
                    time: Duration::from_secs(time),
                    out,
                    nodes,
                    concurrency,
                    readers,
                    seed,
                    server_config,
                    think: Duration::from_millis(think_ms),
                    session_timeout_ms,
                    read_timeout: Duration::from_millis(read_timeout_ms),
                })
            })();
            let opts = match parsed {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("zkjepsen: {e}");
                    return ExitCode::from(2);
                }
            };
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            let outcome = rt.block_on(async {
                let stop = Arc::new(tokio::sync::Notify::new());
                let on_signal = stop.clone();
                tokio::spawn(async move {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        eprintln!("zkjepsen: interrupted; tearing the ensemble down");
                        on_signal.notify_one();
                    }
                });
                run::run(opts, stop).await
            });
            match outcome {
                Ok(o) => {
                    print!("{}", o.summary);
                    if o.valid() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("zkjepsen: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Check { workload, file } => {
            let events = match std::fs::File::open(&file)
                .map_err(zkjepsen::history::HistoryError::from)
                .and_then(|f| zkjepsen::history::read_jsonl(std::io::BufReader::new(f)))
            {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("zkjepsen: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            match zkjepsen::check(&workload, &events) {
                Ok(v) => {
                    println!("{}", v.report());
                    if v.validity == Validity::Valid {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("zkjepsen: {}: {e}", file.display());
                    ExitCode::from(2)
                }
            }
        }
    }
}
