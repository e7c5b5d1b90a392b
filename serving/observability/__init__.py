"""Logs, metrics and request ids: how an operator sees what the service is doing.

Nothing here knows about clinics or patients; it is plumbing every request passes through, and it
is careful not to record what patients send (no bodies, no query strings, no raw paths).
"""

from serving.observability.logging import JsonFormatter, configure_logging, request_id_var
from serving.observability.metrics import AppMetrics
from serving.observability.middleware import REQUEST_ID_HEADER, RequestContextMiddleware

__all__ = [
    "REQUEST_ID_HEADER",
    "AppMetrics",
    "JsonFormatter",
    "RequestContextMiddleware",
    "configure_logging",
    "request_id_var",
]
