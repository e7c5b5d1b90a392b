"""What routers receive through `Depends`: the objects `create_app` put on `app.state`.

Routers never build settings or engines themselves, so tests hand an app whatever database they
like and every route sees the same one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.build_info import BuildInfo
from serving.db.engine import Database
from serving.observability.metrics import AppMetrics
from serving.settings import Settings
from serving.staff.accounts import StaffAccounts
from serving.staff.audit import AuditLog
from serving.staff.sessions import StaffSessions


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database | None = getattr(request.app.state, "database", None)
    if database is None:
        raise RuntimeError("the app's database is set up by its lifespan, which has not run")
    return database


def get_metrics(request: Request) -> AppMetrics:
    metrics: AppMetrics = request.app.state.metrics
    return metrics


def get_build_info(request: Request) -> BuildInfo:
    build_info: BuildInfo = request.app.state.build_info
    return build_info


def staff_accounts(request: Request) -> StaffAccounts:
    accounts: StaffAccounts = request.app.state.staff_accounts
    return accounts


def staff_sessions(request: Request) -> StaffSessions:
    sessions: StaffSessions = request.app.state.staff_sessions
    return sessions


def audit_log(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
MetricsDep = Annotated[AppMetrics, Depends(get_metrics)]
BuildInfoDep = Annotated[BuildInfo, Depends(get_build_info)]
AuditLogDep = Annotated[AuditLog, Depends(audit_log)]
