//! The shell's main loop: process arguments, connect, then run the trailing command once or
//! read lines: with rustyline (prompt with the connection state, line editing, history, tab
//! completion of commands and znode paths) on a terminal, plain lines from a pipe.
//! Must never: block the runtime; the line editor runs outside it and each line is
//! executed with `block_on`.

use super::parse::parse_shell_args;
use super::session::ClientSource;
use super::{err, out, Shell, COMMANDS};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::io::{BufRead, IsTerminal};
use std::sync::{Arc, Mutex};

/// Runs the shell with the process arguments (without the program name); returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let (opts, problem) = parse_shell_args(&args);
    if let Some(e) = problem {
        err(&e);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            err(&format!("cannot start the runtime: {e}"));
            return 1;
        }
    };
    let command = opts.command.clone();
    let client_config = opts.client_configuration.clone();
    let server = opts.server.clone();
    let mut shell = Shell::new(opts);
    out(&format!("Connecting to {server}\n"));
    if let Some(f) = &client_config {
        // We take no client properties yet, but a missing file fails like zkCli.sh.
        if !std::path::Path::new(f).is_file() {
            err(&format!(
                "org.apache.zookeeper.server.quorum.QuorumPeerConfig$ConfigException: Error while processing {f}\n\
                 Caused by: java.lang.IllegalArgumentException: {f} file is missing"
            ));
            return 2;
        }
    }
    if let Err(e) = rt.block_on(shell.connect_to(&server)) {
        err(&if e.crash { format!("Exception in thread \"main\" {}", e.msg) } else { e.msg });
        return 1;
    }
    match command {
        Some(words) => rt.block_on(shell.process(words)),
        None => {
            out("Welcome to ZooKeeper!\n");
            if std::io::stdin().is_terminal() {
                shell.interactive = true;
                interactive(&rt, &mut shell);
            } else {
                out("JLine support is disabled\n");
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    rt.block_on(shell.execute_line(&line));
                    if shell.wants_quit() {
                        break;
                    }
                }
            }
        }
    }
    rt.block_on(shell.shutdown());
    shell.exit_code()
}

fn interactive(rt: &tokio::runtime::Runtime, shell: &mut Shell) {
    out("JLine support is enabled\n");
    let current = Arc::new(Mutex::new(None));
    let helper = ZkHelper { rt: rt.handle().clone(), client: current.clone() };
    let mut editor = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            err(&format!("cannot start the line editor: {e}"));
            return;
        }
    };
    editor.set_helper(Some(helper));
    loop {
        *current.lock().expect("completion client") = shell.handle.as_ref().map(|h| h.client_source());
        match editor.readline(&shell.prompt()) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                rt.block_on(shell.execute_line(&line));
                if shell.wants_quit() {
                    return;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => return,
        }
    }
}

/// Tab completion: command names for the first word, znode paths for words starting with "/".
struct ZkHelper {
    rt: tokio::runtime::Handle,
    client: Arc<Mutex<Option<ClientSource>>>,
}

impl Completer for ZkHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(|c: char| c.is_whitespace()).map_or(0, |i| i + 1);
        let word = &before[start..];
        let pair = |s: String| Pair { display: s.clone(), replacement: s };
        if start == 0 {
            let cmds = COMMANDS.iter().filter(|(c, _)| c.starts_with(word)).map(|(c, _)| pair(format!("{c} ")));
            return Ok((0, cmds.collect()));
        }
        if !word.starts_with('/') {
            return Ok((pos, Vec::new()));
        }
        let source = self.client.lock().expect("completion client").clone();
        let Some(client) = source.and_then(|s| s.get()) else {
            return Ok((pos, Vec::new()));
        };
        let slash = word.rfind('/').unwrap_or(0);
        let (dir, prefix) = (if slash == 0 { "/" } else { &word[..slash] }, &word[slash + 1..]);
        let listing = self.rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(2), client.get_children(dir, false)).await
        });
        let Ok(Ok((mut children, _))) = listing else { return Ok((pos, Vec::new())) };
        children.sort();
        let base = if dir == "/" { String::new() } else { dir.to_owned() };
        let found = children.into_iter().filter(|c| c.starts_with(prefix)).map(|c| pair(format!("{base}/{c}")));
        Ok((start, found.collect()))
    }
}

impl Hinter for ZkHelper {
    type Hint = String;
}
impl Highlighter for ZkHelper {}
impl Validator for ZkHelper {}
impl Helper for ZkHelper {}
