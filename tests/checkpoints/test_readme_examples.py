"""The README's checkpoint-registry examples, run exactly as written: the kazoo one with
Python, the Java one compiled with javac against Debian's zookeeper.jar and run with the
plain Apache ZooKeeper client. Each runs against a standalone zabkeeper and against a
three-member zabkeeper ensemble; afterwards the znodes they leave are checked through kazoo.
A README edit that breaks an example breaks this test.
"""
import json
import os
import re
import shutil
import subprocess

import pytest

import zkservers

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def example(name):
    """The fenced code block that follows `<!-- example: NAME -->` in the README."""
    text = open(README).read()
    m = re.search(r"<!-- example: %s -->\s*```\w+\n(.*?)```" % re.escape(name), text, re.S)
    assert m, "README has no example %r" % name
    return m.group(1)


@pytest.fixture(params=["standalone", "ensemble"])
def server(request):
    s = zkservers.Server("zabkeeper", prefix="checkpoints") if request.param == "standalone" \
        else zkservers.Ensemble(prefix="checkpoints")
    s.start()
    yield s
    s.stop()
    s.cleanup()


def run(cmd, hosts, cwd=None):
    env = dict(os.environ, ZK_HOSTS=hosts)
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "%s failed:\n%s\n%s" % (cmd[0], r.stdout, r.stderr)
    return r.stdout


def test_kazoo_example(server, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(example("kazoo"))
    out = run(["python3", str(script)], server.hostport)
    assert "refused: checkpoint ids only rise" in out
    zk = server.client()
    try:
        data, _ = zk.get("/checkpoints/wordcount/latest")
        assert json.loads(data)["id"] == 5
        assert zk.exists("/checkpoints/wordcount/leader") is None, "the lease went with its session"
    finally:
        zkservers.stop_client(zk)


def test_java_example(server, tmp_path):
    if shutil.which("javac") is None:
        pytest.fail("javac is missing (.ci/run installs default-jdk-headless)")
    src = tmp_path / "CheckpointExample.java"
    src.write_text(example("java"))
    cp = zkservers.zookeeper_classpath()
    subprocess.run(["javac", "-cp", cp, "-d", str(tmp_path), str(src)], check=True, timeout=180)
    out = run([zkservers.java_bin(), "-cp", cp + ":" + str(tmp_path), "CheckpointExample"], server.hostport)
    latest = re.search(r"latest: (\{.*\})", out)
    assert latest, out
    assert json.loads(latest.group(1))["id"] == 3
    assert "kept: [%019d, %019d]" % (2, 3) in out or "kept: [%019d, %019d]" % (3, 2) in out, out
