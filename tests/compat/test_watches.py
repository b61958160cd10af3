"""Watches: data, child, exists; one-shot semantics; persistent and recursive watches.

Negative assertions ("this watch did NOT fire") never sleep: the session delivers
notifications in order, so the test triggers a sentinel watch afterwards and checks that
nothing else arrived before the sentinel's event.
"""

import queue

import pytest
from kazoo.exceptions import NoWatcherError
from kazoo.protocol.states import EventType

import zkext
from zkext import EV_CHANGED, EV_CHILD, EV_CREATED, EV_DELETED, EventTap


class Recorder:
    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, event):
        self.q.put((event.type, event.path))

    def get(self, timeout=10.0):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("watch did not fire within %.0f s" % timeout)

    def empty(self):
        return self.q.empty()


def sentinel(zk, tap, base):
    """Fires a fresh one-shot watch and returns the events that arrived before it."""
    s = base + "/sentinel"
    if zk.exists(s, watch=lambda e: None) is None:
        zk.create(s)
        return tap.until((EV_CREATED, s))
    zk.delete(s)
    return tap.until((EV_DELETED, s))


def test_data_watch_fires_once(zk, base):
    tap = EventTap(zk)
    p = zk.create(base + "/d", b"0")
    rec = Recorder()
    zk.get(p, watch=rec)
    zk.set(p, b"1")
    assert rec.get() == (EventType.CHANGED, p)
    assert tap.next() == (EV_CHANGED, p)
    zk.set(p, b"2")  # the watch is gone: no second event
    assert sentinel(zk, tap, base) == []
    assert rec.empty()


def test_data_watch_on_delete(zk, base):
    p = zk.create(base + "/d")
    rec = Recorder()
    zk.get(p, watch=rec)
    zk.delete(p)
    assert rec.get() == (EventType.DELETED, p)


def test_exists_watch_on_missing_node_fires_on_create(zk, base):
    p = base + "/later"
    rec = Recorder()
    assert zk.exists(p, watch=rec) is None
    zk.create(p)
    assert rec.get() == (EventType.CREATED, p)


def test_get_on_missing_node_sets_no_watch(zk, base):
    tap = EventTap(zk)
    p = base + "/missing"
    from kazoo.exceptions import NoNodeError
    with pytest.raises(NoNodeError):
        zk.get(p, watch=lambda e: None)
    zk.create(p)  # a failed getData leaves no watch behind
    assert sentinel(zk, tap, base) == []


def test_child_watch(zk, base):
    tap = EventTap(zk)
    p = zk.create(base + "/parent")
    rec = Recorder()
    zk.get_children(p, watch=rec)
    zk.set(p, b"data change is not a child change")
    zk.create(p + "/c")
    assert rec.get() == (EventType.CHILD, p)
    assert tap.until((EV_CHILD, p)) == []
    # one-shot: re-arm, then delete of the parent's child and the parent itself
    zk.get_children(p, watch=rec)
    zk.delete(p + "/c")
    assert rec.get() == (EventType.CHILD, p)
    zk.get_children(p, watch=rec)
    zk.delete(p)
    assert rec.get() == (EventType.DELETED, p)


def test_child_watch_not_fired_by_grandchildren_or_child_data(zk, base):
    tap = EventTap(zk)
    p = zk.create(base + "/parent")
    zk.create(p + "/c")
    zk.get_children(p, watch=lambda e: None)
    zk.set(p + "/c", b"x")
    zk.create(p + "/c/g")
    assert sentinel(zk, tap, base) == []


def test_watches_from_one_change_reach_every_session(clients, base):
    a, b = clients(), clients()
    p = a.create(base + "/shared")
    ra, rb = Recorder(), Recorder()
    a.get(p, watch=ra)
    b.exists(p, watch=rb)
    b.set(p, b"new")
    assert ra.get() == (EventType.CHANGED, p)
    assert rb.get() == (EventType.CHANGED, p)


def test_persistent_watch(zk, base):
    tap = EventTap(zk)
    p = base + "/pw"
    zkext.add_watch(zk, p, zkext.WATCH_PERSISTENT)
    zk.create(p)
    zk.set(p, b"1")
    zk.set(p, b"2")
    zk.create(p + "/child")
    zk.create(p + "/child/grandchild")  # not recursive: no event
    zk.delete(p + "/child/grandchild")
    zk.delete(p + "/child")
    zk.delete(p)
    zk.create(p)  # still armed after a delete
    got = sentinel(zk, tap, base)
    assert got == [
        (EV_CREATED, p),
        (EV_CHANGED, p),
        (EV_CHANGED, p),
        (EV_CHILD, p),
        (EV_CHILD, p),
        (EV_DELETED, p),
        (EV_CREATED, p),
    ]


def test_persistent_recursive_watch(zk, base):
    tap = EventTap(zk)
    p = zk.create(base + "/rw")
    zkext.add_watch(zk, p, zkext.WATCH_PERSISTENT_RECURSIVE)
    zk.create(p + "/a")
    zk.create(p + "/a/b", b"x")
    zk.set(p + "/a/b", b"y")
    zk.delete(p + "/a/b")
    zk.set(p, b"z")
    got = sentinel(zk, tap, base)
    # recursive watches never deliver NodeChildrenChanged
    assert got == [
        (EV_CREATED, p + "/a"),
        (EV_CREATED, p + "/a/b"),
        (EV_CHANGED, p + "/a/b"),
        (EV_DELETED, p + "/a/b"),
        (EV_CHANGED, p),
    ]


def test_remove_watches(zk, base):
    tap = EventTap(zk)
    p = zk.create(base + "/rm")
    zkext.add_watch(zk, p, zkext.WATCH_PERSISTENT)
    zk.set(p, b"1")
    assert tap.next() == (EV_CHANGED, p)
    zkext.remove_watches(zk, p, zkext.WATCHER_ANY)
    zk.set(p, b"2")
    assert sentinel(zk, tap, base) == []
    with pytest.raises(NoWatcherError):
        zkext.remove_watches(zk, p, zkext.WATCHER_ANY)
    with pytest.raises(NoWatcherError):
        zkext.remove_watches(zk, base + "/never-watched", zkext.WATCHER_DATA)
