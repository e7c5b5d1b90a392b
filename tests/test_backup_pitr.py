"""PostgreSQL point-in-time recovery with pgBackRest, for real: a cluster of the test's own
(initdb in /tmp, a free port, its socket in /tmp, archive_mode on with the archive_command
`dental backup pitr setup` prints) archiving to a local repository encrypted with aes-256-cbc.

Rows are written, the moment noted, more rows written; `dental backup restore --to-time`
restores the whole cluster to that moment into a new data directory, starts it, and the
restored cluster holds exactly the rows written before the moment. The PITR drill does the
same and reports RTO and RPO. The S3 repository is only rendered and checked key by key:
pgBackRest speaks TLS to S3 and the moto stand-in serves plain HTTP.

The shared PostgreSQL on 127.0.0.1:5432 is never touched. As root (CI), PostgreSQL and
pgBackRest run as the `postgres` OS user (BACKUP_PG_OS_USER), as they would on a database host.
"""

from __future__ import annotations

import asyncio
import configparser
import getpass
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from evals.bench.local_process import free_port
from serving.backup.database import pg_tool
from serving.backup.errors import BackupNotConfigured
from serving.backup.pitr import (
    backup_info,
    base_backup,
    check_archiving,
    choose_kind,
    parse_target_time,
    restore_to_time,
)
from serving.backup.pitr_cluster import (
    ClusterAddress,
    PointInTimeFailed,
    as_cluster_owner,
    prepare_directory,
    psql,
    run_as_owner,
    start_cluster,
    stop_cluster,
)
from serving.backup.pitr_config import (
    archive_command,
    give_to_cluster_owner,
    load_passphrase,
    postgresql_conf_lines,
    render_config,
    write_config,
)
from serving.backup.pitr_drill import run_pitr_drill
from serving.backup.pitr_report import SECTION_TITLE, section_of, write_section
from serving.cli import app
from serving.db.migrate import upgrade_database
from serving.settings import Settings
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    AwsStandIn,
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)
from tests.conftest import make_settings

PASSPHRASE = "pitr-test-passphrase-" + "x7Kq2" * 6
OS_USER = "postgres" if os.geteuid() == 0 else None


@dataclass
class Cluster:
    base: Path
    data: Path
    address: ClusterAddress
    settings: Settings

    @property
    def environment(self) -> dict[str, str]:
        """The cluster's settings as an operator's shell on the database host has them."""
        s = self.settings
        values = {
            "DATABASE_URL": s.database_url,
            "BACKUP_PG_DATA_DIR": str(s.backup_pg_data_dir),
            "BACKUP_PG_SOCKET_DIR": str(s.backup_pg_socket_dir),
            "BACKUP_PGBACKREST_CONFIG": str(s.backup_pgbackrest_config),
            "BACKUP_PGBACKREST_REPO_PATH": str(s.backup_pgbackrest_repo_path),
            "BACKUP_PGBACKREST_PASSPHRASE": PASSPHRASE,
        }
        if OS_USER:
            values["BACKUP_PG_OS_USER"] = OS_USER
        return values


@pytest.fixture(name="cluster", scope="module")
def cluster_fixture() -> Iterator[Cluster]:
    """A PostgreSQL 15 cluster of this module's own, archiving through pgBackRest."""
    # Not pytest's tmp_path: under root its 0700 parents keep the postgres user out.
    base = Path(tempfile.mkdtemp(prefix="dental-pitr-"))
    port = free_port()
    settings = make_settings(
        f"postgresql+asyncpg://{OS_USER or getpass.getuser()}@127.0.0.1:{port}/dental",
        backup_pg_data_dir=base / "data",
        backup_pg_socket_dir=base / "socket",
        backup_pg_os_user=OS_USER,
        backup_pgbackrest_config=base / "pgbackrest" / "pgbackrest.conf",
        backup_pgbackrest_repo_path=base / "repository",
        backup_pgbackrest_passphrase=SecretStr(PASSPHRASE),
    )
    data = base / "data"
    address = ClusterAddress(port=port, socket_dir=base / "socket")
    give_to_cluster_owner(settings, base)
    for directory in (data, address.socket_dir, base / "repository"):
        prepare_directory(settings, directory)
    try:
        initdb = [pg_tool("initdb"), "-D", str(data), "-A", "trust", "-N", "-E", "UTF8"]
        run_as_owner(settings, initdb, what="initdb")
        write_config(settings)
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\n")
            conf.write("\n".join(postgresql_conf_lines(settings)) + "\n")
        start_cluster(settings, data, address, base / "server.log", timeout=60)
        psql(settings, address, "postgres", 'CREATE DATABASE "dental"')
        asyncio.run(_migrate(settings.database_url))
        check_archiving(settings)
        yield Cluster(base=base, data=data, address=address, settings=settings)
    finally:
        stop_cluster(settings, data)
        shutil.rmtree(base, ignore_errors=True)


