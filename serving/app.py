"""The FastAPI application: `create_app(settings)` builds one, with everything it needs passed in.

There is no module-level app: the CLI (`dental serve`) and tests create apps from explicit
settings, so nothing is configured by whichever environment happens to import this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from serving import __version__
from serving.api import (
    admin_clinic,
    admin_conversations,
    admin_operations,
    admin_patients,
    admin_users,
    chat,
    doctor,
    health,
    memory,
    metrics,
    my_data_page,
    staff_auth,
    staff_page,
    version,
    web,
)
from serving.api.errors import CLIENT_ERRORS, internal_error
from serving.assistant.identity_codes import CodePolicy, IdentityCodes
from serving.assistant.outbound import Outbox
from serving.assistant.service import Assistant
from serving.assistant.store import ConversationStore
from serving.build_info import read_build_info
from serving.bundle.source import BundleSource
from serving.channels.telegram import webhook as telegram_webhook
from serving.channels.telegram.channel import TelegramChannel
from serving.channels.web import identity as web_identity
from serving.channels.web import my_data as web_my_data
from serving.channels.web import stream as web_chat_stream
from serving.channels.web.push import WebChatChannel, web_chat_hub
from serving.clinic import load_clinic_profile
from serving.clinic_setup.errors import KeptElsewhere, SetupError
from serving.clinic_setup.profile_source import ClinicProfileSource
from serving.clinic_setup.service import ClinicSetup
from serving.console.conversations import ConsoleConversations
from serving.console.operations import Operations
from serving.console.patients import StaffPatients
from serving.console.schedule import StaffSchedule
from serving.console.staff_users import StaffUsers
from serving.conversation.turn import catalog_text
from serving.db.engine import Database
from serving.db.migrate import migration_status
from serving.db.types import utcnow
from serving.demo import load_demo_clinic
from serving.escalation.desk import DoctorDesk
from serving.escalation.dispatcher import DispatchPolicy, EscalationDispatcher
from serving.escalation.events import EscalationHooks, StaffFeed, doctor_page_hub, staff_hub
from serving.escalation.links import DoctorLinks
from serving.escalation.rota import OnCallRota
from serving.integration_key import ensure_local_integration_key
from serving.language import as_language
from serving.memory.factory import create_memory_store
from serving.memory.rebuild import rebuild
from serving.memory.service import Memory
from serving.notify import sms_transport, transports_from_settings
from serving.observability.heap import freeze_startup_heap
from serving.observability.logging import configure_logging
from serving.observability.metrics import AppMetrics
from serving.observability.middleware import RequestContextMiddleware
from serving.practice.backend import PracticeBackend
from serving.practice.errors import PracticeError
from serving.practice.factory import (
    create_practice_backend,
    practice_system_id,
    schedule_kept_in,
)
from serving.practice.odoo.backend import OdooPracticeBackend
from serving.privacy.patient_links import PatientLinks
from serving.ratelimit import (
    Scope,
    create_identity_code_limiters,
    create_rate_limiter,
    create_staff_login_limiter,
)
from serving.settings import Settings, load_settings
from serving.staff.accounts import LockoutPolicy, StaffAccounts
from serving.staff.audit import AuditLog
from serving.staff.sessions import StaffSessions

logger = logging.getLogger(__name__)

DESCRIPTION = """\
A self-hosted assistant for a dental clinic. Patients talk to it on Telegram or the web chat,
in Hebrew or English: it books, reschedules and cancels appointments in the clinic's practice
system, answers invoice and clinic questions, routes emergencies and hands clinical questions to
a dentist. It never diagnoses or recommends doses.

