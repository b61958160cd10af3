"""Small helpers shared by the compat tests."""

import socket
import time


def four_letter(port, cmd, timeout=10.0):
    """Sends a four-letter word and returns the whole reply (the server closes after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        # bytes for a word that carries more (stmk's mask), else the word as text
        s.sendall(cmd if isinstance(cmd, bytes) else cmd.encode("ascii"))
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")


def wait_for(cond, timeout=20.0, what="condition"):
    """Polls `cond` until it returns something truthy, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.02)  # polling interval


def port_of(server, zk):
    """The client port of the member `zk` is connected to: the server's own port for a single
    server; for an ensemble, the member kazoo picked (four-letter words about a session
    must go to the member that holds its connection)."""
    if server.kind in ("zabkeeper", "zookeeper"):
        return server.port
    return zk._connection._socket.getpeername()[1]
