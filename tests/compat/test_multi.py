"""multi (kazoo transactions): all-or-nothing, per-op results and errors."""

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)


def test_multi_success_results(zk, base):
    zk.create(base + "/existing", b"old")
    t = zk.transaction()
    t.create(base + "/new", b"n")
    t.create(base + "/seq-", sequence=True)
    t.set_data(base + "/existing", b"updated", version=0)
    t.check(base + "/existing", 1)  # sees the set_data above: ops apply in order
    t.create(base + "/gone")
    t.delete(base + "/gone")
    results = t.commit()
    assert len(results) == 6
    assert results[0] == base + "/new"
    assert results[1] == base + "/seq-0000000002"
    assert results[2].version == 1 and results[2].dataLength == 7
    assert results[3] is True
    assert results[4] == base + "/gone"
    assert results[5] is True
    assert zk.get(base + "/existing")[0] == b"updated"
    assert zk.exists(base + "/gone") is None
    # the whole multi is one transaction: every node it created carries the same zxid
    assert zk.exists(base + "/new").czxid == zk.exists(base + "/existing").mzxid


def test_multi_failure_rolls_back(zk, base):
    zk.create(base + "/a", b"a")
    t = zk.transaction()
    t.create(base + "/b", b"b")
    t.set_data(base + "/a", b"changed")
    t.check(base + "/a", 7)  # wrong version
    t.delete(base + "/a")
    results = t.commit()
    assert [type(r) for r in results] == [
        RolledBackError, RolledBackError, BadVersionError, RuntimeInconsistency,
    ]
    assert zk.exists(base + "/b") is None
    data, stat = zk.get(base + "/a")
    assert (data, stat.version) == (b"a", 0)


def test_multi_failure_error_classes(zk, base):
    zk.create(base + "/x")
    zk.create(base + "/x/child")

    def first_error(build):
        t = zk.transaction()
        build(t)
        results = t.commit()
        errors = [r for r in results if not isinstance(r, (RolledBackError, RuntimeInconsistency))]
        assert len(errors) == 1, results
        return type(errors[0]), results.index(errors[0])

    assert first_error(lambda t: (t.create(base + "/ok"), t.create(base + "/x"))) == (NodeExistsError, 1)
    assert first_error(lambda t: t.delete(base + "/x")) == (NotEmptyError, 0)
    assert first_error(lambda t: (t.check(base + "/missing", 0),)) == (NoNodeError, 0)
    assert first_error(lambda t: (t.delete(base + "/x/child"), t.delete(base + "/x/child"))) == (NoNodeError, 1)
    assert zk.exists(base + "/ok") is None
    assert zk.exists(base + "/x/child") is not None


def test_multi_sees_its_own_creates(zk, base):
    t = zk.transaction()
    t.create(base + "/p")
    t.create(base + "/p/c", b"c")
    t.check(base + "/p/c", 0)
    t.delete(base + "/p/c")
    t.delete(base + "/p")
    assert t.commit() == [base + "/p", base + "/p/c", True, True, True]
    assert zk.get_children(base) == []
