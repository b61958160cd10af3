"""Hand-built client-protocol frames: ZooKeeper 3.8's answers to malformed requests.

Records, byte for byte over a plain socket (no kazoo on these requests; kazoo only creates
the test's node), what Apache ZooKeeper 3.8 answers to requests that are well framed but
carry something undecodable or invalid, so zabkeeper's parity with it stays measured. Each
case checks the reply's error code and xid, whether the connection stays usable (a
following getData("/") on the same socket gets err 0) or is closed (EOF within 20 s), and
the reply zxid only loosely. What ZooKeeper 3.8 does, established by running these:

  * an undecodable field (negative, null or too-long string/buffer, a huge vector count, a
    body ending early, a multi without its end marker, createSession without a body):
    MARSHALLINGERROR (-5) and the connection stays;
  * a null, empty or count -2 ACL vector: INVALIDACL (-114), checked before the node
    (setACL on a missing node, create under a missing parent) is looked up;
  * an unknown op code: UNIMPLEMENTED (-6) with zxid -1, then the server closes;
  * create with an invalid path: the parent (everything before the last '/') is looked up
    first, so NONODE (-101) when it is missing, BADARGUMENTS (-8) only when it exists;
  * createSession (-10) with a timeout body on an established session: the handshake's
    ConnectResponse again, same session; the connection stays;
  * a frame too short for the RequestHeader: closed without a reply.
"""

import socket
import struct
import time
import uuid

import pytest

DEADLINE = 20.0  # seconds for any answer, or for the server to close
XID = 7
FOLLOW_XID = 8

MARSHALLINGERROR, UNIMPLEMENTED, BADARGUMENTS, NONODE, INVALIDACL = -5, -6, -8, -101, -114
CREATE, EXISTS, GET_DATA, SET_DATA, SET_ACL, CHECK, MULTI, CREATE_SESSION = 1, 3, 4, 5, 7, 13, 14, -10


def i32(v):
    return struct.pack(">i", v)


def buf(b):
    return i32(-1) if b is None else i32(len(b)) + b


def ustr(s):
    return buf(None if s is None else s.encode())


OPEN_ACL = i32(1) + i32(31) + ustr("world") + ustr("anyone")  # vector<ACL>: world:anyone ALL


def create_rec(path, data=b"", acl=OPEN_ACL, flags=0):
    return ustr(path) + buf(data) + acl + i32(flags)


def multi_header(op, done=False, err=-1):
    return i32(op) + bytes([int(done)]) + i32(err)


class RawClient:
    """One plain 127.0.0.1 socket speaking the client protocol by hand."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.pending = b""

    def close(self):
        self.sock.close()

    def send_frame(self, body):
        self.sock.sendall(i32(len(body)) + body)

    def _read_exact(self, n, deadline):
        while len(self.pending) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no answer and no close within %.0f s" % DEADLINE)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:  # reset by the server
                return None
            if not data:
                return None
            self.pending += data
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def read_frame(self):
        """The next frame's body, or None when the server closed the connection."""
        deadline = time.monotonic() + DEADLINE
        head = self._read_exact(4, deadline)
        if head is None:
            return None
        return self._read_exact(struct.unpack(">i", head)[0], deadline)

    def handshake(self, timeout_ms=30000):
        """Opens a new session; returns the raw ConnectResponse body."""
        self.send_frame(struct.pack(">iqiq", 0, 0, timeout_ms, 0) + buf(b"\0" * 16) + b"\0")
        resp = self.read_frame()
        assert resp is not None, "server closed during the handshake"
        assert struct.unpack(">q", resp[8:16])[0] != 0, "no session id"
        return resp

    def reply(self):
        """(xid, zxid, err, body) of the next reply (notifications skipped), or None."""
        while True:
            frame = self.read_frame()
            if frame is None:
                return None
            xid, zxid, err = struct.unpack(">iqi", frame[:16])
            if xid != -1:
                return xid, zxid, err, frame[16:]

    def request(self, xid, op, record=b""):
        self.send_frame(struct.pack(">ii", xid, op) + record)

    def assert_usable(self, after_zxid=None):
        """A getData("/") on this socket still succeeds."""
        try:
            self.request(FOLLOW_XID, GET_DATA, ustr("/") + b"\0")
        except OSError as e:
            raise AssertionError("connection unusable: %r" % e)
        r = self.reply()
        assert r is not None, "server closed the connection"
        assert r[:1] + r[2:3] == (FOLLOW_XID, 0), r[:3]
        if after_zxid is not None:
            assert r[1] >= after_zxid

    def assert_closed(self):
        r = self.reply()
        assert r is None, "expected the server to close, got reply %r" % (r[:3],)


@pytest.fixture
def raw(server):
    c = RawClient(server.port)
    try:
        c.handshake()
        yield c
    finally:
        c.close()


