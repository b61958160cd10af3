"""ACLs: digest auth, NoAuth errors, the `auth` scheme, getACL masking, super user."""

import pytest

import zkext
from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError
from kazoo.security import (
    ACL,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)


def authed(clients, user, password):
    c = clients()
    c.add_auth("digest", "%s:%s" % (user, password))
    return c


def test_digest_acl_enforced(clients, base):
    alice = authed(clients, "alice", "pw1")
    anon = clients()
    mallory = authed(clients, "alice", "wrong")
    acl = [make_digest_acl("alice", "pw1", all=True)]
    p = alice.create(base + "/secret", b"s3cret", acl=acl)
    assert alice.get(p)[0] == b"s3cret"
    for c in (anon, mallory):
        with pytest.raises(NoAuthError):
            c.get(p)
        with pytest.raises(NoAuthError):
            c.set(p, b"x")
        with pytest.raises(NoAuthError):
            c.get_children(p)
        with pytest.raises(NoAuthError):
            c.create(p + "/child")
        with pytest.raises(NoAuthError):
            c.get_acls(p)
    # exists needs no permission
    assert anon.exists(p) is not None
    # delete is checked against the parent's ACL (open here), not the node's
    anon.delete(p)
    assert alice.exists(p) is None


def test_permission_bits_are_independent(clients, base):
    owner = authed(clients, "bob", "pw")
    other = clients()
    acl = [
        make_digest_acl("bob", "pw", all=True),
        make_acl("world", "anyone", read=True, create=True),
    ]
    p = owner.create(base + "/mixed", b"v", acl=acl)
    assert other.get(p)[0] == b"v"  # READ
    other.create(p + "/c")  # CREATE
    with pytest.raises(NoAuthError):
        other.set(p, b"w")  # no WRITE
    with pytest.raises(NoAuthError):
        other.delete(p + "/c")  # no DELETE on the parent
    with pytest.raises(NoAuthError):
        other.set_acls(p, OPEN_ACL_UNSAFE)  # no ADMIN
    owner.delete(p + "/c")


def test_read_only_world_acl(clients, base):
    zk = clients()
    p = zk.create(base + "/ro", b"r", acl=READ_ACL_UNSAFE)
    assert zk.get(p)[0] == b"r"
    with pytest.raises(NoAuthError):
        zk.set(p, b"w")
    with pytest.raises(NoAuthError):
        zk.create(p + "/c")


def test_get_acls_and_set_acls(clients, base):
    owner = authed(clients, "carol", "pw")
    digest = make_digest_acl("carol", "pw", all=True)
    p, stat = owner.create(base + "/n", acl=[digest], include_data=True)
    acls, s = owner.get_acls(p)
    assert acls == [digest]
    assert s == stat and s.aversion == 0
    s2 = owner.set_acls(p, OPEN_ACL_UNSAFE)
    assert s2.aversion == 1 and s2.version == 0
    assert owner.get_acls(p)[0] == OPEN_ACL_UNSAFE
    from kazoo.exceptions import BadVersionError
    with pytest.raises(BadVersionError):
        owner.set_acls(p, READ_ACL_UNSAFE, version=0)


def test_get_acls_masks_digest_without_admin(clients, base):
    owner = authed(clients, "dave", "pw")
    reader = clients()
    full = make_digest_acl("dave", "pw", all=True)
    acl = [full, make_acl("world", "anyone", read=True)]
    p = owner.create(base + "/masked", acl=acl)
    # the owner has ADMIN: sees the real digest
    assert owner.get_acls(p)[0] == acl
    # a reader without ADMIN sees the digest's hash replaced by "x"
    acls, _ = reader.get_acls(p)
    assert acls == [ACL(full.perms, Id("digest", "dave:x")), acl[1]]


def test_auth_scheme_acl(clients, base):
    anon = clients()
    with pytest.raises(InvalidACLError):
        anon.create(base + "/a", acl=CREATOR_ALL_ACL)
    erin = authed(clients, "erin", "pw")
    p = erin.create(base + "/a", acl=CREATOR_ALL_ACL)
    acls, _ = erin.get_acls(p)
    # "auth" is expanded to the creator's authenticated ids
    assert acls == [ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("erin", "pw")))]
    with pytest.raises(NoAuthError):
        anon.get(p)


def test_invalid_acls_rejected(zk, base):
    with pytest.raises(InvalidACLError):
        zkext.create_plain(zk, base + "/empty-acl", acl=[])  # kazoo itself replaces [] by the default
    with pytest.raises(InvalidACLError):
        zk.create(base + "/bad-scheme", acl=[make_acl("nosuchscheme", "x", all=True)])
    with pytest.raises(InvalidACLError):
        zk.create(base + "/bad-ip", acl=[make_acl("ip", "not-an-ip", all=True)])
    ok = zk.create(base + "/ip", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert zk.get(ok)[0] == b""  # we connect from 127.0.0.1


def test_super_user_bypasses_acls(server, clients, base):
    owner = authed(clients, "frank", "pw")
    p = owner.create(base + "/locked", b"L", acl=[make_digest_acl("frank", "pw", all=True)])
    root = authed(clients, server.super_user, server.super_password)
    assert root.get(p)[0] == b"L"
    root.set(p, b"M")
    assert root.get_acls(p)[0] == [make_digest_acl("frank", "pw", all=True)]


def test_unknown_auth_scheme_fails_session(clients):
    c = clients()
    with pytest.raises(AuthFailedError):
        c.add_auth("nosuchscheme", "whatever")


def test_acl_checked_before_version(clients, base):
    owner = authed(clients, "gina", "pw")
    anon = clients()
    p = owner.create(base + "/n", acl=[make_digest_acl("gina", "pw", all=True)])
    with pytest.raises(NoAuthError):
        anon.set(p, b"x", version=42)
    with pytest.raises(NoAuthError):
        anon.set_acls(p, OPEN_ACL_UNSAFE, version=42)
