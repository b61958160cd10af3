"""Golden-output harness for `zkcli`: runs scripted shell sessions and one-shot invocations
against a server and renders a masked, deterministic transcript that can be compared
between Apache ZooKeeper's zkCli.sh (the reference) and our shell.

Modes (shell vs server):
  A  zkCli.sh   vs Apache ZooKeeper 3.8   (the reference)
  B  our zkcli  vs zabkeeper
  C  our zkcli  vs Apache ZooKeeper 3.8
  D  zkCli.sh   vs zabkeeper              (optional: server compatibility as zkCli sees it)

The servers are child processes on free 127.0.0.1 ports, started and stopped by
tests/zkservers.py (shared with tests/compat; this module puts tests/ on sys.path). Here
the reference JVM also gets -XX:+UseSerialGC and no JAVA_TOOL_OPTIONS, setup problems are
raised as HarnessError, and Server.wipe() empties the tree between sessions.

How a session is driven, and why
--------------------------------
The Debian zkCli.sh has no JLine on its classpath ("JLine support is disabled"), so it reads
commands with a plain BufferedReader from stdin and prints no prompt and no echo. Feeding
stdin through a pipe is therefore exact: the bytes we capture are the bytes a script that
pipes commands into zkCli.sh sees. A pty would add CR/LF translation and terminal echo and
would not make JLine appear, so pipes are used, with stdout and stderr captured separately
(the split matters: e.g. "Created /x" and all error messages go to stderr).

Two things in zkCli.sh's output are asynchronous, and both are neutralised here:
  1. Output of consecutive commands is only attributable if we know where one command ends.
     After every command the runner sends a sentinel, an unknown command "zkcli-sync-N"
     (see Segmenter): zkCli.sh answers it on stderr in every state, before its connection
     check, and the next command is written only when that answer has arrived. (A known
     command such as `printwatches` does not work: when the shell is closed, every command
     but quit and failing ones also prints "Not connected" after its own output.) No
     sentinel follows the last command, so the process exit code is the last real command's
     (at EOF zkCli exits with the exit code of the last command it ran). Sessions that test
     `history` or `redo` use `#! nosync`, where sentinels are sent only at `!sync`, `@` and
     `!events` steps, because each sentinel is a history entry.
  2. Watch notifications ("\nWATCHER::\n" + "\nWatchedEvent state:.. type:.. path:..\n") are
     printed by the client's event thread and can land anywhere in stdout, even between
     lines of the main thread (including the initial SyncConnected event, which races with
     "Welcome to ZooKeeper!"). The runner removes every exactly-formed
     "" + "WATCHER::" pair and "" + "WatchedEvent ..." pair from the stdout line stream and
     queues the events; they are rendered only at `!events N` steps (after waiting for N of
     them), after startup (where the runner waits for the connect event before sending the
     first command), and at exit. A notification that is not byte-exact stays in stdout and
     shows up in the diff.

Transcript format: "$ cmd" for each command, then "1| line" (stdout) and "2| line" (stderr),
"ev| WatchedEvent ..." for notifications, "@ ..." for second-client steps, "! ..." for
directives, and "== exit N" at the end. Trailing whitespace is made visible with a "$".

Masking (applied identically to every mode): SLF4J/log lines, Java stack frames, ports,
temporary paths, zxids (numbered by first appearance so equalities survive), ctime/mtime
dates (must still have Java's Date.toString() shape), non-zero ephemeralOwner session ids
(numbered by first appearance), the build part of the `version` line, and the order of
`getEphemerals` lists (server hash order). Both shells run with TZ=UTC and a UTF-8 locale.

Session file format (tests/zkcli/sessions/*.zk), one step per line:
  cmd args...           a shell command, written to the shell's stdin verbatim
  \\text                 a shell command with Python escapes decoded, for lines that are
                        empty ("\\" alone), whitespace-only, or start with # @ ! ("\\\\t")
  # text                comment (blank lines are skipped)
  #! argv: ARGS         shell arguments (default: -server {hostport}); shlex-split
  #! nosync             no sentinel after each command (history/redo sessions)
  #! no-connect-wait    do not wait for the initial connect event
  #! inline-events      leave notifications where they occur (only where that position is
                        deterministic, e.g. with -waitforconnection); implies no-connect-wait
  @op args              a second client (kazoo, no chroot) acts; leading @ steps run before
                        the shell starts. ops: create [-e] [-s] PATH [DATA],
                        createb PATH HEX, set PATH DATA, delete PATH, deleteall PATH,
                        close (closes the second client's session)
  !events N [SECS]      wait until N notifications are queued (default 3 s), render them
                        (more than N, or fewer after the timeout, is reported as an anomaly)
  !sync                 (nosync sessions) send a sentinel, render output so far
  !sleep SECS           sleep
  !wait-gone PATH [SECS]  poll with the second client until PATH does not exist
Placeholders in commands and argv: {hostport} (127.0.0.1:port of the server),
{deadhostport} (a port nobody listens on), {tmp} (a per-run temporary directory).

One-shot cases (tests/zkcli/oneshot.txt): "name [flags]: ARGS" runs `shell ARGS` with stdin
from /dev/null and records stdout, stderr and the exit code; "@op" and "@file NAME TEXT"
lines run (in file order) between cases. Flag `noconn`: drop connection-state events
(SyncConnected/Closed with type None), whose presence is racy when the command exits
before the session is established.

Command line use (no pytest needed):
  python3 tests/zkcli/zkcli_harness.py show  [--mode A|B|C|D] [--raw] SESSION.zk|oneshot
  python3 tests/zkcli/zkcli_harness.py diff  [--mode B|C|D] SESSION.zk|oneshot   (vs A)
"""

