"""Hosts on one machine: network namespaces on a bridge, and a relay to the local PostgreSQL.

One Linux bridge in the root namespace is the hosts' network. The root namespace holds its
first address (Redis listens there and PostgreSQL is relayed there) and the clients' addresses;
every host is a namespace with one end of a veth pair on the bridge:

    root namespace  10.X.Y.1 services, 10.X.Y.2.. clients   --  bridge  --  host A 10.X.Y.11
                                                                        --  host B 10.X.Y.12 ...

Names and the subnet are drawn at random per run, so a run never meets another's leftovers.
"""
import os
import random
import secrets
import shutil
import socket
import subprocess
import threading

SERVICES_HOST = 1  # the last octet of the root namespace's address on the bridge
FIRST_HOST = 11  # hosts are numbered from here, clients from 2


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=check)


def namespaces_unavailable() -> str | None:
    """Why this machine cannot build hosts in network namespaces, or None when it can."""
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if shutil.which("ip") is None:
        return "no `ip` binary (iproute2) to create network namespaces"
    probe = f"pbprobe-{secrets.token_hex(4)}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` is not permitted here: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


def _subnet_in_use(prefix: str) -> bool:
    shown = ip("-o", "-4", "addr", "show").stdout + ip("-4", "route", "show").stdout
    return prefix in shown


class Network:
    """The bridge, its addresses and the host namespaces; destroy() removes every piece."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.bridge = f"pbh{self.tag}"
        while True:
            self.prefix = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}."
            if not _subnet_in_use(self.prefix):
                break
        self.namespaces: list[str] = []
        self.services_address = self.prefix + str(SERVICES_HOST)
        self._next_client = SERVICES_HOST + 1

    def create(self) -> "Network":
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.services_address}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str) -> tuple[str, str]:
        """A new namespace on the bridge: (namespace name, its address)."""
        number = FIRST_HOST + len(self.namespaces)
        namespace, address = f"pbh-{self.tag}-{name}", self.prefix + str(number)
        outside, inside = f"pbh{self.tag}v{number}", f"pbh{self.tag}p{number}"
        ip("netns", "add", namespace)
        self.namespaces.append(namespace)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", namespace)
        ip("link", "set", outside, "master", self.bridge)
        ip("link", "set", outside, "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
        ip("-n", namespace, "link", "set", inside, "up")
        return namespace, address

    def add_client_address(self) -> str:
        """One more address of the root namespace on the bridge, for a client to connect from."""
        address = self.prefix + str(self._next_client)
        self._next_client += 1
        assert self._next_client < FIRST_HOST, "too many client addresses"
        ip("addr", "add", f"{address}/24", "dev", self.bridge)
        return address

    def destroy(self) -> None:
        # Deleting a namespace deletes the veth end inside it, and with it the pair.
        for namespace in self.namespaces:
            ip("netns", "del", namespace, check=False)
        self.namespaces.clear()
        ip("link", "del", self.bridge, check=False)


class Relay:
    """A TCP forwarder on (address, free port) to a target only the root namespace reaches.

    PostgreSQL here listens on 127.0.0.1 alone; the relay lets the hosts reach it over the bridge
    without touching the server's own configuration."""

    def __init__(self, address: str, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server((address, 0))
        self.address = self.listener.getsockname()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), name="relay-pump", daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):  # one side closed: close both, which ends the other pump too
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ends, self._open = list(self._open), set()
        self.listener.close()
        for end in ends:
            try:
                end.close()
            except OSError:
                pass
