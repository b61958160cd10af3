//! `zkcli`: a shell that takes zkCli.sh's command line and commands and prints what
//! zkCli.sh 3.8 prints, so scripts that parse its output keep working. This module owns the
//! shell's state (the handle, history, printwatches, the exit code) and the dispatch of a
//! line to a command; `parse` splits text, `format` renders output, `commands` and `admin`
//! run the commands, `session` keeps the connection, `watches` mirrors the watches set,
//! `repl` reads lines (rustyline with completion on a terminal).
//! Must never: speak the protocol itself; every request goes through `crate::client`.

mod admin;
mod checkpoints;
mod commands;
pub mod format;
pub mod parse;
mod repl;
mod session;
mod watches;

use parse::{split_line, ShellOptions};
use session::{Handle, HandleConfig, HandleState};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use repl::main;

/// A failed command: the text printed to stderr and the exit code it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub msg: String,
    pub code: i32,
    pub crash: bool,
}

impl CliError {
    pub fn new(msg: impl Into<String>) -> CliError {
        CliError { msg: msg.into(), code: 1, crash: false }
    }

    /// An input zkCli.sh dies on (an uncaught Java exception): from a pipe or as a one-shot
    /// command the shell prints what the JVM prints and exits 1 as zkCli.sh does; on a
    /// terminal it reports the error and goes on.
    pub fn crash(exception: impl Into<String>) -> CliError {
        CliError { msg: exception.into(), code: 1, crash: true }
    }
}

impl From<String> for CliError {
    fn from(msg: String) -> CliError {
        CliError::new(msg)
    }
}

type CmdResult = Result<(), CliError>;

/// Every command and its option string, as zkCli's `usage` lists them.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "addWatch",
        "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
    ),
    ("addauth", "scheme auth"),
    ("close", ""),
    ("config", "[-c] [-w] [-s]"),
    ("connect", "host:port"),
    ("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "[-v version] path"),
    ("deleteall", "path [-b batch size]"),
    ("delquota", "[-n|-b|-N|-B] path"),
    ("get", "[-s] [-w] path"),
    ("getAcl", "[-s] path"),
    ("getAllChildrenNumber", "path"),
    ("getEphemerals", "path"),
    ("history", ""),
    ("listquota", "path"),
    ("ls", "[-s] [-w] [-R] path"),
    ("printwatches", "on|off"),
    ("quit", ""),
    (
        "reconfig",
        "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | \
         [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]",
    ),
    ("redo", "cmdno"),
    ("removewatches", "path [-c|-d|-a] [-l]"),
    ("set", "[-s] [-v version] path data"),
    ("setAcl", "[-s] [-v version] [-R] path acl"),
    ("setquota", "-n|-b|-N|-B val path"),
    ("stat", "[-w] path"),
    ("sync", "path"),
    ("version", ""),
    ("whoami", ""),
];

/// "cmd options", the text a command prints when its arguments are wrong.
pub fn usage_str(cmd: &str) -> String {
    let opts = COMMANDS.iter().find(|(c, _)| *c == cmd).map_or("", |(_, o)| o);
    format!("{cmd} {opts}")
}

