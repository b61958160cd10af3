"""Apache Flink's ZooKeeper HA, unchanged, on a three-member ensemble of zabkeeper — and the
same test on Apache ZooKeeper 3.8 for comparison.

A standalone Flink session cluster (one JobManager, one TaskManager) with
`high-availability.type: zookeeper` runs tests/flink/CheckpointedCounts.java: keyed counters in
ValueState, a checkpoint every second, a built-in check that every restore brings state and
source position back from the same checkpoint (STATE-MISMATCH otherwise). Then:
  (a) the JobManager is SIGKILLed and a new one started: the job must come back RUNNING by
      itself (from the HA store), restored from the newest checkpoint in ZooKeeper, keyed state
      intact, checkpoint ids rising;
  (b) the ensemble's leader is SIGKILLed while the job checkpoints: checkpoints must complete
      again after the re-election; the member is restarted, and (a) must still hold.
Recovery times are printed (pytest -s) and appended as JSON lines to $FLINK_E2E_REPORT.

Opt-in (a Flink distribution is 330 MB): run it with scripts/flink-e2e.sh, which fetches
Flink 2.3.0, compiles the job and sets FLINK_HOME / FLINK_E2E_JOB.
"""
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient

import zkservers
from ensembles import Mixed

FLINK_HOME = os.environ.get("FLINK_HOME")
JOB_JAR = os.environ.get("FLINK_E2E_JOB")
TARGETS = [t for t in os.environ.get("FLINK_E2E_TARGETS", "zabkeeper,zookeeper").split(",") if t]
RUNS = int(os.environ.get("FLINK_E2E_RUNS", "1"))
REPORT = os.environ.get("FLINK_E2E_REPORT")
# Generous: two JVMs start on a loaded 2-core machine.
DEADLINE = float(os.environ.get("FLINK_E2E_DEADLINE", "240"))


def wait_for(what, cond, timeout=DEADLINE, interval=0.2):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


class Flink:
    """A standalone session cluster whose processes we start and SIGKILL ourselves."""

    def __init__(self, tmp, hosts):
        self.dir = tmp
        self.conf = os.path.join(tmp, "conf")
        self.logs = os.path.join(tmp, "log")
        os.makedirs(self.conf)
        os.makedirs(self.logs)
        self.rest_port = zkservers.free_port()
        self.jm = None
        self.tm = None
        self.jm_starts = 0
        template = os.path.join(FLINK_HOME, "conf")
        java_opts = ""
        with open(os.path.join(template, "config.yaml")) as f:
            for line in f:
                if "--add-opens" in line and line.strip().startswith("all:"):
                    java_opts = line.strip()[len("all:"):].strip()
        settings = {
            "env.java.opts.all": java_opts,
            "jobmanager.rpc.address": "localhost",
            "jobmanager.bind-host": "localhost",
            "jobmanager.memory.process.size": "1024m",
            "taskmanager.bind-host": "localhost",
            "taskmanager.host": "localhost",
            "taskmanager.numberOfTaskSlots": "1",
            "taskmanager.memory.process.size": "1536m",
            "parallelism.default": "1",
            "rest.address": "localhost",
            "rest.bind-address": "localhost",
            "rest.port": str(self.rest_port),
            "high-availability.type": "zookeeper",
            "high-availability.zookeeper.quorum": hosts,
            "high-availability.zookeeper.path.root": "/flink",
            "high-availability.cluster-id": "/e2e",
            "high-availability.storageDir": "file://" + os.path.join(tmp, "ha"),
            "execution.checkpointing.dir": "file://" + os.path.join(tmp, "checkpoints"),
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": "1000",
            "restart-strategy.fixed-delay.delay": "1 s",
        }
        with open(os.path.join(self.conf, "config.yaml"), "w") as f:
            for k, v in settings.items():
                f.write("%s: %s\n" % (k, json.dumps(v)))
        for name in ("log4j-console.properties", "log4j-cli.properties", "logback-console.xml"):
            with open(os.path.join(template, name)) as src, open(os.path.join(self.conf, name), "w") as dst:
                dst.write(src.read())
        self.env = dict(os.environ, FLINK_CONF_DIR=self.conf, FLINK_LOG_DIR=self.logs)

    def _start(self, script, out):
        log = open(os.path.join(self.dir, out), "ab")
        return subprocess.Popen([os.path.join(FLINK_HOME, "bin", script), "start-foreground"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=self.env, start_new_session=True)

    def start_jobmanager(self):
        self.jm_starts += 1
        self.jm = self._start("jobmanager.sh", "jobmanager-%d.out" % self.jm_starts)

    def start_taskmanager(self):
        self.tm = self._start("taskmanager.sh", "taskmanager.out")

    def kill_jobmanager(self):
        os.killpg(self.jm.pid, signal.SIGKILL)
        self.jm.wait(timeout=60)
        self.jm = None

    def stop(self):
        for p in (self.jm, self.tm):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=60)

    def rest(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.rest_port, path), timeout=5) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def submit(self):
        r = subprocess.run([os.path.join(FLINK_HOME, "bin", "flink"), "run", "-d", "-c", "CheckpointedCounts",
                            JOB_JAR, "2"], capture_output=True, text=True, env=self.env, timeout=DEADLINE)
        m = re.search(r"JobID ([0-9a-f]{32})", r.stdout + r.stderr)
        assert r.returncode == 0 and m, "flink run failed:\n%s\n%s" % (r.stdout, r.stderr)
        return m.group(1)

    def state(self, job):
        j = self.rest("/jobs/%s" % job)
        return j.get("state") if j else None

    def checkpoints(self, job):
        """(latest completed id or None, restored id or None) as this JobManager reports them."""
        c = self.rest("/jobs/%s/checkpoints" % job)
        if not c or not isinstance(c.get("latest"), dict):
            return None, None
        done = c["latest"].get("completed") or {}
        restored = c["latest"].get("restored") or {}
        return done.get("id"), restored.get("id")

    def taskmanager_output(self):
        with open(os.path.join(self.dir, "taskmanager.out"), errors="replace") as f:
            return f.read()


