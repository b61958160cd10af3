"""Server processes for the Python test suites (tests/compat and tests/zkcli).

Owns everything about running a test server: locating the zabkeeper binary (and the
other repo binaries the suites need), Java and the Apache ZooKeeper 3.8 classpath for the
reference server; writing its zoo.cfg (tickTime 200 ms, super digest, extended types,
all four-letter words); starting it as a child process on a free 127.0.0.1 port (up to 3
attempts, a fresh port each time); waiting until a kazoo session can `exists("/")`
(deadline 60 s); handing out kazoo clients (optionally authenticated as the super user);
stopping it by PID (SIGTERM, then SIGKILL after 10 s); removing its temporary directory.

What it must never do:
  * stop or signal a process it did not start: only the PID of a child this module
    spawned (Server.proc) is ever signalled, never a process found by name or port;
  * listen or connect anywhere but 127.0.0.1;
  * write outside its own temporary directory (tempfile.mkdtemp, removed by cleanup());
  * import pytest or decide how a failure is reported: setup problems raise ServerError
    with a message that says how to fix them, and each suite turns that into its own
    failure (pytest.fail in tests/compat, HarnessError in tests/zkcli).

Environment:
  ZABKEEPER_BIN   zabkeeper binary (default <repo>/target/release/zabkeeper; relative
                  paths are taken from the repo root)
  ZK_CLASSPATH    classpath for Apache ZooKeeper (default: the Debian layout,
                  /usr/share/java/zookeeper.jar, else $ZOOKEEPER_HOME/lib/*.jar)
  ZOOKEEPER_HOME  a ZooKeeper tarball installation (see ZK_CLASSPATH)
  JAVA            java executable (default $JAVA_HOME/bin/java, else `java` on PATH)
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

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)

KINDS = ("zabkeeper", "zookeeper")
# A three-member zabkeeper ensemble on loopback, behind the same interface as Server: its
# clients get every member in their connect string (kazoo picks one at random).
ENSEMBLE_KINDS = ("zabkeeper-ensemble",)
TICK_TIME = 200
STARTUP_DEADLINE = 60.0
STOP_TIMEOUT = 10.0

SUPER_USER = "super"
SUPER_PASSWORD = "superpw"
SUPER_DIGEST = "%s:%s" % (
    SUPER_USER,
    base64.b64encode(
        hashlib.sha1(("%s:%s" % (SUPER_USER, SUPER_PASSWORD)).encode()).digest()
    ).decode(),
)


class ServerError(Exception):
    """A setup problem: a missing binary, Java or ZooKeeper, or a server that does not start.
    The message says what to install or build."""


def stop_children(procs):
    """Stops children we spawned, by PID: SIGTERM to all, then SIGKILL to any that linger past
    STOP_TIMEOUT."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in live:
        try:
            p.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=STOP_TIMEOUT)