# (case id, op code, record builder(node, missing), expected err, connection stays open)
# node: an existing persistent node; missing: a path that does not exist, unique per test.
CASES = [
    # undecodable fields in an otherwise well-framed request
    ("getData-path-len-minus2", GET_DATA, lambda n, m: i32(-2) + b"\0", MARSHALLINGERROR, True),
    ("getData-path-null", GET_DATA, lambda n, m: ustr(None) + b"\0", MARSHALLINGERROR, True),
    ("getData-path-past-frame-end", GET_DATA, lambda n, m: i32(100) + b"/ab\0",
     MARSHALLINGERROR, True),
    ("getData-header-only", GET_DATA, lambda n, m: b"", MARSHALLINGERROR, True),
    ("exists-path-len-minus2", EXISTS, lambda n, m: i32(-2) + b"\0", MARSHALLINGERROR, True),
    ("exists-no-watch-byte", EXISTS, lambda n, m: ustr("/"), MARSHALLINGERROR, True),
    ("create-path-len-minus2", CREATE, lambda n, m: i32(-2), MARSHALLINGERROR, True),
    ("create-path-null", CREATE, lambda n, m: create_rec(None), MARSHALLINGERROR, True),
    ("create-data-len-minus2", CREATE, lambda n, m: ustr(m) + i32(-2) + OPEN_ACL + i32(0),
     MARSHALLINGERROR, True),
    ("create-acl-count-2^31-1", CREATE, lambda n, m: ustr(m) + buf(b"") + i32(2 ** 31 - 1),
     MARSHALLINGERROR, True),
    ("setData-data-past-frame-end", SET_DATA, lambda n, m: ustr(n) + i32(1000) + b"abc",
     MARSHALLINGERROR, True),
    ("multi-create-no-end-marker", MULTI,
     lambda n, m: multi_header(CREATE) + create_rec(m), MARSHALLINGERROR, True),
    ("multi-check-no-end-marker", MULTI,
     lambda n, m: multi_header(CHECK) + ustr(n) + i32(-1), MARSHALLINGERROR, True),
    ("createSession-header-only", CREATE_SESSION, lambda n, m: b"", MARSHALLINGERROR, True),
    # invalid ACL vectors: checked before the node or its parent is looked up
    ("setACL-count-minus2", SET_ACL, lambda n, m: ustr(n) + i32(-2) + i32(-1), INVALIDACL, True),
    ("setACL-count-minus1", SET_ACL, lambda n, m: ustr(n) + i32(-1) + i32(-1), INVALIDACL, True),
    ("setACL-count-0", SET_ACL, lambda n, m: ustr(n) + i32(0) + i32(-1), INVALIDACL, True),
    ("setACL-missing-node-count-minus2", SET_ACL, lambda n, m: ustr(m) + i32(-2) + i32(-1),
     INVALIDACL, True),
    ("create-acl-count-minus1-missing-parent", CREATE,
     lambda n, m: create_rec(m + "/c", acl=i32(-1)), INVALIDACL, True),
    # unknown op codes: UNIMPLEMENTED, then the server closes the connection
    ("op-9999", 9999, lambda n, m: b"", UNIMPLEMENTED, False),
    ("op-0", 0, lambda n, m: b"", UNIMPLEMENTED, False),
    ("op-10", 10, lambda n, m: b"", UNIMPLEMENTED, False),
]

# create with an invalid path: the parent (up to the last '/') is looked up first
MISSING_PARENT_PATHS = [  # -> NONODE
    ("<missing>/", lambda n, m: m + "/"), ("<missing>/./x", lambda n, m: m + "/./x"),
    ("<missing>//x", lambda n, m: m + "//x"), ("<missing>/x/", lambda n, m: m + "/x/"),
    ("/./x", lambda n, m: "/./x"), ("<node>//x", lambda n, m: n + "//x"),
    ("<node>/./x", lambda n, m: n + "/./x"), ("<node>/x/", lambda n, m: n + "/x/"),
    ("<node>/x/.", lambda n, m: n + "/x/."), ("x/y", lambda n, m: "x/y"),
]
EXISTING_PARENT_PATHS = [  # -> BADARGUMENTS
    ("<node>/", lambda n, m: n + "/"), ("<node>/.", lambda n, m: n + "/."),
    ("<node>/..", lambda n, m: n + "/.."), ("/.", lambda n, m: "/."), ("//x", lambda n, m: "//x"),
    ("<node>/NUL-x", lambda n, m: n + "/\0x"), ("x", lambda n, m: "x"), ("empty", lambda n, m: ""),
]
for _paths, _err in ((MISSING_PARENT_PATHS, NONODE), (EXISTING_PARENT_PATHS, BADARGUMENTS)):
    for _id, _path in _paths:
        CASES.append(("create-path-" + _id, CREATE,
                      lambda n, m, path=_path: create_rec(path(n, m)), _err, True))