def checkpoint_ids_in_zookeeper(hosts):
    """Every completed checkpoint Flink's HA store holds, by walking its layout
    (/flink/<cluster>/jobs/<job>/checkpoints/<19-digit id>)."""
    zk = KazooClient(hosts=hosts, timeout=20.0)
    zk.start(timeout=60)
    try:
        zk.sync("/")
        found = []
        stack = ["/flink"]
        while stack:
            path = stack.pop()
            for child in zk.get_children(path):
                full = path.rstrip("/") + "/" + child
                if path.endswith("/checkpoints") and re.fullmatch(r"\d{19}", child):
                    found.append(int(child))
                else:
                    stack.append(full)
        return sorted(found)
    finally:
        zkservers.stop_client(zk)


def opens(output):
    return output.count("OPEN attempt=")


def progress_after_last_open(output):
    tail = output[output.rfind("OPEN attempt="):]
    return [int(v) for v in re.findall(r"PROGRESS value=(\d+)", tail)]


def jobmanager_failover(flink, ensemble, job):
    """(a): SIGKILL the JobManager, start a new one; returns its timings."""
    wait_for("a completed checkpoint before the kill", lambda: flink.checkpoints(job)[0])
    opened = opens(flink.taskmanager_output())
    t0 = time.monotonic()
    flink.kill_jobmanager()
    newest = checkpoint_ids_in_zookeeper(ensemble.connect_string())
    assert newest, "no completed checkpoint in ZooKeeper at the kill"
    newest = newest[-1]
    flink.start_jobmanager()
    wait_for("the job RUNNING under the new JobManager", lambda: flink.state(job) == "RUNNING")
    t_running = time.monotonic() - t0
    def after_restore():
        done = flink.checkpoints(job)
        return done if (done[0] or 0) > newest else None

    done = wait_for("a new checkpoint after the restore", after_restore)
    t_checkpoint = time.monotonic() - t0
    assert done[1] == newest, "restored from checkpoint %s, but the newest completed one is %s" % (done[1], newest)
    out = wait_for("the task attempt restarted on the TaskManager",
                   lambda: opens(flink.taskmanager_output()) > opened and progress_after_last_open(
                       flink.taskmanager_output()) and flink.taskmanager_output())
    first = progress_after_last_open(out)[0]
    assert first > 0, "the job started from scratch instead of from checkpoint %d" % newest
    assert "STATE-MISMATCH" not in out, out[out.find("STATE-MISMATCH"):][:500]
    return {"restored": newest, "to_running_s": round(t_running, 2), "to_checkpoint_s": round(t_checkpoint, 2)}


