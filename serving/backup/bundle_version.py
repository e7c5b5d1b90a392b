"""The prompts bundle a backup set holds: the version named by `prompts/manifest.yaml` at the
backed-up commit, as every reply records it (`serving.bundle.load.Manifest.label`)."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from pydantic import ValidationError

from serving.backup.collectors import run_git
from serving.bundle.load import MANIFEST, Manifest
from serving.settings import REPOSITORY_BUNDLE

logger = logging.getLogger(__name__)

BUNDLE_MANIFEST = f"{REPOSITORY_BUNDLE.name}/{MANIFEST}"
"""The bundle's manifest inside the repository."""


def bundle_version_at(repository: Path, commit: str) -> str | None:
    """The bundle's `name@version+hash` at `commit`; None when the commit has no bundle
    manifest, or one that does not parse (the set is still made: the bundle is in the git
    bundle whatever its state)."""
    if not run_git(repository, "ls-tree", "--name-only", commit, "--", BUNDLE_MANIFEST).strip():
        return None
    text = run_git(repository, "show", f"{commit}:{BUNDLE_MANIFEST}")
    try:
        return Manifest.model_validate(yaml.safe_load(text)).label
    except (yaml.YAMLError, ValidationError) as error:
        logger.warning(
            "%s at %s is not a bundle manifest (%s)",
            BUNDLE_MANIFEST,
            commit[:12],
            type(error).__name__,
        )
        return None
