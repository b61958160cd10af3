"""Golden-output tests for `zkcli`: the masked transcript of our shell must equal the one of
Apache ZooKeeper 3.8's zkCli.sh against Apache ZooKeeper 3.8 (mode A, the reference).

  test_session[<session>-B]   our zkcli vs zabkeeper          == reference
  test_session[<session>-C]   our zkcli vs Apache ZooKeeper   == reference
  test_oneshot[<case>-B|C]    one invocation with a trailing command, same comparisons
  test_reference_*            the reference itself ran cleanly (validates the harness)
"""

import os

import pytest

import zkcli_harness as h

SESSIONS = [h.Session(p) for p in h.list_sessions()]
ONESHOT_CASES = [item[1].name for item in h.parse_oneshot() if item[0] == "case"]
COMPARED_MODES = [m.strip() for m in os.environ.get("ZKCLI_MODES", "B,C").split(",")
                  if m.strip()]
for _m in COMPARED_MODES:
    if _m not in ("B", "C", "D"):
        raise ValueError("ZKCLI_MODES: unknown mode %r (B, C or D)" % _m)


def _compare(ref, got, mode, what):
    if got != ref:
        diff = h.unified_diff(ref, got, h.MODE_TITLES["A"], h.MODE_TITLES[mode])
        pytest.fail("%s: output differs from zkCli.sh (masked transcripts):\n%s"
                    % (what, diff), pytrace=False)


@pytest.mark.parametrize("mode", COMPARED_MODES)
@pytest.mark.parametrize("session", SESSIONS, ids=[s.name for s in SESSIONS])
def test_session(zkcli_env, session, mode):
    ref = zkcli_env.session("A", session)
    got = zkcli_env.session(mode, session)
    _compare(ref, got, mode, "session %s" % session.name)


@pytest.mark.parametrize("mode", COMPARED_MODES)
@pytest.mark.parametrize("case", ONESHOT_CASES)
def test_oneshot(zkcli_env, case, mode):
    ref = zkcli_env.oneshot("A")[case]
    got = zkcli_env.oneshot(mode)[case]
    _compare(ref, got, mode, "one-shot case %s" % case)


@pytest.mark.parametrize("session", SESSIONS, ids=[s.name for s in SESSIONS])
def test_reference_session(zkcli_env, session):
    """The reference transcript has no runner trouble (timeouts, hung shell, malformed
    notifications): a failure here is a harness or session-file problem."""
    ref = zkcli_env.session("A", session)
    assert not h.anomalies(ref), "\n" + ref


def test_reference_oneshot(zkcli_env):
    res = zkcli_env.oneshot("A")
    bad = {k: v for k, v in res.items() if h.anomalies(v)}
    assert not bad, "\n".join(bad.values())