import difflib
import glob
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import zkservers  # noqa: E402
from zkservers import stop_client as _stop_kazoo  # noqa: E402
from shellproc import EXIT_TIMEOUT, SENTINEL_TIMEOUT, ShellProcess  # noqa: E402
from transcript import Context, Transcript, mask  # noqa: E402

# kazoo logs connection retries (e.g. while a server starts) to stderr: not our output.
logging.getLogger("kazoo").setLevel(logging.CRITICAL)

HERE = os.path.dirname(os.path.abspath(__file__))
SESSIONS_DIR = os.path.join(HERE, "sessions")
ONESHOT_FILE = os.path.join(HERE, "oneshot.txt")

SENTINEL_PREFIX = "zkcli-sync-"
CONNECT_EVENT_TIMEOUT = 8.0
EVENT_GRACE = 0.15  # after `!events N` is satisfied, how long to look for more

MODES = {
    # mode: (shell kind, server kind)
    "A": ("ref", "zookeeper"),
    "B": ("ours", "zabkeeper"),
    "C": ("ours", "zookeeper"),
    "D": ("ref", "zabkeeper"),
}
MODE_TITLES = {
    "A": "A: zkCli.sh vs Apache ZooKeeper 3.8",
    "B": "B: zkcli vs zabkeeper",
    "C": "C: zkcli vs Apache ZooKeeper 3.8",
    "D": "D: zkCli.sh vs zabkeeper",
}


class HarnessError(zkservers.ServerError):
    """A setup problem (missing binary, server that does not start)."""


# ---------------------------------------------------------------------------------------
# Locating binaries


def zkcli_bin():
    try:
        return zkservers.repo_binary("zkcli", "ZKCLI_BIN")
    except zkservers.ServerError as e:
        raise HarnessError(str(e)) from None


def ref_cli():
    path = os.environ.get("ZKCLI_REF") or "/usr/share/zookeeper/bin/zkCli.sh"
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise HarnessError("zkCli.sh not found at %s (apt-get install zookeeper, or set "
                           "ZKCLI_REF)" % path)
    return path


def shell_argv(kind):
    return [ref_cli()] if kind == "ref" else [zkcli_bin()]


