"""A private Patroni cluster for bench/patroni.py: one etcd, three Patroni-managed PostgreSQL 15
nodes (synchronous mode) and HAProxy routing to whichever node answers `GET /primary`, all on
free ports in one temp dir (Patroni and PostgreSQL as `postgres` when we are root)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from support import processes
from support.ports import free_port
from support.private_postgres import BIN, OS_USER

SCOPE = "outpost-bench"
NODES = 3
# Patroni's defaults, written out: what bounds its detection of a leader that is gone.
DCS = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "synchronous_mode": True}
# HAProxy's check of each node, as Patroni's documented haproxy.cfg has it.
CHECK = "inter 3s fall 3 rise 2 on-marked-down shutdown-sessions"
HBA = [
    "local all all trust",
    "host all all 127.0.0.1/32 trust",
    "host replication all 127.0.0.1/32 trust",
]
USER = OS_USER if os.geteuid() == 0 else None
# fsync off: the faults here kill processes, never the machine, whose page cache keeps the WAL.
PARAMETERS = {"max_connections": 100, "wal_log_hints": "on", "fsync": "off"}
BOOTSTRAP = {
    "dcs": {**DCS, "postgresql": {"use_pg_rewind": True, "parameters": PARAMETERS}},
    "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, {"auth": "trust"}],
}


@dataclass
class Node:
    """One Patroni node: its name, PostgreSQL's and the REST API's ports, its directory."""

    name: str
    port: int
    rest: int
    home: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> dict[str, Any]:
        """Patroni's configuration of this node (JSON, which is YAML)."""
        return {
            "scope": SCOPE,
            "name": self.name,
            "restapi": {
                "listen": f"127.0.0.1:{self.rest}",
                "connect_address": f"127.0.0.1:{self.rest}",
            },
            "bootstrap": BOOTSTRAP,
            "postgresql": {
                "listen": f"127.0.0.1:{self.port}",
                "connect_address": f"127.0.0.1:{self.port}",
                "data_dir": str(self.home / "data"),
                "bin_dir": str(BIN),
                "pgpass": str(self.home / "pgpass"),
                "pg_hba": HBA,
                "authentication": {
                    role: {"username": "postgres"}
                    for role in ("superuser", "replication", "rewind")
                },
                "parameters": {"unix_socket_directories": str(self.home)},
            },
        }

    def postmaster(self) -> int | None:
        """The pid of this node's running PostgreSQL, if one runs."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.home / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
            return pid
        return None

    def in_recovery(self) -> bool | None:
        """Whether this node's PostgreSQL replays WAL (a standby); None if it does not answer."""
        url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        try:
            with psycopg.connect(url, connect_timeout=2) as connection:
                row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.OperationalError:
            return None
        return None if row is None else bool(row[0])

    def kill_postgres(self) -> None:
        """SIGKILL this node's PostgreSQL and each of its processes at once (Patroni lives on)."""
        postmaster = self.postmaster()
        if postmaster is None:
            return
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        for pid in (postmaster, *map(int, children)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class PatroniCluster:
    """etcd, NODES Patroni nodes and HAProxy; `stop` tears all of it down whatever happened."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="outpost-patroni-"))
        if USER:
            shutil.chown(self.base, user=USER, group=USER)
        self.etcd_port, self.haproxy_port = free_port(), free_port()
        self.nodes = [
            Node(f"node{n}", free_port(), free_port(), self.base / f"node{n}")
            for n in range(1, NODES + 1)
        ]
        self._servers: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """etcd, then every node, then HAProxy; returns once the cluster is healthy."""
        client, peer = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{free_port()}"
        etcd = {
            "name": "e0",
            "data-dir": self.base / "etcd",
            "listen-client-urls": client,
            "advertise-client-urls": client,
            "listen-peer-urls": peer,
            "initial-advertise-peer-urls": peer,
            "initial-cluster": f"e0={peer}",
        }
        command = ["etcd", *(f"--{name}={value}" for name, value in etcd.items())]
        self._servers.append(processes.tied(command, self.base, self.base / "etcd.log"))
        processes.eventually(lambda: processes.listening(self.etcd_port), 30, "etcd listening")
        for node in self.nodes:
            node.home.mkdir()
            config = node.home / "patroni.yml"
            config.write_text(
                json.dumps(
                    {**node.config, "etcd3": {"hosts": f"127.0.0.1:{self.etcd_port}"}}, indent=1
                )
            )
            if USER:
                shutil.chown(node.home, user=USER, group=USER)
                shutil.chown(config, user=USER, group=USER)
            self.start_node(node)
        self.wait_healthy(120)
        (self.base / "haproxy.cfg").write_text(self.haproxy_config())
        self._servers.append(
            processes.tied(
                ["haproxy", "-db", "-f", self.base / "haproxy.cfg"],
                self.base,
                self.base / "haproxy.log",
            )
        )
        # HAProxy starts with every server up, until its checks take the standbys out.
        processes.eventually(self._routed_to_primary, 60, "HAProxy routing to the leader alone")

    def _routed_to_primary(self) -> bool:
        """Whether each of NODES * 2 connections through HAProxy reaches a server taking writes."""
        try:
            for _ in range(NODES * 2):
                with psycopg.connect(
                    self.url("postgres", "postgres"), connect_timeout=2
                ) as connection:
                    if connection.execute("SELECT pg_is_in_recovery()").fetchone() != (False,):
                        return False
        except psycopg.OperationalError:
            return False
        return True

    def start_node(self, node: Node) -> None:
        """Start one node's Patroni (which starts its PostgreSQL)."""
        node.process = processes.tied(
            ["/usr/bin/patroni", node.home / "patroni.yml"],
            node.home,
            node.home / "patroni.log",
            env={"PATH": "/usr/bin:/bin", "HOME": str(node.home), "LANG": "C.UTF-8"},
            user=USER,
            append=True,
        )

    def haproxy_config(self) -> str:
        """HAProxy sending each connection to the node whose Patroni answers `/primary` 200."""
        servers = "".join(
            f"    server {n.name} 127.0.0.1:{n.port} maxconn 100 check port {n.rest}\n"
            for n in self.nodes
        )
        return (
            "global\n    maxconn 300\n"
            "defaults\n    mode tcp\n    timeout connect 4s\n    timeout client 30m\n"
            "    timeout server 30m\n    timeout check 2s\n"
            f"listen primary\n    bind 127.0.0.1:{self.haproxy_port}\n"
            "    option httpchk GET /primary\n    http-check expect status 200\n"
            f"    default-server {CHECK}\n{servers}"
        )

    def members(self) -> list[dict[str, Any]]:
        """The members as Patroni's `GET /cluster` lists them, from the first node answering."""
        for node in self.nodes:
            with contextlib.suppress(OSError, ValueError):
                url = f"http://127.0.0.1:{node.rest}/cluster"
                with urllib.request.urlopen(url, timeout=2) as response:
                    return list(json.loads(response.read())["members"])
        return []

    def healthy(self) -> bool:
        """One leader, a synchronous standby, every node running and caught up (as Patroni says)
        and answering as its role (Patroni's word lags a PostgreSQL killed by one `loop_wait`)."""
        members = self.members()
        roles = sorted(member["role"] for member in members)
        running = all(member["state"] in ("running", "streaming") for member in members)
        caught_up = all(member.get("lag", 0) in (0, "") for member in members)
        if roles != ["leader", "replica", "sync_standby"] or not (running and caught_up):
            return False
        standing = {member["name"]: member["role"] != "leader" for member in members}
        return all(node.in_recovery() == standing[node.name] for node in self.nodes)

    def wait_healthy(self, timeout: float) -> float:
        """Until the cluster is healthy; the seconds that took."""
        started = time.monotonic()
        try:
            processes.eventually(self.healthy, timeout, "the Patroni cluster healthy")
        except AssertionError as failed:
            raise AssertionError(f"{failed}\n{self.members()}\n{self.logs()}") from None
        return time.monotonic() - started

    def leader(self) -> Node | None:
        """The node Patroni names leader, if one does."""
        names = {m["name"] for m in self.members() if m["role"] == "leader"}
        return next((node for node in self.nodes if node.name in names), None)

    def url(self, database: str, role: str) -> str:
        """`DATABASE_URL` through HAProxy."""
        return f"postgresql://{role}@127.0.0.1:{self.haproxy_port}/{database}"

    def multi_host_url(self, database: str, role: str) -> str:
        """`DATABASE_URL` naming every node, asking libpq for the one that takes writes."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"postgresql://{role}@{hosts}/{database}?target_session_attrs=read-write"

    def logs(self) -> str:
        """Every node's Patroni log's last lines, for failure messages."""
        return "\n".join(
            f"--- {node.name} ---\n"
            + "\n".join((node.home / "patroni.log").read_text(errors="replace").splitlines()[-15:])
            for node in self.nodes
            if (node.home / "patroni.log").exists()
        )

    def stop(self, *, keep_logs: bool = False) -> Path | None:
        """Stop every Patroni (each stops its PostgreSQL), kill any PostgreSQL left, stop HAProxy
        and etcd, and remove the directory, or (`keep_logs`) all but the logs: their directory
        then. Never raises."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    processes.stop(node.process, signal.SIGTERM, 60)
            # What a Patroni that did not stop leaves: its PostgreSQL is a session of its own.
            node.kill_postgres()
        for server in reversed(self._servers):
            with contextlib.suppress(subprocess.TimeoutExpired):
                processes.stop(server, signal.SIGTERM, 30)
        if not keep_logs:
            shutil.rmtree(self.base, ignore_errors=True)
            return None
        for data in (self.base / "etcd", *(node.home / "data" for node in self.nodes)):
            shutil.rmtree(data, ignore_errors=True)
        return self.base
