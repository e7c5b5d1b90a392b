"""A real Bolt server for the Neo4j memory store's tests: ArcadeDB (the `arcadedb-embedded`
package) with its Bolt plugin, in a child process so the JVM never lives in pytest's.

`bolt_server` (session) starts it once on free loopback ports with a random root password and
a database for the tests, and waits until Bolt answers; a server that does not start is a test
error with the tail of its log, never a skip. `neo4j_memory_store` gives each test a
`Neo4jMemoryStore` on an empty, prepared graph. Import them into a test module
(`from tests.bolt_server import bolt_server_fixture, neo4j_memory_store_fixture  # noqa: F401`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import neo4j
import pytest

from serving.memory.neo4j_store import Neo4jMemoryStore
from tests.bolt_server_child import READY_LINE

CHILD = Path(__file__).resolve().parent / "bolt_server_child.py"
START_SECONDS = 120.0
STOP_SECONDS = 30.0
LOG_TAIL_LINES = 40
JVM_ARGS = "-Xmx512m"
"""Enough for the tests' graphs; the package's default heap is 4 GB."""


@dataclass(frozen=True)
class BoltServer:
    uri: str
    user: str
    password: str
    database: str
    log: Path


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _wait_until_ready(process: subprocess.Popen[bytes], server: BoltServer) -> None:
    """Return once the database exists and Bolt answers; fail the session, with the server's
    last log lines, when the process dies or START_SECONDS pass."""
    deadline = time.monotonic() + START_SECONDS
    problem = f"not ready after {START_SECONDS:g}s"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            problem = f"the server exited with {process.returncode}"
            break
        if READY_LINE in server.log.read_text(errors="replace"):
            driver = neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password))
            try:
                driver.verify_connectivity()
                return
            except neo4j.exceptions.DriverError as error:
                problem = f"not ready after {START_SECONDS:g}s (Bolt: {type(error).__name__})"
            finally:
                driver.close()
        time.sleep(0.25)
    pytest.fail(
        f"the ArcadeDB Bolt server for the Neo4j memory tests did not start: {problem}. "
        f"Last lines of {server.log}:\n{_tail(server.log)}",
        pytrace=False,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the child stops its server when stdin closes
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(name="bolt_server", scope="session")
def bolt_server_fixture() -> Iterator[BoltServer]:
    scratch = Path(tempfile.mkdtemp(prefix="bolt-server-"))
    bolt_port, http_port = free_ports(2)
    server = BoltServer(
        uri=f"bolt://127.0.0.1:{bolt_port}",
        user="root",
        password=secrets.token_urlsafe(18),
        database="memory_tests",
        log=scratch / "server.log",
    )
    environment = {
        **os.environ,
        "ARCADEDB_ROOT_PASSWORD": server.password,
        "ARCADEDB_JVM_ARGS": JVM_ARGS,
        "ARCADEDB_JVM_ERROR_FILE": str(scratch / "hs_err_pid%p.log"),
    }
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(scratch / "databases"),
                str(bolt_port),
                str(http_port),
                server.database,
            ],
            cwd=scratch,  # the JVM's ./log lands here, not in the repository
            env=environment,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(process, server)
        yield server
    finally:
        _stop(process)
        shutil.rmtree(scratch, ignore_errors=True)


def bolt_driver(server: BoltServer, *, password: str | None = None) -> neo4j.AsyncDriver:
    return neo4j.AsyncGraphDatabase.driver(
        server.uri,
        auth=(server.user, server.password if password is None else password),
        telemetry_disabled=True,
    )


@pytest.fixture(name="neo4j_memory_store")
async def neo4j_memory_store_fixture(bolt_server: BoltServer) -> AsyncIterator[Neo4jMemoryStore]:
    """A store on an empty graph, constraints and indexes in place; closed after the test."""
    store = Neo4jMemoryStore(bolt_driver(bolt_server), database=bolt_server.database)
    try:
        await store.clear()
        await store.prepare()
        yield store
    finally:
        await store.close()
