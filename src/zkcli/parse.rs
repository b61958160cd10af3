//! Turning text into commands the way zkCli.sh 3.8 does: the process command line
//! (`-server`, `-timeout`, `-r`, `-waitforconnection`, a trailing command), a typed line split
//! into words (zkCli's quoting rules), and each command's flags (commons-cli's DefaultParser:
//! bundled flags, attached values, option groups, its exact error texts).
//! Must never: execute anything or print; errors are returned as the text zkCli would print.

/// Options given to the shell process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellOptions {
    pub server: String,
    pub timeout_ms: String,
    pub read_only: bool,
    pub wait_for_connection: bool,
    pub client_configuration: Option<String>,
    /// A trailing command (its words, command name first) to run once, then exit.
    pub command: Option<Vec<String>>,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions {
            server: "localhost:2181".into(),
            timeout_ms: "30000".into(),
            read_only: false,
            wait_for_connection: false,
            client_configuration: None,
            command: None,
        }
    }
}

/// Parses the process arguments (without the program name) like zkCli's `MyCommandOptions`.
/// An option missing its value stops the parsing with a message (zkCli prints it and goes on
/// with what it parsed so far).
pub fn parse_shell_args(args: &[String]) -> (ShellOptions, Option<String>) {
    let mut o = ShellOptions::default();
    let mut it = args.iter();
    while let Some(opt) = it.next() {
        let slot = match opt.as_str() {
            "-server" => Some(&mut o.server),
            "-timeout" => Some(&mut o.timeout_ms),
            "-client-configuration" => Some(o.client_configuration.insert(String::new())),
            "-r" => {
                o.read_only = true;
                None
            }
            "-waitforconnection" => {
                o.wait_for_connection = true;
                None
            }
            _ => None,
        };
        if let Some(slot) = slot {
            match it.next() {
                Some(v) => *slot = v.clone(),
                None => {
                    if opt == "-client-configuration" {
                        o.client_configuration = None;
                    }
                    return (o, Some(format!("Error: no argument found for option {opt}")));
                }
            }
        }
        if !opt.starts_with('-') {
            let mut cmd = vec![opt.clone()];
            cmd.extend(it.cloned());
            o.command = Some(cmd);
            break;
        }
    }
    (o, None)
}

fn is_java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r')
}

fn is_quote(c: char) -> bool {
    c == '"' || c == '\''
}

/// Splits a typed line into words with zkCli's rules: the pattern
/// `\s*([^"']\S*|"[^"]*"|'[^']*')\s*` found repeatedly, surrounding quotes stripped.
pub fn split_line(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let n = chars.len();
    let non_space_run = |from: usize| (from..n).find(|&j| is_java_space(chars[j])).unwrap_or(n);
    // The group of a match attempted at `k`, as [start, end).
    let group_at = |k: usize| -> Option<(usize, usize)> {
        let c = *chars.get(k)?;
        if !is_quote(c) {
            return Some((k, non_space_run(k + 1)));
        }
        let close = (k + 1..n).find(|&j| chars[j] == c)?;
        Some((k, close + 1))
    };
    let mut words = Vec::new();
    let mut p = 0;
    while p < n {
        let ws_end = (p..n).find(|&j| !is_java_space(chars[j])).unwrap_or(n);
        // `\s*` is greedy, then backtracks one character when the group cannot start there.
        let found = group_at(ws_end).or_else(|| if ws_end > p { group_at(ws_end - 1) } else { None });
        let Some((s, e)) = found else {
            p += 1;
            continue;
        };
        let w: String = chars[s..e].iter().collect();
        let quoted = e - s >= 2 && is_quote(chars[s]) && chars[e - 1] == chars[s];
        words.push(if quoted { chars[s + 1..e - 1].iter().collect() } else { w });
        p = (e..n).find(|&j| !is_java_space(chars[j])).unwrap_or(n);
    }
    words
}

/// One flag a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec {
    pub name: &'static str,
    pub has_arg: bool,
    pub desc: &'static str,
}

pub const fn flag(name: &'static str, desc: &'static str) -> OptSpec {
    OptSpec { name, has_arg: false, desc }
}

pub const fn valued(name: &'static str, desc: &'static str) -> OptSpec {
    OptSpec { name, has_arg: true, desc }
}

