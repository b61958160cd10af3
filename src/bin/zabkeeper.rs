//! The server binary: `zabkeeper` serves standalone on 127.0.0.1:2181 with data in ./data;
//! `zabkeeper path/to/zoo.cfg` serves that configuration (the config path first, like
//! ZooKeeper's server main). `zabkeeper import` and `zabkeeper export` move a dataDir between
//! Apache ZooKeeper's format and ours.

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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZABKEEPER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
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
