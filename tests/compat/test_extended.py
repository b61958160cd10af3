"""Container and TTL nodes (extendedTypesEnabled=true, container checks every 100 ms)."""

import time

import pytest
from kazoo.exceptions import BadArgumentsError, NoChildrenForEphemeralsError, NodeExistsError

import zkext


def wait_gone(zk, path, timeout=20.0):
    deadline = time.monotonic() + timeout
    while zk.exists(path) is not None:
        if time.monotonic() > deadline:
            raise AssertionError("%s still exists after %.0f s" % (path, timeout))
        time.sleep(0.02)


def test_container_create_stat(zk, base):
    path, stat = zkext.create_container(zk, base + "/c", b"data")
    assert path == base + "/c"
    assert (stat.version, stat.numChildren, stat.dataLength, stat.ephemeralOwner) == (0, 0, 4, 0)
    assert zk.get(path) == (b"data", stat)
    assert zk.exists(path).ephemeralOwner == 0  # the container marker is not shown
    with pytest.raises(NodeExistsError):
        zkext.create_container(zk, path)


def test_container_deleted_after_last_child(zk, base):
    never_used, _ = zkext.create_container(zk, base + "/never-used")
    c, _ = zkext.create_container(zk, base + "/c")
    zk.create(c + "/child")
    zk.create(c + "/eph", ephemeral=True)
    zk.delete(c + "/child")
    # still has a child: must survive; prove a reaper pass happened via a second container
    probe, _ = zkext.create_container(zk, base + "/probe")
    zk.create(probe + "/x")
    zk.delete(probe + "/x")
    wait_gone(zk, probe)
    assert zk.exists(c) is not None
    zk.delete(c + "/eph")
    wait_gone(zk, c)
    # a container that never had a child is never reaped
    assert zk.exists(never_used) is not None


def test_ttl_node_expires(zk, base):
    path, stat = zkext.create_ttl(zk, base + "/ttl", 300, b"t")
    assert path == base + "/ttl"
    # the TTL is stored in the ephemeralOwner field, but clients are shown 0
    assert stat.ephemeralOwner == 0
    assert zk.exists(path).ephemeralOwner == 0
    wait_gone(zk, path)


def test_ttl_node_with_children_survives(zk, base):
    keep, _ = zkext.create_ttl(zk, base + "/keep", 100)
    zk.create(keep + "/child")
    probe, _ = zkext.create_ttl(zk, base + "/probe", 100)
    wait_gone(zk, probe)
    assert zk.exists(keep) is not None
    zk.delete(keep + "/child")
    wait_gone(zk, keep)


def test_ttl_sequential(zk, base):
    p1, _ = zkext.create_ttl(zk, base + "/s-", 60000, sequential=True)
    p2, _ = zkext.create_ttl(zk, base + "/s-", 60000, sequential=True)
    assert (p1, p2) == (base + "/s-0000000000", base + "/s-0000000001")


def test_ttl_invalid_arguments(zk, base):
    with pytest.raises(BadArgumentsError):
        zkext.create_ttl(zk, base + "/zero", 0)
    with pytest.raises(BadArgumentsError):
        zkext.create_ttl(zk, base + "/negative", -5)
    with pytest.raises(BadArgumentsError):
        zkext.create_ttl(zk, base + "/huge", 1 << 41)  # above the 40-bit TTL maximum
    # a TTL on a non-TTL create mode
    with pytest.raises(BadArgumentsError):
        zkext.create_with_flags(zk, base + "/ephemeral-ttl", zkext.EPHEMERAL, ttl=1000)
    assert zk.get_children(base) == []


def test_ephemeral_owner_of_ttl_is_not_a_session(clients, base):
    zk = clients()
    path, stat = zkext.create_ttl(zk, base + "/t", 60000)
    zk.create(path + "/child")  # TTL nodes are persistent: children allowed
    assert zk.exists(path).numChildren == 1
    assert stat.ephemeralOwner == 0
    assert zk.get_children(base, include_data=True)[1].numChildren == 1
    assert zk.get(path)[1].ephemeralOwner == 0
