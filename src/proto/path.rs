//! znode path rules (PathUtils.validatePath) and path arithmetic.
//! Must never: look at the tree; a valid path may still name no znode.

/// Why a path is invalid; the server answers BADARGUMENTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPath(pub String);

/// Checks a path as ZooKeeper does. `sequential` allows the trailing slash a sequential create
/// may carry (ZooKeeper validates `path + "1"` then). One pass over the bytes; characters are
/// decoded only where a byte is not ASCII.
pub fn validate(path: &str, sequential: bool) -> Result<(), InvalidPath> {
    let bad = |why: &str| Err(InvalidPath(format!("Invalid path string \"{path}\" caused by {why}")));
    let b = path.as_bytes();
    if b.is_empty() && !sequential {
        return bad("path length must be > 0");
    }
    if b.first() != Some(&b'/') {
        // "" + "1" (sequential) does not start with '/' either.
        return bad("path must start with / character");
    }
    if b.len() == 1 {
        return Ok(());
    }
    // With `sequential`, the checked string is `path + "1"`: it never ends with '/', and its
    // last component is never empty, "." or "..".
    if !sequential && b[b.len() - 1] == b'/' {
        return bad("must not end with / character");
    }
    // Components: between '/'s; the last one ends at the end of the path.
    let mut start = 1;
    for i in 1..=b.len() {
        if i < b.len() && b[i] != b'/' {
            continue;
        }
        let comp = &b[start..i];
        let last = i == b.len();
        if last && sequential {
            // The component gets a "1" appended: never empty, ".1" and "..1" are fine.
            break;
        }
        if comp.is_empty() {
            return bad("empty node name specified");
        }
        if comp == b"." || comp == b".." {
            return bad("relative paths not allowed");
        }
        start = i + 1;
    }
    if b.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        return Ok(());
    }
    for c in path.chars() {
        let u = c as u32;
        if u == 0
            || (0x01..=0x1F).contains(&u)
            || (0x7F..=0x9F).contains(&u)
            || (0xD800..=0xF8FF).contains(&u)
            || (0xFFF0..=0xFFFF).contains(&u)
        {
            return bad("invalid character");
        }
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
    fn path_arithmetic() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/a", "x"), "/a/x");
    }
}
