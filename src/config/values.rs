//! Typed values in zoo.cfg entries: numbers with ranges, ports, booleans, paths, hosts.
//! Owns: turning one entry's text into a value or a line-numbered [`ConfigError`].
//! Must never: know which key means what (that is `config`'s dispatch) or keep state.

use super::props;
use super::ConfigError;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::PathBuf;

pub(super) fn invalid(e: &props::Entry, reason: &str) -> ConfigError {
    ConfigError::Invalid { line: e.line, key: e.key.clone(), value: e.value.clone(), reason: reason.to_string() }
}

pub(super) fn int(e: &props::Entry, lo: i64, hi: i64, range_reason: &str) -> Result<i64, ConfigError> {
    let n: i64 = e.value.parse().map_err(|_| invalid(e, "not a number"))?;
    if n < lo || n > hi {
        let reason = if range_reason.is_empty() { "out of range" } else { range_reason };
        return Err(invalid(e, reason));
    }
    Ok(n)
}

pub(super) fn port(e: &props::Entry) -> Result<u16, ConfigError> {
    Ok(int(e, 0, 65535, "port must be in 0..=65535")? as u16)
}

/// Session timeouts: -1 (ZooKeeper's "unset") means the tickTime-based default.
pub(super) fn timeout(e: &props::Entry) -> Result<Option<u32>, ConfigError> {
    let n = int(e, -1, i32::MAX as i64, "must be > 0, or -1 for the default")?;
    match n {
        -1 => Ok(None),
        0 => Err(invalid(e, "must be > 0, or -1 for the default")),
        n => Ok(Some(n as u32)),
    }
}

/// `jute.maxbuffer` accepts what Java's `Integer.decode` does: decimal, `0x`/`#` hex.
pub(super) fn jute_int(e: &props::Entry) -> Result<u32, ConfigError> {
    let v = e.value.as_str();
    let parsed = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")).or_else(|| v.strip_prefix('#'))
    {
        i64::from_str_radix(h, 16)
    } else {
        v.parse()
    };
    match parsed {
        Ok(n) if n > 0 && n <= i32::MAX as i64 => Ok(n as u32),
        Ok(_) => Err(invalid(e, "must be > 0")),
        Err(_) => Err(invalid(e, "not a number (decimal or 0x hex)")),
    }
}

pub(super) fn boolean(e: &props::Entry) -> Result<bool, ConfigError> {
    match e.value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(invalid(e, "expected true/false or yes/no")),
    }
}

/// ZooKeeper only takes exactly `true`/`false` for these.
pub(super) fn strict_bool(e: &props::Entry) -> Result<bool, ConfigError> {
    match e.value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(e, "expected 'true' or 'false'")),
    }
}

pub(super) fn path_value(e: &props::Entry) -> Result<PathBuf, ConfigError> {
    if e.value.is_empty() {
        return Err(invalid(e, "path is empty"));
    }
    Ok(PathBuf::from(&e.value))
}

pub(super) fn ip(e: &props::Entry) -> Result<IpAddr, ConfigError> {
    resolve_host(&e.value).map_err(|reason| invalid(e, &reason))
}

/// An IP literal, `localhost`, or a hostname resolved once (ZooKeeper resolves at startup too).
pub(crate) fn resolve_host(host: &str) -> Result<IpAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse() {
        return Ok(ip);
    }
    if bare.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    (bare, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .map(|a| a.ip())
        .ok_or_else(|| format!("cannot resolve host {bare:?}"))
}
