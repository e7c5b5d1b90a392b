"""Two copies of every set, on moto's S3 (real HTTP, two buckets in two regions): a damaged or
missing copy is read from the other bucket with a warning, `dental backup verify` finds what
is wrong (`--deep` what only a hash shows) and `--repair` mends it, an interrupted secondary
copy is listed as "not replicated" and completed, and only with no good copy left does a
restore fail, with a row in the runbook saying what to do."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from serving.backup.create import create_backup
from serving.backup.errors import IntegrityFailure
from serving.backup.manifest import MANIFEST_NAME, Manifest, describe_contents
from serving.backup.restore import restore_backup
from serving.cli import app
from serving.settings import Settings
from tests.aws_stand_in import (  # noqa: F401 - fixtures register by being imported
    aws_stand_in_fixture,
    closed_port_url_fixture,
    moto_server_fixture,
    offline_aws_fixture,
)
from tests.backup_stand_ins import (  # noqa: F401
    Buckets,
    age_keys_fixture,
    backup_settings_fixture,
    buckets_fixture,
    repository_fixture,
    session_exporter_fixture,
)

REPOSITORY = Path(__file__).resolve().parents[1]
RUNBOOK = REPOSITORY / "docs" / "RECOVERY_RUNBOOK.md"
DATABASE_OBJECT = "database.sqlite.age"
sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


def _key(set_id: str, name: str) -> str:
    return f"backups/{set_id}/{name}"


def _read(buckets: Buckets, bucket: str, key: str) -> bytes:
    body: bytes = buckets.client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _flip_a_byte(buckets: Buckets, bucket: str, key: str) -> None:
    data = bytearray(_read(buckets, bucket, key))
    data[len(data) // 2] ^= 0x01  # same size: only a hash sees it
    buckets.client.put_object(Bucket=bucket, Key=key, Body=bytes(data))


def _truncate(buckets: Buckets, bucket: str, key: str) -> None:
    buckets.client.put_object(Bucket=bucket, Key=key, Body=_read(buckets, bucket, key)[:100])


def _stored_keys(buckets: Buckets, bucket: str, set_id: str) -> set[str]:
    listed = buckets.client.list_objects_v2(Bucket=bucket, Prefix=f"backups/{set_id}/")
    return {item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", [])}


def _interrupt_the_secondary_copy(buckets: Buckets, manifest: Manifest) -> None:
    """As a run killed while copying: one object in the secondary bucket, no manifest."""
    kept = manifest.parts[0].object
    for name in _stored_keys(buckets, buckets.secondary, manifest.set_id) - {kept}:
        buckets.client.delete_object(Bucket=buckets.secondary, Key=_key(manifest.set_id, name))


def _assert_whole(buckets: Buckets, bucket: str, manifest: Manifest) -> None:
    """Every object of the set in `bucket` hashes as its manifest says, and the manifest is
    there and the same."""
    for part in manifest.parts:
        data = _read(buckets, bucket, _key(manifest.set_id, part.object))
        assert hashlib.sha256(data).hexdigest() == part.object_sha256, (bucket, part.object)
    stored = _read(buckets, bucket, _key(manifest.set_id, MANIFEST_NAME)).decode()
    assert Manifest.from_json(stored, where=bucket) == manifest


def _healing_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "serving.backup.healing" and record.levelno == logging.WARNING
    ]


def _line_of(result: Result, set_id: str) -> str:
    lines = [line for line in result.stdout.splitlines() if line.startswith(set_id)]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def cli(
    backup_settings: Settings,
    buckets: Buckets,
    age_keys: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Result]:
    """`dental ...` with the backup settings in the environment, as an operator runs it."""
    for name, value in {
        "DATABASE_URL": backup_settings.database_url,
        "BACKUP_BUCKET": buckets.primary,
        "BACKUP_REGION": "eu-central-1",
        "BACKUP_SECONDARY_BUCKET": buckets.secondary,
        "BACKUP_SECONDARY_REGION": "eu-west-1",
        "BACKUP_AGE_RECIPIENTS": age_keys[0],
        "BACKUP_AGE_IDENTITY": age_keys[1],
        "BACKUP_REPOSITORY": str(backup_settings.backup_repository),
        "BACKUP_WORK_DIR": str(backup_settings.backup_work_dir),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(backup_settings.backup_work_dir.parent)
    runner = CliRunner()

    def invoke(*arguments: str) -> Result:
        return runner.invoke(app, list(arguments))

    return invoke


@sqlite_only
@pytest.mark.parametrize("damage", [_flip_a_byte, _truncate], ids=["flipped-byte", "truncated"])
def test_a_damaged_primary_object_is_read_from_the_secondary_with_a_warning(
    backup_settings: Settings,
    buckets: Buckets,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Buckets, str, str], None],
) -> None:
    manifest = create_backup(backup_settings, dvc=False)
    damage(buckets, buckets.primary, _key(manifest.set_id, DATABASE_OBJECT))
    caplog.set_level(logging.WARNING, logger="serving.backup.healing")

    report = restore_backup(backup_settings, target=tmp_path / "t", dvc=False, service_check=False)

    assert report.set_id == manifest.set_id
    assert report.row_counts == manifest.source.row_counts
    assert report.bucket == (
        f"primary bucket {buckets.primary!r} and secondary bucket {buckets.secondary!r}"
    )
    (warning,) = _healing_warnings(caplog)
    assert f"{manifest.set_id}/{DATABASE_OBJECT} in the primary bucket {buckets.primary!r}" in (
        warning
    )
    assert f"using the copy in the secondary bucket {buckets.secondary!r}" in warning
    assert "dental backup verify --repair" in warning


@sqlite_only
def test_a_corrupt_primary_manifest_is_read_from_the_secondary(
    backup_settings: Settings,
    buckets: Buckets,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    cli: Callable[..., Result],
) -> None:
    manifest = create_backup(backup_settings, dvc=False)
    primary_manifest = _key(manifest.set_id, MANIFEST_NAME)
    text = _read(buckets, buckets.primary, primary_manifest)
    buckets.client.put_object(Bucket=buckets.primary, Key=primary_manifest, Body=text[:200])
    caplog.set_level(logging.WARNING, logger="serving.backup.healing")

    report = restore_backup(backup_settings, target=tmp_path / "t", dvc=False, service_check=False)

    assert report.set_id == manifest.set_id
    assert report.bucket == f"primary bucket {buckets.primary!r}", "its objects are good"
    (warning,) = _healing_warnings(caplog)
    assert f"{manifest.set_id}/{MANIFEST_NAME} in the primary bucket" in warning
    assert "not a readable backup manifest (JSONDecodeError)" in warning
    assert f"using the copy in the secondary bucket {buckets.secondary!r}" in warning

    listed = cli("backup", "list")
    assert listed.exit_code == 0, listed.output
    assert "primary damaged (manifest.json unreadable)" in _line_of(listed, manifest.set_id)


@sqlite_only
def test_with_no_good_copy_the_restore_fails_naming_each_and_the_runbook_says_what_to_do(
    backup_settings: Settings, buckets: Buckets, tmp_path: Path
) -> None:
    manifest = create_backup(backup_settings, dvc=False)
    runbook = RUNBOOK.read_text(encoding="utf-8")
    target = tmp_path / "t"
    for bucket in (buckets.primary, buckets.secondary):
        _flip_a_byte(buckets, bucket, _key(manifest.set_id, DATABASE_OBJECT))

    with pytest.raises(IntegrityFailure) as no_object:
        restore_backup(backup_settings, target=target, dvc=False, service_check=False)
    message = str(no_object.value)
    assert message.startswith(f"no intact copy of {manifest.set_id}/{DATABASE_OBJECT} in any")
    assert f"in the primary bucket {buckets.primary!r} does not match the manifest" in message
    assert f"in the secondary bucket {buckets.secondary!r} does not match the manifest" in message
    assert not (target / "dental.db").exists(), "nothing restored"
    assert "| `no intact copy of ... in any bucket`" in runbook

    for bucket in (buckets.primary, buckets.secondary):
        key = _key(manifest.set_id, MANIFEST_NAME)
        buckets.client.put_object(Bucket=bucket, Key=key, Body=b"{not json")
    with pytest.raises(IntegrityFailure, match=rf"^no readable copy of {manifest.set_id}/manifest"):
        restore_backup(backup_settings, target=target, dvc=False, service_check=False)
    assert "| `no readable copy of <set>/manifest.json`" in runbook

    # Both readable, different in a field no object can vouch for: nobody can tell which.
    edited = dataclasses.replace(manifest, commit="0" * 40)
    for bucket, copy in ((buckets.primary, edited), (buckets.secondary, manifest)):
        key = _key(manifest.set_id, MANIFEST_NAME)
        buckets.client.put_object(Bucket=bucket, Key=key, Body=copy.to_json())
    with pytest.raises(IntegrityFailure, match=r"differ \(in commit\) and both match the set's"):
        restore_backup(backup_settings, target=target, dvc=False, service_check=False)
    assert "| `the copies of <set>/manifest.json in the ... differ`" in runbook
    assert not (target / "dental.db").exists()


@sqlite_only
def test_of_two_different_manifests_the_one_whose_objects_verify_is_used(
    backup_settings: Settings, buckets: Buckets, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = create_backup(backup_settings, dvc=False)
    database = manifest.part("database.sqlite")
    assert database is not None
    wrong = dataclasses.replace(database, object_sha256="0" * 64)
    edited = dataclasses.replace(
        manifest, parts=[wrong if p == database else p for p in manifest.parts]
    )
    buckets.client.put_object(
        Bucket=buckets.primary, Key=_key(manifest.set_id, MANIFEST_NAME), Body=edited.to_json()
    )
    caplog.set_level(logging.WARNING, logger="serving.backup.healing")

    report = restore_backup(backup_settings, target=tmp_path / "t", dvc=False, service_check=False)

    assert report.row_counts == manifest.source.row_counts
    (warning,) = _healing_warnings(caplog)
    assert f"the copies of {manifest.set_id}/{MANIFEST_NAME} in the primary bucket" in warning
    assert f"differ; using the one in the secondary bucket {buckets.secondary!r}" in warning


@sqlite_only
def test_an_interrupted_secondary_copy_is_not_replicated_until_verify_repairs_it(
    backup_settings: Settings, buckets: Buckets, cli: Callable[..., Result]
) -> None:
    manifest = create_backup(backup_settings, dvc=False)
    _interrupt_the_secondary_copy(buckets, manifest)

    listed = cli("backup", "list")
    assert listed.exit_code == 0, listed.output
    line = _line_of(listed, manifest.set_id)
    assert "not replicated (secondary: manifest.json missing" in line
    assert "never verified" in line
    assert line.endswith(describe_contents(manifest)), "what the set holds"

    checked = cli("backup", "verify")
    assert checked.exit_code == 1
    assert f"bad: {manifest.set_id}/{DATABASE_OBJECT} is missing from the secondary" in (
        checked.stdout
    )
    assert "`--repair` copies a good copy over a bad one" in checked.output

    repaired = cli("backup", "verify", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert (
        f"repaired: {manifest.set_id}/{MANIFEST_NAME}: copied from the primary bucket "
        f"{buckets.primary!r} to the secondary bucket {buckets.secondary!r}"
    ) in repaired.stdout
    assert repaired.stdout.rstrip().endswith("1 set(s) verified (sizes): ok")
    _assert_whole(buckets, buckets.secondary, manifest)

    line = _line_of(cli("backup", "list"), manifest.set_id)
    assert "  replicated  verified 20" in line and "(sizes, ok)" in line


@sqlite_only
def test_the_next_backup_completes_an_interrupted_secondary_copy(
    backup_settings: Settings, buckets: Buckets, cli: Callable[..., Result]
) -> None:
    first = create_backup(backup_settings, dvc=False)
    _interrupt_the_secondary_copy(buckets, first)
    assert MANIFEST_NAME not in _stored_keys(buckets, buckets.secondary, first.set_id)

    created = cli("backup", "create", "--no-dvc")

    assert created.exit_code == 0, created.output
    assert f"set {first.set_id} is not replicated: completing its copy" in created.output
    _assert_whole(buckets, buckets.secondary, first)
    second = created.stdout.strip().splitlines()[-1]
    listed = cli("backup", "list")
    for set_id in (first.set_id, second):
        assert "  replicated  " in _line_of(listed, set_id)


@sqlite_only
def test_a_deep_verify_finds_a_flipped_byte_and_repair_mends_it(
    backup_settings: Settings, buckets: Buckets, cli: Callable[..., Result]
) -> None:
    manifest = create_backup(backup_settings, dvc=False)
    key = _key(manifest.set_id, "messages.jsonl.age")
    _flip_a_byte(buckets, buckets.primary, key)

    assert cli("backup", "verify").exit_code == 0, "sizes alone cannot see it"
    deep = cli("backup", "verify", "--deep")
    assert deep.exit_code == 1
    assert (
        f"bad: {manifest.set_id}/messages.jsonl.age in the primary bucket {buckets.primary!r} "
        "does not match the manifest"
    ) in deep.stdout
    assert "1 problem(s)" in deep.output

    mended = cli("backup", "verify", "--deep", "--repair", "--set", manifest.set_id)
    assert mended.exit_code == 0, mended.output
    assert (
        f"repaired: {manifest.set_id}/messages.jsonl.age: copied from the secondary bucket "
        f"{buckets.secondary!r} to the primary bucket {buckets.primary!r} and verified"
    ) in mended.stdout
    _assert_whole(buckets, buckets.primary, manifest)
    for bucket in (buckets.primary, buckets.secondary):
        record = json.loads(_read(buckets, bucket, _key(manifest.set_id, "verified.json")))
        assert record["deep"] is True and record["ok"] is True
        assert record["repaired"] and not record["problems"]
    assert "(deep, ok)" in _line_of(cli("backup", "list"), manifest.set_id)
    assert _read(buckets, buckets.primary, _key(manifest.set_id, MANIFEST_NAME)).decode() == (
        manifest.to_json()
    ), "the manifest is never rewritten"

    unknown = cli("backup", "verify", "--set", "20990101T000000Z-000000")
    assert unknown.exit_code == 1
    assert "no usable backup set 20990101T000000Z-000000" in unknown.output


@sqlite_only
def test_list_shows_restore_points_and_with_all_the_code_only_sets(
    backup_settings: Settings, buckets: Buckets, cli: Callable[..., Result]
) -> None:
    with_database = create_backup(backup_settings, dvc=False)
    code_only = create_backup(backup_settings, dvc=False, database=False)

    listed = cli("backup", "list")
    assert listed.exit_code == 0
    assert code_only.set_id not in listed.stdout
    assert "1 set(s); 1 without a database not shown (--all)" in listed.output
    line = _line_of(listed, with_database.set_id)
    kilobytes = sum(part.object_size for part in with_database.parts) / 1024
    size = f"{kilobytes:.1f} KB" if kilobytes < 1024 else f"{kilobytes / 1024:.1f} MB"
    assert f"  {with_database.created_at}  {size}  replicated  never verified  " in line

    everything = cli("backup", "list", "--all")
    assert _line_of(everything, code_only.set_id).endswith(describe_contents(code_only))
    assert describe_contents(code_only).startswith("code only: no database")


@sqlite_only
def test_the_verify_flow_mends_and_fails_while_a_problem_remains(
    prefect_api: str,
    backup_settings: Settings,
    buckets: Buckets,
    cli: Callable[..., Result],
) -> None:
    from flows.verify import verify

    manifest = create_backup(backup_settings, dvc=False)
    _flip_a_byte(buckets, buckets.secondary, _key(manifest.set_id, DATABASE_OBJECT))

    result = verify()  # deep, with repair: the schedule's parameters
    assert result["sets"] == [manifest.set_id]
    assert len(result["repaired"]) == 1
    _assert_whole(buckets, buckets.secondary, manifest)

    for bucket in (buckets.primary, buckets.secondary):
        _flip_a_byte(buckets, bucket, _key(manifest.set_id, DATABASE_OBJECT))
    with pytest.raises(IntegrityFailure, match=r"2 backup problem\(s\) remain: .*sqlite.age in"):
        verify()


def test_a_daily_deep_verify_with_repair_is_deployed() -> None:
    config = yaml.safe_load((REPOSITORY / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = [
        d for d in config["deployments"] if d["entrypoint"] == "flows/verify.py:verify"
    ]
    assert deployment["parameters"] == {"deep": True, "repair": True}
    assert [s["cron"] for s in deployment["schedules"]] == ["30 4 * * *"]