def leader_failover(flink, ensemble, job):
    """(b): SIGKILL the ensemble's leader while the job checkpoints; returns the timings."""
    leader = wait_for("an ensemble leader", ensemble.leader)
    wait_for("checkpoints completing", lambda: flink.checkpoints(job)[0])
    t0 = time.monotonic()
    leader.proc.kill()
    leader.proc.wait(timeout=60)
    leader.proc = None
    wait_for("a new ensemble leader", ensemble.leader)
    t_elected = time.monotonic() - t0
    # The first checkpoint to start after the re-election, completed.
    after = wait_for("the JobManager reporting again", lambda: flink.checkpoints(job)[0])
    wait_for("a checkpoint completed after the re-election",
             lambda: (flink.checkpoints(job)[0] or 0) > after + 1)
    t_checkpoint = time.monotonic() - t0
    assert flink.state(job) == "RUNNING"
    ensemble.start(leader)
    ensemble.wait_serving(leader)
    return {"killed_member": leader.id, "to_new_leader_s": round(t_elected, 2), "to_checkpoint_s": round(t_checkpoint, 2)}


# Runs alternate between the servers, so that a noisy stretch of the machine hits both.
@pytest.fixture(params=[(t, r) for r in range(RUNS) for t in TARGETS],
                ids=["%s-%d" % (t, r + 1) for r in range(RUNS) for t in TARGETS])
def cluster(request, tmp_path):
    if not FLINK_HOME or not JOB_JAR:
        pytest.fail("FLINK_HOME and FLINK_E2E_JOB are not set: run this test with scripts/flink-e2e.sh")
    kind = request.param[0]
    ensemble = Mixed(str(tmp_path / "ensemble"), kind=kind)
    flink = None
    try:
        for m in ensemble.members:
            ensemble.start(m)
        for m in ensemble.members:
            ensemble.wait_serving(m)
        flink = Flink(str(tmp_path / "flink"), ensemble.connect_string())
        yield kind, ensemble, flink
    finally:
        if flink is not None:
            flink.stop()
        ensemble.stop_all()


def test_flink_ha_survives_jobmanager_and_ensemble_leader_kills(cluster):
    kind, ensemble, flink = cluster
    flink.start_jobmanager()
    flink.start_taskmanager()
    wait_for("a TaskManager registered", lambda: (flink.rest("/overview") or {}).get("taskmanagers", 0) >= 1)
    job = flink.submit()
    wait_for("the job RUNNING", lambda: flink.state(job) == "RUNNING")
    wait_for("three completed checkpoints", lambda: (flink.checkpoints(job)[0] or 0) >= 3)

    a1 = jobmanager_failover(flink, ensemble, job)
    b = leader_failover(flink, ensemble, job)
    a2 = jobmanager_failover(flink, ensemble, job)
    ids = checkpoint_ids_in_zookeeper(ensemble.connect_string())
    assert ids and ids[-1] > a2["restored"], ids
    out = flink.taskmanager_output()
    assert "STATE-MISMATCH" not in out, out[out.find("STATE-MISMATCH"):][:500]
    row = {"server": kind, "jobmanager_kill": a1, "leader_kill": b, "jobmanager_kill_after": a2}
    print("\nflink-e2e %s" % json.dumps(row))
    if REPORT:
        with open(REPORT, "a") as f:
            f.write(json.dumps(row) + "\n")