/// A command's flags: the options, and an optional mutually exclusive group.
#[derive(Debug, Clone, Copy)]
pub struct OptTable {
    pub opts: &'static [OptSpec],
    /// Names in the exclusive group (at most one may be given).
    pub group: &'static [&'static str],
    pub group_required: bool,
}

impl OptTable {
    pub const fn new(opts: &'static [OptSpec]) -> OptTable {
        OptTable { opts, group: &[], group_required: false }
    }
    fn get(&self, name: &str) -> Option<&OptSpec> {
        self.opts.iter().find(|o| o.name == name)
    }
}

/// A parsed command: flags with their values, and the remaining words (command name first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub flags: Vec<(String, Option<String>)>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
}

const CLI: &str = "org.apache.commons.cli.";

/// Parses a command's words like commons-cli's `DefaultParser`; errors carry the text zkCli
/// prints (the exception's class name and message).
pub fn parse_flags(table: &OptTable, words: &[String]) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    // Index into out.flags of an option still waiting for its value.
    let mut waiting: Option<usize> = None;
    let mut selected: Option<&str> = None;
    let mut skip = false;
    let missing = |name: &str| format!("{CLI}MissingArgumentException: Missing argument for option: {name}");
    let unknown = |tok: &str| format!("{CLI}UnrecognizedOptionException: Unrecognized option: {tok}");
    for tok in words {
        if skip {
            out.args.push(tok.clone());
            continue;
        }
        if let Some(i) = waiting {
            if !is_option(table, tok) || is_negative_number(tok) {
                out.flags[i].1 = Some(tok.clone());
                waiting = None;
                continue;
            }
        }
        if tok == "--" {
            skip = true;
            continue;
        }
        if tok == "-" || !tok.starts_with('-') {
            out.args.push(tok.clone());
            continue;
        }
        let body = &tok[1..];
        let mut handle = |spec: &OptSpec, out: &mut Parsed, waiting: &mut Option<usize>| -> Result<(), String> {
            if let Some(i) = *waiting {
                return Err(missing(&out.flags[i].0));
            }
            if table.group.contains(&spec.name) {
                match selected {
                    Some(s) if s != spec.name => {
                        return Err(format!(
                            "{CLI}AlreadySelectedException: The option '{}' was specified but an option from this \
                             group has already been selected: '{s}'",
                            spec.name
                        ))
                    }
                    _ => selected = Some(spec.name),
                }
            }
            out.flags.push((spec.name.to_owned(), None));
            if spec.has_arg {
                *waiting = Some(out.flags.len() - 1);
            }
            Ok(())
        };
        if let Some(spec) = table.get(body) {
            handle(spec, &mut out, &mut waiting)?;
            continue;
        }
        // Bundled flags ("-se") or a flag with its value attached ("-t100").
        for (i, ch) in body.char_indices() {
            let name = &body[i..i + ch.len_utf8()];
            let Some(spec) = table.get(name) else { return Err(unknown(tok)) };
            handle(spec, &mut out, &mut waiting)?;
            let rest = &body[i + ch.len_utf8()..];
            if spec.has_arg && !rest.is_empty() {
                let idx = waiting.take().expect("valued flag is waiting");
                out.flags[idx].1 = Some(rest.to_owned());
                break;
            }
        }
    }
    if let Some(i) = waiting {
        return Err(missing(&out.flags[i].0));
    }
    if table.group_required && selected.is_none() {
        let items: Vec<String> = table
            .group
            .iter()
            .filter_map(|g| table.get(g))
            .map(|o| if o.desc.is_empty() { format!("-{}", o.name) } else { format!("-{} {}", o.name, o.desc) })
            .collect();
        return Err(format!("{CLI}MissingOptionException: Missing required option: [{}]", items.join(", ")));
    }
    Ok(out)
}

fn is_option(table: &OptTable, tok: &str) -> bool {
    let Some(body) = tok.strip_prefix('-') else { return false };
    if body.is_empty() {
        return false;
    }
    table.get(body).is_some() || body.chars().next().is_some_and(|c| table.get(&c.to_string()).is_some())
}

