"""`dental`: the front door for whoever runs the clinic's assistant.

Every command reads the same settings as the server (environment, `.env`, secret files, AWS
Secrets Manager). Failures an operator can fix (an unreachable database, a bad setting) print
one clear line and exit non-zero; tracebacks are for bugs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from alembic.util import CommandError
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from serving.app import create_app, load_demo_data
from serving.build_info import read_build_info
from serving.bundle.load import BundleError, load_bundle, rehash
from serving.cli.backup import backup_app, dr_app
from serving.cli.clinic import clinic_app, patients_app
from serving.cli.memory import memory_app
from serving.cli.odoo import odoo_app
from serving.cli.oncall import escalations_app, oncall_app
from serving.cli.secrets import secrets_app
from serving.cli.support import fail, operator_settings
from serving.cli.telegram import telegram_app
from serving.cli.users import users_app
from serving.db.engine import Database
from serving.db.migrate import MigrationStatus, migration_status, upgrade_database
from serving.demo import DemoRefused, load_demo_clinic
from serving.integration_key import LOCAL_KEY_FILE, ensure_local_integration_key
from serving.memory.factory import MemoryMisconfigured, create_memory_store
from serving.memory.store import MemoryUnavailable
from serving.observability.logging import configure_logging
from serving.secrets import SecretsUnavailable
from serving.settings import REPOSITORY_BUNDLE, Settings

T = TypeVar("T")

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 15.0
"""How long a command waits for the database before saying it is unreachable."""

APP_HELP = """\
dental-clinic-ai: a self-hosted assistant for a dental clinic.

Patients write to it on Telegram or the web chat, in Hebrew or English. It books, reschedules
and cancels appointments in the clinic's practice system, answers invoice and clinic questions,
routes emergencies to the clinic and hands clinical questions to a dentist; it never diagnoses
or recommends doses.

Try it with the fictional demo clinic on an embedded SQLite database: `dental serve --demo`,
then open http://127.0.0.1:8000/docs.

Settings come from environment variables or a `.env` file (DATABASE_URL, HOST, PORT, LOG_LEVEL,
LOAD_DEMO_DATA, ...), secret files in SECRETS_DIR, or AWS Secrets Manager (SECRETS_BACKEND=aws).
"""

app = typer.Typer(
    name="dental",
    help=APP_HELP,
    rich_markup_mode="markdown",
    no_args_is_help=True,
    add_completion=False,
    # Locals in a traceback could include settings and patient data.
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(
    help="The app database: apply migrations and see which revision it is at. "
    "Run `dental db upgrade` after every upgrade of the software (`dental serve` does it too).",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)
demo_app = typer.Typer(
    help="The fictional demo clinic (providers, patients, appointments, invoices in Hebrew and "
    "English) for trying the assistant out. Never loaded into a production environment.",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)
bundle_app = typer.Typer(
    help="The artifact bundle under prompts/: prompts, safety rules, memory patterns and "
    "message catalogs, versioned by its manifest and content hash.",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(bundle_app, name="bundle")
app.add_typer(demo_app, name="demo")
app.add_typer(telegram_app, name="telegram")
app.add_typer(backup_app, name="backup")
app.add_typer(dr_app, name="dr")
app.add_typer(secrets_app, name="secrets")
app.add_typer(oncall_app, name="oncall")
app.add_typer(clinic_app, name="clinic")
app.add_typer(patients_app, name="patients")
app.add_typer(escalations_app, name="escalations")
app.add_typer(users_app, name="users")
app.add_typer(odoo_app, name="odoo")
app.add_typer(memory_app, name="memory")


class CommandFailed(Exception):
    """A failure the operator can act on; its message is printed as the command's one line."""


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default: HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: PORT, 8000).", min=1, max=65535)
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Load the fictional demo clinic into an empty database at start-up "
            "(default: LOAD_DEMO_DATA, off).",
        ),
    ] = None,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Bring the database schema to the newest revision before serving. Turn off "
            "when migrations run as a separate deployment step.",
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes sharing the port: one per core uses the whole machine "
            "(each worker answers one request at a time on its own event loop). Turns of one "
            "conversation stay in order across workers.",
            min=1,
            max=64,
        ),
    ] = 1,
) -> None:
    """Run the web server: the HTTP API (docs at /docs), probes at /health and /ready, and
    Prometheus metrics at /metrics. Migrates the database first unless told not to."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if demo is not None:
        overrides["load_demo_data"] = demo
    with _operator_errors():
        settings = operator_settings(**overrides)
        configure_logging(settings.log_level)
        if migrate:
            status = _run_on_database(settings, _upgrade)
            logger.info("database schema at revision %s", status.current)
        settings = ensure_local_integration_key(settings)
        # Built here either way: a broken bundle or clinic profile stops the command before
        # any worker starts.
        application: FastAPI | str = create_app(settings, long_running=True)
        if workers > 1:
            application = "serving.app:create_app_from_environment"
            if settings.load_demo_data:
                # Once, here: workers starting together would each find the database empty.
                _run_on_database(settings, lambda database: load_demo_data(database, settings))
    if settings.integration_key is not None and settings.environment != "production":
        logger.info(
            "integration key for /api/v1/chat: DENTAL_INTEGRATION_KEY, or the file %s",
            LOCAL_KEY_FILE.resolve(),
        )
    logger.info(
        "serving on http://%s:%s (chat at /, API docs at /docs)", settings.host, settings.port
    )
    options: dict[str, Any] = {}
    if workers > 1:
        # Each worker builds its app from the environment: pass this command's options on.
        os.environ.update(
            {"HOST": settings.host, "PORT": str(settings.port), "LOAD_DEMO_DATA": "false"}
        )
        # A worker imports the whole app before it answers the supervisor's health check:
        # uvicorn's 5 s default kills workers starting on a busy machine.
        options = {"factory": True, "workers": workers, "timeout_worker_healthcheck": 60}
    uvicorn.run(
        application,
        **options,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the JSON logging configured above
        access_log=False,  # RequestContextMiddleware writes the access lines
        server_header=False,
        # Longer than patients' think time and load balancers' idle timeouts (uvicorn's 5 s
        # default closed connections clients were about to reuse).
        timeout_keep_alive=75,
    )


@app.command()
def version(
    as_json: Annotated[bool, typer.Option("--json", help="Print as a JSON object.")] = False,
) -> None:
    """Print the version, git commit and build time of this installation."""
    build = read_build_info()
    if as_json:
        typer.echo(json.dumps(asdict(build)))
        return
    typer.echo(f"dental-clinic-ai {build.version}")
    typer.echo(f"commit:     {build.commit}")
    typer.echo(f"build time: {build.build_time}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all pending migrations, print the revision the database is now at, then prepare
    the memory store (MEMORY_BACKEND=neo4j: its constraints and indexes). Exit 1 when the
    store cannot be prepared: the database stays upgraded, and the command can run again."""
    with _operator_errors():
        settings = operator_settings()
        status = _run_on_database(settings, _upgrade)
        typer.echo(f"{_describe_url(settings)}: at revision {status.current} (newest)")
        kind = _run_on_database(settings, lambda database: _prepare_memory(settings, database))
    typer.echo(f"memory store ({kind}): prepared")


