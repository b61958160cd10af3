"""Transcripts of the zkcli golden suite: what a shell printed, rendered one prefixed line
per output line, and the masking of values that differ between runs and servers (zxids,
dates, session ids, ports, versions, log noise)."""

import re

from zkservers import free_port


def _line_text(b):
    s = b.decode("utf-8", "backslashreplace")
    s = "".join(c if (c == "\t" or ord(c) >= 32) and c != "\x7f" else "\\x%02x" % ord(c)
                for c in s)
    if s != s.rstrip():
        s += "$"
    return s


class Transcript:
    def __init__(self):
        self.lines = []

    def add(self, prefix, text):
        self.lines.append("%s %s" % (prefix, text) if text != "" else prefix)

    def output(self, out, err, events=()):
        for l in out:
            if isinstance(l, tuple):  # an inline notification
                self.event(*l)
            else:
                self.add("1|", _line_text(l))
        for l in err:
            self.add("2|", _line_text(l))
        for ev, status in events:
            self.event(ev, status)

    def event(self, ev, status):
        t = _line_text(ev)
        self.add("ev|", t if status == "ok" else t + "   <-- no preceding WATCHER:: header")

    def text(self):
        return "\n".join(self.lines) + "\n"


class Context:
    """Values to substitute into commands and to mask back out of output."""

    def __init__(self, server, tmp):
        self.server = server
        self.tmp = tmp
        self.dead_port = free_port()

    def subst(self, text):
        return (text.replace("{hostport}", self.server.hostport)
                .replace("{deadhostport}", "127.0.0.1:%d" % self.dead_port)
                .replace("{tmp}", self.tmp))


DATE_RE = r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} [A-Z]{2,5} \d{4}"
EPOCH_DATE = "Thu Jan 01 00:00:00 UTC 1970"
STAT_ZXID_RE = re.compile(r"^(\d\| (?:cZxid|mZxid|pZxid) = )0x([0-9a-f]+)$")
STAT_DATE_RE = re.compile(r"^(\d\| (?:ctime|mtime) = )(%s)$" % DATE_RE)
EPH_OWNER_RE = re.compile(r"^(\d\| ephemeralOwner = )0x([0-9a-f]+)$")
VERSION_RE = re.compile(
    r"^(\d\| ZooKeeper CLI version: \d+\.\d+\.\d+)-(\S+), built on (\d{4}-\d{2}-\d{2} "
    r"\d{2}:\d{2}) (\S+)$")
NOISE_RES = [
    re.compile(r"^2\| SLF4J: "),                 # logging back-end warnings
    re.compile(r"^2\| \tat "),                   # Java stack frames
    re.compile(r"^2\| \t\.\.\. \d+ more$"),
    re.compile(r"^2\| \d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}[,.]\d+ \[.*\] (INFO|WARN|DEBUG) "),
]


def mask(text, ctx):
    """Masks the run-dependent parts of a rendered transcript (see module doc)."""
    zxids, sessions = {}, {}
    out = []
    last_cmd = ""
    for line in text.split("\n"):
        if line.startswith("$ "):
            last_cmd = line[2:].strip()
        elif line.startswith("== run: "):
            last_cmd = line.split(" ", 3)[-1]
        # getEphemerals prints the server's list unsorted (Apache ZooKeeper: Java HashSet
        # order): the order is server noise, not shell behaviour.
        if (last_cmd.split()[:1] == ["getEphemerals"] or " getEphemerals" in last_cmd) \
                and line.startswith("1| [") and line.endswith("]") and len(line) > 5:
            line = "1| [" + ", ".join(sorted(line[4:-1].split(", "))) + "]"
        if ctx is not None:
            line = line.replace(ctx.server.hostport, "127.0.0.1:<port>")
            line = line.replace("localhost:%d" % ctx.server.port, "localhost:<port>")
            line = line.replace("127.0.0.1:%d" % ctx.dead_port, "127.0.0.1:<deadport>")
            line = line.replace(ctx.tmp, "<tmp>")
        if any(r.match(line) for r in NOISE_RES):
            continue
        m = STAT_ZXID_RE.match(line)
        if m and m.group(2) != "0":
            n = zxids.setdefault(m.group(2), len(zxids) + 1)
            line = "%s0x<zxid%d>" % (m.group(1), n)
        m = STAT_DATE_RE.match(line)
        if m and m.group(2) != EPOCH_DATE:
            line = "%s<date>" % m.group(1)
        m = EPH_OWNER_RE.match(line)
        if m and m.group(2) != "0":
            n = sessions.setdefault(m.group(2), len(sessions) + 1)
            line = "%s0x<session%d>" % (m.group(1), n)
        m = VERSION_RE.match(line)
        if m:
            line = "%s-<build>, built on <date> %s" % (m.group(1), m.group(4))
        out.append(line)
    return "\n".join(out)
