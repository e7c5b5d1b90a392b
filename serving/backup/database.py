"""A consistent snapshot of the app database, its conversations as JSONL, and its restore.

SQLite: the online backup API copies the database as of one read transaction while the app
keeps writing. PostgreSQL: a REPEATABLE READ transaction exports its snapshot, and `pg_dump
-Fc --snapshot` dumps exactly that state, so the row counts, the transaction id and the JSONL
export recorded in the manifest describe the same data as the dump.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL, make_url

from serving.backup.errors import CollectionFailed, IntegrityFailure, RestoreRefused
from serving.backup.manifest import Source, utc_iso
from serving.db.models import Base

EXPORTED_TABLES = ("conversations", "messages")
"""Exported as JSONL besides the snapshot: readable without the app, one JSON object a line."""
NEWEST_RECORD_COLUMNS = (("messages", "created_at"), ("conversations", "updated_at"))
PG_TOOL_TIMEOUT_SECONDS = 3600

logger = logging.getLogger(__name__)


def table_names() -> list[str]:
    """The app's tables, in dependency order."""
    return [table.name for table in Base.metadata.sorted_tables]


@dataclass(frozen=True)
class Snapshot:
    dump: Path
    exports: list[Path]
    source: Source


def engine_of(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def snapshot_database(database_url: str, directory: Path) -> Snapshot:
    """Take the snapshot into `directory`: `database.sqlite` or `database.pgdump`, plus
    `conversations.jsonl` and `messages.jsonl`."""
    if engine_of(database_url) == "sqlite":
        return _snapshot_sqlite(_sqlite_path(database_url), directory)
    return asyncio.run(_snapshot_postgresql(make_url(database_url), directory))


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise CollectionFailed("DATABASE_URL names no SQLite file to back up")
    return Path(database)


def _snapshot_sqlite(path: Path, directory: Path) -> Snapshot:
    if not path.is_file():
        raise CollectionFailed(f"the SQLite database {path} does not exist")
    target = directory / "database.sqlite"
    source = sqlite3.connect(path)
    copy = sqlite3.connect(target)
    try:
        snapshot_at = datetime.now(UTC)
        source.backup(copy)  # one step: a single read transaction, consistent as of now
        copy.row_factory = sqlite3.Row
        counts = {name: _sqlite_count(copy, name) for name in table_names()}
        exports = [
            _write_jsonl(directory / f"{name}.jsonl", _sqlite_rows(copy, name))
            for name in EXPORTED_TABLES
        ]
        newest = _newest(
            copy.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]  # noqa: S608
            for table, column in NEWEST_RECORD_COLUMNS
        )
    except sqlite3.Error as exc:
        raise CollectionFailed(f"cannot snapshot the SQLite database {path}: {exc}") from None
    finally:
        copy.close()
        source.close()
    return Snapshot(
        dump=target,
        exports=exports,
        source=Source(
            database_engine="sqlite",
            snapshot_at=utc_iso(snapshot_at),
            transaction_id=None,
            newest_record_at=newest,
            row_counts=counts,
        ),
    )


def _sqlite_count(connection: sqlite3.Connection, table: str) -> int:
    return int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])  # noqa: S608


def _sqlite_rows(connection: sqlite3.Connection, table: str) -> Iterable[Mapping[str, Any]]:
    for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):  # noqa: S608
        yield dict(row)


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path


def _newest(values: Iterable[Any]) -> str | None:
    moments = []
    for value in values:
        if value is None:
            continue
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        moments.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return utc_iso(max(moments)) if moments else None


