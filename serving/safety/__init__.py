"""Safety around every model: triage before, input guard beside, output guard after.

Deterministic and rule-driven: the rules are `safety/rules.yaml` of the artifact bundle, parsed
into `SafetyRules`; no prompt, role play or model failure can turn them off.
"""

from serving.safety.input_guard import InputVerdict, inspect_input
from serving.safety.output_guard import AllowedData, GuardVerdict, OutputGuard
from serving.safety.rules import ReplyKind, SafetyRules, load_safety_rules
from serving.safety.triage import Triage, Triager, Urgency

__all__ = [
    "AllowedData",
    "GuardVerdict",
    "InputVerdict",
    "OutputGuard",
    "ReplyKind",
    "SafetyRules",
    "Triage",
    "Triager",
    "Urgency",
    "inspect_input",
    "load_safety_rules",
]
