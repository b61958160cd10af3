"""CRUD, Stat semantics, sequential names and error classes."""

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)


def test_create_get_set_delete(zk, base):
    path = zk.create(base + "/a", b"hello")
    assert path == base + "/a"
    data, stat = zk.get(path)
    assert data == b"hello"
    assert stat.dataLength == 5
    assert zk.set(path, b"world!") .version == 1
    data, stat = zk.get(path)
    assert (data, stat.version, stat.dataLength) == (b"world!", 1, 6)
    zk.delete(path)
    assert zk.exists(path) is None
    with pytest.raises(NoNodeError):
        zk.get(path)


def test_empty_and_binary_data(zk, base):
    zk.create(base + "/empty")
    data, stat = zk.get(base + "/empty")
    assert data == b"" and stat.dataLength == 0
    blob = bytes(range(256)) * 1024  # 256 KiB, every byte value
    zk.create(base + "/blob", blob)
    data, stat = zk.get(base + "/blob")
    assert data == blob and stat.dataLength == len(blob)


def test_stat_of_a_new_node(zk, base):
    path, stat = zk.create(base + "/n", b"xyz", include_data=True)
    assert path == base + "/n"
    assert (stat.version, stat.cversion, stat.aversion) == (0, 0, 0)
    assert (stat.numChildren, stat.dataLength, stat.ephemeralOwner) == (0, 3, 0)
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.ctime == stat.mtime and stat.ctime > 0
    assert zk.exists(path) == stat
    assert zk.get(path)[1] == stat


def test_stat_after_set_data(zk, base):
    _, created = zk.create(base + "/n", b"1", include_data=True)
    s1 = zk.set(base + "/n", b"22")
    assert s1.version == 1 and s1.dataLength == 2
    assert s1.czxid == created.czxid and s1.ctime == created.ctime
    assert s1.mzxid > created.mzxid and s1.mtime >= created.mtime
    assert s1.pzxid == created.pzxid  # children unchanged
    assert (s1.cversion, s1.aversion) == (0, 0)
    s2 = zk.set(base + "/n", b"", version=1)
    assert s2.version == 2 and s2.dataLength == 0 and s2.mzxid > s1.mzxid


def test_stat_children_counters(zk, base):
    p = base + "/parent"
    _, before = zk.create(p, include_data=True)
    _, child = zk.create(p + "/c1", include_data=True)
    s = zk.exists(p)
    assert (s.cversion, s.numChildren, s.version) == (1, 1, 0)
    assert s.pzxid == child.czxid
    assert s.mzxid == before.mzxid  # adding a child does not modify the parent's data
    zk.create(p + "/c2")
    zk.delete(p + "/c1")
    s = zk.exists(p)
    assert (s.cversion, s.numChildren) == (3, 1)
    assert s.pzxid > child.czxid
    children, s2 = zk.get_children(p, include_data=True)
    assert children == ["c2"] and s2 == s


def test_get_children_lists_names(zk, base):
    for name in ["b", "a", "c"]:
        zk.create(base + "/" + name)
    assert sorted(zk.get_children(base)) == ["a", "b", "c"]
    assert zk.get_children(base + "/a") == []
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")


def test_zookeeper_system_nodes(zk):
    assert zk.exists("/") is not None
    assert "zookeeper" in zk.get_children("/")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]


def test_sequential_names(zk, base):
    a = zk.create(base + "/a-", sequence=True)
    b = zk.create(base + "/b-", sequence=True)
    assert a == base + "/a-0000000000"
    assert b == base + "/b-0000000001"  # the counter is the parent's, shared by all prefixes
    zk.create(base + "/plain")  # plain creates advance it too
    zk.delete(a)  # deletes do not: the counter is the number of children ever created
    assert zk.exists(base).cversion == 4  # although the visible cversion counts deletes
    c = zk.create(base + "/a-", sequence=True)
    assert c == base + "/a-0000000003"
    d = zk.create(base + "/", sequence=True)
    assert d == base + "/0000000004"


def test_ephemeral_sequential(clients, base):
    owner = clients()
    p = owner.create(base + "/e-", ephemeral=True, sequence=True)
    assert p == base + "/e-0000000000"
    assert owner.exists(p).ephemeralOwner == owner.client_id[0]


def test_versioned_set_and_delete(zk, base):
    p = base + "/v"
    zk.create(p, b"0")
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=5)
    assert zk.set(p, b"1", version=0).version == 1
    with pytest.raises(BadVersionError):
        zk.delete(p, version=0)
    assert zk.get(p)[0] == b"1"  # the failed calls changed nothing
    zk.delete(p, version=1)
    assert zk.exists(p) is None


def test_error_classes(zk, base):
    with pytest.raises(NoNodeError):
        zk.get(base + "/nope")
    with pytest.raises(NoNodeError):
        zk.create(base + "/no/parent")
    with pytest.raises(NoNodeError):
        zk.set(base + "/nope", b"")
    with pytest.raises(NoNodeError):
        zk.delete(base + "/nope")
    zk.create(base + "/x")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/x")
    zk.create(base + "/x/child")
    with pytest.raises(NotEmptyError):
        zk.delete(base + "/x")
    zk.create(base + "/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/eph/seq-", sequence=True)


def test_makepath_and_recursive_delete(zk, base):
    zk.create(base + "/a/b/c", b"deep", makepath=True)
    assert zk.get(base + "/a/b/c")[0] == b"deep"
    zk.ensure_path(base + "/a/b/d")
    assert sorted(zk.get_children(base + "/a/b")) == ["c", "d"]
    zk.delete(base + "/a", recursive=True)
    assert zk.exists(base + "/a") is None


def test_sync(zk, base):
    assert zk.sync(base) == base
    # sync does not require the node to exist
    assert zk.sync(base + "/missing") == base + "/missing"