async def _migrate(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


def _add_patients(cluster: Cluster, first: int, count: int) -> list[str]:
    """Patients committed one per transaction; their phone numbers."""
    phones = [f"+97250{first + n:07d}" for n in range(count)]
    psql(
        cluster.settings,
        cluster.address,
        "dental",
        *(
            "INSERT INTO patients (first_name, last_name, phone, language, created_at) "  # noqa: S608
            f"VALUES ('Pitr', 'Patient', '{phone}', 'he', now())"
            for phone in phones
        ),
    )
    return phones


def _archive_now(cluster: Cluster) -> None:
    """Close the current WAL segment and wait until archive_command has pushed it."""
    (segment,) = psql(
        cluster.settings, cluster.address, "postgres", "SELECT pg_walfile_name(pg_switch_wal())"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (archived,) = psql(
            cluster.settings,
            cluster.address,
            "postgres",
            "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
        )
        if archived >= segment:
            return
        time.sleep(0.2)
    raise AssertionError(f"{segment} was not archived")


def test_restore_to_a_noted_moment_holds_exactly_the_rows_written_before_it(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = cluster.settings
    [made] = base_backup(settings, "full")
    assert made.kind == "full" and made.repo == 1
    before = _add_patients(cluster, 1, 3)
    time.sleep(1)
    (marked,) = psql(settings, cluster.address, "postgres", "SELECT clock_timestamp()")
    moment = datetime.fromisoformat(marked)
    time.sleep(1)
    after = _add_patients(cluster, 100, 2)
    _archive_now(cluster)
    for name, value in cluster.environment.items():
        monkeypatch.setenv(name, value)
    target = cluster.base / "restored"
    port = free_port()

    result = CliRunner().invoke(
        app,
        ["backup", "restore", "--to-time", moment.isoformat(), "--target", str(target),
         "--pg-port", str(port)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    print(result.output)
    assert PASSPHRASE not in result.output
    restored = ClusterAddress(port=port, socket_dir=target)
    try:
        phones = psql(settings, restored, "dental", "SELECT phone FROM patients ORDER BY id")
        assert phones == before, f"exactly the rows before the moment, none of {after}"
        assert psql(settings, restored, "postgres", "SELECT pg_is_in_recovery()") == ["f"]
        assert psql(settings, restored, "postgres", "SHOW archive_mode") == ["off"]
        assert f"restored the cluster to {moment.astimezone(UTC).isoformat()}" in result.output
        assert "from base backup repo1 " + made.label in result.output
        assert "app tables, rows in patients 3\n" in result.output
        as_of = result.output.split("data as of: ")[1].split(" ")[0]
        restored_to = datetime.fromisoformat(as_of)
        assert restored_to <= moment, "nothing after the target"
        assert moment - restored_to < timedelta(seconds=5), "the last row before it is there"
        assert stat.S_IMODE(target.stat().st_mode) == 0o700
    finally:
        stop_cluster(settings, target)
    # The source cluster kept running and writing all along.
    source = psql(settings, cluster.address, "dental", "SELECT count(*) FROM patients")
    assert source == [str(len(before) + len(after))]

    again = CliRunner().invoke(
        app, ["backup", "restore", "--to-time", moment.isoformat(), "--target", str(target)]
    )
    assert again.exit_code == 1
    assert f"{target} is not empty: restore into a new directory" in again.output


def test_the_repository_is_encrypted_and_opens_only_with_the_passphrase(
    cluster: Cluster,
) -> None:
    info = backup_info(cluster.settings)
    assert info["cipher"] == "aes-256-cbc"
    assert [repo["cipher"] for repo in info["repo"]] == ["aes-256-cbc"]
    config = cluster.settings.backup_pgbackrest_config
    assert stat.S_IMODE(config.stat().st_mode) == 0o600, "it holds the passphrase"
    wrong = cluster.settings.model_copy(
        update={
            "backup_pgbackrest_config": cluster.base / "wrong" / "pgbackrest.conf",
            "backup_pgbackrest_passphrase": SecretStr("not-the-passphrase-" * 2),
        }
    )
    write_config(wrong)
    with pytest.raises(PointInTimeFailed) as refused:
        backup_info(wrong)
    assert "pgBackRest cannot read the repository of stanza 'clinic'" in str(refused.value)
    assert "unable to load info file" in str(refused.value)
    assert "not-the-passphrase" not in str(refused.value)


def test_the_drill_restores_to_a_moment_and_reports_rpo_under_a_minute(
    cluster: Cluster,
) -> None:
    report = cluster.base / "DR_DRILL_REPORT.md"
    report.write_text("# Disaster-recovery drill report\n\nthe backup-set drill's figures\n")
    scratch = cluster.base / "drill"

    result = run_pitr_drill(
        cluster.settings, scratch=scratch, port=free_port(), base_first=True, report=report
    )

    assert result.rows_match and result.rows_before == 5 and result.rows_restored == 5
    assert result.restored_to is not None and result.restored_to <= result.target_time
    assert 0 <= result.rpo_seconds < 60
    assert result.rto_seconds < result.rto_target_seconds
    assert result.stopped_before is not None and result.stopped_before > result.target_time
    assert not (scratch / "data").exists(), "the scratch copy of the clinic's data is deleted"
    text = report.read_text(encoding="utf-8")
    assert text.startswith("# Disaster-recovery drill report\n\nthe backup-set drill's figures\n")
    section = section_of(text)
    assert "**Result: PASSED**" in section
    assert f"| {result.rpo_seconds:.2f} s | < 60 s |" in section
    assert "the restore holds 5, exactly those before" in section
    print(section)


def test_a_moment_before_every_base_backup_is_refused_and_leaves_nothing(
    cluster: Cluster,
) -> None:
    target = cluster.base / "too-early"
    with pytest.raises(PointInTimeFailed) as refused:
        restore_to_time(cluster.settings, datetime(2020, 1, 1, tzinfo=UTC), target, free_port())
    assert "unable to find backup set with stop time less than" in str(refused.value)
    assert not target.exists(), "no partial copy of the clinic's data is left"


def _s3_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "backup_bucket": "clinic-backups",
        "backup_region": "eu-central-1",
        "backup_secondary_bucket": "clinic-backups-dr",
        "backup_secondary_region": "eu-west-1",
        "backup_prefix": "tel-aviv",
        "backup_pg_data_dir": Path("/var/lib/postgresql/15/main"),
        "backup_pgbackrest_config": Path("/etc/pgbackrest/pgbackrest.conf"),
        **overrides,
    }
    return make_settings("postgresql+asyncpg://dental@db.internal:5433/dental", **values)


def test_the_s3_configuration_for_a_stand_in_endpoint_has_every_key() -> None:
    settings = _s3_settings(
        backup_endpoint_url="http://127.0.0.1:5000", backup_pgbackrest_s3_key_type="shared"
    )
    text = render_config(
        settings,
        PASSPHRASE,
        environ={"AWS_ACCESS_KEY_ID": "testing-key", "AWS_SECRET_ACCESS_KEY": "testing-secret"},
    )
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(text)
    repository = {
        "type": "s3",
        "path": "/tel-aviv/pgbackrest",
        "storage-verify-tls": "y",
        "s3-endpoint": "127.0.0.1",
        "s3-uri-style": "path",
        "storage-port": "5000",
        "s3-key-type": "shared",
        "s3-key": "testing-key",
        "s3-key-secret": "testing-secret",
        "cipher-type": "aes-256-cbc",
        "cipher-pass": PASSPHRASE,
        "retention-full-type": "count",
        "retention-full": "5",
        "retention-diff": "6",
    }
    expected_global = {
        **{f"repo1-{key}": value for key, value in repository.items()},
        "repo1-s3-bucket": "clinic-backups",
        "repo1-s3-region": "eu-central-1",
        **{f"repo2-{key}": value for key, value in repository.items()},
        "repo2-s3-bucket": "clinic-backups-dr",
        "repo2-s3-region": "eu-west-1",
        "start-fast": "y",
        "compress-type": "gz",
        "process-max": "2",
        "lock-path": "/etc/pgbackrest/lock",
        "log-path": "/etc/pgbackrest/log",
        "log-level-console": "info",
        "log-level-file": "info",
    }
    assert dict(parsed["global"]) == expected_global
    assert dict(parsed["clinic"]) == {
        "pg1-path": "/var/lib/postgresql/15/main",
        "pg1-port": "5433",
        "pg1-socket-path": "/var/run/postgresql",
    }
    assert parsed.sections() == ["global", "clinic"]
    assert archive_command(settings) == (
        "pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=clinic archive-push %p"
    )


def test_the_s3_configuration_on_aws_uses_the_regional_endpoint_and_the_role() -> None:
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(render_config(_s3_settings(backup_secondary_bucket=None), PASSPHRASE))
    repo = {k: v for k, v in parsed["global"].items() if k.startswith("repo")}
    assert repo["repo1-s3-endpoint"] == "s3.eu-central-1.amazonaws.com"
    assert repo["repo1-s3-uri-style"] == "host"
    assert repo["repo1-s3-key-type"] == "auto", "the instance or task role, no keys in the file"
    assert repo["repo1-storage-verify-tls"] == "y"
    assert not any(key.startswith("repo2-") for key in repo)
    assert "repo1-s3-key" not in repo and "repo1-s3-key-secret" not in repo


def test_the_passphrase_comes_from_the_secrets_chain_or_a_clear_error(
    aws_stand_in: AwsStandIn, tmp_path: Path
) -> None:
    base = _s3_settings(backup_pgbackrest_config=tmp_path / "pgbackrest.conf")
    with pytest.raises(BackupNotConfigured) as missing:
        write_config(base)
    assert "BACKUP_PGBACKREST_PASSPHRASE" in str(missing.value)
    assert "'prod/backup-pgbackrest-passphrase'" in str(missing.value)
    assert not (tmp_path / "pgbackrest.conf").exists(), "nothing written"

    short = base.model_copy(update={"backup_pgbackrest_passphrase": SecretStr("short")})
    with pytest.raises(BackupNotConfigured, match="at least 20 characters"):
        load_passphrase(short)

    aws_stand_in.put_secret("prod/backup-pgbackrest-passphrase", PASSPHRASE)
    from_aws = base.model_copy(
        update={"secrets_backend": "aws", "aws_endpoint_url": aws_stand_in.endpoint_url}
    )
    assert load_passphrase(from_aws) == PASSPHRASE
    assert f"repo1-cipher-pass={PASSPHRASE}" in render_config(from_aws, load_passphrase(from_aws))


def test_bad_input_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(BackupNotConfigured, match="not an ISO timestamp"):
        parse_target_time("yesterday at noon", "Asia/Jerusalem")
    with pytest.raises(BackupNotConfigured, match="in the future"):
        parse_target_time((datetime.now(UTC) + timedelta(hours=1)).isoformat(), "UTC")
    local = parse_target_time("2026-11-30T14:05:00", "Asia/Jerusalem")
    assert local == datetime(2026, 11, 30, 12, 5, tzinfo=UTC), "no offset: the clinic's time"
    sqlite = make_settings("sqlite+aiosqlite:///dental.db", backup_pg_data_dir=tmp_path)
    with pytest.raises(BackupNotConfigured, match="point-in-time recovery is for PostgreSQL"):
        render_config(sqlite, PASSPHRASE)
    if os.geteuid() == 0:
        nobody = make_settings("sqlite+aiosqlite:///dental.db")
        with pytest.raises(BackupNotConfigured, match="set BACKUP_PG_OS_USER"):
            as_cluster_owner(nobody, ["pg_ctl", "status"])
    else:
        assert as_cluster_owner(make_settings("sqlite+aiosqlite:///x.db"), ["ls"]) == ["ls"]


def test_full_weekly_and_differential_on_the_other_days() -> None:
    now = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)

    def full(days_ago: float) -> dict[str, object]:
        stop = (now - timedelta(days=days_ago)).timestamp()
        return {"type": "full", "timestamp": {"stop": stop}}

    assert choose_kind([], now) == "full"
    assert choose_kind([full(1)], now) == "diff"
    assert choose_kind([full(6)], now) == "diff"
    assert choose_kind([full(6.6)], now) == "full", "a job a little early still makes the full"
    assert choose_kind([full(14), full(2)], now) == "diff"


def test_the_section_replaces_only_itself(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text(f"# Report\n\n## Figures\n\nA\n\n{SECTION_TITLE}\n\nold\n\n## Later\n\nB\n")
    write_section(report, f"{SECTION_TITLE}\n\nnew\n\n")
    expected = f"# Report\n\n## Figures\n\nA\n\n{SECTION_TITLE}\n\nnew\n\n## Later\n\nB\n"
    assert report.read_text() == expected


def test_base_backups_are_scheduled_nightly_before_the_backup_set() -> None:
    config = yaml.safe_load((Path(__file__).parents[1] / "prefect.yaml").read_text())
    [deployment] = [
        d for d in config["deployments"] if d["entrypoint"] == "flows/pitr_base.py:pitr_base"
    ]
    assert deployment["parameters"] == {"kind": "auto"}
    assert [s["cron"] for s in deployment["schedules"]] == ["30 1 * * *"]