@pytest.mark.parametrize("op,build,err,stays", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_request(raw, base, op, build, err, stays):
    missing = "/nope-%s" % uuid.uuid4().hex
    raw.request(XID, op, build(base, missing))
    r = raw.reply()
    assert r is not None, "server closed without a reply"
    xid, zxid, got_err, _body = r
    assert (xid, got_err) == (XID, err)
    if stays:
        assert zxid > 0  # loosely: a real zxid, not -1
        raw.assert_usable(after_zxid=zxid)
    else:
        raw.assert_closed()


def test_create_session_op_on_established_session(server):
    """createSession (-10) with a timeout body on an established session: ZooKeeper sends
    the handshake's ConnectResponse again (no ReplyHeader) and keeps the connection."""
    c = RawClient(server.port)
    try:
        hello = c.handshake()
        c.request(XID, CREATE_SESSION, i32(3000))
        again = c.read_frame()
        assert again == hello
        c.assert_usable()
    finally:
        c.close()


@pytest.mark.parametrize("xid", [181, -8], ids=["java-client-xid", "kazoo-xid"])
@pytest.mark.parametrize("op", [101, 105], ids=["setWatches", "setWatches2"])
def test_set_watches_is_answered_with_the_request_xid(raw, base, xid, op):
    """The Java client renumbers the setWatches it queues with xid -8 to an ordinary xid when
    it writes it, and closes the connection ("Xid out of order") if the reply carries any
    other; kazoo sends -8. ZooKeeper answers with the request's xid in both cases."""
    paths = i32(1) + ustr(base)
    empty = i32(0)
    lists = paths + paths + paths + ((empty + empty) if op == 105 else b"")
    raw.request(xid, op, struct.pack(">q", 0) + lists)
    r = raw.reply()
    assert r is not None, "server closed without a reply"
    assert r[:3:2] == (xid, 0)
    raw.assert_usable()


def test_frame_shorter_than_request_header_closes_without_reply(raw):
    raw.send_frame(i32(XID) + b"\0\0")  # 6 bytes: no room for the op code
    raw.assert_closed()


def test_connection_survives_several_bad_requests_in_a_row(raw, base):
    for xid, (op, rec, err) in enumerate([
            (GET_DATA, i32(-2), MARSHALLINGERROR),
            (SET_ACL, ustr(base) + i32(-2) + i32(-1), INVALIDACL),
            (CREATE, create_rec(base + "/"), BADARGUMENTS)], start=100):
        raw.request(xid, op, rec)
        assert raw.reply()[:3:2] == (xid, err)
    raw.assert_usable()


def multi_results(body):
    """(type, err) of each result in a MultiResponse body, up to its end marker."""
    out, at = [], 0
    while True:
        ty, done, err = struct.unpack(">i?i", body[at:at + 9])
        at += 9
        if done:
            return out
        out.append((ty, err))
        if ty in (CREATE, 15, 19, 21):  # create: a path; create2/TTL/container: path + Stat
            n = struct.unpack(">i", body[at:at + 4])[0]
            at += 4 + max(n, 0)
            if ty != CREATE:
                at += 68  # Stat: 3 longs, 3 ints... 8+8+8+8+4+4+4+8+4+4+8
        elif ty == SET_DATA:
            at += 68
        elif ty == -1:
            at += 4


@pytest.mark.parametrize("sub_op,flags,expect", [
    (15, 0, CREATE),        # create2: ZooKeeper re-reads it as Op.create, a create
    (15, 4, 15),            # create2 with the container flag: a createContainer, whose
    (19, 0, CREATE),        #   result ZooKeeper reports as a create2 (path and Stat);
    (CREATE, 4, 15),        # createContainer without the flag: a create
], ids=["create2", "create2-container-flag", "container-op-persistent-flag", "create-container-flag"])
def test_multi_create_ops_take_their_type_from_the_flags(raw, base, sub_op, flags, expect):
    """ZooKeeper rebuilds each create in a multi from its flags (MultiOperationRecord reads
    it into Op.create): the op code the client sent is dropped, and the result (and the txn
    every member applies) has the type the flags say. A create2 in a multi is answered
    with a plain create's result, and never reaches a txn log as create2 (which ZooKeeper
    3.8 members cannot apply inside a multi)."""
    path = "%s/m-%s" % (base, uuid.uuid4().hex[:8])
    raw.request(XID, MULTI, multi_header(sub_op) + create_rec(path, flags=flags) + multi_header(-1, True))
    r = raw.reply()
    assert r is not None, "server closed without a reply"
    assert r[:3:2] == (XID, 0), r[:3]
    assert multi_results(r[3]) == [(expect, 0)]
    raw.assert_usable()
