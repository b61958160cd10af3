//! ACL rules: permission checks against a session's authenticated ids, the fix-up of ACLs a
//! client sends (the `auth` scheme, validation), and the auth providers (digest, ip, super).
//! Must never: keep state; sessions keep their ids, znodes keep their ACLs.

use crate::proto::codes::ErrorCode;
use crate::proto::records::{Acl, Id};
use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// `user:base64(sha1("user:password"))`, ZooKeeper's DigestAuthenticationProvider.generateDigest.
pub fn generate_digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

/// Handles an auth packet; returns the ids the connection gains, or AUTHFAILED.
pub fn authenticate(
    scheme: &str,
    auth: Option<&[u8]>,
    remote: Option<IpAddr>,
    super_digest: Option<&str>,
) -> Result<Vec<Id>, ErrorCode> {
    match scheme {
        // No credential at all (null on the wire) fails, as ZooKeeper's digest provider does.
        "digest" => {
            let auth = auth.ok_or(ErrorCode::AuthFailed)?;
            let digest = generate_digest(&String::from_utf8_lossy(auth));
            // ZooKeeper lists the digest identity first, then super (whoAmI shows this order).
            let is_super = super_digest == Some(digest.as_str());
            let mut ids = vec![Id { scheme: "digest".into(), id: digest }];
            if is_super {
                ids.push(Id { scheme: "super".into(), id: String::new() });
            }
            Ok(ids)
        }
        "ip" => match remote {
            Some(ip) => Ok(vec![Id { scheme: "ip".into(), id: ip.to_string() }]),
            None => Err(ErrorCode::AuthFailed),
        },
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// Does `acl` grant `perm` to someone holding `auth`? (ZooKeeperServer.checkACL)
pub fn check_acl(acl: &[Acl], perm: i32, auth: &[Id]) -> bool {
    if acl.is_empty() || auth.iter().any(|a| a.scheme == "super") {
        return true;
    }
    acl.iter().any(|a| {
        if a.perms & perm == 0 {
            return false;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        auth.iter().any(|id| id.scheme == a.id.scheme && id_matches(&a.id.scheme, &id.id, &a.id.id))
    })
}

fn id_matches(scheme: &str, id: &str, acl_expr: &str) -> bool {
    match scheme {
        "ip" => ip_matches(id, acl_expr),
        _ => id == acl_expr,
    }
}

fn parse_ip_expr(expr: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (expr, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

fn ip_matches(id: &str, expr: &str) -> bool {
    let (Some((net, bits)), Ok(ip)) = (parse_ip_expr(expr), id.parse::<IpAddr>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Validates and expands the ACL a client sent (PrepRequestProcessor.fixupACL): the `auth`
/// scheme becomes the session's authenticated digest ids; an empty list, an unknown scheme or
/// a malformed id is INVALIDACL.
pub fn fixup_acl(acl: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    let mut push = |a: Acl| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    for a in acl {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => push(a.clone()),
            "auth" => {
                let mut any = false;
                for id in auth.iter().filter(|id| id.scheme == "digest") {
                    any = true;
                    push(Acl { perms: a.perms, id: id.clone() });
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if a.id.id.split(':').count() == 2 => push(a.clone()),
            "ip" if parse_ip_expr(&a.id.id).is_some() => push(a.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeeper() {
        // Known value: DigestAuthenticationProvider.generateDigest("super:test")
        assert_eq!(generate_digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
    }

    #[test]
    fn acl_checks() {
        let world_read = vec![Acl::new(1, "world", "anyone")];
        assert!(check_acl(&world_read, 1, &[]));
        assert!(!check_acl(&world_read, 2, &[]));
        let d = generate_digest("bob:pw");
        let digest_all = vec![Acl::new(31, "digest", &d)];
        assert!(!check_acl(&digest_all, 1, &[]));
        assert!(check_acl(&digest_all, 1, &[Id { scheme: "digest".into(), id: d.clone() }]));
        assert!(check_acl(&digest_all, 1, &[Id { scheme: "super".into(), id: String::new() }]));
        let ip = vec![Acl::new(31, "ip", "10.0.0.0/8")];
        assert!(check_acl(&ip, 1, &[Id { scheme: "ip".into(), id: "10.2.3.4".into() }]));
        assert!(!check_acl(&ip, 1, &[Id { scheme: "ip".into(), id: "11.2.3.4".into() }]));
        assert!(check_acl(&[], 31, &[]));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_bad() {
        let d = Id { scheme: "digest".into(), id: generate_digest("u:p") };
        let ip = Id { scheme: "ip".into(), id: "127.0.0.1".into() };
        let out = fixup_acl(&[Acl::new(31, "auth", "")], &[ip.clone(), d.clone()]).unwrap();
        assert_eq!(out, vec![Acl { perms: 31, id: d }]);
        assert_eq!(fixup_acl(&[Acl::new(31, "auth", "")], &[ip]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup_acl(&[], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup_acl(&[Acl::new(31, "world", "nobody")], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup_acl(&[Acl::new(31, "digest", "nocolon")], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup_acl(&[Acl::new(31, "ip", "1.2.3.4/40")], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup_acl(&[Acl::new(31, "foo", "x")], &[]), Err(ErrorCode::InvalidAcl));
        let dup = fixup_acl(&[Acl::new(31, "world", "anyone"), Acl::new(31, "world", "anyone")], &[]).unwrap();
        assert_eq!(dup.len(), 1);
    }

    #[test]
    fn authenticate_providers() {
        let ids =
            authenticate("digest", Some(b"super:test"), None, Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")).unwrap();
        let schemes: Vec<&str> = ids.iter().map(|i| i.scheme.as_str()).collect();
        assert_eq!(schemes, vec!["digest", "super"], "ZooKeeper's order");
        let ip = authenticate("ip", Some(b""), Some("127.0.0.1".parse().unwrap()), None).unwrap();
        assert_eq!(ip[0].id, "127.0.0.1");
        assert_eq!(authenticate("kerberos", Some(b"x"), None, None), Err(ErrorCode::AuthFailed));
        assert_eq!(authenticate("digest", None, None, None), Err(ErrorCode::AuthFailed), "null credential");
        assert_eq!(authenticate("digest", Some(b""), None, None).unwrap()[0].id, generate_digest(""));
    }
}
