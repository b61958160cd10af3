"""Protocol operations kazoo (2.11) has no API for, sent through kazoo's own connection.

kazoo sends any request object with `type`, `serialize()` and `deserialize()`, and maps
error codes to its exception classes, so these are thin jute records:

  createContainer (19), createTTL (21), addWatch (106), removeWatches (18)

and an event tap that records every watch notification the session receives (kazoo itself
only delivers events to its one-shot watcher tables).
"""

import queue
import struct
import time
from collections import namedtuple

from kazoo.protocol.serialization import Watch, int_struct, read_string, stat_struct, write_buffer, write_string
from kazoo.protocol.states import ZnodeStat

# CreateMode flags (org.apache.zookeeper.CreateMode)
PERSISTENT = 0
EPHEMERAL = 1
PERSISTENT_SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# AddWatchMode
WATCH_PERSISTENT = 0
WATCH_PERSISTENT_RECURSIVE = 1

# WatcherType for removeWatches
WATCHER_CHILDREN = 1
WATCHER_DATA = 2
WATCHER_ANY = 3

# Event types (Watcher.Event.EventType)
EV_CREATED = 1
EV_DELETED = 2
EV_CHANGED = 3
EV_CHILD = 4

OPEN_ACL = None  # replaced per call with kazoo's OPEN_ACL_UNSAFE


def _acl_bytes(acl):
    b = bytearray(int_struct.pack(len(acl)))
    for a in acl:
        b.extend(int_struct.pack(a.perms) + write_string(a.id.scheme) + write_string(a.id.id))
    return b


class CreateExt(namedtuple("CreateExt", "type path data acl flags ttl")):
    """createContainer (type 19) or createTTL (type 21); reply is Create2Response."""

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend(write_buffer(self.data))
        b.extend(_acl_bytes(self.acl))
        b.extend(int_struct.pack(self.flags))
        if self.type == 21:
            b.extend(struct.pack("!q", self.ttl))
        return b

    @classmethod
    def deserialize(cls, bytes, offset):
        path, offset = read_string(bytes, offset)
        stat = ZnodeStat._make(stat_struct.unpack_from(bytes, offset))
        return path, stat


class AddWatch(namedtuple("AddWatch", "path mode")):
    type = 106

    def serialize(self):
        return bytearray(write_string(self.path) + int_struct.pack(self.mode))

    @classmethod
    def deserialize(cls, bytes, offset):
        return True


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    type = 18

    def serialize(self):
        return bytearray(write_string(self.path) + int_struct.pack(self.watcher_type))

    @classmethod
    def deserialize(cls, bytes, offset):
        return True


def _send(zk, request, timeout=15.0):
    result = zk.handler.async_result()
    zk._call(request, result)
    return result.get(timeout=timeout)


def _open_acl():
    from kazoo.security import OPEN_ACL_UNSAFE
    return OPEN_ACL_UNSAFE


def create_container(zk, path, data=b"", acl=None):
    """Returns (path, stat)."""
    return _send(zk, CreateExt(19, path, data, acl or _open_acl(), CONTAINER, -1))


def create_ttl(zk, path, ttl_ms, data=b"", acl=None, sequential=False):
    """Returns (path, stat)."""
    flags = PERSISTENT_SEQUENTIAL_WITH_TTL if sequential else PERSISTENT_WITH_TTL
    return _send(zk, CreateExt(21, path, data, acl or _open_acl(), flags, ttl_ms))


def create_with_flags(zk, path, flags, data=b"", acl=None, ttl=-1):
    """A raw createTTL request with arbitrary flags/ttl, for error-path tests."""
    return _send(zk, CreateExt(21, path, data, acl or _open_acl(), flags, ttl))


def add_watch(zk, path, mode):
    return _send(zk, AddWatch(path, mode))


def remove_watches(zk, path, watcher_type):
    return _send(zk, RemoveWatches(path, watcher_type))


class EventTap:
    """Records (type, path) of every watch notification the client's session receives."""

    def __init__(self, zk):
        self.events = queue.Queue()
        conn = zk._connection
        original = conn._read_watch_event

        def tapped(buffer, offset):
            watch, _ = Watch.deserialize(buffer, offset)
            self.events.put((watch.type, watch.path))
            return original(buffer, offset)

        conn._read_watch_event = tapped

    def next(self, timeout=10.0):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no watch event within %.0f s" % timeout)

    def until(self, wanted, timeout=10.0):
        """Collects events up to and including `wanted`; returns those before it."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("event %r not seen within %.0f s; saw %r" % (wanted, timeout, seen))
            ev = self.next(timeout=left)
            if ev == wanted:
                return seen
            seen.append(ev)


def create_plain(zk, path, data=b"", acl=None, flags=PERSISTENT):
    """A raw create2 request, sending `acl` exactly as given (kazoo turns [] into its default)."""
    from kazoo.protocol.serialization import Create2
    return _send(zk, Create2(path, data, _open_acl() if acl is None else acl, flags))