Every response carries an `X-Request-ID` header (send your own to correlate with your logs);
unexpected failures answer `500 {"error": "internal_error", "request_id": ...}` and the details
are in the server log under that id.
"""

OPENAPI_TAGS = [
    {
        "name": "operations",
        "description": "Probes, metrics and build information for whoever runs the service.",
    },
]


class DatabaseNotMigrated(RuntimeError):
    """The database schema is behind this code; `dental db upgrade` brings it to the head."""


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    long_running: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """The app for `settings`; pass `database` to share one (it is then not disposed here).

    `long_running`: a serving process (`dental serve`, `dental telegram work`): once started,
    its start-up heap is frozen out of the garbage collector's walks (`freeze_startup_heap`).
    `clock`: what "now" is for the assistant and the practice backend alike (an evaluation
    sets it to the day a labelled request was written, so "tomorrow" means the labelled day).
    """
    build_info = read_build_info()
    app_metrics = AppMetrics()
    app_metrics.record_build(build_info)

    # A bad bundle or clinic profile file stops start-up here, before any patient is answered.
    if settings.clinic_profile_path is not None:
        load_clinic_profile(settings.clinic_profile_path)
    clinic = ClinicProfileSource(check_every=settings.clinic_setup_cache_seconds)
    bundle_source = BundleSource(settings, clinic)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app_database = Database(settings.database_url) if database is None else database
        app.state.database = app_database
        app.state.practice = create_practice_backend(
            settings, app_database, clock=clock, on_odoo_call=app_metrics.record_odoo_call
        )
        # The staff console's live feed: every message stored, every escalation's change.
        app.state.staff_feed = StaffFeed(
            app_database, staff_hub(settings.redis_url, settings.redis_key_prefix)
        )
        store = ConversationStore(app_database, on_message=app.state.staff_feed.message_stored)
        # What the assistant remembers across conversations: advice, never a turn's failure.
        app.state.memory = Memory(
            create_memory_store(settings, app_database),
            timezone=settings.timezone,
            stats_seconds=settings.memory_stats_seconds,
            clock=clock,
            on_failure=app_metrics.count_memory_failure,
        )
        # The clinic's staff: accounts, sign-in sessions, the audit trail.
        app.state.staff_accounts = StaffAccounts(
            app_database,
            lockout=LockoutPolicy(
                attempts=settings.staff_login_attempts,
                locked_for=timedelta(minutes=settings.staff_lockout_minutes),
            ),
            clock=clock,
        )
        app.state.staff_sessions = StaffSessions(
            app_database,
            access_for=timedelta(minutes=settings.staff_access_minutes),
            refresh_for=timedelta(hours=settings.staff_refresh_hours),
            clock=clock,
        )
        app.state.audit = AuditLog(app_database, clock=clock)
        app.state.staff_login_limiter = create_staff_login_limiter(settings, metrics=app_metrics)

        def setup_changed() -> None:
            clinic.forget()
            app.state.practice.forget_setup()

        app.state.clinic_setup = ClinicSetup(
            app_database,
            phone_region=settings.default_phone_region,
            on_change=setup_changed,
            schedule_kept_in=schedule_kept_in(settings),
        )
        # The staff console: patients, calendar and bookings, accounts.
        app.state.staff_patients = StaffPatients(
            backend=app.state.practice, audit=app.state.audit, timezone=settings.timezone
        )
        app.state.staff_schedule = StaffSchedule(
            backend=app.state.practice, audit=app.state.audit, timezone=settings.timezone
        )
        app.state.staff_users = StaffUsers(accounts=app.state.staff_accounts, audit=app.state.audit)
        rate_limiter = create_rate_limiter(settings, metrics=app_metrics)
        # The dentist in the loop: who is on call, their links, the notices, the live page.
        links = DoctorLinks(
            app_database, valid_for=timedelta(hours=settings.doctor_link_hours), clock=clock
        )
        app.state.doctor_hub = doctor_page_hub(settings.redis_url, settings.redis_key_prefix)
        app.state.oncall_rota = OnCallRota(
            app_database, timezone=settings.timezone, phone_region=settings.default_phone_region
        )
        app.state.dispatcher = EscalationDispatcher(
            app_database,
            rota=app.state.oncall_rota,
            links=links,
            transports=transports_from_settings(settings),
            backend=app.state.practice,
            metrics=app_metrics,
            public_base_url=settings.public_base_url,
            clinic_name=lambda language: clinic.current().name(as_language(language)),
            policy=DispatchPolicy(
                repeat_every=timedelta(minutes=settings.escalation_repeat_minutes),
                attempts=settings.notification_attempts,
                backoff_seconds=(
                    settings.notification_backoff_seconds,
                    settings.notification_backoff_seconds * 4,
                ),
                poll_seconds=settings.escalation_poll_seconds,
            ),
            clock=clock,
        )
        # A patient's own data: the private link they ask for in a verified chat.
        app.state.patient_links = PatientLinks(
            app_database, valid_for=timedelta(minutes=settings.patient_link_minutes), clock=clock
        )
        app.state.assistant = Assistant(
            runtime=lambda: app.state.runtime(),
            backend=app.state.practice,
            store=store,
            clinic=clinic,
            timezone=settings.timezone,
            phone_region=settings.default_phone_region,
            limiter=rate_limiter,
            clock=clock,
            watch=EscalationHooks(app.state.dispatcher, app.state.doctor_hub, app.state.staff_feed),
            memory=app.state.memory,
            patient_links=app.state.patient_links,
            public_base_url=settings.public_base_url,
        )
        # The web chat's phone verification: codes by SMS, limited per phone and per address.
        code_sms = sms_transport(settings)
        code_limiters = create_identity_code_limiters(settings, metrics=app_metrics)
        app.state.identity_codes = IdentityCodes(
            database=app_database,
            assistant=app.state.assistant,
            sms=code_sms,
            clinic_name=lambda language: clinic.current().name(language),
            policy=CodePolicy(
                valid_for=timedelta(seconds=settings.web_identity_code_seconds),
                attempts=settings.web_identity_code_attempts,
            ),
            phone_limiter=code_limiters[Scope.PHONE],
            address_limiter=code_limiters[Scope.ADDRESS],
            phone_region=settings.default_phone_region,
            clock=clock,
        )
        # The one way out to patients: each channel that can reach them unprompted.
        app.state.outbox = Outbox(store)
        app.state.web_push = web_chat_hub(settings.redis_url, settings.redis_key_prefix)
        app.state.outbox.register("web", WebChatChannel(app.state.web_push))
        app.state.telegram = None
        if settings.telegram_bot_token is not None:
            app.state.telegram = TelegramChannel(
                settings,
                database=app_database,
                assistant=app.state.assistant,
                count_dead_letter=app_metrics.count_telegram_dead_letter,
            )
            app.state.outbox.register("telegram", app.state.telegram)
        app.state.doctor_desk = DoctorDesk(
            app_database,
            links=links,
            backend=app.state.practice,
            outbox=app.state.outbox,
            hub=app.state.doctor_hub,
            feed=app.state.staff_feed,
            metrics=app_metrics,
            memory=app.state.memory,
            catalog=lambda language, key, **values: catalog_text(
                app.state.runtime().bundle,
                clinic.current(),
                as_language(language),
                key,
                **values,
            ),
            timezone=settings.timezone,
            clock=clock,
        )
        # The staff console: conversations taken over, escalations joined, through the desk.
        app.state.console = ConsoleConversations(
            app_database,
            desk=app.state.doctor_desk,
            backend=app.state.practice,
            timezone=settings.timezone,
            clock=clock,
        )
        app.state.operations = Operations(app_database, timezone=settings.timezone, clock=clock)
        odoo_report: asyncio.Task[None] | None = None
        memory_rebuild: asyncio.Task[None] | None = None
        try:
            if settings.load_demo_data:
                await load_demo_data(app_database, settings)
            await clinic.start(app_database, seed=settings.clinic_profile_path)
            switched = await follow_practice_system(store, practice_system_id(settings))
            await prepare_memory(app.state.memory, app_metrics)
            if switched:
                # The graph still ties conversations to the old system's patient ids: rebuilt
                # from the unbound conversations, it ties them to nobody. Not awaited: a big
                # clinic's rebuild must not hold start-up (recall meanwhile may miss a memory,
                # never give another patient's).
                memory_rebuild = asyncio.create_task(
                    rebuild_memory_after_switch(app_database, app.state.memory, app_metrics)
                )
            await announce_first_run(app.state.clinic_setup, clinic, app.state.staff_accounts)
            # Not awaited: a slow or absent Odoo must not hold start-up.
            odoo_report = asyncio.create_task(
                announce_practice_system(app.state.practice, settings.odoo_default_duration_minutes)
            )
            if app.state.telegram is not None:
                await app.state.telegram.start()
            await app.state.dispatcher.start()
            if settings.mlflow_tracking_uri is not None:
                # Follow the registry alias: promotions and rollbacks swap bundles live.
                await bundle_source.start()
            if long_running:
                freeze_startup_heap()
            yield
        finally:
            if odoo_report is not None:
                odoo_report.cancel()
            if memory_rebuild is not None:
                memory_rebuild.cancel()
            await app.state.dispatcher.stop()
            if app.state.telegram is not None:
                await app.state.telegram.stop()
            await bundle_source.stop()
            await app.state.web_push.close()
            await app.state.doctor_hub.close()
            await app.state.staff_feed.hub.close()
            await rate_limiter.close()
            await app.state.staff_login_limiter.close()
            for limiter in code_limiters.values():
                await limiter.close()
            if code_sms is not None:
                await code_sms.close()
            await close_memory(app.state.memory)
            if database is None:
                await app_database.dispose()

    app = FastAPI(
        title="dental-clinic-ai",
        description=DESCRIPTION,
        version=__version__,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = app_metrics
    app.state.build_info = build_info
    app.state.bundle_source = bundle_source
    app.state.runtime = bundle_source.runtime
    app.state.clinic = clinic  # the profile source: `.current()` is the profile now
    app.add_middleware(RequestContextMiddleware, metrics=app_metrics)
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(staff_auth.StaffRefused, staff_auth.staff_refused)
    app.add_exception_handler(SetupError, admin_clinic.setup_refused)
    for exception_type, handler in CLIENT_ERRORS:
        app.add_exception_handler(exception_type, handler)  # type: ignore[arg-type]
    app.include_router(health.router)
    app.include_router(version.router)
    app.include_router(metrics.router)
    app.include_router(chat.router)
    app.include_router(web_chat_stream.router)
    app.include_router(web_identity.router)
    app.include_router(web_my_data.router)
    app.include_router(web.router)
    app.include_router(telegram_webhook.router)
    app.include_router(doctor.router)
    app.include_router(staff_auth.router)
    app.include_router(admin_clinic.router)
    app.include_router(admin_conversations.router)
    app.include_router(admin_operations.router)
    app.include_router(admin_patients.router)
    app.include_router(admin_users.router)
    app.include_router(staff_page.router)
    app.include_router(memory.router)
    app.include_router(my_data_page.router)
    return app


def create_app_from_environment() -> FastAPI:
    """The app of one worker process of `dental serve --workers N`: each worker builds its
    settings from the environment the command prepared (uvicorn imports this factory)."""
    settings = ensure_local_integration_key(load_settings())
    configure_logging(settings.log_level)
    return create_app(settings, long_running=True)


async def load_demo_data(database: Database, settings: Settings) -> None:
    """Load the fictional demo clinic into an empty database (never over real data)."""
    status = await migration_status(database.engine)
    if not status.is_current:
        raise DatabaseNotMigrated(
            f"cannot load the demo clinic: the database is at revision {status.current}, "
            f"this code expects {status.head}; run `dental db upgrade` first"
        )
    if await load_demo_clinic(database, settings):
        logger.info("demo clinic loaded")
    else:
        logger.info("demo clinic not loaded: the database already has data")


FIRST_RUN_MESSAGE = (
    "this clinic is not set up yet: patients are told booking is not available. Set it up "
    "on the staff dashboard (/staff) or from a file with `dental clinic import FILE.yaml` "
    "(docs/CLINIC_SETUP.md)"
)


NO_ADMIN_MESSAGE = (
    "no staff admin can sign in: create the first one with `dental users create --email E "
    "--name N --role admin` (docs/STAFF.md)"
)


async def prepare_memory(memory: Memory, metrics: AppMetrics) -> None:
    """Ready the memory store (Neo4j's constraints and indexes). A store out of reach is
    announced and counted, and the app serves on: memory is advice, and readiness does not
    depend on it; its reads and writes fail softly until the store is back."""
    try:
        await memory.store.prepare()
    except Exception as error:  # any driver failure: the app must still start
        logger.warning(
            "the memory store could not be prepared; the assistant answers without memory "
            "until it is reachable",
            extra={"memory_backend": memory.store.kind, "error": type(error).__name__},
        )
        metrics.count_memory_failure("prepare")


async def close_memory(memory: Memory) -> None:
    try:
        await memory.close()
    except Exception as error:  # shutting down: nothing more to do about it
        logger.warning("the memory store did not close cleanly: %s", type(error).__name__)


async def follow_practice_system(store: ConversationStore, system: str) -> bool:
    """Clear the patients' bindings when the practice system changed since the last start
    (`ConversationStore.follow_practice_system`); True when bindings were cleared."""
    try:
        cleared = await store.follow_practice_system(system)
    except (DBAPIError, OSError) as exc:  # not migrated yet, or down: /ready says so
        logger.warning("could not check the practice system at start-up: %s", type(exc).__name__)
        return False
    if cleared:
        logger.warning(
            "the practice system changed: %d conversations are no longer bound to a patient, "
            "who will prove who they are again",
            cleared,
        )
        return True
    return False


async def rebuild_memory_after_switch(
    database: Database, memory: Memory, metrics: AppMetrics
) -> None:
    """Rebuild the memory graph once the practice system changed (`dental memory rebuild`);
    a store out of reach is announced and counted: run the command when it is back."""
    await memory.settled()
    try:
        counts = await rebuild(database, memory.store)
    except Exception as error:  # the app serves on; recall reads what the store holds
        logger.warning(
            "the memory graph could not be rebuilt after the practice system changed: %s; "
            "run `dental memory rebuild` once the memory store answers",
            type(error).__name__,
        )
        metrics.count_memory_failure("rebuild")
        return
    memory.forget_all()
    logger.info("memory graph rebuilt for the new practice system: %s", counts)


async def announce_practice_system(backend: PracticeBackend, default_duration: int) -> None:
    """With the clinic's Odoo: whether it answers at start-up, and what it lacks with the fix
    (`dental odoo check` says more). The built-in practice system needs no such word."""
    if not isinstance(backend, OdooPracticeBackend):
        return
    try:
        version = await backend.client.server_version()
        mapping = await backend.mapping()
    except PracticeError as error:  # its message names the fix, never a patient
        logger.warning("the clinic's Odoo is not usable yet: %s", error)
        return
    logger.info("practice system: Odoo %s at %s", version, backend.client.address.host)
    for item in mapping.missing(default_duration_minutes=default_duration):
        logger.warning("Odoo lacks %s: %s. Fix: %s", item.what, item.effect, item.fix)


async def announce_first_run(
    setup: ClinicSetup, clinic: ClinicProfileSource, accounts: StaffAccounts
) -> None:
    """One warning at start-up when the clinic has no profile or nobody who takes patients
    (a new production install): what patients see, and how to set it up; and one when no
    admin can sign in to set it up."""
    try:
        staff = await accounts.list()
        try:
            providers = await setup.providers()
        except KeptElsewhere:
            providers = None  # the clinic's Odoo has them: `dental odoo check` looks there
    except (DBAPIError, OSError) as exc:  # the database's trouble shows in /ready
        logger.warning("could not check the clinic's set-up at start-up: %s", type(exc).__name__)
        return
    working = providers is None or any(p.active and p.hours and p.treatments for p in providers)
    if not clinic.is_set_up or not working:
        logger.warning(FIRST_RUN_MESSAGE)
    if not any(account.role == "admin" and not account.disabled for account in staff):
        logger.warning(NO_ADMIN_MESSAGE)
