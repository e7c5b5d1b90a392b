"""Builds the memory store `MEMORY_BACKEND` names: SQL tables in the app database, or a Neo4j
graph over Bolt."""

from __future__ import annotations

from urllib.parse import urlsplit

import neo4j

from serving.db.engine import Database
from serving.memory.neo4j_store import Neo4jMemoryStore
from serving.memory.sql_store import SqlMemoryStore
from serving.memory.store import MemoryStore
from serving.settings import Settings

BOLT_SCHEMES = frozenset({"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"})
"""Bolt, direct or routed, plain or TLS (`+s`; `+ssc` accepts a self-signed certificate). The
driver's HTTP scheme is a preview feature and not offered."""


class MemoryMisconfigured(ValueError):
    """A setting the chosen memory store needs is missing or malformed; the message names it."""


def create_memory_store(settings: Settings, database: Database) -> MemoryStore:
    """The configured store. Neo4j's driver connects at the first query, so the app starts
    while the graph is down; a missing setting stops start-up here."""
    if settings.memory_backend == "neo4j":
        return neo4j_memory_store(settings)
    return SqlMemoryStore(database)


def neo4j_memory_store(settings: Settings) -> Neo4jMemoryStore:
    """The Neo4j store on `NEO4J_URI`; MemoryMisconfigured when a setting is missing."""
    uri = (settings.neo4j_uri or "").strip()
    if not uri:
        raise MemoryMisconfigured("MEMORY_BACKEND=neo4j needs NEO4J_URI (the Bolt address)")
    address = urlsplit(uri)
    if address.scheme not in BOLT_SCHEMES or not address.hostname:
        raise MemoryMisconfigured(
            "NEO4J_URI must be a Bolt address such as neo4j://host:7687 or bolt://host:7687"
        )
    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
    if not password:
        raise MemoryMisconfigured("MEMORY_BACKEND=neo4j needs the NEO4J_PASSWORD secret")
    timeout = settings.neo4j_timeout_seconds
    driver = neo4j.AsyncGraphDatabase.driver(
        uri,
        auth=(settings.neo4j_user, password),
        connection_timeout=timeout,
        connection_acquisition_timeout=timeout,
        max_transaction_retry_time=timeout,
        # The driver's only usage report goes to the server it is connected to, and only when
        # that server asks; none is wanted.
        telemetry_disabled=True,
    )
    return Neo4jMemoryStore(driver, database=settings.neo4j_database, timeout=timeout)
