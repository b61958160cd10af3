"""Fixtures for the compatibility suite.

Every test runs twice: against zabkeeper and against stock Apache ZooKeeper 3.8 (the
reference). Each server is a child process on a free 127.0.0.1 port with its own temporary
dataDir (tests/zkservers.py owns starting, stopping and locating them); it is started once
per session, waited for until a kazoo session can read "/" (deadline 60 s) and killed by
PID at the end. A server that cannot start fails the tests that use it.

Environment:
  ZABKEEPER_BIN   zabkeeper binary (default: <repo>/target/release/zabkeeper)
  ZK_CLASSPATH    classpath for Apache ZooKeeper (default: discovered from the Debian layout,
                  or $ZOOKEEPER_HOME/lib)
  JAVA            java executable (default: $JAVA_HOME/bin/java or `java` on PATH)
  COMPAT_TARGETS  comma list restricting the targets (default: "zabkeeper,zookeeper,
                  zabkeeper-ensemble", the last three members of ours on loopback)
"""

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import zkservers  # noqa: E402

ALL_TARGETS = list(zkservers.KINDS) + list(zkservers.ENSEMBLE_KINDS)


def _targets():
    raw = os.environ.get("COMPAT_TARGETS", "").strip()
    if not raw:
        return ALL_TARGETS
    wanted = [t.strip() for t in raw.split(",") if t.strip()]
    for t in wanted:
        if t not in ALL_TARGETS:
            raise ValueError("COMPAT_TARGETS: unknown target %r" % t)
    return wanted


@pytest.fixture(scope="session", params=_targets())
def server(request):
    if request.param in zkservers.ENSEMBLE_KINDS:
        srv = zkservers.Ensemble(request.param, prefix="compat")
    else:
        srv = zkservers.Server(request.param, prefix="compat")
    try:
        try:
            srv.start()
        except zkservers.ServerError as e:
            pytest.fail(str(e), pytrace=False)
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() is not None:
            print("%s exited early (%s):\n%s" % (srv.kind, srv.proc.returncode, srv.log_tail()))
        srv.cleanup()


@pytest.fixture
def clients(server):
    """A factory of connected kazoo clients, all closed after the test (on an ensemble, all
    on one member per test)."""
    made = []
    if hasattr(server, "pick_home"):
        server.pick_home()

    def make(**kw):
        zk = server.client(**kw)
        made.append(zk)
        return zk

    yield make
    for zk in made:
        zkservers.stop_client(zk)


@pytest.fixture
def zk(clients):
    return clients()


@pytest.fixture
def base(server, zk, request):
    """A fresh persistent node for this test, e.g. /t-test_crud-1a2b3c."""
    name = request.node.originalname or request.node.name
    path = "/t-%s-%s" % (name, uuid.uuid4().hex[:8])
    zk.create(path, b"")
    return path
