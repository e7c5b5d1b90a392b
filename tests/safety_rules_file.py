"""The repository's safety rules file, and what the schema says about an edited copy of it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from serving.safety.rules import SafetyRules

RULES_PATH = Path(__file__).resolve().parents[1] / "prompts" / "safety" / "rules.yaml"


def raw_rules() -> dict[str, Any]:
    with RULES_PATH.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def rules_error(mutate: Callable[[dict[str, Any]], Any]) -> str:
    """The validation error of the rules file after `mutate` (which must make it invalid)."""
    data = copy.deepcopy(raw_rules())
    mutate(data)
    with pytest.raises(ValidationError) as error:
        SafetyRules.model_validate(data)
    return str(error.value)