def free_port():
    """A port nobody listens on right now (another process may take it before we do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_client(zk):
    """Closes a kazoo client, ignoring errors (the session may already be gone)."""
    try:
        zk.stop()
        zk.close()
    except Exception:
        pass


# ---------------------------------------------------------------------------------------
# Locating the servers


def repo_binary(name, env_var):
    """An executable built by this repo: $env_var, else <repo>/target/release/<name>."""
    path = os.environ.get(env_var) or os.path.join("target", "release", name)
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ServerError("%s binary not found at %s: run `cargo build --release` or set %s"
                          % (name, path, env_var))
    return path


def zabkeeper_bin():
    return repo_binary("zabkeeper", "ZABKEEPER_BIN")


def java_bin():
    candidates = [os.environ.get("JAVA")]
    if os.environ.get("JAVA_HOME"):
        candidates.append(os.path.join(os.environ["JAVA_HOME"], "bin", "java"))
    candidates.append(shutil.which("java"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise ServerError(
        "Java is not installed (no $JAVA, $JAVA_HOME/bin/java or java on PATH); the "
        "reference Apache ZooKeeper cannot run. Install it with "
        "`apt-get install -y default-jre-headless zookeeper zookeeper-bin` (.ci/run does).")


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
    raise ServerError(
        "Apache ZooKeeper is not installed (no /usr/share/java/zookeeper.jar, "
        "$ZOOKEEPER_HOME/lib or $ZK_CLASSPATH); the reference server cannot run. Install it "
        "with `apt-get install -y zookeeper zookeeper-bin` (.ci/run does).")


# ---------------------------------------------------------------------------------------
# Server processes


class Server:
    """A server child process on a free 127.0.0.1 port, with its own temporary dataDir.

    kind      "zabkeeper" or "zookeeper" (Apache ZooKeeper 3.8, the reference)
    prefix    names the temporary directory (<prefix>-<kind>-XXXX)
    jvm_args  extra JVM options for the reference server (e.g. "-XX:+UseSerialGC")
    drop_env  environment variables not passed to the server (e.g. "JAVA_TOOL_OPTIONS")
    """

    def __init__(self, kind, prefix="zkservers", jvm_args=(), drop_env=()):
        if kind not in KINDS:
            raise ValueError("unknown server kind %r" % kind)
        self.kind = kind
        self.jvm_args = list(jvm_args)
        self.drop_env = list(drop_env)
        self.port = None
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix="%s-%s-" % (prefix, kind))
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.super_user = SUPER_USER
        self.super_password = SUPER_PASSWORD

    @property
    def hostport(self):
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
            lines += ["superDigest=%s" % SUPER_DIGEST, "forceSync=no"]
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        return cfg

    def _command(self, cfg):
        if self.kind == "zabkeeper":
            return [zabkeeper_bin(), cfg]
        return [java_bin(), "-Xmx512m"] + self.jvm_args + [
            "-Dzookeeper.extendedTypesEnabled=true",
            "-Dzookeeper.4lw.commands.whitelist=*",
            "-Dznode.container.checkIntervalMs=100",
            "-Dzookeeper.DigestAuthenticationProvider.superDigest=%s" % SUPER_DIGEST,
            "-Dzookeeper.forceSync=no",
            "-Dzookeeper.admin.enableServer=false",
            "-Djava.net.preferIPv4Stack=true",
            "-cp", zookeeper_classpath(),
            "org.apache.zookeeper.server.ZooKeeperServerMain", cfg,
        ]

    def start(self):
        """Starts the server and waits until it serves; returns self. Raises ServerError."""
        last_error = None
        for _attempt in range(3):  # a fresh port if another process grabbed ours
            self.port = free_port()
            cmd = self._command(self._write_cfg())
            env = {k: v for k, v in os.environ.items() if k not in self.drop_env}
            env.setdefault("ZABKEEPER_LOG", "info")
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(cmd, cwd=self.tmp, stdout=log,
                                             stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env)
            ok, last_error = self._wait_ready()
            if ok:
                return self
            self.stop()
        raise ServerError(
            "%s did not become ready on 127.0.0.1:%d within %.0f s (%s).\nLast log lines:\n%s"
            % (self.kind, self.port, STARTUP_DEADLINE, last_error, self.log_tail()))

    def _wait_ready(self):
        """Polls until a kazoo session can read "/" (a listening port or `ruok` is not
        enough: both answer before the database is loaded)."""
        deadline = time.monotonic() + STARTUP_DEADLINE
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, "exited with status %s" % self.proc.returncode
            try:
                zk = self.client(timeout=4.0, start_timeout=5.0)
                try:
                    zk.exists("/")
                    return True, None
                finally:
                    stop_client(zk)
            except Exception as e:  # not listening yet, or not serving yet
                last = repr(e)
            time.sleep(0.05)  # polling interval while the server starts
        return False, "timeout; last error %s" % last

    def client(self, super_user=False, timeout=4.0, start_timeout=15.0, **kw):
        """A started kazoo client; super_user=True adds the super user's digest auth.
        Other keywords go to KazooClient (client_id, auth_data, ...)."""
        from kazoo.client import KazooClient
        if super_user:
            kw["auth_data"] = list(kw.get("auth_data") or []) + [
                ("digest", "%s:%s" % (SUPER_USER, SUPER_PASSWORD))]
        zk = KazooClient(hosts=self.hostport, timeout=timeout, **kw)
        zk.start(timeout=start_timeout)  # on a timeout kazoo stops the client itself
        return zk

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        """Stops our child by its PID: SIGTERM, then SIGKILL if it lingers."""
        p, self.proc = self.proc, None
        stop_children([p] if p is not None else [])

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Ensemble:
    """Three zabkeeper members on free 127.0.0.1 ports, each with its own dataDir and myid;
    `port` is member 1's client port (for four-letter words), `hostport` lists all three."""

    def __init__(self, kind="zabkeeper-ensemble", prefix="zkservers", size=3):
        if kind not in ENSEMBLE_KINDS:
            raise ValueError("unknown ensemble kind %r" % kind)
        self.kind = kind
        self.size = size
        self.tmp = tempfile.mkdtemp(prefix="%s-%s-" % (prefix, kind))
        self.procs = []
        self.ports = []
        self.super_user = SUPER_USER
        self.super_password = SUPER_PASSWORD
        self.log_path = os.path.join(self.tmp, "member1.log")
        # Member 1's, which `port` belongs to.
        self.data_dir = os.path.join(self.tmp, "data1")
        # The member every client of the current test talks to (None: a random one each).
        self.home = None

    def pick_home(self):
        """Starts a test on the next member: every client it makes connects there. Clients on
        different members may read behind each other's writes (ZooKeeper promises one client's
        order, not cross-client order without sync), which the compat tests do not expect;
        one member per test keeps them meaningful, and the rotation covers every member."""
        self.home = 0 if self.home is None else (self.home + 1) % self.size

    @property
    def proc(self):
        """Member 1's process (the suites check it for an early exit)."""
        return self.procs[0] if self.procs else None

    @property
    def port(self):
        return self.ports[0][0]

    @property
    def hostport(self):
        return ",".join("127.0.0.1:%d" % p[0] for p in self.ports)

    def _write_cfgs(self):
        servers = "".join(
            "server.%d=127.0.0.1:%d:%d;127.0.0.1:%d\n" % (i + 1, q, e, c)
            for i, (c, q, e) in enumerate(self.ports))
        paths = []
        for i, (client, _, _) in enumerate(self.ports):
            data = os.path.join(self.tmp, "data%d" % (i + 1))
            os.makedirs(data, exist_ok=True)
            with open(os.path.join(data, "myid"), "w") as f:
                f.write("%d\n" % (i + 1))
            cfg = os.path.join(self.tmp, "zoo%d.cfg" % (i + 1))
            lines = [
                "tickTime=%d" % TICK_TIME, "initLimit=20", "syncLimit=10",
                "dataDir=%s" % data, "clientPort=%d" % client, "clientPortAddress=127.0.0.1",
                "maxClientCnxns=0", "admin.enableServer=false", "extendedTypesEnabled=true",
                "znode.container.checkIntervalMs=100", "4lw.commands.whitelist=*",
                "autopurge.purgeInterval=0", "superDigest=%s" % SUPER_DIGEST, "forceSync=no",
            ]
            with open(cfg, "w") as f:
                f.write("\n".join(lines) + "\n" + servers)
            paths.append(cfg)
        return paths

    def start(self):
        last_error = None
        for _attempt in range(3):
            self.ports = [(free_port(), free_port(), free_port()) for _ in range(self.size)]
            env = dict(os.environ)
            env.setdefault("ZABKEEPER_LOG", "info")
            for i, cfg in enumerate(self._write_cfgs()):
                with open(os.path.join(self.tmp, "member%d.log" % (i + 1)), "ab") as log:
                    self.procs.append(subprocess.Popen(
                        [zabkeeper_bin(), cfg], cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, env=env))
            ok, last_error = self._wait_ready()
            if ok:
                return self
            self.stop()
        raise ServerError("the %s did not become ready within %.0f s (%s).\nLast log lines:\n%s"
                          % (self.kind, STARTUP_DEADLINE, last_error, self.log_tail()))

    def _wait_ready(self):
        """Every member serves (a kazoo session on it can read "/")."""
        deadline = time.monotonic() + STARTUP_DEADLINE
        last = None
        pending = list(range(self.size))
        while pending and time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    return False, "a member exited with status %s" % p.returncode
            i = pending[0]
            try:
                zk = self._client_of("127.0.0.1:%d" % self.ports[i][0], timeout=4.0, start_timeout=5.0)
                try:
                    zk.exists("/")
                    pending.pop(0)
                finally:
                    stop_client(zk)
            except Exception as e:  # still electing or syncing
                last = repr(e)
                time.sleep(0.05)
        return not pending, "timeout; last error %s" % last

    def _client_of(self, hosts, super_user=False, timeout=4.0, start_timeout=15.0, **kw):
        from kazoo.client import KazooClient
        if super_user:
            kw["auth_data"] = list(kw.get("auth_data") or []) + [
                ("digest", "%s:%s" % (SUPER_USER, SUPER_PASSWORD))]
        zk = KazooClient(hosts=hosts, timeout=timeout, **kw)
        zk.start(timeout=start_timeout)
        return zk

    def client(self, super_user=False, timeout=4.0, start_timeout=15.0, **kw):
        """A started kazoo client on the test's member (see `pick_home`), else a random one."""
        hosts = self.hostport if self.home is None else "127.0.0.1:%d" % self.ports[self.home][0]
        return self._client_of(hosts, super_user, timeout, start_timeout, **kw)

    def log_tail(self, n=40):
        out = []
        for i in range(self.size):
            try:
                with open(os.path.join(self.tmp, "member%d.log" % (i + 1)), "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()[-n:]
                out += ["[%d] %s" % (i + 1, l) for l in lines]
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        """Stops our children by PID: SIGTERM, then SIGKILL if they linger."""
        procs, self.procs = self.procs, []
        stop_children(procs)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
