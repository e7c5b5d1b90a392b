"""Backups and disaster recovery: encrypted, verified, replicated backup sets, and their restore.

A backup set is a directory of age-encrypted parts (the git bundle, the database snapshot, the
conversations as JSONL, AI development session exports, the MLflow store, the app's own wheel
and lock files) plus a plain `manifest.json` that lists every part's SHA-256 and size before
and after encryption. Sets go
to a primary S3 bucket, are verified there by download and hash, copied to a bucket in another
region and verified again. data/ goes to the same buckets through `dvc push`.

The command line (`dental backup ...`, `dental dr drill`) calls these modules directly, so a
restore needs nothing but the package and the key: no Prefect server, which may be lost in the
same disaster. The Prefect flows (`flows/backup.py`, `flows/restore.py`, `flows/dr_drill.py`)
run the same steps as tasks, on a schedule.
"""