@db_app.command("status")
def db_status(
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit with status 1 when migrations are pending."),
    ] = False,
) -> None:
    """Show the database's revision and whether migrations are pending."""
    with _operator_errors():
        settings = operator_settings()
        status = _run_on_database(settings, _migration_status)
    typer.echo(f"database:         {_describe_url(settings)}")
    typer.echo(f"current revision: {status.current or 'none (never migrated)'}")
    typer.echo(f"newest revision:  {status.head}")
    if status.is_current:
        typer.echo("up to date")
        return
    typer.echo("migrations pending: run `dental db upgrade`")
    if check:
        raise typer.Exit(code=1)


@demo_app.command("load")
def demo_load() -> None:
    """Migrate the database if needed, then load the demo clinic unless it already has data."""
    with _operator_errors():
        settings = operator_settings()

        async def migrate_and_load(database: Database) -> bool:
            if not (await migration_status(database.engine)).is_current:
                await upgrade_database(database.engine)
            return await load_demo_clinic(database, settings)

        loaded = _run_on_database(settings, migrate_and_load)
    where = _describe_url(settings)
    if loaded:
        typer.echo(f"loaded the demo clinic into {where}")
    else:
        typer.echo(f"{where} already has clinic data; the demo clinic was not loaded")


async def _migration_status(database: Database) -> MigrationStatus:
    return await migration_status(database.engine)


async def _upgrade(database: Database) -> MigrationStatus:
    await upgrade_database(database.engine)
    return await migration_status(database.engine)


async def _prepare_memory(settings: Settings, database: Database) -> str:
    """Prepare the configured memory store; its kind. CommandFailed when it cannot be."""
    try:
        store = create_memory_store(settings, database)
    except MemoryMisconfigured as error:
        raise CommandFailed(f"the memory store cannot be prepared: {error}") from None
    try:
        await store.prepare()
    except MemoryUnavailable as error:
        raise CommandFailed(
            f"the {store.kind} memory store cannot be prepared ({error}); the assistant "
            "answers without memory until it can be. Run `dental db upgrade` again once it "
            "answers"
        ) from None
    finally:
        await store.close()
    return store.kind