def libpq_environment(url: URL) -> dict[str, str]:
    """Connection settings for pg_dump / pg_restore as libpq variables: the password stays out
    of the command line (and so out of `ps` and of error messages quoting the command)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(
        PGHOST=url.host or "127.0.0.1",
        PGPORT=str(url.port or 5432),
        PGDATABASE=url.database or "postgres",
        PGCONNECT_TIMEOUT="15",
    )
    if url.username:
        env["PGUSER"] = url.username
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _snapshot_postgresql(url: URL, directory: Path) -> Snapshot:
    target = directory / "database.pgdump"
    where = url.render_as_string(hide_password=True)
    try:
        connection = await asyncpg.connect(_dsn(url), timeout=15)
    except (OSError, asyncpg.PostgresError) as exc:
        raise CollectionFailed(
            f"cannot reach PostgreSQL at {where}: {type(exc).__name__}"
        ) from None
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            exported = await connection.fetchval("SELECT pg_export_snapshot()")
            snapshot_at = await connection.fetchval("SELECT now()")
            transaction_id = await connection.fetchval("SELECT pg_current_snapshot()::text")
            counts = {
                name: int(await connection.fetchval(f'SELECT count(*) FROM "{name}"'))  # noqa: S608
                for name in table_names()
            }
            newest = _newest(
                [
                    await connection.fetchval(f"SELECT max({column}) FROM {table}")  # noqa: S608
                    for table, column in NEWEST_RECORD_COLUMNS
                ]
            )
            exports = []
            for name in EXPORTED_TABLES:
                rows = await connection.fetch(f'SELECT * FROM "{name}" ORDER BY 1')  # noqa: S608
                exports.append(_write_jsonl(directory / f"{name}.jsonl", (dict(r) for r in rows)))
            # The dump runs while this transaction holds the exported snapshot open.
            await _run_pg_tool(
                [
                    "pg_dump",
                    "-Fc",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={exported}",
                    "-f",
                    str(target),
                ],
                url,
                failure=f"pg_dump of {where} failed",
            )
    except asyncpg.PostgresError as exc:
        raise CollectionFailed(f"cannot snapshot {where}: {type(exc).__name__}") from None
    finally:
        await connection.close()
    return Snapshot(
        dump=target,
        exports=exports,
        source=Source(
            database_engine="postgresql",
            snapshot_at=utc_iso(snapshot_at),
            transaction_id=str(transaction_id),
            newest_record_at=newest,
            row_counts=counts,
        ),
    )


def pg_tool(name: str) -> str:
    """`pg_dump` / `pg_restore` from PATH, else PostgreSQL 15's install directory."""
    found = shutil.which(name) or shutil.which(name, path="/usr/lib/postgresql/15/bin")
    if found is None:
        raise CollectionFailed(f"{name} is not installed (PostgreSQL client tools)")
    return found


async def _run_pg_tool(command: list[str], url: URL, *, failure: str) -> None:
    process = await asyncio.create_subprocess_exec(
        pg_tool(command[0]),
        *command[1:],
        env=libpq_environment(url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), PG_TOOL_TIMEOUT_SECONDS)
    if process.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()
        raise CollectionFailed(f"{failure}: {detail[-1] if detail else process.returncode}")


# --- restore ---------------------------------------------------------------------------------


def restore_database(dump: Path, engine: str, target_url: str, *, overwrite: bool) -> None:
    """Load a snapshot into the database at `target_url`, created if needed.

    A target that already holds data is refused unless `overwrite`: a restore never writes
    over a live database by accident.
    """
    asyncio.run(check_database_target(target_url, overwrite=overwrite))
    if engine == "sqlite":
        _restore_sqlite(dump, _sqlite_path(target_url))
    else:
        asyncio.run(_restore_postgresql(dump, make_url(target_url)))


async def check_database_target(target_url: str, *, overwrite: bool) -> None:
    """Refuse a target database that holds anything, unless overwriting was asked for."""
    if overwrite:
        return
    if engine_of(target_url) == "sqlite":
        target = _sqlite_path(target_url)
        if target.exists() and target.stat().st_size > 0:
            raise RestoreRefused(
                f"{target} already exists; restore into a new file, or pass --overwrite to "
                "replace it"
            )
        return
    url = make_url(target_url)
    tables = await _pg_table_count(url)
    if tables:
        raise RestoreRefused(
            f"{url.render_as_string(hide_password=True)} already holds {tables} tables; restore "
            "into a new database, or pass --overwrite to replace its contents"
        )


