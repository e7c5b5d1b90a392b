"""Prometheus metrics of one app instance.

Each app gets its own `CollectorRegistry` instead of prometheus_client's global one, so tests
(and anything else) can create many apps in one process without "duplicated timeseries" errors.
Labels are bounded on purpose: the route is the template (`/api/v1/items/{id}`), never the raw
path, which would grow without limit and can carry personal data; unknown methods collapse into
`OTHER`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.exposition import choose_encoder

from serving.build_info import BuildInfo

NAMESPACE = "dental"
UNMATCHED_ROUTE = "unmatched"
"""Route label of requests no route matched (404s), so scanners cannot mint new series."""

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Replies that wait on a language model take seconds, so the buckets reach well past the
# prometheus_client defaults (which stop at 10 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# From an escalation to a dentist: seconds to hours.
RESPONSE_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)


class AppMetrics:
    """The metrics one app exposes on `/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.latency = Histogram(
            "request_latency_seconds",
            "Time from receiving a request to finishing its response, by route template.",
            ("method", "route"),
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "request_errors",
            "Requests that failed on the server side: 5xx responses and unhandled exceptions.",
            ("route",),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "rate_limited",
            "Patient messages and verification codes refused by a rate limit, by the scope "
            "over its limit (address, telegram_chat, user; phone: codes only).",
            ("scope",),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.rate_limit_errors = Counter(
            "rate_limit_errors",
            "Rate-limit checks that could not reach Redis and let the message through.",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.telegram_dead_letters = Counter(
            "telegram_dead_letters",
            "Telegram updates given up (status failed, see `dental telegram failed`), by cause: "
            "unreadable (python-telegram-bot cannot parse it) or attempts (every attempt failed).",
            ("cause",),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.escalations_opened = Counter(
            "escalations_opened",
            "Escalations whose first notification round ran, by urgency.",
            ("urgency",),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.escalation_time_to_open = Histogram(
            "escalation_seconds_to_link_opened",
            "From an escalation to a dentist first opening its link, by urgency.",
            ("urgency",),
            namespace=NAMESPACE,
            buckets=RESPONSE_BUCKETS,
            registry=self.registry,
        )
        self.escalation_time_to_reply = Histogram(
            "escalation_seconds_to_doctor_message",
            "From an escalation to the dentist's first message to the patient, by urgency.",
            ("urgency",),
            namespace=NAMESPACE,
            buckets=RESPONSE_BUCKETS,
            registry=self.registry,
        )
        self.notification_failures = Counter(
            "escalation_notification_failures",
            "Notices to the on-call dentist that failed after their retries, by channel "
            "(email, sms, telegram; `none` when no dentist or channel could be reached).",
            ("channel",),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.odoo_calls = Counter(
            "odoo_calls",
            "Calls to the clinic's Odoo (PRACTICE_BACKEND=odoo), by model, method and outcome "
            "(ok, or the practice error: practice_unavailable, practice_misconfigured, ...); "
            "a log-in is model `common`, method `login`.",
            ("model", "method", "outcome"),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.odoo_latency = Histogram(
            "odoo_call_latency_seconds",
            "Time one call to the clinic's Odoo took, answered or not, by model and method.",
            ("model", "method"),
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.memory_failures = Counter(
            "memory_failures",
            "Memory store operations that failed and were skipped (the turn answered without "
            "them), by operation: write, read, stats, prepare.",
            ("operation",),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.build = Info(
            "build",
            "The running build; join on it to tell which version produced a metric.",
            namespace=NAMESPACE,
            registry=self.registry,
        )

    def record_build(self, build: BuildInfo) -> None:
        self.build.info({"version": build.version, "commit": build.commit})

    def record_request(
        self, *, method: str, route: str, status: int, duration_seconds: float, failed: bool
    ) -> None:
        """Count one finished request; `failed` marks an unhandled exception in the app."""
        method_label = method if method in KNOWN_METHODS else "OTHER"
        self.requests.labels(method_label, route, str(status)).inc()
        self.latency.labels(method_label, route).observe(duration_seconds)
        if failed or status >= 500:
            self.errors.labels(route).inc()

    def record_odoo_call(self, model: str, method: str, outcome: str, seconds: float) -> None:
        """Count one call to Odoo (`serving.practice.odoo.client.OnCall`)."""
        self.odoo_calls.labels(model, method, outcome).inc()
        self.odoo_latency.labels(model, method).observe(seconds)

    def count_memory_failure(self, operation: str) -> None:
        """Count one failed memory operation (`serving.memory.service.Memory`'s hook)."""
        self.memory_failures.labels(operation).inc()

    def count_telegram_dead_letter(self, cause: str) -> None:
        self.telegram_dead_letters.labels(cause).inc()

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its content type, in the format the scraper's `Accept` asks
        for (Prometheus text by default, OpenMetrics on request)."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
