//! The server binary: `zabkeeper` serves standalone on 127.0.0.1:2181 with data in ./data;
//! `zabkeeper path/to/zoo.cfg` serves that configuration (the config path first, like
//! ZooKeeper's server main). `zabkeeper import` and `zabkeeper export` move a dataDir between
//! Apache ZooKeeper's format and ours; `zabkeeper txnlog`, `snapshot` and `verify` read a
//! dataDir offline (`tools`), never writing to it.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use zabkeeper::config::Config;

#[derive(Parser)]
#[command(name = "zabkeeper", version, about = "A ZooKeeper-compatible coordination server")]
#[command(args_conflicts_with_subcommands = true)]
struct Args {
    /// zoo.cfg to serve; without it, an embedded standalone default.
    config: Option<PathBuf>,
    /// Log level, in tracing's filter syntax (`info`, `warn`,
    /// `info,zabkeeper::server::quorum=debug`); overrides the ZABKEEPER_LOG variable
    /// (default `info`).
    #[arg(long)]
    log_level: Option<String>,
    /// Also log to this file (and not to stderr), rotated daily into `<file>.<date>`, the 7
    /// newest kept.
    #[arg(long)]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Reads an Apache ZooKeeper 3.x dataDir (its newest whole snapshot, then the txn logs
    /// after it) and writes a new dataDir of ours with the same tree, ACLs, sessions, zxid,
    /// epochs and myid.
    Import {
        /// ZooKeeper's dataDir (holding version-2/snapshot.*).
        zookeeper_data_dir: PathBuf,
        /// The new dataDir to write (must not exist, or be empty).
        data_dir: PathBuf,
        /// ZooKeeper's dataLogDir, if its txn logs are kept apart from the snapshots.
        #[arg(long)]
        zookeeper_log_dir: Option<PathBuf>,
    },
    /// Writes our dataDir as a new Apache ZooKeeper dataDir (a snapshot ZooKeeper 3.8 starts
    /// from, the epoch files and myid): a migration's way back.
    Export {
        /// Our dataDir (the server must not be running on it).
        data_dir: PathBuf,
        /// The ZooKeeper dataDir to write (must not exist, or be empty).
        zookeeper_data_dir: PathBuf,
        /// Our dataLogDir, if the txn log is kept apart.
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
    /// Prints every txn of a txn log, one per line (read-only).
    ///
    /// Like ZooKeeper's zkTxnLogToolkit: time, session, cxid, zxid, the op and its fields (a
    /// multi's ops indented on the lines below it); then a summary line. Reads our log segments and Apache ZooKeeper's log.* files (told apart by
    /// their magic); never writes. Exit code 1 if a damaged record stopped the reading.
    Txnlog {
        /// A dataDir or dataLogDir (every log segment in its version-2, oldest first), or one
        /// segment file.
        path: PathBuf,
        /// Only txns from this zxid on (decimal or 0x-hex).
        #[arg(long, value_parser = parse_zxid)]
        from: Option<i64>,
        /// Only txns up to this zxid (decimal or 0x-hex).
        #[arg(long, value_parser = parse_zxid)]
        to: Option<i64>,
        /// One JSON object per txn (and the summary on stderr).
        #[arg(long)]
        json: bool,
    },
    /// Prints a snapshot's znodes, sessions and zxid (read-only).
    ///
    /// Like ZooKeeper's zkSnapShotToolkit: every znode's path, Stat, ACL and data (as text when
    /// it is printable UTF-8, else hex), the sessions with their timeouts, the zxid. Given a dataDir,
    /// the newest snapshot that verifies (as the server picks it). Reads ours and Apache
    /// ZooKeeper's snapshot.* files; never writes.
    Snapshot {
        /// A snapshot file, or a dataDir.
        path: PathBuf,
        /// One JSON document.
        #[arg(long)]
        json: bool,
        /// Data as hex even when it is printable text.
        #[arg(long)]
        hex: bool,
    },
    /// Checks a data directory offline and says what is wrong and where (read-only).
    ///
    /// Checks every record's checksum in every log
    /// segment and snapshot, zxid continuity within and across segments, that the newest
    /// valid snapshot and the log after it leave no hole, and the epoch files
    /// (acceptedEpoch >= currentEpoch >= the last zxid's epoch). A torn tail (a partial last
    /// record, which the server truncates at startup) is a warning. Exit code 0 with a
    /// summary when healthy, 1 with one line per problem (file, offset, zxid) when not.
    Verify {
        /// Our dataDir (snapshots, epoch files; the log too unless --log-dir).
        data_dir: PathBuf,
        /// Our dataLogDir, if the txn log is kept apart.
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
}

/// A zxid given as decimal or as 0x-prefixed hex.
fn parse_zxid(s: &str) -> Result<i64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).map(|v| v as i64),
        None => s.parse::<i64>(),
    };
    r.map_err(|e| format!("not a zxid ({e}): give it in decimal or as 0x-prefixed hex"))
}

