"""Fixtures for the compatibility suite.

Every test runs twice: against zabkeeper and against stock Apache ZooKeeper 3.8 (the
reference). Each server is a child process on a free 127.0.0.1 port with its own temporary
dataDir; it is started once per session, waited for with `ruok` polling (deadline 60 s) and
killed by PID at the end.

Environment:
  ZABKEEPER_BIN   zabkeeper binary (default: <repo>/target/release/zabkeeper)
  ZK_CLASSPATH    classpath for Apache ZooKeeper (default: discovered from the Debian layout)
  JAVA            java executable (default: $JAVA_HOME/bin/java or `java` on PATH)
  COMPAT_TARGETS  comma list restricting the targets (default: "zabkeeper,zookeeper")
"""

import base64
import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
from kazoo.client import KazooClient

from compat_util import four_letter

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ALL_TARGETS = ["zabkeeper", "zookeeper"]
STARTUP_DEADLINE = 60.0
TICK_TIME = 200

SUPER_USER = "super"
SUPER_PASSWORD = "superpw"
SUPER_DIGEST = "%s:%s" % (
    SUPER_USER,
    base64.b64encode(
        hashlib.sha1(("%s:%s" % (SUPER_USER, SUPER_PASSWORD)).encode()).digest()
    ).decode(),
)


def _targets():
    raw = os.environ.get("COMPAT_TARGETS", "").strip()
    if not raw:
        return ALL_TARGETS
    wanted = [t.strip() for t in raw.split(",") if t.strip()]
    for t in wanted:
        if t not in ALL_TARGETS:
            raise ValueError("COMPAT_TARGETS: unknown target %r" % t)
    return wanted


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------
# Locating the servers


def zabkeeper_bin():
    path = os.environ.get("ZABKEEPER_BIN") or os.path.join(
        REPO_ROOT, "target", "release", "zabkeeper"
    )
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            "zabkeeper binary not found at %s: run `cargo build --release` or set "
            "ZABKEEPER_BIN" % path,
            pytrace=False,
        )
    return path


