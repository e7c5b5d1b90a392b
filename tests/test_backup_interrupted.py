"""Interrupted runs leave no readable plaintext: `dental backup create` as a real child process,
held mid-collection by a session exporter that does not answer (the database snapshot and its
JSONL exports are already on disk by then), then killed with SIGKILL or stopped with SIGTERM.
A restore's download-and-decrypt directory left by a killed restore is purged the same way."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from serving.backup.create import create_backup
from serving.backup.errors import SetNotFound
from serving.backup.restore import restore_backup
from serving.settings import Settings
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)
from tests.backup_stand_ins import (  # noqa: F401
    SESSION_TOKEN,
    Buckets,
    age_keys_fixture,
    backup_settings_fixture,
    buckets_fixture,
    repository_fixture,
    session_exporter_fixture,
)

ROOT = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 120
PLAINTEXT = {"conversations.jsonl", "messages.jsonl"}
RESTORE_WORK_PREFIX = "dental-restore-"  # in the system's temporary directory


@dataclass
class HeldExporter:
    """A session exporter that takes each request and answers nothing until released."""

    url: str
    asked: threading.Event
    release: threading.Event


@pytest.fixture(name="held_exporter")
def held_exporter_fixture() -> Iterator[HeldExporter]:
    asked, release = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.set()
            release.wait(WAIT_SECONDS)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield HeldExporter(f"http://127.0.0.1:{server.server_address[1]}/api", asked, release)
    finally:
        release.set()
        server.shutdown()


def _start_backup(settings: Settings, exporter: HeldExporter, cwd: Path) -> subprocess.Popen[str]:
    """`dental backup create` in a child process with an operator's usual umask (022), held
    once it asks the exporter for the first session, after the database is snapshotted."""
    assert settings.backup_age_recipients and settings.mlflow_tracking_uri
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": settings.database_url,
        "BACKUP_BUCKET": str(settings.backup_bucket),
        "BACKUP_REGION": str(settings.backup_region),
        "BACKUP_SECONDARY_BUCKET": str(settings.backup_secondary_bucket),
        "BACKUP_SECONDARY_REGION": str(settings.backup_secondary_region),
        "BACKUP_AGE_RECIPIENTS": settings.backup_age_recipients,
        "BACKUP_REPOSITORY": str(settings.backup_repository),
        "BACKUP_WORK_DIR": str(settings.backup_work_dir),
        "BACKUP_SESSION_API_URL": exporter.url,
        "BACKUP_SESSION_API_TOKEN": SESSION_TOKEN,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "backup", "create", "--no-dvc"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0o022,
    )
    if not exporter.asked.wait(WAIT_SECONDS):
        child.kill()
        _, stderr = child.communicate()
        pytest.fail(f"the backup never reached the session exporter: {stderr[-2000:]}")
    return child


def _modes(directory: Path) -> dict[str, int]:
    """Each file's permission bits, and each directory's (name ending in `/`)."""
    return {
        str(path.relative_to(directory)) + ("/" if path.is_dir() else ""): stat.S_IMODE(
            path.stat().st_mode
        )
        for path in [directory, *directory.rglob("*")]
    }


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)
def test_kill_9_mid_collection_leaves_only_private_files_and_the_next_backup_purges_them(
    backup_settings: Settings,
    held_exporter: HeldExporter,
    session_exporter: str,
    buckets: Buckets,
    tmp_path: Path,
) -> None:
    child = _start_backup(backup_settings, held_exporter, tmp_path)
    child.send_signal(signal.SIGKILL)  # nothing in the child runs after this
    child.communicate(timeout=WAIT_SECONDS)
    held_exporter.release.set()

    work = backup_settings.backup_work_dir
    (left,) = list(work.iterdir())
    modes = _modes(left)
    sqlite = backup_settings.database_url.startswith("sqlite")
    dump = "database.sqlite" if sqlite else "database.pgdump"
    assert {dump, *PLAINTEXT} <= set(modes), "killed mid-collection, after the snapshot"
    assert {mode for name, mode in modes.items() if name.endswith("/")} == {0o700}, modes
    assert {mode for name, mode in modes.items() if not name.endswith("/")} == {0o600}, modes

    # The next backup (the exporter answering again) purges the dead run's folder first.
    settings = backup_settings.model_copy(update={"backup_session_api_url": session_exporter})
    manifest = create_backup(settings, dvc=False)
    assert manifest.set_id != left.name
    assert list(work.iterdir()) == [], "the killed run's plaintext is gone, the new run's too"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_sigterm_mid_collection_removes_every_working_file(
    backup_settings: Settings, held_exporter: HeldExporter, buckets: Buckets, tmp_path: Path
) -> None:
    child = _start_backup(backup_settings, held_exporter, tmp_path)
    assert list(backup_settings.backup_work_dir.iterdir()), "collecting: the folder is there"
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=WAIT_SECONDS)

    assert child.returncode == 1, stderr
    assert "stopped by SIGTERM" in stderr
    assert list(backup_settings.backup_work_dir.iterdir()) == []
    assert buckets.client.list_objects_v2(Bucket=buckets.primary).get("KeyCount", 0) == 0


_HOLD_A_WORK_DIR = """
import sys, time
from pathlib import Path
from serving.backup.workdir import open_work_dir
work = open_work_dir(Path(sys.argv[1]), sys.argv[2])
(work.path / "database.sqlite").write_text("decrypted")
print(work.path, flush=True)
time.sleep(600)
"""


def _hold_work_dir(parent: Path, name: str) -> tuple[subprocess.Popen[str], Path]:
    """A child process that opens a restore work directory, as a restore does, and waits."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_WORK_DIR, str(parent), RESTORE_WORK_PREFIX + name],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_restore_purges_what_a_killed_restore_left_and_nothing_else(
    backup_settings: Settings,
    buckets: Buckets,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    killed, stale = _hold_work_dir(system_tmp, "killed")
    live, running = _hold_work_dir(system_tmp, "running")
    try:
        killed.kill()
        killed.wait()
        assert _modes(stale) == {
            "./": 0o700,
            ".dental-backup-work": 0o600,
            "database.sqlite": 0o600,
        }
        unmarked = system_tmp / "dental-restore-not-ours"
        unmarked.mkdir()

        with pytest.raises(SetNotFound):  # the buckets are empty: the restore itself fails
            restore_backup(backup_settings, target=tmp_path / "restored")

        assert {p.name for p in system_tmp.iterdir()} == {running.name, unmarked.name}
    finally:
        live.kill()
        live.wait()
