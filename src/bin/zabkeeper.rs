//! The server binary: `zabkeeper` serves standalone on 127.0.0.1:2181 with data in ./data;
//! `zabkeeper path/to/zoo.cfg` serves that configuration (the config path first, like
//! ZooKeeper's server main).

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use zabkeeper::config::Config;

#[derive(Parser)]
#[command(name = "zabkeeper", version, about = "A ZooKeeper-compatible coordination server")]
struct Args {
    /// zoo.cfg to serve; without it, an embedded standalone default.
    config: Option<PathBuf>,
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
