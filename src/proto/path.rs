//! znode path rules (PathUtils.validatePath) and path arithmetic.
//! Must never: look at the tree; a valid path may still name no znode.

/// Why a path is invalid. The server answers BADARGUMENTS; clients (the shell) print it,
/// worded as ZooKeeper's `PathUtils.validatePath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPath {
    /// The string checked (with the "1" a sequential create appends).
    pub checked: String,
    pub reason: PathProblem,
    /// Where, in UTF-16 units as Java counts them.
    pub at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    Empty,
    NoLeadingSlash,
    TrailingSlash,
    NullCharacter,
    EmptyNodeName,
    RelativePath,
    InvalidCharacter,
}

impl std::fmt::Display for InvalidPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.reason {
            PathProblem::Empty => return f.write_str("Path length must be > 0"),
            PathProblem::NoLeadingSlash => return f.write_str("Path must start with / character"),
            PathProblem::TrailingSlash => return f.write_str("Path must not end with / character"),
            PathProblem::NullCharacter => "null character not allowed",
            PathProblem::EmptyNodeName => "empty node name specified",
            PathProblem::RelativePath => "relative paths not allowed",
            PathProblem::InvalidCharacter => "invalid character",
        };
        write!(f, "Invalid path string \"{}\" caused by {why} @{}", self.checked, self.at)
    }
}

/// A character ZooKeeper refuses in a path (control characters, surrogates, private use,
/// specials; anything outside the BMP arrives in Java as a surrogate).
fn refused_char(c: char) -> bool {
    let u = c as u32;
    (0x01..=0x1F).contains(&u)
        || (0x7F..=0x9F).contains(&u)
        || (0xD800..=0xF8FF).contains(&u)
        || (0xFFF0..=0xFFFF).contains(&u)
        || u > 0xFFFF
}

/// Checks a path as ZooKeeper does, in its order, reporting the first problem and where.
/// `sequential`: a sequential create's path is checked with "1" appended (so "/a/" is fine).
/// One pass, no allocation unless the path is refused.
pub fn validate(path: &str, sequential: bool) -> Result<(), InvalidPath> {
    let fail = |reason, at| {
        let checked = if sequential { format!("{path}1") } else { path.to_owned() };
        Err(InvalidPath { checked, reason, at })
    };
    let mut chars = path.chars().chain(sequential.then_some('1')).peekable();
    match chars.next() {
        None => return fail(PathProblem::Empty, 0),
        Some('/') => {}
        Some(_) => return fail(PathProblem::NoLeadingSlash, 0),
    }
    if chars.peek().is_none() {
        return Ok(());
    }
    if !sequential && path.ends_with('/') {
        return fail(PathProblem::TrailingSlash, 0);
    }
    // `last` and `before_last`: the characters at i-1 and i-2 (the root '/' before index 1).
    let (mut at, mut last, mut before_last) = (1usize, '/', '\0');
    while let Some(c) = chars.next() {
        let component_ends = matches!(chars.peek(), None | Some('/'));
        let problem = match c {
            '\0' => Some(PathProblem::NullCharacter),
            '/' if last == '/' => Some(PathProblem::EmptyNodeName),
            '.' if last == '.' => (before_last == '/' && component_ends).then_some(PathProblem::RelativePath),
            '.' => (last == '/' && component_ends).then_some(PathProblem::RelativePath),
            c if refused_char(c) => Some(PathProblem::InvalidCharacter),
            _ => None,
        };
        if let Some(p) = problem {
            return fail(p, at);
        }
        at += c.len_utf16();
        before_last = last;
        last = c;
    }
    Ok(())
}

/// The parent of a valid, non-root path ("/" for top-level znodes).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a valid path ("" for the root).
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_paths() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/...", "/zookeeper/quota", "/ü"] {
            assert!(validate(ok, false).is_ok(), "{ok}");
        }
        for bad in ["", "a", "/a/", "//", "/a//b", "/.", "/a/..", "/a\0b", "/a\u{1}"] {
            assert!(validate(bad, false).is_err(), "{bad:?}");
        }
        assert!(validate("/a/", true).is_ok());
        assert!(validate("/a/b-", true).is_ok());
        assert!(validate("/", true).is_ok());
        for bad in ["", "a", "//", "/a//", "/./", "/../x-", "/a\0b-"] {
            assert!(validate(bad, true).is_err(), "{bad:?} sequential");
        }
        for ok in ["/.", "/..", "/a/.", "/x-"] {
            assert!(validate(ok, true).is_ok(), "{ok:?} sequential");
        }
    }

    #[test]
    fn messages_match_the_java_client() {
        let msg = |p: &str, seq: bool| validate(p, seq).unwrap_err().to_string();
        assert_eq!(msg("a", false), "Path must start with / character");
        assert_eq!(msg("", false), "Path length must be > 0");
        assert_eq!(msg("", true), "Path must start with / character");
        assert_eq!(msg("/a/", false), "Path must not end with / character");
        assert_eq!(msg("/a//b", false), "Invalid path string \"/a//b\" caused by empty node name specified @3");
        assert_eq!(msg("/a/../b", false), "Invalid path string \"/a/../b\" caused by relative paths not allowed @4");
        assert_eq!(msg("/a/./x", false), "Invalid path string \"/a/./x\" caused by relative paths not allowed @3");
        assert_eq!(msg("/.", false), "Invalid path string \"/.\" caused by relative paths not allowed @1");
        assert_eq!(msg("/a\u{1}", false), "Invalid path string \"/a\u{1}\" caused by invalid character @2");
        assert_eq!(msg("/a\0", false), "Invalid path string \"/a\0\" caused by null character not allowed @2");
        assert_eq!(msg("/a//", true), "Invalid path string \"/a//1\" caused by empty node name specified @3");
        assert_eq!(msg("/é\u{1F600}", false), "Invalid path string \"/é\u{1F600}\" caused by invalid character @2");
        assert!(validate("/a.b/..c/...", false).is_ok());
        assert!(validate("/a/.", true).is_ok(), "the last component becomes \".1\"");
    }

    #[test]
    fn path_arithmetic() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/a", "x"), "/a/x");
    }
}