fn is_negative_number(tok: &str) -> bool {
    tok.len() > 1 && tok.starts_with('-') && tok[1..].parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn shell_args() {
        let (o, e) = parse_shell_args(&w(&["-server", "h:1,h:2/c", "-timeout", "5000", "-r", "get", "-s", "/a"]));
        assert!(e.is_none());
        assert_eq!(o.server, "h:1,h:2/c");
        assert_eq!(o.timeout_ms, "5000");
        assert!(o.read_only);
        assert_eq!(o.command, Some(w(&["get", "-s", "/a"])));
        let (o, e) = parse_shell_args(&w(&["-server", "h:9", "-timeout"]));
        assert_eq!(e.as_deref(), Some("Error: no argument found for option -timeout"));
        assert_eq!(o.server, "h:9", "what was parsed before stays");
        let (o, _) = parse_shell_args(&w(&["-waitforconnection", "-bogus"]));
        assert!(o.wait_for_connection && o.command.is_none());
    }

    #[test]
    fn line_splitting_follows_zkcli_quoting() {
        assert_eq!(split_line("create /a \"hello world\" 'x y'"), w(&["create", "/a", "hello world", "x y"]));
        assert_eq!(split_line("  ls   /  "), w(&["ls", "/"]));
        assert_eq!(split_line("set /a \"\""), w(&["set", "/a", ""]));
        assert_eq!(split_line("set /a a\"b c\""), w(&["set", "/a", "a\"b", "c\""]));
        // An unmatched quote is skipped; at the line start the pattern backtracks over the blank.
        assert_eq!(split_line("create /x \"hello"), w(&["create", "/x", "hello"]));
        assert_eq!(split_line(" \"abc"), w(&[" \"abc"]));
        assert_eq!(split_line("\"abc"), w(&["abc"]));
        assert!(split_line("").is_empty());
    }

    const CREATE: OptTable =
        OptTable::new(&[flag("e", "ephemeral"), flag("s", "sequential"), flag("c", "container"), valued("t", "ttl")]);
    const QUOTA: OptTable = OptTable {
        opts: &[valued("n", "num soft quota"), valued("b", "bytes soft quota"), valued("N", "num hard quota")],
        group: &["n", "b", "N"],
        group_required: true,
    };

    #[test]
    fn flags_like_default_parser() {
        let p = parse_flags(&CREATE, &w(&["create", "-se", "/a", "-t", "100", "data"])).unwrap();
        assert!(p.has("s") && p.has("e") && !p.has("c"));
        assert_eq!(p.value("t"), Some("100"));
        assert_eq!(p.args, w(&["create", "/a", "data"]));
        let p = parse_flags(&CREATE, &w(&["create", "-t100", "/a"])).unwrap();
        assert_eq!(p.value("t"), Some("100"));
        let p = parse_flags(&CREATE, &w(&["create", "/a", "--", "-e"])).unwrap();
        assert_eq!(p.args, w(&["create", "/a", "-e"]));
        assert_eq!(
            parse_flags(&CREATE, &w(&["create", "-x", "/a"])).unwrap_err(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"
        );
        assert_eq!(
            parse_flags(&CREATE, &w(&["create", "-sx", "/a"])).unwrap_err(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -sx"
        );
        assert_eq!(
            parse_flags(&CREATE, &w(&["create", "/a", "-t"])).unwrap_err(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: t"
        );
        assert_eq!(
            parse_flags(&CREATE, &w(&["create", "-t", "-s", "/a"])).unwrap_err(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: t"
        );
        let p = parse_flags(&CREATE, &w(&["create", "-t", "-5", "/a"])).unwrap();
        assert_eq!(p.value("t"), Some("-5"));
    }

    #[test]
    fn option_groups() {
        let p = parse_flags(&QUOTA, &w(&["setquota", "-n", "5", "/a"])).unwrap();
        assert_eq!(p.value("n"), Some("5"));
        assert_eq!(
            parse_flags(&QUOTA, &w(&["setquota", "-n", "5", "-b", "6", "/a"])).unwrap_err(),
            "org.apache.commons.cli.AlreadySelectedException: The option 'b' was specified but an option from \
             this group has already been selected: 'n'"
        );
        assert_eq!(
            parse_flags(&QUOTA, &w(&["setquota", "/a"])).unwrap_err(),
            "org.apache.commons.cli.MissingOptionException: Missing required option: [-n num soft quota, \
             -b bytes soft quota, -N num hard quota]"
        );
    }
}
