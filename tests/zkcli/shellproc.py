"""The shell child process of the zkcli golden suite: a zkCli.sh or zkcli process with
non-blocking capture of stdout and stderr; exactly-formed watch notifications are taken out
of stdout and queued (see zkcli_harness.py for how sessions drive it)."""

import os
import re
import select
import signal
import subprocess
import time

SENTINEL_TIMEOUT = 8.0  # one command (a hung shell costs this much per segment)
EXIT_TIMEOUT = 20.0


EVENT_RE = re.compile(rb"^WatchedEvent state:\S+ type:\S+ path:.*$")


class ShellProcess:
    """A shell child with non-blocking capture of stdout and stderr. Stdout is split into
    lines; exactly-formed watch notifications are removed from it and queued."""

    def __init__(self, argv, env, cwd, stdin_devnull=False, inline_events=False):
        self.inline_events = inline_events
        self.p = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL if stdin_devnull else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
            start_new_session=True)
        self.fds = {}
        for stream, name in ((self.p.stdout, "out"), (self.p.stderr, "err")):
            os.set_blocking(stream.fileno(), False)
            self.fds[stream.fileno()] = name
        self.raw = {"out": b"", "err": b""}     # everything read (for --raw)
        self.partial = {"out": b"", "err": b""}
        self.out_lines = []   # stdout lines, notifications removed
        self.err_lines = []
        self.events = []      # queued notifications (bytes, "ok" | "noheader")
        self.orphan_headers = 0
        self._held_blank = False
        self._headers = 0
        self._err_prefix = b""
        self.eof = {"out": False, "err": False}
        self.killed = False

    # -- reading

    def pump(self, timeout):
        """Reads whatever arrives within `timeout` seconds (returns early on data)."""
        open_fds = [fd for fd, name in self.fds.items() if not self.eof[name]]
        if not open_fds:
            if timeout > 0:
                time.sleep(min(timeout, 0.01))
            return False
        ready, _, _ = select.select(open_fds, [], [], timeout)
        got = False
        for fd in ready:
            name = self.fds[fd]
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                self.eof[name] = True
                continue
            got = True
            self.raw[name] += data
            self.partial[name] += data
            *lines, self.partial[name] = self.partial[name].split(b"\n")
            for line in lines:
                if name == "out":
                    self._out_line(line)
                else:
                    self._err_line(line)
        return got

    def _err_line(self, line):
        # SLF4J's "no binding" warnings come from whichever JVM thread logs first, so they
        # can land between other lines or even inside one (after the JVM's
        # 'Exception in thread "main" ' prefix): dropped at capture, and a line they cut
        # is joined again.
        pos = line.find(b"SLF4J: ")
        if pos >= 0:
            self._err_prefix += line[:pos]
            return
        if self._err_prefix:
            line, self._err_prefix = self._err_prefix + line, b""
        self.err_lines.append(line)

    def drain(self):
        while self.pump(0):
            pass

    def _out_line(self, line):
        if self._held_blank:
            self._held_blank = False
            if line == b"WATCHER::":
                self._headers += 1
                return
            if EVENT_RE.match(line):
                if self._headers > 0:
                    self._headers -= 1
                    ev = (line, "ok")
                else:
                    ev = (line, "noheader")
                if self.inline_events:
                    self.out_lines.append(ev)
                else:
                    self.events.append(ev)
                return
            self.out_lines.append(b"")
        if line == b"":
            self._held_blank = True
            return
        self.out_lines.append(line)

    def flush_held(self):
        if self._held_blank:
            self._held_blank = False
            self.out_lines.append(b"")

    @property
    def exited(self):
        return self.eof["out"] and self.eof["err"]

    # -- writing

    def write_line(self, text):
        if self.p.stdin is None or self.p.stdin.closed:
            return False
        try:
            self.p.stdin.write(text.encode("utf-8") + b"\n")
            self.p.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def close_stdin(self):
        if self.p.stdin is not None and not self.p.stdin.closed:
            try:
                self.p.stdin.close()
            except (BrokenPipeError, OSError):
                pass

    # -- waiting

    def wait_err_marker(self, marker, timeout=SENTINEL_TIMEOUT):
        """Waits until a stderr line contains `marker`; returns True if seen."""
        deadline = time.monotonic() + timeout
        while True:
            if any(marker in l for l in self.err_lines):
                return True
            if self.exited:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(left, 0.5))

    def wait_events(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.events) < n and not self.exited:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.pump(min(left, 0.2))
        return len(self.events) >= n

    def wait_exit(self, timeout=EXIT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.exited and time.monotonic() < deadline:
            self.pump(0.2)
        if not self.exited:
            self.kill()
        try:
            rc = self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.p.wait(timeout=10)
        self.drain()
        for name in ("out", "err"):
            if self.partial[name]:
                tail = self.partial[name] + b"\\ (no newline at end)"
                self.partial[name] = b""
                if name == "out":
                    self._out_line(tail)
                else:
                    self.err_lines.append(tail)
        self.flush_held()
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.killed = True
            try:
                os.killpg(self.p.pid, signal.SIGKILL)  # our own child's process group
            except ProcessLookupError:
                pass

    # -- taking output

    def take_all(self):
        """Everything captured so far: (stdout lines, stderr lines)."""
        self.drain()
        out, self.out_lines = self.out_lines, []
        err, self.err_lines = self.err_lines, []
        return out, err

    def take_events(self):
        ev, self.events = self.events, []
        return ev
