#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A xenstore protocol server on a Unix socket, for tests (the project's one
test double: no real xenstored runs without the Xen hypervisor).

Speaks the wire protocol of Xen's docs/misc/xenstore.txt well enough for
libxenstore and the xenstore-utils tools (xenstore-read, -write, -ls, -rm,
-list, -exists, -watch, -chmod, -control): a header of four little-endian
uint32 (type, req_id, tx_id, len), then len bytes of NUL-separated strings.
Clients reach it with XENSTORED_PATH=SOCKET.  Every client is dom0.

What it does:
- DIRECTORY, DIRECTORY_PART, READ, WRITE (creating parents), MKDIR, RM,
  GET_PERMS / SET_PERMS (stored, never enforced), GET_DOMAIN_PATH;
- WATCH (with the initial event), UNWATCH, RESET_WATCHES; a write fires the
  watches on the node and its ancestors, a removal also those below it;
- the special watches @introduceDomain / @releaseDomain: fired by
  INTRODUCE / RELEASE, and when a domain's home /local/domain/N (N > 0)
  appears or disappears, so that `xenstore-rm /local/domain/3` is how a
  test destroys domain 3; IS_DOMAIN_INTRODUCED answers from the store;
- TRANSACTION_START / END: reads and writes go to a snapshot, a commit
  replays the writes on the store (no conflict detection), an abort drops
  them;
- CONTROL (alias DEBUG), RESUME, SET_TARGET answer OK; anything else gets an
  EINVAL error reply, never silence.  Several clients at once (selectors).
- A test control: writing N to /tool/xs-testserver/mute-after makes the
  server answer N more requests (of any client), then none at all, as a
  xenstored that stops answering midway.

Usage: xs-testserver.py SOCKET [--seed FILE]... [--ready-fd FD] [--verbose]
A seed file is JSON ({"path": "value", "dir": null}) or lines "path=value"
("path" alone makes an empty node, "#" starts a comment).  With --ready-fd
the server writes "ready\\n" to that inherited descriptor once it listens.
SIGTERM or SIGINT stop it and remove the socket.
"""

import argparse
import copy
import json
import os
import selectors
import signal
import socket
import struct
import sys

CONTROL, DIRECTORY, READ, GET_PERMS, WATCH, UNWATCH = 0, 1, 2, 3, 4, 5
TRANSACTION_START, TRANSACTION_END, INTRODUCE, RELEASE = 6, 7, 8, 9
GET_DOMAIN_PATH, WRITE, MKDIR, RM, SET_PERMS, WATCH_EVENT = 10, 11, 12, 13, 14, 15
ERROR, IS_DOMAIN_INTRODUCED, RESUME, SET_TARGET = 16, 17, 18, 19
RESET_WATCHES, DIRECTORY_PART = 21, 22

HDR = struct.Struct("<IIII")
PAYLOAD_MAX = 4096
HOME0 = "/local/domain/0"
INTRODUCE_DOMAIN = "@introduceDomain"
RELEASE_DOMAIN = "@releaseDomain"


class XsError(Exception):
    """An error reply: its name is the errno name sent on the wire."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name


class Node:
    __slots__ = ("value", "children", "perms", "generation")

    def __init__(self, value=b""):
        self.value = value
        self.children = {}          # name -> Node, in creation order
        self.perms = ["n0"]         # owner dom0, no access for others
        self.generation = 0


def is_child(child, parent):
    """True when child is parent or below it (xenstore paths)."""
    if parent == "/":
        return child.startswith("/")
    return child == parent or child.startswith(parent + "/")


def split(path):
    return [c for c in path.split("/") if c]


