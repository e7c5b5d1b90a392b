"""Application settings and the secrets chain.

One `Settings` object is built at start-up by `load_settings()` and passed to everything else.
Values resolve in this order: explicit arguments, environment, `.env`, files in `SECRETS_DIR`
(Docker/Kubernetes secrets), then AWS Secrets Manager for secrets still unset when
`SECRETS_BACKEND=aws`. Secret values are `SecretStr`, so they never show in reprs or logs.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, DirectoryPath, Field, SecretStr, field_serializer
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from serving.secrets import SECRET_FIELDS, AwsSecretsManager

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/dental.db"
REPOSITORY_BUNDLE = Path(__file__).resolve().parent.parent / "prompts"
"""The repository's `prompts/`; an image without the repository sets BUNDLE_PATH."""


class Settings(BaseSettings):
    """Everything the service is configured by. Field names map to upper-case variables.

    Build it with `load_settings()`: constructing `Settings()` directly skips `SECRETS_DIR` and
    AWS Secrets Manager.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        # Compose files pass `OPENAI_API_KEY=${OPENAI_API_KEY}` through as "" when unset on the
        # host; an empty variable must count as unset so later links of the chain can fill it.
        env_ignore_empty=True,
        # Validation errors otherwise quote the offending value, which may be a secret.
        hide_input_in_errors=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    load_demo_data: bool = Field(
        default=False,
        description="Load the fictional demo clinic into an empty database at start-up.",
    )

    timezone: str = "Asia/Jerusalem"
    default_phone_region: str = "IL"
    observe_shabbat: bool = True
    shabbat_starts_friday: time = time(14, 0)
    shabbat_ends_saturday: time = time(20, 0)
    observe_public_holidays: bool = True
    holidays_country: str = "IL"
    slot_step_minutes: int = Field(default=15, ge=5, le=120)
    min_booking_notice_minutes: int = Field(default=60, ge=0)
    booking_horizon_days: int = Field(default=120, ge=1, le=730)

    bundle_path: Path = Field(
        default=REPOSITORY_BUNDLE,
        description="The artifact bundle served when no registry is configured.",
    )
    clinic_profile_path: Path | None = Field(
        default=None,
        description="A clinic profile (YAML) stored in the database at start-up when the "
        "clinic has none yet; the profile then lives in the database (docs/CLINIC_SETUP.md).",
    )
    clinic_setup_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long a serving process answers from its copy of the clinic's profile "
        "and providers before looking for a change made by another process; a change made "
        "through this process shows at once.",
    )
    agent_architecture: Literal["alex", "team"] = "alex"

    # The clinic's practice system (docs/ODOO.md): the built-in one in the app database, or
    # the clinic's own Odoo over JSON-RPC. ODOO_API_KEY is a secret (the secrets chain).
    practice_backend: Literal["builtin", "odoo"] = "builtin"
    odoo_url: str | None = Field(
        default=None, description="The Odoo server, e.g. https://odoo.clinic.example:443."
    )
    odoo_db: str | None = None
    odoo_username: str | None = Field(
        default=None, description="The login of the Odoo user the assistant acts as."
    )
    odoo_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Each call to Odoo gives up after this."
    )
    odoo_connections: int = Field(
        default=4, ge=1, le=32, description="Calls to Odoo that may run at once per process."
    )
    odoo_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long providers, treatments and working hours read from Odoo are "
        "reused; appointments, leaves, invoices and patients are always read fresh.",
    )
    odoo_default_duration_minutes: int = Field(
        default=30,
        ge=5,
        le=480,
        description="A treatment's length when Odoo has no x_duration_minutes field.",
    )

    # What the assistant remembers across conversations (docs/MEMORY.md): SQL tables in the
    # app database, or a Neo4j graph over Bolt. NEO4J_PASSWORD is a secret (the secrets chain).
    memory_backend: Literal["sql", "neo4j"] = "sql"
    neo4j_uri: str | None = Field(
        default=None, description="The Bolt address, e.g. neo4j://graph.clinic.internal:7687."
    )
    neo4j_user: str = "neo4j"
    neo4j_database: str = Field(
        default="neo4j", description="The database the memory graph lives in."
    )
    neo4j_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Each query to Neo4j gives up after this."
    )
    memory_stats_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="How long the clinic-wide pattern statistics are reused before they are "
        "read from the memory store again.",
    )

    # The language model: "offline" (built in) or any OpenAI-compatible server (docs/LLM.md).
    llm_provider: Literal["offline", "openai"] = "offline"
    openai_base_url: str | None = None  # OPENAI_BASE_URL: Ollama, vLLM, a proxy; None is OpenAI
    openai_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=20.0, gt=0)
    llm_max_retries: int = Field(default=1, ge=0, le=5)
    llm_send_personal_data: bool = Field(
        default=True,
        description="Send the patient's name and date of birth to an external model; "
        "phone numbers, emails, ID and card numbers are never sent.",
    )
    llm_temperature: float = Field(default=0.2, ge=0.0, le=2.0)

    # The bundle registry (docs/REGISTRY.md). Unset, the app serves `bundle_path` and never
    # touches MLflow; set, it serves the version the alias points at and follows its moves.
    mlflow_tracking_uri: str | None = Field(default=None, repr=False)
    bundle_registry_model: str = "dental-clinic-assistant-bundle"
    bundle_alias: str = "production"
    bundle_poll_seconds: float = Field(
        default=30.0, gt=0, description="How often serving checks where the alias points."
    )
    bundle_cache_dir: Path = Field(
        default=Path("var/bundles"), description="Downloaded bundles, verified before use."
    )

    secrets_backend: Literal["env", "aws"] = "env"
    # Must exist when set: pydantic-settings only warns about a missing directory, and a
    # mistyped mount path would otherwise start the service without its secrets.
    secrets_dir: DirectoryPath | None = None
    aws_secrets_prefix: str = "prod"
    aws_region: str = "eu-central-1"
    aws_endpoint_url: str | None = None

    openai_api_key: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    neo4j_password: SecretStr | None = None
    odoo_api_key: SecretStr | None = None
    integration_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("dental_integration_key", "integration_key")
    )

    # Telegram (docs/TELEGRAM.md). The channel is on when both the token and the secret are set.
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Sent by Telegram in X-Telegram-Bot-Api-Secret-Token; 1-256 of A-Za-z0-9_-.",
    )
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org/bot",
        description="The Bot API's base URL (the token is appended); a local Bot API server "
        "or a test stand-in replaces it.",
    )
    telegram_workers: int = Field(
        default=8, ge=1, le=64, description="Chats one replica processes at the same time."
    )
    telegram_update_retention_days: int = Field(
        default=7,
        ge=2,
        le=3650,
        description="Days an answered update (the patient's message as Telegram sent it) is "
        "kept before it is deleted; at least 2, past Telegram's 24-hour re-delivery window.",
    )
    telegram_answer_updates: bool = Field(
        default=True,
        description="Answer stored updates in this process; off for webhook-only replicas "
        "when `dental telegram work` processes run the answering side.",
    )

    # Notices to the on-call dentist (serving/notify): each channel is on when its values are
    # set. Telegram uses the bot of the Telegram settings above (TELEGRAM_BOT_TOKEN).
    smtp_host: str | None = Field(
        default=None, description="SMTP server of the e-mail notices; e-mail is on with SMTP_FROM."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = Field(
        default=None, description="SMTP AUTH user name; unset, the server is used without AUTH."
    )
    smtp_password: SecretStr | None = None
    smtp_from: str | None = Field(
        default=None, description="The notices' From address (e.g. on-call@clinic.example)."
    )
    smtp_starttls: bool = Field(
        default=True,
        description="Upgrade to TLS with STARTTLS (the server's certificate is verified) and "
        "refuse to send when the server does not offer it.",
    )
    twilio_account_sid: str | None = Field(
        default=None, description="Twilio account SID (AC...); SMS is on with the token and From."
    )
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = Field(
        default=None, description="The Twilio number (E.164) or sender id SMS notices come from."
    )
    twilio_api_base_url: str = Field(
        default="https://api.twilio.com",
        description="Twilio's API base URL; a test stand-in replaces it.",
    )
    notify_timeout_seconds: float = Field(
        default=10,
        gt=0,
        description="Timeout of each network step of a notice (connecting, each read or write).",
    )

    # Staff sign-in (docs/STAFF.md).
    staff_access_minutes: float = Field(
        default=15,
        gt=0,
        le=120,
        description="How long a staff access token works; the dashboard refreshes it before.",
    )
    staff_refresh_hours: float = Field(
        default=12,
        gt=0,
        le=24 * 14,
        description="How long a staff sign-in lasts without use (one working day by default).",
    )
    staff_login_attempts: int = Field(
        default=5, ge=1, le=50, description="Wrong passwords in a row that lock a staff account."
    )
    staff_lockout_minutes: float = Field(
        default=15, gt=0, description="How long a locked staff account stays locked."
    )
    staff_logins_per_address: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="Sign-in attempts one client address may make per window, whatever the "
        "accounts (a clinic behind one address signs in a few times a day).",
    )
    staff_login_window_seconds: int = Field(
        default=900, ge=60, le=86_400, description="The window of the per-address sign-in limit."
    )

    # The web chat's phone verification (docs/WEB_IDENTITY.md): a code sent by SMS through the
    # Twilio settings above; without them the page does not offer it.
    web_identity_code_seconds: int = Field(
        default=300,
        ge=60,
        le=1800,
        description="How long a code sent to verify a web visitor's phone works.",
    )
    web_identity_code_attempts: int = Field(
        default=5,
        ge=1,
        le=10,
        description="Tries one code allows: the last wrong one uses it up (a new code is needed).",
    )
    web_identity_codes_per_phone: int = Field(
        default=3, ge=1, le=100, description="Codes one phone number may be sent per window."
    )
    web_identity_phone_window_seconds: int = Field(
        default=900, ge=60, le=86_400, description="The window of the per-phone limit."
    )
    web_identity_codes_per_address: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Codes one client address may ask for per window, whatever the phones.",
    )
    web_identity_address_window_seconds: int = Field(
        default=3600, ge=60, le=86_400, description="The window of the per-address limit."
    )

    # Rate limits (docs/ASSISTANT.md, "Rate limits"): messages per window, 0 turns one off.
    # An emergency message is never refused.
    redis_url: str | None = Field(
        default=None,
        repr=False,
        description="Redis shared by every replica (redis://[:password@]host:6379/0): the "
        "rate-limit counters, and pushes to open web chats reach whichever replica holds the "
        "stream. Unset: each process counts and pushes on its own, in memory.",
    )
    redis_key_prefix: str = Field(
        default="dental:",
        min_length=1,
        max_length=64,
        description="Prefix of every key the app writes to Redis: clinics (or test runs) "
        "sharing one Redis keep apart by it.",
    )
    rate_limit_window_seconds: int = Field(
        default=60, ge=1, le=86_400, description="The window the limits below count in."
    )
    rate_limit_per_user: int = Field(
        default=20,
        ge=0,
        description="Messages one user id may send per window (chat API and web chat).",
    )
    rate_limit_per_address: int = Field(
        default=120,
        ge=0,
        description="Messages one client address may send per window, whatever the user ids "
        "(chat API and web chat); a clinic's reception or a shared network counts as one.",
    )
    rate_limit_per_telegram_chat: int = Field(
        default=20, ge=0, description="Messages one Telegram chat may send per window."
    )

    # The dentist in the loop (docs/ESCALATION.md).
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where dentists reach this service: doctor links are "
        "PUBLIC_BASE_URL/doctor/<token>.",
    )
    doctor_link_hours: float = Field(
        default=24.0, gt=0, le=168, description="How long a doctor link works after it is sent."
    )
    patient_link_minutes: float = Field(
        default=30.0,
        gt=0,
        le=1440,
        description="How long a patient's link to their own data (/my-data, docs/PRIVACY.md) "
        "works after they asked for it in the chat.",
    )
    escalation_repeat_minutes: float = Field(
        default=5.0,
        gt=0,
        description="Between reminders of an EMERGENCY nobody has opened (and between rounds "
        "that reached no one).",
    )
    notification_attempts: int = Field(
        default=3, ge=1, le=10, description="Sends of one notice on one channel, per round."
    )
    notification_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Pause before the second send of a failed notice; each later one waits "
        "four times longer.",
    )
    escalation_poll_seconds: float = Field(
        default=2.0, gt=0, le=60, description="How often each process looks for due notices."
    )

    # Backups and disaster recovery (docs/BACKUP.md, docs/RECOVERY_RUNBOOK.md).
    backup_bucket: str | None = Field(
        default=None, description="Primary S3 bucket of the backup sets (BACKUP_BUCKET)."
    )
    backup_region: str | None = Field(
        default=None, description="The primary bucket's region; AWS_REGION when unset."
    )
    backup_secondary_bucket: str | None = Field(
        default=None, description="The copy in another region; restore falls back to it."
    )
    backup_secondary_region: str | None = None
    backup_kms_key_id: str | None = Field(
        default=None,
        description="KMS key (id, ARN or alias) for SSE-KMS on the primary bucket's objects, "
        "on top of the client-side age encryption; unset, the bucket's default encryption.",
    )
    backup_secondary_kms_key_id: str | None = Field(
        default=None, description="The same for the secondary bucket (a key in its region)."
    )
    backup_prefix: str = Field(default="backups", description="Key prefix of the sets.")
    backup_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (MinIO, a stand-in); AWS_ENDPOINT_URL when unset."
    )
    backup_age_recipients: str | None = Field(
        default=None,
        description="age public keys (age1...) the sets are encrypted to, comma-separated.",
    )
    backup_age_identity: SecretStr | None = Field(
        default=None,
        description="The age private key (AGE-SECRET-KEY-1...) that decrypts the sets; from the "
        "secrets chain, AWS secret <prefix>/backup-age-identity; only restore needs it.",
    )
    backup_repository: Path = Field(
        default=REPOSITORY_BUNDLE.parent, description="The git repository that is backed up."
    )
    backup_work_dir: Path = Field(
        default=Path("var/backup-work"),
        description="Where a set is assembled and encrypted before upload; emptied after.",
    )
    backup_session_api_url: str | None = Field(
        default=None, description="The AI development session exporter's API base URL."
    )
    backup_session_api_token: SecretStr | None = None
    backup_session_ids: str = Field(
        default="",
        description="Session ids to export, comma-separated, besides those named in commit "
        "trailers (Session-ID, Manus-Session-ID).",
    )
    backup_keep_last: int = Field(default=14, ge=1, description="Sets kept whatever their age.")
    backup_keep_days: int = Field(default=35, ge=1, description="Sets younger than this are kept.")
    backup_rto_target_minutes: float = Field(default=15.0, gt=0)
    backup_rpo_target_minutes: float = Field(default=60.0, gt=0)
    # PostgreSQL point-in-time recovery with pgBackRest (docs/BACKUP.md).
    backup_pgbackrest_passphrase: SecretStr | None = Field(
        default=None,
        description="Encrypts the pgBackRest repository (aes-256-cbc); from the secrets chain, "
        "AWS secret <prefix>/backup-pgbackrest-passphrase.",
    )
    backup_pgbackrest_config: Path = Field(
        default=Path("/etc/pgbackrest/pgbackrest.conf"),
        description="Where `dental backup pitr setup` writes the pgBackRest configuration.",
    )
    backup_pgbackrest_stanza: str = Field(
        default="clinic", pattern=r"^[A-Za-z0-9_-]+$", description="The cluster's stanza name."
    )
    backup_pgbackrest_repo_path: Path | None = Field(
        default=None,
        description="A local directory as the pgBackRest repository instead of the S3 buckets.",
    )
    backup_pgbackrest_s3_key_type: Literal["auto", "web-id", "shared"] = Field(
        default="auto",
        description="How pgBackRest gets S3 credentials: the instance or task role (auto), IRSA "
        "(web-id), or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (shared).",
    )
    backup_pg_data_dir: Path | None = Field(
        default=None, description="The data directory of the clinic's PostgreSQL cluster."
    )
    backup_pg_socket_dir: Path = Field(
        default=Path("/var/run/postgresql"), description="The cluster's Unix socket directory."
    )
    backup_pg_os_user: str | None = Field(
        default=None,
        description="The OS user owning the cluster; pgBackRest, pg_ctl and psql run as it "
        "(needed when the command runs as root).",
    )

    @property
    def redacted_database_url(self) -> str:
        """The database URL with any password masked, safe for logs and errors."""
        return _redacted(self.database_url, "database")

    @field_serializer("database_url")
    def _dump_database_url_redacted(self, _value: str) -> str:
        """Dumps are for display (health pages, debugging); they get the masked URL."""
        return self.redacted_database_url

    @field_serializer("redis_url")
    def _dump_redis_url_redacted(self, value: str | None) -> str | None:
        return None if value is None else _redacted(value, "Redis")

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings through the whole secrets chain; the one way the service gets them.

    `overrides` (field names) win over everything, then environment, `.env` in the working
    directory, files in `SECRETS_DIR`, and last AWS Secrets Manager, which is asked only for
    secrets still unset (None or empty) so a locally provided value always wins and start-up
    makes no AWS call when nothing is missing.

    Raises `pydantic.ValidationError` for invalid values and `SecretsUnavailable` when AWS is
    configured but cannot be read.
    """
    settings = Settings(**overrides)
    if settings.secrets_dir is not None:
        # A second pass because where the files live is itself a setting from the first pass.
        settings = Settings(_secrets_dir=settings.secrets_dir, **overrides)
    if settings.secrets_backend != "aws":
        return settings
    missing = [name for name in SECRET_FIELDS if not _is_set(getattr(settings, name))]
    if not missing:
        return settings
    store = AwsSecretsManager(
        prefix=settings.aws_secrets_prefix,
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
    )
    found = store.fetch(missing)
    return settings.model_copy(update={name: SecretStr(value) for name, value in found.items()})


def _redacted(url: str, what: str) -> str:
    """`url` with any password masked, safe for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Unparseable, so we cannot tell where a password would be; show nothing of it.
        return f"<unparseable {what} URL>"


def _is_set(secret: SecretStr | None) -> bool:
    return secret is not None and secret.get_secret_value() != ""