def shell_env():
    """A fixed environment for both shells: UTC dates, UTF-8 output, no JVM noise."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
                        "LC_ALL", "LC_CTYPE", "LANG", "LANGUAGE", "TZ")}
    env["TZ"] = "UTC"
    env["LANG"] = "C.UTF-8"
    env["LC_ALL"] = "C.UTF-8"
    # Only zkCli.sh reads this (appended to its java command line): faster JVM start.
    env["CLIENT_JVMFLAGS"] = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto"
    return env


# ---------------------------------------------------------------------------------------
# Servers


class Server(zkservers.Server):
    """A server child process on a free 127.0.0.1 port (see tests/zkservers.py); kind is
    zookeeper or zabkeeper. The JVM runs with the serial GC and without JAVA_TOOL_OPTIONS;
    start() raises HarnessError."""

    def __init__(self, kind):
        super().__init__(kind, prefix="zkcli", jvm_args=["-XX:+UseSerialGC"],
                         drop_env=["JAVA_TOOL_OPTIONS"])

    def start(self):
        try:
            return super().start()
        except zkservers.ServerError as e:
            raise HarnessError(str(e)) from None

    def wipe(self):
        """Removes everything a session may have left: every top-level node but /zookeeper,
        every quota, anything created under /zookeeper. Runs as the super user."""
        zk = self.client(super_user=True)
        try:
            for child in zk.get_children("/"):
                if child != "zookeeper":
                    zk.delete("/" + child, recursive=True)
            for child in zk.get_children("/zookeeper"):
                if child not in ("config", "quota"):
                    zk.delete("/zookeeper/" + child, recursive=True)
            if zk.exists("/zookeeper/quota"):
                for child in zk.get_children("/zookeeper/quota"):
                    zk.delete("/zookeeper/quota/" + child, recursive=True)
        finally:
            _stop_kazoo(zk)


# ---------------------------------------------------------------------------------------
# Parsing session and one-shot files


class Session:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.argv = "-server {hostport}"
        self.sync = True
        self.connect_wait = True
        self.inline_events = False
        self.pre = []    # kazoo steps before the shell starts
        self.steps = []  # ("cmd", text sent, text shown) | ("kz", text) | ("dir", text)
        with open(path, encoding="utf-8") as f:
            for raw in f.read().splitlines():
                line = raw.rstrip("\n")
                if line.startswith("#!"):
                    opt = line[2:].strip()
                    if opt.startswith("argv:"):
                        self.argv = opt[len("argv:"):].strip()
                    elif opt == "nosync":
                        self.sync = False
                    elif opt == "no-connect-wait":
                        self.connect_wait = False
                    elif opt == "inline-events":
                        self.inline_events = True
                        self.connect_wait = False
                    else:
                        raise ValueError("%s: unknown option %r" % (path, line))
                elif line.startswith("#") or not line.strip():
                    continue
                elif line.startswith("@"):
                    kind = ("kz", line[1:].strip())
                    if not self.steps:
                        self.pre.append(kind[1])
                    else:
                        self.steps.append(kind)
                elif line.startswith("!"):
                    self.steps.append(("dir", line[1:].strip()))
                elif line.startswith("\\"):
                    # Escaped command: the rest with Python escapes decoded ("\\" alone is an
                    # empty line, "\\\\t" a tab), for blank, whitespace-only or
                    # '#'/'@'/'!'-leading input lines.
                    sent = line[1:].encode("utf-8").decode("unicode_escape")
                    self.steps.append(("cmd", sent.encode("latin-1").decode("utf-8"), line))
                else:
                    self.steps.append(("cmd", line, line))


def list_sessions():
    return sorted(glob.glob(os.path.join(SESSIONS_DIR, "*.zk")))


class OneShotCase:
    def __init__(self, name, flags, args):
        self.name, self.flags, self.args = name, flags, args


def parse_oneshot(path=ONESHOT_FILE):
    """Returns a list of items: ("case", OneShotCase) | ("kz", text) | ("file", name, text)."""
    items = []
    names = set()
    with open(path, encoding="utf-8") as f:
        for raw in f.read().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@file "):
                _, name, text = line.split(" ", 2)
                items.append(("file", name, text.replace("\\n", "\n")))
            elif line.startswith("@"):
                items.append(("kz", line[1:].strip()))
            else:
                head, args = line.split(":", 1)
                parts = head.split()
                name, flags = parts[0], set(parts[1:])
                if name in names:
                    raise ValueError("duplicate one-shot case %s" % name)
                names.add(name)
                items.append(("case", OneShotCase(name, flags, args.strip())))
    return items


# ---------------------------------------------------------------------------------------
# Second client steps


def kazoo_step(zk2, text, server):
    """Runs one second-client step; returns a short result text or None."""
    parts = shlex.split(text)
    op, args = parts[0], parts[1:]
    if op == "create":
        flags = [a for a in args if a.startswith("-")]
        rest = [a for a in args if not a.startswith("-")]
        path = rest[0]
        data = rest[1].encode() if len(rest) > 1 else b""
        return "created " + zk2.create(path, data, ephemeral="-e" in flags,
                                       sequence="-s" in flags)
    if op == "createb":
        return "created " + zk2.create(args[0], bytes.fromhex(args[1]))
    if op == "set":
        zk2.set(args[0], args[1].encode())
        return None
    if op == "delete":
        zk2.delete(args[0])
        return None
    if op == "deleteall":
        zk2.delete(args[0], recursive=True)
        return None
    if op == "close":
        _stop_kazoo(zk2)
        return None
    raise ValueError("unknown second-client op %r" % op)


def wait_gone(server, path, timeout):
    zk = server.client()
    try:
        deadline = time.monotonic() + timeout
        while zk.exists(path) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)  # polling for server-side expiry (TTL / container)
        return True
    finally:
        _stop_kazoo(zk)


# ---------------------------------------------------------------------------------------
# Running a session


def run_session(session, shell_kind, server, raw=None):
    """Runs `session` with the shell (`ref` or `ours`) against `server`; returns the
    masked transcript text. `raw`, if a list, receives the unmasked transcript."""
    server.wipe()
    tmp = tempfile.mkdtemp(prefix="zkcli-run-")
    zk2 = None
    try:
        ctx = Context(server, tmp)
        tr = Transcript()
        zk2 = server.client()
        for text in session.pre:
            res = _kazoo(zk2, text, server)
            tr.add("@", text + (" -> " + res if res else ""))
        argv = shell_argv(shell_kind) + [ctx.subst(a) for a in shlex.split(session.argv)]
        tr.add("== start:", "zkcli " + session.argv)
        sh = ShellProcess(argv, shell_env(), tmp, inline_events=session.inline_events)
        try:
            _drive(session, sh, tr, ctx, zk2, server)
        finally:
            sh.kill()
            for s in (sh.p.stdin, sh.p.stdout, sh.p.stderr):
                try:
                    if s:
                        s.close()
                except OSError:
                    pass
        text = tr.text()
        if raw is not None:
            raw.append(_raw_text(sh, ctx))
        return mask(text, ctx)
    finally:
        if zk2 is not None:
            _stop_kazoo(zk2)
        shutil.rmtree(tmp, ignore_errors=True)


def _raw_text(sh, ctx):
    return ("---- raw stdout ----\n" + sh.raw["out"].decode("utf-8", "backslashreplace") +
            "---- raw stderr ----\n" + sh.raw["err"].decode("utf-8", "backslashreplace"))


def _kazoo(zk2, text, server):
    try:
        return kazoo_step(zk2, text, server)
    except Exception as e:  # recorded in the transcript: it is part of the scenario
        return "error " + type(e).__name__


class Segmenter:
    """Finds where the output of one batch of commands ends, with a sentinel command.

    The sentinel is an unknown command, "zkcli-sync-N": zkCli.sh handles it before its
    connection check, in every state (connected, closed, auth-failed), by printing the usage
    text and "Command not found: Command not found zkcli-sync-N" on stderr, and nothing on
    stdout; it changes nothing but the history. When that line has arrived, everything the
    earlier commands printed on either stream has arrived too (same thread, flushed per
    line). The block the sentinel printed (usage + last line) is learnt once per session
    by sending two sentinels in a row, so the stripping does not depend on the shell's exact
    usage text; a block that does not match what was learnt is reported as an anomaly."""

    def __init__(self, sh, tr):
        self.sh, self.tr = sh, tr
        self.n = 0
        self.template = None  # the learnt block, with "{}" for the sentinel name
        self.failed = False

    def _send(self):
        name = "%s%d" % (SENTINEL_PREFIX, self.n)
        self.n += 1
        self.sh.write_line(name)
        return name

    def _strip_block(self, err, name):
        """Removes the sentinel block ending with the last line mentioning `name`."""
        nb = name.encode()
        idx = max(i for i, l in enumerate(err) if nb in l)
        size = len(self.template)
        block = err[max(0, idx - size + 1):idx + 1]
        if [l.replace(nb, b"{}") for l in block] != self.template:
            self.tr.add("!", "runner: the sentinel's output changed: %r"
                        % [l.decode("utf-8", "replace") for l in block])
        return err[:max(0, idx - size + 1)] + err[idx + 1:]

    def close(self):
        """Sends the sentinel(s) and returns (ok, stdout lines, stderr lines) of everything
        since the previous segment. ok is False if the shell exited or hung."""
        sh = self.sh
        if self.failed:
            out, err = sh.take_all()
            return False, out, err
        if self.template is None:
            first, second = self._send(), self._send()
            if not sh.wait_err_marker(second.encode()):
                return self._give_up()
            out, err = sh.take_all()
            b1, b2 = first.encode(), second.encode()
            i1 = max(i for i, l in enumerate(err) if b1 in l)
            i2 = max(i for i, l in enumerate(err) if b2 in l)
            self.template = [l.replace(b2, b"{}") for l in err[i1 + 1:i2 + 1]]
            err = err[:i1 + 1] + err[i2 + 1:]
            err = self._strip_block(err, first)
            return True, out, err
        name = self._send()
        if not sh.wait_err_marker(name.encode()):
            return self._give_up()
        out, err = sh.take_all()
        return True, out, self._strip_block(err, name)

    def strip_leftovers(self, err):
        """Removes sentinel blocks still in `err` (after the runner stopped segmenting)."""
        if self.template is None:
            return err
        while True:
            names = [l for l in err if SENTINEL_PREFIX.encode() in l]
            if not names:
                return err
            m = re.search(re.escape(SENTINEL_PREFIX.encode()) + rb"\d+", names[-1])
            if not m:
                return err
            before = len(err)
            err = self._strip_block(err, m.group(0).decode())
            if len(err) == before:
                return err

    def _give_up(self):
        sh = self.sh
        out, err = sh.take_all()
        err = self.strip_leftovers(err)
        if not sh.exited:
            self.failed = True
            self.tr.add("!", "runner: no sentinel output within %.0f s (hung, or the shell "
                        "does not name an unknown command on stderr); not segmenting any "
                        "more" % SENTINEL_TIMEOUT)
        return False, out, err


def _drive(session, sh, tr, ctx, zk2, server):
    steps = session.steps
    seg = Segmenter(sh, tr)
    cmd_idx = [i for i, s in enumerate(steps) if s[0] == "cmd"]
    # The last command gets no sentinel (so the exit code is its own) unless other steps
    # follow it.
    final_cmd = cmd_idx[-1] if cmd_idx and cmd_idx[-1] == len(steps) - 1 else None
    pending_cmds = []    # commands sent since the last segment
    alive = True

    def close_segment():
        nonlocal pending_cmds, alive
        ok, out, err = seg.close()
        for c in pending_cmds:
            tr.add("$", c)
        pending_cmds = []
        tr.output(out, err)
        if not ok and sh.exited:
            alive = False

    # Startup: the banner is its own block (not in nosync sessions, where the sentinels
    # would be history entries 0 and 1: there the banner opens the first block); then the
    # connect event.
    if session.sync:
        close_segment()
    if session.connect_wait:
        if not sh.wait_events(1, CONNECT_EVENT_TIMEOUT):
            tr.add("!", "runner: no connect event within %.0f s" % CONNECT_EVENT_TIMEOUT)
        tr.output([], [], sh.take_events())

    for i, step in enumerate(steps):
        kind, text = step[0], step[1]
        shown = step[2] if kind == "cmd" else text
        if not alive:
            tr.add("$" if kind == "cmd" else ("@" if kind == "kz" else "!"), shown)
            tr.add("!", "not run: the shell has exited")
            continue
        if kind == "cmd":
            pending_cmds.append(shown)
            if not sh.write_line(ctx.subst(text)):
                alive = False
                tr.add("$", shown)
                tr.add("!", "not run: the shell has exited")
                pending_cmds.pop()
                continue
            if i == final_cmd:
                break
            # `quit` exits with the exit code of the command before it: no sentinel (an
            # unknown command, exit code 127) may come in between.
            nxt = steps[i + 1] if i + 1 < len(steps) else None
            if nxt and nxt[0] == "cmd" and nxt[1].split()[:1] == ["quit"]:
                continue
            if session.sync:
                close_segment()
            continue
        # second-client steps and directives: first close what is pending
        if pending_cmds or (kind == "dir" and text == "sync"):
            close_segment()
            if not alive:
                tr.add("@" if kind == "kz" else "!", shown)
                tr.add("!", "not run: the shell has exited")
                continue
        if kind == "kz":
            res = _kazoo(zk2, text, server)
            tr.add("@", text + (" -> " + res if res else ""))
            continue
        words = text.split()
        if words[0] == "sync":
            continue
        tr.add("!", text)
        if words[0] == "events":
            n = int(words[1])
            timeout = float(words[2]) if len(words) > 2 else 3.0
            if not sh.wait_events(n, timeout):
                tr.add("!", "runner: timed out waiting for %d events (got %d)"
                       % (n, len(sh.events)))
            # Grace period for stragglers: a count that is too low in the session file
            # would otherwise make the extra event land in a later block, racily.
            grace = time.monotonic() + (EVENT_GRACE if n else 2 * EVENT_GRACE)
            while time.monotonic() < grace:
                sh.pump(max(0.0, grace - time.monotonic()))
            got = sh.take_events()
            tr.output([], [], got)
            if len(got) > n:
                tr.add("!", "runner: expected %d events, got %d (fix the session file)"
                       % (n, len(got)))
        elif words[0] == "sleep":
            time.sleep(float(words[1]))
        elif words[0] == "wait-gone":
            timeout = float(words[2]) if len(words) > 2 else 10.0
            if not wait_gone(server, words[1], timeout):
                tr.add("!", "runner: %s still exists after %.0f s" % (words[1], timeout))
        else:
            raise ValueError("%s: unknown directive %r" % (session.path, text))

    sh.close_stdin()
    rc = sh.wait_exit()
    out, err = sh.take_all()
    err = seg.strip_leftovers(err)
    for c in pending_cmds:
        tr.add("$", c)
    tr.output(out, err, sh.take_events())
    if sh.killed:
        tr.add("!", "runner: killed, the shell did not exit within %.0f s" % EXIT_TIMEOUT)
    tr.add("== exit", str(rc))


# ---------------------------------------------------------------------------------------
# One-shot cases


def run_oneshot(shell_kind, server, raw=None):
    """Runs every case of oneshot.txt in order; returns {case name: masked transcript}."""
    server.wipe()
    tmp = tempfile.mkdtemp(prefix="zkcli-oneshot-")
    zk2 = server.client()
    results = {}
    try:
        ctx = Context(server, tmp)
        setup = []
        for item in parse_oneshot():
            if item[0] == "kz":
                res = _kazoo(zk2, item[1], server)
                setup.append("@ %s%s" % (item[1], " -> " + res if res else ""))
                continue
            if item[0] == "file":
                with open(os.path.join(tmp, item[1]), "w") as f:
                    f.write(item[2])
                continue
            case = item[1]
            tr = Transcript()
            for s in setup:
                tr.lines.append(s)
            setup = []
            tr.add("== run:", "zkcli " + case.args)
            argv = shell_argv(shell_kind) + [ctx.subst(a) for a in shlex.split(case.args)]
            sh = ShellProcess(argv, shell_env(), tmp, stdin_devnull=True,
                              inline_events="inline" in case.flags)
            try:
                rc = sh.wait_exit()
            finally:
                sh.kill()
                for s in (sh.p.stdout, sh.p.stderr):
                    s.close()
            out, err = sh.take_all()
            events = sh.take_events()
            if "noconn" in case.flags:
                out = [l for l in out if not (isinstance(l, tuple) and re.match(
                    rb"^WatchedEvent state:(SyncConnected|Closed) type:None path:null$",
                    l[0]))]
                events = [e for e in events
                          if not re.match(rb"^WatchedEvent state:(SyncConnected|Closed) "
                                          rb"type:None path:null$", e[0])]
            tr.output(out, err, events)
            if sh.killed:
                tr.add("!", "runner: killed, the shell did not exit within %.0f s"
                       % EXIT_TIMEOUT)
            tr.add("== exit", str(rc))
            results[case.name] = mask(tr.text(), ctx)
            if raw is not None:
                raw.append("#### %s\n%s" % (case.name, _raw_text(sh, ctx)))
        return results
    finally:
        _stop_kazoo(zk2)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Comparison


def unified_diff(ref, got, ref_title, got_title):
    return "".join(difflib.unified_diff(
        ref.splitlines(True), got.splitlines(True), fromfile=ref_title, tofile=got_title,
        n=4))


def anomalies(transcript):
    """Runner trouble recorded in a transcript (not differences between shells)."""
    return [l for l in transcript.splitlines()
            if l.startswith("! runner:") or "<-- no preceding WATCHER:: header" in l]


# ---------------------------------------------------------------------------------------
# Command line


def _main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Run zkcli golden sessions outside pytest.")
    ap.add_argument("action", choices=["show", "diff"])
    ap.add_argument("target", help="a session file/name, or 'oneshot'")
    ap.add_argument("--mode", default=None, help="A, B, C or D")
    ap.add_argument("--raw", action="store_true", help="also print unmasked raw output")
    a = ap.parse_args(argv)
    mode = a.mode or ("A" if a.action == "show" else "B")
    servers = {}

    def server_for(m):
        kind = MODES[m][1]
        if kind not in servers:
            servers[kind] = Server(kind).start()
        return servers[kind]

    def run(m, raw):
        shell, _ = MODES[m]
        if a.target == "oneshot":
            res = run_oneshot(shell, server_for(m), raw)
            return "".join("#### %s\n%s" % (k, v) for k, v in res.items())
        path = a.target
        if not os.path.exists(path):
            path = os.path.join(SESSIONS_DIR, a.target if a.target.endswith(".zk")
                                else a.target + ".zk")
        return run_session(Session(path), shell, server_for(m), raw)

    try:
        raw = [] if a.raw else None
        if a.action == "show":
            sys.stdout.write(run(mode, raw))
            if raw:
                sys.stdout.write("\n".join(raw))
            return 0
        ref = run("A", None)
        got = run(mode, raw)
        d = unified_diff(ref, got, MODE_TITLES["A"], MODE_TITLES[mode])
        sys.stdout.write(d or "identical\n")
        if raw:
            sys.stdout.write("\n".join(raw))
        return 1 if d else 0
    finally:
        for s in servers.values():
            s.cleanup()


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