async def _pg_table_count(url: URL) -> int:
    """Tables in the public schema; 0 when the database does not exist yet."""
    try:
        connection = await asyncpg.connect(_dsn(url), timeout=15)
    except asyncpg.InvalidCatalogNameError:
        return 0
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            )
        )
    finally:
        await connection.close()


def _restore_sqlite(dump: Path, target: Path) -> None:
    check_sqlite_integrity(dump)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".restoring")
    shutil.copyfile(dump, staging)
    for suffix in ("-wal", "-shm"):  # a replaced database must not meet the old one's WAL
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    staging.replace(target)


def check_sqlite_integrity(path: Path) -> None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = connection.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise IntegrityFailure(f"the database snapshot is not a SQLite database: {exc}") from None
    finally:
        connection.close()
    if result != "ok":
        raise IntegrityFailure(f"SQLite integrity_check failed on the snapshot: {result}")


async def _restore_postgresql(dump: Path, url: URL) -> None:
    """pg_restore into the target, created if missing; a scratch database first proves the
    dump restores cleanly (a damaged dump then fails there, not half-way into the target)."""
    where = url.render_as_string(hide_password=True)
    name = url.database
    if not name:
        raise RestoreRefused("the target PostgreSQL URL names no database")
    scratch = f"{name}_restore_check"
    await _recreate_database(url, scratch)
    try:
        await _pg_restore(dump, url.set(database=scratch), clean=False)
    finally:
        await drop_database(url, scratch)
    tables = await _pg_table_count(url)
    if not tables:
        await _recreate_database(url, name)
    await _pg_restore(dump, url, clean=bool(tables))
    logger.info("restored the PostgreSQL dump into %s", where)


async def _pg_restore(dump: Path, url: URL, *, clean: bool) -> None:
    command = [
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "-d",
        str(url.database),
    ]
    if clean:
        command[1:1] = ["--clean", "--if-exists"]
    await _run_pg_tool(
        [*command, str(dump)],
        url,
        failure=f"pg_restore into {url.render_as_string(hide_password=True)} failed",
    )


async def _recreate_database(url: URL, name: str) -> None:
    await drop_database(url, name)
    await _administer(url, f'CREATE DATABASE "{name}"')


async def drop_database(url: URL, name: str) -> None:
    """Drop database `name` on the server of `url`, closing its connections."""
    await _administer(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def copy_database(url: URL, name: str) -> None:
    """A new database `name`, a file-level copy of `url`'s database (no one may be connected)."""
    await _administer(url, f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')


async def _administer(url: URL, statement: str) -> None:
    admin = await asyncpg.connect(_dsn(url.set(database="postgres")), timeout=15)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def restored_row_counts(database_url: str) -> dict[str, int]:
    """Row counts of the app's tables in a restored database."""
    if engine_of(database_url) == "sqlite":
        connection = sqlite3.connect(f"file:{_sqlite_path(database_url)}?mode=ro", uri=True)
        try:
            return {name: _sqlite_count(connection, name) for name in table_names()}
        finally:
            connection.close()
    pg = await asyncpg.connect(_dsn(make_url(database_url)), timeout=15)
    try:
        return {
            name: int(await pg.fetchval(f'SELECT count(*) FROM "{name}"'))  # noqa: S608
            for name in table_names()
        }
    finally:
        await pg.close()


def compare_row_counts(expected: Mapping[str, int], actual: Mapping[str, int]) -> None:
    """Every table of the manifest holds as many rows after the restore as at the snapshot."""
    differing = [
        f"{table}: {actual.get(table, 0)} rows, manifest says {count}"
        for table, count in sorted(expected.items())
        if actual.get(table, 0) != count
    ]
    if differing:
        raise IntegrityFailure("restored row counts differ: " + "; ".join(differing))
