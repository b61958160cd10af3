"""Fixtures for the zkcli golden-output suite (see zkcli_harness.py for the design).

Servers (tests/zkservers.py, through zkcli_harness.Server) are started lazily, once per
pytest run, and killed by PID at the end: Apache ZooKeeper 3.8 for modes A and C (and D's
shell), zabkeeper for modes B and D. A server that cannot start fails the tests that need
it. Every run of a session starts from a wiped tree. Reference (mode A) transcripts are
computed once per pytest run and shared by every test that compares against them.

Environment:
  ZKCLI_BIN        our shell (default <repo>/target/release/zkcli)
  ZABKEEPER_BIN    our server (default <repo>/target/release/zabkeeper)
  ZKCLI_REF        the reference shell (default /usr/share/zookeeper/bin/zkCli.sh)
  ZKCLI_MODES      modes compared against A (default "B,C"; add D for zkCli.sh vs zabkeeper)
  ZKCLI_REQUIRE    "1": fail instead of skip when ZKCLI_BIN does not exist
  ZK_CLASSPATH, ZOOKEEPER_HOME, JAVA, JAVA_HOME   the reference server (see tests/zkservers.py)
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zkcli_harness as h  # noqa: E402


class Env:
    def __init__(self):
        self.servers = {}
        self.cache = {}

    def server(self, kind):
        if kind not in self.servers:
            try:
                self.servers[kind] = h.Server(kind).start()
            except h.HarnessError as e:
                self.servers[kind] = e
        s = self.servers[kind]
        if isinstance(s, h.HarnessError):
            pytest.fail(str(s), pytrace=False)
        return s

    def check_shell(self, mode):
        shell = h.MODES[mode][0]
        try:
            h.shell_argv(shell)
        except h.HarnessError as e:
            if shell == "ours" and os.environ.get("ZKCLI_REQUIRE") != "1":
                pytest.skip(str(e))
            pytest.fail(str(e), pytrace=False)

    def session(self, mode, session, fresh=False):
        key = (mode, session.name)
        if fresh or key not in self.cache:
            self.check_shell(mode)
            shell, server_kind = h.MODES[mode]
            result = h.run_session(session, shell, self.server(server_kind))
            if fresh:
                return result
            self.cache[key] = result
        return self.cache[key]

    def oneshot(self, mode):
        key = (mode, "__oneshot__")
        if key not in self.cache:
            self.check_shell(mode)
            shell, server_kind = h.MODES[mode]
            self.cache[key] = h.run_oneshot(shell, self.server(server_kind))
        return self.cache[key]

    def close(self):
        for s in self.servers.values():
            if isinstance(s, h.Server):
                s.cleanup()


@pytest.fixture(scope="session")
def zkcli_env():
    env = Env()
    try:
        yield env
    finally:
        env.close()