def java_bin():
    candidates = [os.environ.get("JAVA")]
    if os.environ.get("JAVA_HOME"):
        candidates.append(os.path.join(os.environ["JAVA_HOME"], "bin", "java"))
    candidates.append(shutil.which("java"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    pytest.fail(
        "Java is not installed (no $JAVA, $JAVA_HOME/bin/java or java on PATH); the "
        "reference Apache ZooKeeper cannot run. Install it with "
        "`apt-get install -y default-jre-headless zookeeper zookeeper-bin` (.ci/run does).",
        pytrace=False,
    )


def zookeeper_classpath():
    """The classpath for ZooKeeperServerMain.

    Debian: /usr/share/java/zookeeper.jar carries its dependencies in its manifest
    Class-Path; we add an slf4j binding so the server logs to stderr. Tarball layout
    ($ZOOKEEPER_HOME/lib/*.jar) is accepted too.
    """
    if os.environ.get("ZK_CLASSPATH"):
        return os.environ["ZK_CLASSPATH"]
    debian_jar = "/usr/share/java/zookeeper.jar"
    if os.path.isfile(debian_jar):
        cp = [debian_jar]
        for binding in ("slf4j-simple.jar", "slf4j-nop.jar"):
            p = os.path.join("/usr/share/java", binding)
            if os.path.isfile(p):
                cp.append(p)
                break
        return ":".join(cp)
    for home in filter(None, [os.environ.get("ZOOKEEPER_HOME"), "/usr/share/zookeeper",
                              "/opt/zookeeper"]):
        jars = sorted(glob.glob(os.path.join(home, "lib", "*.jar")))
        jars += sorted(glob.glob(os.path.join(home, "*.jar")))
        if any("zookeeper" in os.path.basename(j) for j in jars):
            return ":".join(jars)
    pytest.fail(
        "Apache ZooKeeper is not installed (no /usr/share/java/zookeeper.jar, "
        "$ZOOKEEPER_HOME/lib or $ZK_CLASSPATH); the reference server cannot run. Install it "
        "with `apt-get install -y zookeeper zookeeper-bin` (.ci/run does).",
        pytrace=False,
    )


# ---------------------------------------------------------------------------------------
# Server processes


class Server:
    """A server child process. `kind` is "zabkeeper" or "zookeeper"."""

    def __init__(self, kind):
        self.kind = kind
        self.port = None
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix="compat-%s-" % kind)
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.super_user = SUPER_USER
        self.super_password = SUPER_PASSWORD

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def _write_cfg(self):
        os.makedirs(self.data_dir, exist_ok=True)
        cfg = os.path.join(self.tmp, "zoo.cfg")
        lines = [
            "tickTime=%d" % TICK_TIME,
            "dataDir=%s" % self.data_dir,
            "clientPort=%d" % self.port,
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "extendedTypesEnabled=true",
            "znode.container.checkIntervalMs=100",
            "4lw.commands.whitelist=*",
            "autopurge.purgeInterval=0",
        ]
        if self.kind == "zabkeeper":
            lines.append("superDigest=%s" % SUPER_DIGEST)
            lines.append("forceSync=no")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        return cfg

    def _command(self, cfg):
        if self.kind == "zabkeeper":
            return [zabkeeper_bin(), cfg]
        return [
            java_bin(),
            "-Xmx512m",
            "-Dzookeeper.extendedTypesEnabled=true",
            "-Dzookeeper.4lw.commands.whitelist=*",
            "-Dznode.container.checkIntervalMs=100",
            "-Dzookeeper.DigestAuthenticationProvider.superDigest=%s" % SUPER_DIGEST,
            "-Dzookeeper.forceSync=no",
            "-Dzookeeper.admin.enableServer=false",
            "-Djava.net.preferIPv4Stack=true",
            "-cp",
            zookeeper_classpath(),
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            cfg,
        ]

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    def start(self):
        last_error = None
        for _attempt in range(3):  # a fresh port if another process grabbed ours
            self.port = free_port()
            cfg = self._write_cfg()
            cmd = self._command(cfg)
            log = open(self.log_path, "ab")
            env = dict(os.environ)
            env.setdefault("ZABKEEPER_LOG", "info")
            self.proc = subprocess.Popen(
                cmd, cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env,
            )
            log.close()
            ok, last_error = self._wait_ready()
            if ok:
                return
            self.stop()
        pytest.fail(
            "%s did not become ready on 127.0.0.1:%d within %.0f s (%s).\nLast log lines:\n%s"
            % (self.kind, self.port, STARTUP_DEADLINE, last_error, self.log_tail()),
            pytrace=False,
        )

    def _wait_ready(self):
        deadline = time.monotonic() + STARTUP_DEADLINE
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, "exited with status %s" % self.proc.returncode
            try:
                if four_letter(self.port, "ruok", timeout=2.0).strip() == "imok":
                    # ruok answers before the database is loaded; a session proves serving.
                    zk = KazooClient(hosts=self.hosts, timeout=4.0)
                    try:
                        zk.start(timeout=5.0)
                        zk.exists("/")
                        return True, None
                    finally:
                        zk.stop()
                        zk.close()
            except Exception as e:  # not listening yet, or not serving yet
                last = repr(e)
            time.sleep(0.05)  # polling interval, not synchronization
        return False, "timeout; last error %s" % last

    def stop(self):
        p = self.proc
        if p is None:
            return
        self.proc = None
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def client(self, timeout=4.0, **kw):
        zk = KazooClient(hosts=self.hosts, timeout=timeout, **kw)
        zk.start(timeout=15.0)
        return zk


@pytest.fixture(scope="session", params=_targets())
def server(request):
    srv = Server(request.param)
    try:
        srv.start()
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() is not None:
            print("%s exited early (%s):\n%s" % (srv.kind, srv.proc.returncode, srv.log_tail()))
        srv.cleanup()


@pytest.fixture
def clients(server):
    """A factory of connected kazoo clients, all closed after the test."""
    made = []

    def make(**kw):
        zk = server.client(**kw)
        made.append(zk)
        return zk

    yield make
    for zk in made:
        try:
            zk.stop()
            zk.close()
        except Exception:
            pass


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
