//! `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientAddr:]clientPort]` lines.
//! Owns: the parsed [`ServerSpec`] and its text form. Must never: resolve the quorum host or open
//! connections (that is the ensemble code's job).

use std::fmt;
use std::net::IpAddr;

/// A voting member or an observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerRole {
    #[default]
    Participant,
    Observer,
}

impl PeerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerRole::Participant => "participant",
            PeerRole::Observer => "observer",
        }
    }

    /// ZooKeeper's `LearnerType` ordinal, printed by `conf` as `peerType=`.
    pub fn ordinal(self) -> u8 {
        match self {
            PeerRole::Participant => 0,
            PeerRole::Observer => 1,
        }
    }
}

/// One ensemble member from a `server.N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    /// Quorum/election host, unresolved (may be a hostname or an IP literal, brackets removed).
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub role: PeerRole,
    pub client_addr: Option<IpAddr>,
    pub client_port: Option<u16>,
}

impl ServerSpec {
    /// Parses the id (text after `server.`) and the value. Errors are human-readable reasons.
    pub fn parse(id: &str, value: &str) -> Result<ServerSpec, String> {
        let id: u64 = id.parse().map_err(|_| format!("server id {id:?} is not a non-negative number"))?;
        let form = "expected host:quorumPort:electionPort[:participant|:observer][;[clientAddr:]clientPort]";
        if value.contains('|') {
            return Err("multiple addresses per server are not supported".into());
        }
        let (server_part, client_part) = match value.split_once(';') {
            Some((s, c)) => (s.trim(), Some(c.trim())),
            None => (value.trim(), None),
        };
        let (host, rest) = if let Some(stripped) = server_part.strip_prefix('[') {
            let (h, r) = stripped.split_once(']').ok_or(form)?;
            (h.to_string(), r.strip_prefix(':').ok_or(form)?)
        } else {
            let (h, r) = server_part.split_once(':').ok_or(form)?;
            (h.to_string(), r)
        };
        if host.is_empty() {
            return Err(form.into());
        }
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(form.into());
        }
        let quorum_port = port(parts[0], "quorum port")?;
        let election_port = port(parts[1], "election port")?;
        let role = match parts.get(2).map(|s| s.to_ascii_lowercase()) {
            None => PeerRole::Participant,
            Some(r) if r == "participant" => PeerRole::Participant,
            Some(r) if r == "observer" => PeerRole::Observer,
            Some(r) => return Err(format!("unknown peer type {r:?}; {form}")),
        };
        let (client_addr, client_port) = match client_part {
            None | Some("") => (None, None),
            Some(c) => match c.rsplit_once(':') {
                Some((addr, p)) => (Some(super::resolve_host(addr)?), Some(port(p, "client port")?)),
                None => (None, Some(port(c, "client port")?)),
            },
        };
        Ok(ServerSpec { id, host, quorum_port, election_port, role, client_addr, client_port })
    }
}

fn port(text: &str, what: &str) -> Result<u16, String> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("{what} {text:?} is not a port in 1..=65535"))
}

/// ZooKeeper's membership form (`server.N=` value), as printed by `conf`.
impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "{host}:{}:{}:{}", self.quorum_port, self.election_port, self.role.as_str())?;
        if let Some(p) = self.client_port {
            match self.client_addr {
                Some(IpAddr::V6(a)) => write!(f, ";[{a}]:{p}")?,
                Some(a) => write!(f, ";{a}:{p}")?,
                None => write!(f, ";0.0.0.0:{p}")?,
            }
        }
        Ok(())
    }
}