def _run_on_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on a fresh connection to the configured database, mapping the ways a database
    can be unusable (wrong URL, unreachable, refusing us, ahead of this code) to one line."""
    try:
        database = Database(settings.database_url)
    except (SQLAlchemyError, ImportError):
        raise CommandFailed(
            "DATABASE_URL is not a database URL this app supports "
            "(sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db)"
        ) from None

    async def run() -> T:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                await database.ping()
            return await work(database)
        finally:
            await database.dispose()

    where = _describe_url(settings)
    try:
        return asyncio.run(run())
    except TimeoutError:
        raise CommandFailed(
            f"cannot reach the database at {where}: no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
        ) from None
    except CommandError as exc:
        raise CommandFailed(f"cannot migrate the database at {where}: {exc}") from None
    except (SQLAlchemyError, OSError) as exc:
        raise CommandFailed(
            f"cannot use the database at {where}: {_reason(exc, settings)}"
        ) from None


def _describe_url(settings: Settings) -> str:
    try:
        return settings.redacted_database_url
    except ArgumentError:
        return "(unparseable DATABASE_URL)"


def _reason(exc: BaseException, settings: Settings) -> str:
    """The first line of what the driver said, with the password masked should it appear."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else type(cause).__name__
    password = make_url(settings.database_url).password
    if password:
        text = text.replace(str(password), "***")
    return text[:300]


@contextmanager
def _operator_errors() -> Iterator[None]:
    """Print operator-fixable failures as one line on stderr and exit 1, without a traceback."""
    try:
        yield
    except (CommandFailed, SecretsUnavailable, DemoRefused) as exc:
        fail(str(exc))


@bundle_app.command("check")
def bundle_check(
    path: Annotated[Path, typer.Argument(help="The bundle directory.")] = REPOSITORY_BUNDLE,
) -> None:
    """Validate a bundle (hash, YAML schemas, every prompt present) and print its version."""
    try:
        bundle = load_bundle(path)
    except BundleError as exc:
        fail(str(exc))
    typer.echo(f"{bundle.version}: valid")


@bundle_app.command("rehash")
def bundle_rehash(
    path: Annotated[Path, typer.Argument(help="The bundle directory.")] = REPOSITORY_BUNDLE,
) -> None:
    """Record the bundle's content hash in its manifest, after a reviewed change, then check it."""
    typer.echo(f"content hash: {rehash(path)}")
    bundle_check(path)


@bundle_app.command("promote")
def bundle_promote(
    path: Annotated[Path, typer.Argument(help="The bundle directory.")] = REPOSITORY_BUNDLE,
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="How much worse than production a metric may be: absolute for rates "
            "(0.02 = two percentage points), relative for amounts such as LLM calls per turn.",
        ),
    ] = 0.02,
) -> None:
    """Evaluate the bundle, compare it with the version in production, and make it production
    if it passes the gates: every emergency caught on dev and on the frozen held-out set,
    doctor-required recall, false emergencies, routine kept, held-out intent accuracy and
    held-out booking requests satisfied within their floors, a shipped triage classifier that
    catches the dev emergencies on its own, no boundary violated, no metric worse than
    production beyond the tolerance. Serving apps following the registry (MLFLOW_TRACKING_URI)
    switch to it without a restart. Exits 1 when it is refused; production is then unchanged.
    The registry is MLFLOW_TRACKING_URI, else var/mlflow (`make dashboard`)."""
    # Imported here: Prefect and MLflow take seconds to import, which every other command
    # (and `dental --help`) should not pay.
    _quiet_prefect()
    from evals.datasets import HELDOUT, HELDOUT_BOOKINGS, DatasetError
    from evals.suite import DATA_DIR
    from flows.promote import promote
    from serving.bundle.registry import RegistryError

    with _operator_errors():
        settings = operator_settings()
    try:
        with _flow_logs_without_traceback_for(BundleError, RegistryError, DatasetError):
            result = promote(
                bundle=str(path),
                tolerance=tolerance,
                architecture=settings.agent_architecture,
                # The repository's sets, wherever the command is run from.
                data_dir=str(REPOSITORY_BUNDLE.parent / DATA_DIR),
                heldout=str(REPOSITORY_BUNDLE.parent / HELDOUT),
                heldout_bookings=str(REPOSITORY_BUNDLE.parent / HELDOUT_BOOKINGS),
                tracking_uri=_registry_uri(settings),
                model_name=settings.bundle_registry_model,
                alias=settings.bundle_alias,
            )
    except (BundleError, RegistryError, DatasetError) as exc:
        fail(str(exc))
    typer.echo(result["report"])
    if result["decision"] == "refused":
        fail("promotion refused, production unchanged: " + "; ".join(result["reasons"]))