class Tree:
    """The store: a tree of Nodes addressed by absolute paths."""

    def __init__(self):
        self.root = Node()
        self.generation = 0

    def find(self, path):
        node = self.root
        for c in split(path):
            node = node.children.get(c)
            if node is None:
                return None
        return node

    def get(self, path):
        node = self.find(path)
        if node is None:
            raise XsError("ENOENT")
        return node

    def _bump(self, node):
        self.generation += 1
        node.generation = self.generation

    def write(self, path, value):
        node = self.root
        for c in split(path):
            if c not in node.children:
                node.children[c] = Node()
                self._bump(node)
            node = node.children[c]
        node.value = value
        self._bump(node)

    def mkdir(self, path):
        if self.find(path) is None:
            self.write(path, b"")

    def rm(self, path):
        comps = split(path)
        if not comps:
            raise XsError("EINVAL")
        parent = self.find("/" + "/".join(comps[:-1]))
        if parent is None:
            raise XsError("ENOENT")
        if comps[-1] in parent.children:
            del parent.children[comps[-1]]
            self._bump(parent)

    def set_perms(self, path, perms):
        node = self.get(path)
        node.perms = perms
        self._bump(node)

    def domids(self):
        dom = self.find("/local/domain")
        return {c for c in dom.children if c.isdigit()} if dom else set()


class Watch:
    __slots__ = ("given", "abspath", "token")

    def __init__(self, given, abspath, token):
        self.given, self.abspath, self.token = given, abspath, token


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.watches = []
        self.txns = {}          # id -> (snapshot Tree, [replayed ops])


