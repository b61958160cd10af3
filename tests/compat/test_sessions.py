"""Sessions: ephemeral lifetime, session close, session expiry and re-attachment."""

import re
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError, SessionExpiredError
from kazoo.protocol.states import KazooState

from compat_util import four_letter, port_of, wait_for
from proxy import Proxy


def test_ephemeral_removed_on_session_close(clients, base):
    owner, observer = clients(), clients()
    p = owner.create(base + "/eph", b"x", ephemeral=True)
    stat = observer.exists(p)
    assert stat is not None and stat.ephemeralOwner == owner.client_id[0]
    assert stat.ephemeralOwner != observer.client_id[0]
    persistent = owner.create(base + "/keep")
    owner.stop()  # closeSession is acknowledged after its deletes are applied
    observer.sync(base)
    assert observer.exists(p) is None
    assert observer.exists(persistent) is not None
    assert observer.exists(base).numChildren == 1


def test_ephemeral_survives_reconnect_with_same_session(server, clients, base):
    owner = clients()
    p = owner.create(base + "/eph", ephemeral=True)
    sid, pwd = owner.client_id
    # a second connection attaching to the same session (as after a reconnect) sees its node
    twin = clients(client_id=(sid, pwd))
    assert twin.client_id[0] == sid
    assert twin.exists(p).ephemeralOwner == sid


def test_session_expiry_after_disconnect(server, clients, base):
    observer = clients()
    proxy = Proxy(server.port)
    states = []
    lost = threading.Event()

    def listener(state):
        states.append(state)
        if state == KazooState.LOST:
            lost.set()

    victim = KazooClient(hosts=proxy.hosts, timeout=1.0)  # negotiated to the 400..4000 ms range
    victim.add_listener(listener)
    try:
        victim.start(timeout=15)
        old_sid = victim.client_id[0]
        p = victim.create(base + "/eph", ephemeral=True)
        assert observer.exists(p).ephemeralOwner == old_sid
        proxy.cut()
        # the server expires the session on its own and deletes the ephemeral
        wait_for(lambda: observer.exists(p) is None, timeout=20, what="ephemeral removal on expiry")
        proxy.restore()
        # reconnecting with the expired session id is refused: kazoo reports LOST
        assert lost.wait(20), "client never saw its session as LOST; states %r" % states
        wait_for(lambda: victim.connected, timeout=20, what="new session")
        assert victim.client_id[0] != old_sid
        assert victim.exists(p) is None
    finally:
        victim.stop()
        victim.close()
        proxy.close()


def test_attaching_to_closed_session_is_refused(server, clients, base):
    owner = clients()
    sid, pwd = owner.client_id
    owner.create(base + "/eph", ephemeral=True)
    owner.stop()
    # the server answers the reattach with a zero session (expired); kazoo then starts afresh
    ghost = clients(client_id=(sid, pwd))
    assert ghost.client_id[0] != sid
    assert ghost.exists(base + "/eph") is None


def negotiated_timeout(server, zk):
    text = four_letter(port_of(server, zk), "cons")
    m = re.search(r"sid=0x%x,[^)]*\bto=(\d+)" % zk.client_id[0], text)
    assert m, text
    return int(m.group(1))


def test_negotiated_session_timeout_is_clamped(server, clients):
    # tickTime=200: min 2*tick = 400 ms, max 20*tick = 4000 ms
    assert negotiated_timeout(server, clients(timeout=0.1)) == 400
    assert negotiated_timeout(server, clients(timeout=2.0)) == 2000
    assert negotiated_timeout(server, clients(timeout=60.0)) == 4000


def test_ephemeral_deletion_fires_watches_of_other_sessions(clients, base):
    import queue
    owner, watcher = clients(), clients()
    p = owner.create(base + "/eph", ephemeral=True)
    events = queue.Queue()
    watcher.exists(p, watch=lambda e: events.put((e.type, e.path)))
    watcher.get_children(base, watch=lambda e: events.put((e.type, e.path)))
    owner.stop()
    got = {events.get(timeout=10), events.get(timeout=10)}
    assert got == {("DELETED", p), ("CHILD", base)}
