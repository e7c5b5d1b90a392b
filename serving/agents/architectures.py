"""The two agent architectures, compared by the evaluation flows:

- Alex: one agent with every tool.
- The team: Dana routes each message to Michal (medical boundaries), Yosef (billing) or
  Sarah (scheduling), and answers small talk and clinic information herself.

Both take the same input (the turn context, recent history, the patient's message) and the
same turn (tools bound to the verified patient), and return the reply with what produced it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict

from serving.agents.graph import MAX_STEPS, tool_loop
from serving.agents.models import MODEL_FAILURES
from serving.bundle.load import Bundle
from serving.conversation.turn import Turn
from serving.tools.langchain_tools import ALL_TOOLS, TEAM_TOOLS, TRANSFERS, TURN_KEY

Architecture = Literal["alex", "team"]
BoundModel = Runnable[LanguageModelInput, AIMessage]
ModelBinder = Callable[[Sequence[BaseTool]], BoundModel]


@dataclass(frozen=True)
class AgentOutcome:
    reply: str
    llm_calls: int
    model: str
    agents: tuple[str, ...]
    tokens: int = 0
    """Tokens in and out over the turn's model calls, as the model reported them (the
    offline model reports none)."""


class Agent(Protocol):
    architecture: Architecture

    async def run(
        self, conversation: list[BaseMessage], turn: Turn, *, language: str
    ) -> AgentOutcome: ...


def bind_with_fallback(primary: BaseChatModel, fallback: BaseChatModel | None) -> ModelBinder:
    """Bind tools to the primary model, falling back to the offline model on any error."""

    def bind(tools: Sequence[BaseTool]) -> BoundModel:
        bound = primary.bind_tools(list(tools))
        if fallback is None:
            return bound
        return bound.with_fallbacks(
            [fallback.bind_tools(list(tools))], exceptions_to_handle=MODEL_FAILURES
        )

    return bind


def _config(turn: Turn) -> RunnableConfig:
    return {"configurable": {TURN_KEY: turn}, "recursion_limit": MAX_STEPS * 2}


def _outcome(messages: Sequence[BaseMessage], agents: tuple[str, ...]) -> AgentOutcome:
    replies = [m for m in messages if isinstance(m, AIMessage)]
    final = replies[-1] if replies else AIMessage(content="")
    model = str(final.response_metadata.get("model_name", "unknown"))
    tokens = sum(m.usage_metadata["total_tokens"] for m in replies if m.usage_metadata)
    return AgentOutcome(
        reply=final.text, llm_calls=len(replies), model=model, agents=agents, tokens=tokens
    )


class AlexAgent:
    architecture: Architecture = "alex"

    def __init__(
        self, bundle: Bundle, bind: ModelBinder, clinic_name: Callable[[str], str]
    ) -> None:
        self._bundle = bundle
        self._clinic_name = clinic_name
        self._graph = tool_loop(bind(ALL_TOOLS), ALL_TOOLS)

    async def run(
        self, conversation: list[BaseMessage], turn: Turn, *, language: str
    ) -> AgentOutcome:
        prompt = SystemMessage(
            self._bundle.prompt("alex", language).replace(
                "{clinic_name}", self._clinic_name(language)
            )
        )
        result = await self._graph.ainvoke({"messages": [prompt, *conversation]}, _config(turn))
        produced = result["messages"][len(conversation) + 1 :]
        return _outcome(produced, ("alex",))


class TeamState(TypedDict):
    conversation: list[BaseMessage]
    language: str
    dana_messages: list[BaseMessage]
    route: str | None
    produced: list[BaseMessage]


class TeamAgent:
    """Dana decides; the chosen member runs its own tool loop on the same conversation."""

    architecture: Architecture = "team"

    def __init__(
        self, bundle: Bundle, bind: ModelBinder, clinic_name: Callable[[str], str]
    ) -> None:
        self._bundle = bundle
        self._clinic_name = clinic_name
        self._dana = bind(TEAM_TOOLS["dana"])
        self._dana_tools = ToolNode(
            [t for t in TEAM_TOOLS["dana"] if t.name not in TRANSFERS], handle_tool_errors=False
        )
        self._members = {
            member: tool_loop(bind(TEAM_TOOLS[member]), TEAM_TOOLS[member])
            for member in ("sarah", "yosef", "michal")
        }
        self._graph = self._build()

    def _prompt(self, agent: str, language: str) -> SystemMessage:
        text = self._bundle.prompt(agent, language).replace(
            "{clinic_name}", self._clinic_name(language)
        )
        return SystemMessage(text)

    def _build(self) -> Any:
        async def dana(state: TeamState, config: RunnableConfig) -> dict[str, Any]:
            messages = state["dana_messages"] or [
                self._prompt("dana", state["language"]),
                *state["conversation"],
            ]
            answer = await self._dana.ainvoke(messages, config)
            route = next(
                (TRANSFERS[c["name"]] for c in answer.tool_calls if c["name"] in TRANSFERS), None
            )
            return {
                "dana_messages": [*messages, answer],
                "route": route,
                "produced": [*state["produced"], answer],
            }

        async def dana_tools(state: TeamState, config: RunnableConfig) -> dict[str, Any]:
            result = await self._dana_tools.ainvoke({"messages": state["dana_messages"]}, config)
            return {"dana_messages": [*state["dana_messages"], *result["messages"]]}

        def after_dana(state: TeamState) -> str:
            if state["route"]:
                return state["route"]
            last = state["dana_messages"][-1]
            return "dana_tools" if isinstance(last, AIMessage) and last.tool_calls else END

        graph = StateGraph(TeamState)
        graph.add_node("dana", dana)
        graph.add_node("dana_tools", dana_tools)
        graph.add_edge(START, "dana")
        graph.add_conditional_edges("dana", after_dana)
        graph.add_edge("dana_tools", "dana")
        for member, loop in self._members.items():
            graph.add_node(member, self._member_node(member, loop))
            graph.add_edge(member, END)
        return graph.compile()

    def _member_node(self, member: str, loop: Any) -> Callable[..., Any]:
        async def run_member(state: TeamState, config: RunnableConfig) -> dict[str, Any]:
            messages = [self._prompt(member, state["language"]), *state["conversation"]]
            result = await loop.ainvoke({"messages": messages}, config)
            return {"produced": [*state["produced"], *result["messages"][len(messages) :]]}

        return run_member

    async def run(
        self, conversation: list[BaseMessage], turn: Turn, *, language: str
    ) -> AgentOutcome:
        state: TeamState = {
            "conversation": conversation,
            "language": language,
            "dana_messages": [],
            "route": None,
            "produced": [],
        }
        result = await self._graph.ainvoke(state, _config(turn))
        produced: list[BaseMessage] = result["produced"]
        if not result["route"]:
            # Dana answered herself, possibly after her own tools: her final message counts.
            produced = [m for m in result["dana_messages"] if isinstance(m, AIMessage)]
        agents = ("dana", result["route"]) if result["route"] else ("dana",)
        return _outcome(produced, agents)