/// Logging as the flags and ZABKEEPER_LOG say. The returned guard flushes a log file's
/// background writer when main returns.
fn init_logging(args: &Args) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, String> {
    use tracing_subscriber::EnvFilter;
    let filter = match &args.log_level {
        Some(level) => EnvFilter::try_new(level).map_err(|e| format!("--log-level {level:?}: {e}"))?,
        None => EnvFilter::try_from_env("ZABKEEPER_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let Some(file) = &args.log_file else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
        return Ok(None);
    };
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("--log-file {}: not a file name", file.display()))?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(name)
        .max_log_files(7)
        .build(dir)
        .map_err(|e| format!("--log-file {}: {e}", file.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(writer).init();
    Ok(Some(guard))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _log_guard = match init_logging(&args) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("zabkeeper: {e}");
            return ExitCode::from(2);
        }
    };
    match args.cmd {
        Some(Cmd::Import { zookeeper_data_dir, data_dir, zookeeper_log_dir }) => {
            let bar = std::io::stderr().is_terminal();
            return match zabkeeper::zkfmt::migrate::import(
                &zookeeper_data_dir,
                zookeeper_log_dir.as_deref(),
                &data_dir,
                bar,
            ) {
                Ok(summary) => {
                    println!("imported {} into {}\n{summary}", zookeeper_data_dir.display(), data_dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("zabkeeper import: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Cmd::Export { data_dir, zookeeper_data_dir, log_dir }) => {
            return match zabkeeper::zkfmt::migrate::export(&data_dir, log_dir.as_deref(), &zookeeper_data_dir) {
                Ok((snapshot, znodes, zxid)) => {
                    println!("exported {znodes} znodes (last zxid 0x{zxid:x}) to {}", snapshot.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("zabkeeper export: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Cmd::Txnlog { path, from, to, json }) => return txnlog(&path, from, to, json),
        Some(Cmd::Snapshot { path, json, hex }) => return snapshot(&path, json, hex),
        Some(Cmd::Verify { data_dir, log_dir }) => return verify(&data_dir, log_dir.as_deref()),
        None => {}
    }
    let config = match &args.config {
        None => Config::standalone_default(),
        Some(path) => match Config::from_file_with_warnings(path) {
            Ok((cfg, warnings)) => {
                for w in warnings {
                    tracing::warn!("{}: {w}", path.display());
                }
                cfg
            }
            Err(e) => {
                eprintln!("zabkeeper: invalid configuration {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zabkeeper: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(zabkeeper::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zabkeeper: {e}");
            ExitCode::FAILURE
        }
    }
}

fn txnlog(path: &std::path::Path, from: Option<i64>, to: Option<i64>, json: bool) -> ExitCode {
    use zabkeeper::tools::txnlog;
    let opts = txnlog::Options { from, to, json };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = txnlog::dump(path, &opts, &mut out);
    let flushed = std::io::Write::flush(&mut out);
    drop(out);
    let sum = match (result, flushed) {
        (Ok(sum), Ok(())) => sum,
        (Err(e), _) => {
            eprintln!("zabkeeper txnlog: {e}");
            return ExitCode::FAILURE;
        }
        (_, Err(e)) => {
            eprintln!("zabkeeper txnlog: writing the output: {e}");
            return ExitCode::FAILURE;
        }
    };
    for w in &sum.warnings {
        eprintln!("warning: {w}");
    }
    // The summary goes with the txns, except that JSON lines stay pure JSON.
    if json {
        eprintln!("{sum}");
    } else {
        println!("{sum}");
    }
    for d in &sum.damage {
        eprintln!("damaged: {d}");
    }
    if sum.damage.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn snapshot(path: &std::path::Path, json: bool, hex: bool) -> ExitCode {
    use zabkeeper::tools::snapshot;
    let loaded = match snapshot::load(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zabkeeper snapshot: {e}");
            return ExitCode::FAILURE;
        }
    };
    for s in &loaded.skipped {
        eprintln!("warning: skipped a newer snapshot that does not read back: {s}");
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = snapshot::dump(&loaded, snapshot::Options { json, hex }, &mut out)
        .and_then(|()| std::io::Write::flush(&mut out));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zabkeeper snapshot: writing the output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn verify(data_dir: &std::path::Path, log_dir: Option<&std::path::Path>) -> ExitCode {
    let report = match zabkeeper::tools::verify::verify(data_dir, log_dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zabkeeper verify: {e}");
            return ExitCode::FAILURE;
        }
    };
    for w in &report.warnings {
        println!("warning: {w}");
    }
    if report.healthy() {
        println!("ok: {report}");
        ExitCode::SUCCESS
    } else {
        for p in &report.problems {
            println!("damaged: {p}");
        }
        println!("{} problem(s) in {}: {report}", report.problems.len(), data_dir.display());
        ExitCode::FAILURE
    }
}