@bundle_app.command("rollback")
def bundle_rollback() -> None:
    """Move production back to the bundle version it replaced (serving apps follow within
    BUNDLE_POLL_SECONDS). Run it again to go back further."""
    _quiet_prefect()
    from flows.promote import rollback
    from serving.bundle.registry import RegistryError

    with _operator_errors():
        settings = operator_settings()
    try:
        with _flow_logs_without_traceback_for(RegistryError):
            previous = rollback(
                tracking_uri=_registry_uri(settings),
                model_name=settings.bundle_registry_model,
                alias=settings.bundle_alias,
            )
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(
        f"{settings.bundle_alias} is back on version {previous['model_version']} "
        f"({previous['bundle_version']})"
    )


def _quiet_prefect() -> None:
    """Without PREFECT_API_URL, Prefect runs the flow on a temporary local server: keep that
    server from sending usage telemetry, as `make dashboard` does."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


class _NoTracebackFor(logging.Filter):
    """Prefect logs a failed flow's exception with its traceback. For the failures an operator
    acts on (a bad bundle, nothing to roll back, MLflow down) the one line is enough; any other
    exception is a bug and keeps its traceback."""

    def __init__(self, *kinds: type[BaseException]) -> None:
        super().__init__()
        self.kinds = kinds

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.kinds):
            record.exc_info = None
            record.exc_text = None
        return True


@contextmanager
def _flow_logs_without_traceback_for(*kinds: type[BaseException]) -> Iterator[None]:
    quiet = _NoTracebackFor(*kinds)
    loggers = [logging.getLogger(name) for name in ("prefect.flow_runs", "prefect.task_runs")]
    for flow_logger in loggers:
        flow_logger.addFilter(quiet)
    try:
        yield
    finally:
        for flow_logger in loggers:
            flow_logger.removeFilter(quiet)


def _registry_uri(settings: Settings) -> str:
    from flows.mlflow_setup import local_tracking_uri

    return settings.mlflow_tracking_uri or local_tracking_uri()


@app.command("eval")
def evaluate(
    architecture: Annotated[
        str, typer.Option(help="alex (one agent) or team (Dana, Michal, Yosef, Sarah).")
    ] = "alex",
    bundle: Annotated[Path, typer.Option(help="The bundle to evaluate.")] = REPOSITORY_BUNDLE,
    dataset: Annotated[
        Path | None,
        typer.Option(help="Dev messages (JSONL); default data/eval/messages.jsonl."),
    ] = None,
    heldout: Annotated[
        Path | None,
        typer.Option(help="Held-out messages (JSONL); default data/heldout/messages.jsonl."),
    ] = None,
    bookings: Annotated[
        Path | None,
        typer.Option(
            help="Dev booking requests (JSONL); default data/eval/booking_requests.jsonl."
        ),
    ] = None,
    heldout_bookings: Annotated[
        Path | None,
        typer.Option(
            help="Held-out booking requests (JSONL); default data/heldout/booking_requests.jsonl."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Also write the figures as JSON to this file.")
    ] = None,
) -> None:
    """Run the labelled bilingual messages and booking requests through the assistant (offline
    model, scratch copy of the demo clinic) and report, for the tuning split (dev) and the
    frozen held-out split separately, each per language: triage safety and intent accuracy;
    for booking requests, the share whose offered times all satisfy the request and how often
    each constraint was read as labelled. Exits 1 when a gate fails: emergency recall below
    1.0, any boundary violation, or held-out booking requests satisfied below 0.95."""
    from evals.booking import booking_metrics, evaluate_bookings
    from evals.datasets import (
        BOOKINGS,
        HELDOUT,
        HELDOUT_BOOKINGS,
        MESSAGES,
        DatasetError,
        load_bookings,
        load_heldout,
        load_heldout_bookings,
        load_messages,
    )
    from evals.report import (
        booking_gate_failures,
        gate_failures,
        message_report,
        render_booking_report,
        render_text_report,
    )
    from evals.runner import evaluate_messages

    if architecture not in {"alex", "team"}:
        fail("--architecture is alex or team")
    try:
        messages = [*load_messages(dataset or MESSAGES), *load_heldout(heldout or HELDOUT)]
        requests = [
            *load_bookings(bookings or BOOKINGS),
            *load_heldout_bookings(heldout_bookings or HELDOUT_BOOKINGS),
        ]
        bundle_version = load_bundle(bundle).version
    except (DatasetError, BundleError) as exc:
        fail(str(exc))
    outcomes = asyncio.run(
        evaluate_messages(messages, architecture=architecture, bundle_path=bundle)
    )
    booked = asyncio.run(evaluate_bookings(requests, architecture=architecture, bundle_path=bundle))
    report = message_report(bundle_version, architecture, outcomes)
    report["bookings"] = booking_metrics(booked)
    typer.echo(render_text_report(report))
    typer.echo("")
    typer.echo(render_booking_report(report["bookings"]))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    failed = gate_failures(report) + booking_gate_failures(report["bookings"])
    if failed:
        fail("gate failed: " + "; ".join(failed))