/// Writes to stdout, flushed (zkCli's `out.println`).
pub(crate) fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Writes a line to stderr (zkCli's `err.println`).
pub(crate) fn err(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{s}");
    let _ = e.flush();
}

fn print_usage() {
    let mut u = String::from("ZooKeeper -server host:port -client-configuration properties-file cmd args\n");
    for (c, o) in COMMANDS {
        u.push_str(&format!("\t{c} {o}\n"));
    }
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(u.as_bytes());
    let _ = e.flush();
}

/// The shell's state between commands.
pub struct Shell {
    opts: ShellOptions,
    handle: Option<Handle>,
    host: String,
    history: HashMap<usize, String>,
    command_count: usize,
    print_watches: Arc<AtomicBool>,
    exit_code: i32,
    quit: bool,
    /// Reading from a terminal (errors zkCli.sh would die on are only reported).
    pub interactive: bool,
}

impl Shell {
    pub fn new(opts: ShellOptions) -> Shell {
        Shell {
            host: opts.server.clone(),
            opts,
            handle: None,
            history: HashMap::new(),
            command_count: 0,
            print_watches: Arc::new(AtomicBool::new(true)),
            exit_code: 0,
            quit: false,
            interactive: false,
        }
    }

    /// The interactive prompt: "[zk: host(STATE) N] ".
    pub fn prompt(&self) -> String {
        let st = self.handle.as_ref().map_or(HandleState::Closed, |h| h.state());
        format!("[zk: {}({}) {}] ", self.host, st.name(), self.command_count)
    }

    pub fn exit_code(&self) -> i32 {
        self.exit_code
    }

    pub fn wants_quit(&self) -> bool {
        self.quit
    }

    /// Opens a new handle to `host` (closing the current one), waiting for the connection
    /// when `-waitforconnection` was given.
    pub async fn connect_to(&mut self, host: &str) -> Result<(), CliError> {
        if let Some(mut h) = self.handle.take() {
            if h.state().is_alive() {
                h.close().await;
            }
        }
        if let Some(i) = host.find('/') {
            let chroot = &host[i..];
            if chroot.len() > 1 {
                format::validate_path(chroot, false)
                    .map_err(|m| CliError::crash(format!("java.lang.IllegalArgumentException: {m}")))?;
            }
        }
        self.host = host.to_owned();
        let t = &self.opts.timeout_ms;
        let timeout_ms: i32 = t.parse().map_err(|_| {
            CliError::new(format!(
                "Exception in thread \"main\" java.lang.NumberFormatException: For input string: \"{t}\""
            ))
        })?;
        let cfg = HandleConfig { hosts: host.to_owned(), timeout_ms, read_only: self.opts.read_only };
        let h = Handle::open(cfg, self.print_watches.clone());
        // A one-shot command shows connection events only once it uses the connection.
        if self.opts.command.is_none() || self.opts.wait_for_connection {
            h.arm();
        }
        if self.opts.wait_for_connection {
            let limit = Duration::from_millis(timeout_ms.max(0) as u64);
            if !h.wait_connected(limit).await {
                let mut h = h;
                h.close().await;
                self.handle = Some(h);
                let e =
                    "org.apache.zookeeper.KeeperException$ConnectionLossException: KeeperErrorCode = ConnectionLoss";
                return Err(CliError::new(format!(
                    "Exception in thread \"main\" java.io.IOException: {e}\nCaused by: {e}"
                )));
            }
            h.drain_events().await;
        }
        self.handle = Some(h);
        Ok(())
    }

    /// Closes the session before the process exits (silently: zkCli prints nothing more).
    pub async fn shutdown(&mut self) {
        if let Some(h) = self.handle.as_mut() {
            h.silence();
            if h.state().is_alive() {
                h.close().await;
            }
        }
    }

    /// Runs one typed line (zkCli's `executeLine`): history, the command, the counter.
    pub async fn execute_line(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        let words = split_line(line);
        self.history.insert(self.command_count, line.to_owned());
        self.process(words).await;
        self.command_count += 1;
    }

    /// Runs a command and records its exit code; errors go to stderr.
    pub async fn process(&mut self, words: Vec<String>) {
        if words.first().map(String::as_str) == Some("quit") {
            // zkCli closes (reporting Closed) and exits with the previous command's code.
            if let Some(h) = self.handle.as_mut() {
                if h.state().is_alive() {
                    h.close().await;
                }
            }
            self.quit = true;
            return;
        }
        let r = self.dispatch(words).await;
        if let Some(h) = &self.handle {
            h.drain_events().await;
        }
        match r {
            Ok(()) => self.exit_code = 0,
            Err(e) if e.crash && !self.interactive => {
                err(&format!("Exception in thread \"main\" {}", e.msg));
                self.exit_code = 1;
                self.quit = true;
            }
            Err(e) => {
                self.exit_code = e.code;
                err(&e.msg);
            }
        }
    }

    async fn dispatch(&mut self, words: Vec<String>) -> CmdResult {
        let Some(cmd) = words.first().cloned() else {
            print_usage();
            return Err(CliError::new("No command entered"));
        };
        // `checkpoints` is ours: kept out of COMMANDS, whose usage listing matches zkCli.sh's.
        if !COMMANDS.iter().any(|(c, _)| *c == cmd) && cmd != "checkpoints" {
            print_usage();
            let msg = format!("Command not found: Command not found {cmd}");
            return Err(CliError { msg, code: 127, crash: false });
        }
        match cmd.as_str() {
            "redo" if words.len() >= 2 => Box::pin(self.redo(&words[1])).await?,
            "history" => {
                let from = self.command_count.saturating_sub(10);
                let mut o = String::new();
                for i in from..=self.command_count {
                    let h = self.history.get(&i).map_or("null", String::as_str);
                    o.push_str(&format!("{i} - {h}\n"));
                }
                out(&o);
            }
            "printwatches" => match words.get(1) {
                None => {
                    let on = self.print_watches.load(Ordering::SeqCst);
                    out(&format!("printwatches is {}\n", if on { "on" } else { "off" }));
                }
                Some(v) => self.print_watches.store(v == "on", Ordering::SeqCst),
            },
            "connect" => {
                let host = words.get(1).cloned().unwrap_or_else(|| self.host.clone());
                self.connect_to(&host).await?;
            }
            _ => {}
        }
        if !self.handle.as_ref().is_some_and(|h| h.state().is_alive()) {
            out("Not connected\n");
            return Ok(());
        }
        self.run_command(&cmd, words).await
    }

    async fn redo(&mut self, arg: &str) -> CmdResult {
        let i = java_decode(arg)
            .ok_or_else(|| CliError::crash(format!("java.lang.NumberFormatException: For input string: \"{arg}\"")))?;
        if i < 0 || i as usize >= self.command_count {
            return Err(CliError::new("Command index out of range"));
        }
        let line = self.history.get(&(i as usize)).cloned().unwrap_or_default();
        let words = split_line(&line);
        if words.first().map(String::as_str) == Some("redo") {
            return Err(CliError::new("No redoing redos"));
        }
        self.history.insert(self.command_count, line);
        self.process(words).await;
        Ok(())
    }

    fn handle(&self) -> &Handle {
        self.handle.as_ref().expect("dispatch checked the handle is alive")
    }
}

/// Java's `Integer.decode`: decimal, 0x/# hex, leading-0 octal, optional sign.
fn java_decode(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) =
        body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")).or_else(|| body.strip_prefix('#'))
    {
        i64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    let v = if neg { -v } else { v };
    i32::try_from(v).ok().map(i64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_commands_sorted_like_zkcli() {
        let names: Vec<&str> = COMMANDS.iter().map(|(c, _)| *c).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(usage_str("get"), "get [-s] [-w] path");
        assert_eq!(usage_str("close"), "close ");
    }

    #[test]
    fn redo_numbers_decode_like_java() {
        assert_eq!(java_decode("12"), Some(12));
        assert_eq!(java_decode("0x1f"), Some(31));
        assert_eq!(java_decode("010"), Some(8));
        assert_eq!(java_decode("-3"), Some(-3));
        assert_eq!(java_decode("x"), None);
        assert_eq!(java_decode("99999999999"), None);
    }
}