class Server:
    def __init__(self, path, verbose=False):
        self.path = path
        self.verbose = verbose
        self.tree = Tree()
        self.conns = {}
        self.next_txn = 1
        self.sel = selectors.DefaultSelector()
        self.running = True
        self.mute_after = None  # requests still answered; None: all

    def log(self, msg):
        if self.verbose:
            print(f"xs-testserver: {msg}", file=sys.stderr, flush=True)

    # ---- paths and events

    @staticmethod
    def canonical(path):
        """Absolute path of a request's path (relative ones are dom0's)."""
        if not path or "\0" in path:
            raise XsError("EINVAL")
        if path.startswith("@"):
            return path
        if not path.startswith("/"):
            path = HOME0 + "/" + path
        if "//" in path:
            raise XsError("EINVAL")
        if len(path) > 1:
            path = path.rstrip("/")
        return path

    def send(self, conn, mtype, req_id, tx_id, payload):
        conn.outbuf += HDR.pack(mtype, req_id, tx_id, len(payload)) + payload
        self.flush(conn)

    def event(self, conn, w, path):
        if w.given.startswith("/") or w.given.startswith("@"):
            shown = path
        else:
            shown = path[len(HOME0) + 1:] if path.startswith(HOME0 + "/") else path
        self.log(f"event {shown} token {w.token}")
        self.send(conn, WATCH_EVENT, 0, 0, shown.encode() + b"\0" + w.token.encode() + b"\0")

    def fire(self, path, recurse=False):
        for conn in list(self.conns.values()):
            for w in list(conn.watches):
                if w.abspath.startswith("@"):
                    continue
                if is_child(path, w.abspath):
                    self.event(conn, w, path)
                elif recurse and is_child(w.abspath, path):
                    self.event(conn, w, w.abspath)

    def fire_special(self, name):
        for conn in list(self.conns.values()):
            for w in list(conn.watches):
                if w.abspath == name:
                    self.event(conn, w, name)

    # ---- changes to the live store (watches fire) or a transaction's

    def change(self, op, args, txn=None):
        if txn is not None:
            tree, ops = txn
            getattr(tree, op)(*args)
            ops.append((op, args))
            return
        before = self.tree.domids()
        getattr(self.tree, op)(*args)
        after = self.tree.domids()
        self.fire(args[0], recurse=(op == "rm"))
        for _ in sorted(after - before):
            self.fire_special(INTRODUCE_DOMAIN)
        for d in sorted(before - after):
            if d != "0":
                self.fire_special(RELEASE_DOMAIN)

    def commit(self, ops):
        for op, args in ops:
            try:
                self.change(op, args)
            except XsError:
                pass

    # ---- requests

    def dispatch(self, conn, mtype, tx_id, payload):
        args = payload.split(b"\0")
        if args and args[-1] == b"" and payload.endswith(b"\0"):
            args = args[:-1]
        strs = [a.decode("utf-8", "replace") for a in args]
        txn = None
        if tx_id:
            txn = conn.txns.get(tx_id)
            if txn is None:
                raise XsError("ENOENT")
        tree = txn[0] if txn else self.tree
        self.log(f"type {mtype} tx {tx_id} {strs[:3]}")

        def arg(i):
            if i >= len(strs):
                raise XsError("EINVAL")
            return strs[i]

        if mtype == READ:
            return tree.get(self.canonical(arg(0))).value
        if mtype == DIRECTORY:
            node = tree.get(self.canonical(arg(0)))
            out = b"".join(c.encode() + b"\0" for c in node.children)
            if len(out) > PAYLOAD_MAX:
                raise XsError("E2BIG")
            return out
        if mtype == DIRECTORY_PART:
            node = tree.get(self.canonical(arg(0)))
            off = int(arg(1))
            data = b"".join(c.encode() + b"\0" for c in node.children)
            gen = str(node.generation).encode() + b"\0"
            room = PAYLOAD_MAX - len(gen) - 1
            chunk = data[off:off + room]
            if off + len(chunk) >= len(data):
                chunk += b"\0"
            elif b"\0" in chunk:
                chunk = chunk[:chunk.rindex(b"\0") + 1]
            return gen + chunk
        if mtype == WRITE:
            nul = payload.find(b"\0")
            if nul < 0:
                raise XsError("EINVAL")
            path = self.canonical(payload[:nul].decode("utf-8", "replace"))
            if path.startswith("@"):
                raise XsError("EINVAL")
            if path == "/tool/xs-testserver/mute-after":
                self.mute_after = int(payload[nul + 1:])
            self.change("write", (path, bytes(payload[nul + 1:])), txn)
            return b"OK\0"
        if mtype == MKDIR:
            path = self.canonical(arg(0))
            if path.startswith("@"):
                raise XsError("EINVAL")
            if tree.find(path) is None:
                self.change("mkdir", (path,), txn)
            return b"OK\0"
        if mtype == RM:
            path = self.canonical(arg(0))
            if path == "/" or path.startswith("@"):
                raise XsError("EINVAL")
            if tree.find(path) is None:
                comps = split(path)
                if tree.find("/" + "/".join(comps[:-1])) is None:
                    raise XsError("ENOENT")
                return b"OK\0"
            self.change("rm", (path,), txn)
            return b"OK\0"
        if mtype == GET_PERMS:
            node = tree.get(self.canonical(arg(0)))
            return b"".join(p.encode() + b"\0" for p in node.perms)
        if mtype == SET_PERMS:
            path = self.canonical(arg(0))
            perms = strs[1:]
            if not perms or any(len(p) < 2 or p[0] not in "nrwb" or not p[1:].isdigit()
                                for p in perms):
                raise XsError("EINVAL")
            tree.get(path)
            self.change("set_perms", (path, perms), txn)
            return b"OK\0"
        if mtype == WATCH:
            given, token = arg(0), arg(1)
            abspath = self.canonical(given)
            if any(w.given == given and w.token == token for w in conn.watches):
                raise XsError("EEXIST")
            w = Watch(given, abspath, token)
            conn.watches.append(w)
            return _WatchReply(w)         # the reply, then the initial event
        if mtype == UNWATCH:
            given, token = arg(0), arg(1)
            for w in conn.watches:
                if w.given == given and w.token == token:
                    conn.watches.remove(w)
                    return b"OK\0"
            raise XsError("ENOENT")
        if mtype == RESET_WATCHES:
            conn.watches.clear()
            conn.txns.clear()
            return b"OK\0"
        if mtype == TRANSACTION_START:
            if tx_id:
                raise XsError("EBUSY")
            tid = self.next_txn
            self.next_txn += 1
            conn.txns[tid] = (copy.deepcopy(self.tree), [])
            return str(tid).encode() + b"\0"
        if mtype == TRANSACTION_END:
            if not tx_id:
                raise XsError("ENOENT")
            snapshot, ops = conn.txns.pop(tx_id)
            if arg(0) == "T":
                self.commit(ops)
            elif arg(0) != "F":
                raise XsError("EINVAL")
            return b"OK\0"
        if mtype == GET_DOMAIN_PATH:
            domid = arg(0)
            if not domid.isdigit():
                raise XsError("EINVAL")
            return f"/local/domain/{int(domid)}".encode() + b"\0"
        if mtype == IS_DOMAIN_INTRODUCED:
            domid = arg(0)
            if not domid.isdigit():
                raise XsError("EINVAL")
            alive = domid == "0" or str(int(domid)) in self.tree.domids()
            return b"T\0" if alive else b"F\0"
        if mtype == INTRODUCE:
            arg(0)
            self.fire_special(INTRODUCE_DOMAIN)
            return b"OK\0"
        if mtype == RELEASE:
            arg(0)
            self.fire_special(RELEASE_DOMAIN)
            return b"OK\0"
        if mtype in (CONTROL, RESUME, SET_TARGET):
            return b"OK\0"
        raise XsError("EINVAL")

    # ---- connections

    def flush(self, conn):
        if conn.outbuf:
            try:
                n = conn.sock.send(conn.outbuf)
                del conn.outbuf[:n]
            except BlockingIOError:
                pass
            except OSError:
                conn.outbuf.clear()
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        try:
            self.sel.modify(conn.sock, events, conn)
        except (KeyError, ValueError):
            pass

    def accept(self, lsock):
        sock, _ = lsock.accept()
        sock.setblocking(False)
        conn = Conn(sock)
        self.conns[sock.fileno()] = conn
        self.sel.register(sock, selectors.EVENT_READ, conn)
        self.log(f"client {sock.fileno()} connected")

    def close(self, conn):
        self.log(f"client {conn.sock.fileno()} gone")
        self.conns.pop(conn.sock.fileno(), None)
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def readable(self, conn):
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close(conn)
            return
        conn.inbuf += data
        while len(conn.inbuf) >= HDR.size:
            mtype, req_id, tx_id, length = HDR.unpack_from(conn.inbuf)
            if length > PAYLOAD_MAX:
                self.close(conn)
                return
            if len(conn.inbuf) < HDR.size + length:
                break
            payload = bytes(conn.inbuf[HDR.size:HDR.size + length])
            del conn.inbuf[:HDR.size + length]
            if self.mute_after is not None:
                if self.mute_after == 0:
                    self.log(f"muted: type {mtype} left unanswered")
                    continue
                self.mute_after -= 1
            reply = None
            try:
                reply = self.dispatch(conn, mtype, tx_id, payload)
            except XsError as e:
                self.log(f"-> {e.name}")
                self.send(conn, ERROR, req_id, tx_id, e.name.encode() + b"\0")
                continue
            except Exception as e:          # a bug here must not hang a client
                self.log(f"internal error {e!r}")
                self.send(conn, ERROR, req_id, tx_id, b"EIO\0")
                continue
            if isinstance(reply, _WatchReply):
                self.send(conn, mtype, req_id, tx_id, b"OK\0")
                self.event(conn, reply.watch, reply.watch.abspath)
            else:
                self.send(conn, mtype, req_id, tx_id, reply)

    def seed(self, path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if text.lstrip().startswith("{"):
            items = json.loads(text).items()
        else:
            items = []
            for line in text.splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                k, sep, v = line.partition("=")
                items.append((k.strip(), v if sep else None))
        for k, v in items:
            k = self.canonical(k)
            if v is None:
                self.tree.mkdir(k)
            else:
                self.tree.write(k, str(v).encode())

    def serve(self, ready_fd=None):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(self.path)
        lsock.listen(64)
        lsock.setblocking(False)
        self.sel.register(lsock, selectors.EVENT_READ, None)
        self.tree.mkdir("/local/domain/0")
        self.tree.write("/local/domain/0/name", b"Domain-0")
        self.tree.write("/local/domain/0/domid", b"0")
        if ready_fd is not None:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)
        try:
            while self.running:
                for key, mask in self.sel.select(timeout=1.0):
                    if key.data is None:
                        self.accept(lsock)
                        continue
                    conn = key.data
                    if mask & selectors.EVENT_READ:
                        self.readable(conn)
                    if mask & selectors.EVENT_WRITE and conn.sock.fileno() >= 0:
                        self.flush(conn)
        finally:
            lsock.close()
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class _WatchReply:
    __slots__ = ("watch",)

    def __init__(self, watch):
        self.watch = watch


def main():
    ap = argparse.ArgumentParser(description="xenstore protocol test server")
    ap.add_argument("socket")
    ap.add_argument("--seed", action="append", default=[])
    ap.add_argument("--ready-fd", type=int)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    srv = Server(a.socket, a.verbose)
    for s in a.seed:
        srv.seed(s)

    def stop(signum, frame):
        srv.running = False
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve(a.ready_fd)


if __name__ == "__main__":
    main()
