"""Everything built from one bundle: safety rules, NLU, models and the selected agent.

Swapping bundles (a promotion) swaps the whole runtime at once, so a reply is never produced
by one bundle's rules and another's prompts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from serving.agents.architectures import (
    Agent,
    AlexAgent,
    Architecture,
    TeamAgent,
    bind_with_fallback,
)
from serving.agents.models import (
    PatientContext,
    build_privacy_filtered_openai_model,
)
from serving.agents.offline.model import OfflineClinicModel
from serving.agents.offline.nlu import ClinicNLU
from serving.bundle.load import Bundle
from serving.clinic import ClinicProfile
from serving.safety.output_guard import OutputGuard
from serving.safety.triage import Triager
from serving.settings import Settings
from serving.tools.langchain_tools import TURN_KEY


@dataclass(frozen=True)
class Runtime:
    bundle: Bundle
    triager: Triager
    output_guard: OutputGuard
    nlu: ClinicNLU
    agent: Agent


def build_runtime(
    bundle: Bundle,
    clinic: Callable[[], ClinicProfile],
    *,
    architecture: Architecture,
    primary_model: BaseChatModel | None = None,
    holidays_country: str | None = None,
) -> Runtime:
    """A runtime on the offline model, or on `primary_model` with the offline one as fallback;
    `clinic`: the current profile, read whenever the urgent line or the clinic's name is
    written (an edit shows without a rebuild); `holidays_country`: whose public holidays
    "after the holidays" means (None: not read)."""
    offline = OfflineClinicModel.from_bundle(bundle, holidays_country=holidays_country)
    bind = (
        bind_with_fallback(offline, None)
        if primary_model is None
        else bind_with_fallback(primary_model, offline)
    )
    agent_type = AlexAgent if architecture == "alex" else TeamAgent
    return Runtime(
        bundle=bundle,
        triager=Triager(
            bundle.safety,
            clinic_urgent_line=lambda: clinic().urgent_line,
            classifier=bundle.triage_model,
        ),
        output_guard=OutputGuard(bundle.safety),
        nlu=offline.nlu,
        agent=agent_type(bundle, bind, lambda language: clinic().name(language)),
    )


def primary_model(settings: Settings) -> BaseChatModel | None:
    """The configured external LLM behind the personal-data filter, or None for offline."""
    if settings.llm_provider == "offline":
        return None

    def patient_of(config: RunnableConfig) -> PatientContext | None:
        turn = config.get("configurable", {}).get(TURN_KEY)
        patient = getattr(turn, "patient", None)
        return PatientContext.from_patient(patient) if patient is not None else None

    return build_privacy_filtered_openai_model(settings, patient_from_config=patient_of)
