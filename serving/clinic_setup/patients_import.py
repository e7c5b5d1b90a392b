"""Patients from a CSV file, for a clinic without a practice system to sync from.

The whole file is checked before anything is written: every bad row is reported with the
field and the reason, and then nothing is imported. A clean file goes in with one bulk insert
in one transaction. Reports name rows and fields, never their values (patient data).

Columns (a header row, UTF-8, any order): first_name, last_name, phone (required); name_he,
email, language (he or en; he if empty), date_of_birth (YYYY-MM-DD), optional. Rows are
numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import func, insert, select

from serving.clinic_setup.errors import SetupError
from serving.db import models as db
from serving.db.engine import Database
from serving.practice.errors import InvalidRequest
from serving.practice.phone import normalize_phone

COLUMNS = ("first_name", "last_name", "name_he", "phone", "email", "language", "date_of_birth")
REQUIRED = ("first_name", "last_name", "phone")
MAX_ROWS = 100_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LIMITS = {"first_name": 80, "last_name": 80, "name_he": 160, "email": 254}


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


@dataclass
class PatientsReport:
    """What an import found: the rows it read, and each problem (none: it can import)."""

    rows: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    imported: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def read_rows(path: Path) -> list[dict[str, str]]:
    """The CSV file's rows by column; SetupError for a file that cannot be one."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError(f"cannot read {path.name}: {type(exc).__name__}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    unknown = sorted(set(header) - set(COLUMNS))
    missing = [name for name in REQUIRED if name not in header]
    if unknown or missing:
        raise SetupError(
            f"{path.name}: "
            + "; ".join(
                [f"unknown column {name!r}" for name in unknown]
                + [f"missing column {name!r}" for name in missing]
            )
            + f" (columns: {', '.join(COLUMNS)})"
        )
    reader.fieldnames = header
    rows: list[dict[str, str]] = []
    try:
        for row in reader:
            if None in row:
                raise SetupError(f"{path.name}: row {len(rows) + 2} has more cells than columns")
            rows.append({key: (value or "").strip() for key, value in row.items()})
            if len(rows) > MAX_ROWS:
                raise SetupError(f"{path.name}: more than {MAX_ROWS} rows; split the file")
    except csv.Error as exc:
        raise SetupError(f"{path.name}: not a CSV file ({exc})") from None
    return rows


async def import_patients(
    database: Database,
    rows: list[dict[str, str]],
    *,
    dry_run: bool = False,
    phone_region: str = "IL",
) -> PatientsReport:
    """Check every row against the others and the patients already stored; write them all
    (one bulk insert) only if every row is good and `dry_run` is off."""
    report = PatientsReport(rows=len(rows))
    records: list[dict[str, object]] = []
    phones: dict[str, int] = {}
    emails: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        record, problems = _checked(number, row, phone_region)
        report.problems += problems
        for key, seen in (("phone", phones), ("email", emails)):
            value = record.get(key)
            if isinstance(value, str) and value:
                if value in seen:
                    report.problems.append(
                        RowProblem(number, key, f"the same as row {seen[value]}")
                    )
                else:
                    seen[value] = number
        records.append(record)
    async with database.transaction() as session:
        stored_phones = set(await session.scalars(select(db.Patient.phone)))
        stored_emails = set(
            await session.scalars(
                select(func.lower(db.Patient.email)).where(db.Patient.email.is_not(None))
            )
        )
        for key, seen, stored in (
            ("phone", phones, stored_phones),
            ("email", emails, stored_emails),
        ):
            report.problems += [
                RowProblem(number, key, "a patient with it is already stored")
                for value, number in seen.items()
                if value in stored
            ]
        report.problems.sort(key=lambda p: (p.row, COLUMNS.index(p.field)))
        if report.problems or dry_run or not records:
            return report
        await session.execute(insert(db.Patient), records)
        report.imported = len(records)
    return report


def _checked(
    number: int, row: dict[str, str], region: str
) -> tuple[dict[str, object], list[RowProblem]]:
    problems: list[RowProblem] = []

    def problem(name: str, reason: str) -> None:
        problems.append(RowProblem(number, name, reason))

    record: dict[str, object] = {}
    for name in ("first_name", "last_name", "name_he"):
        value = row.get(name, "")
        if not value and name in REQUIRED:
            problem(name, "missing")
        elif len(value) > _LIMITS[name]:
            problem(name, f"longer than {_LIMITS[name]} characters")
        record[name] = value or None
    try:
        record["phone"] = normalize_phone(row.get("phone", ""), region)
    except InvalidRequest as exc:
        problem("phone", str(exc))
    email = row.get("email", "").lower()
    if email and (len(email) > _LIMITS["email"] or not _EMAIL.match(email)):
        problem("email", "not an e-mail address")
    record["email"] = email or None
    language = row.get("language", "").lower() or "he"
    if language not in ("he", "en"):
        problem("language", "must be he or en")
    record["language"] = language
    record["date_of_birth"] = None
    if born := row.get("date_of_birth", ""):
        try:
            day = date.fromisoformat(born)
        except ValueError:
            problem("date_of_birth", "not a date in the form YYYY-MM-DD")
        else:
            if not date(1900, 1, 1) <= day <= date.today():
                problem("date_of_birth", "not between 1900-01-01 and today")
            record["date_of_birth"] = day
    return record, problems
