//! A small reader for the Java `.properties` text format used by `zoo.cfg`.
//! Owns: splitting text into `(line number, key, value)` entries — `#`/`!` comments, `=`, `:` or
//! whitespace separators, backslash escapes and line continuations, whitespace trimming.
//! Must never: interpret keys or values; that is `config`'s job.

/// One `key=value` entry; `line` is the 1-based line on which the entry starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// Parses properties text. Never fails: a line with no separator is a key with an empty value,
/// as in Java. Keys and values are trimmed (ZooKeeper trims values itself).
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((idx, raw)) = lines.next() {
        let first = raw.trim_start();
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues the line.
        let mut logical = first.to_string();
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split(&logical);
        let key = unescape(key.trim());
        let value = unescape(value.trim());
        if key.is_empty() {
            continue;
        }
        out.push(Entry { line: idx + 1, key, value });
    }
    out
}

fn ends_with_continuation(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace (whitespace followed by an optional
/// `=`/`:` counts as a single separator, like Java).
fn split(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' => return (&line[..i], &line[i + 1..]),
            b' ' | b'\t' | b'\x0c' => {
                let rest = line[i..].trim_start();
                let rest = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')).unwrap_or(rest);
                return (&line[..i], rest);
            }
            _ => i += 1,
        }
    }
    (line, "")
}

fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text).into_iter().map(|e| (e.key, e.value)).collect()
    }

    #[test]
    fn separators_comments_and_trimming() {
        let text = "# comment\n  ! also comment\n\na=1\n b : 2 \nc 3\nd\t= 4\ne=\nserver.1=h:1:2\n";
        let got = kv(text);
        let want = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", ""), ("server.1", "h:1:2")];
        assert_eq!(got.len(), want.len());
        for ((k, v), (wk, wv)) in got.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
    }

    #[test]
    fn continuation_escapes_and_line_numbers() {
        let entries = parse("x=1\nlong=a,\\\n    b\nesc\\=key=v\\tw\nlast=z");
        assert_eq!(entries[1].key, "long");
        assert_eq!(entries[1].value, "a,b");
        assert_eq!(entries[1].line, 2);
        assert_eq!(entries[2].key, "esc=key");
        assert_eq!(entries[2].value, "v\tw");
        assert_eq!(entries[3].line, 5);
    }
}
