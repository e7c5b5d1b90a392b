"""The tool loop every agent runs: model -> tools -> model, until the model answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition

MAX_STEPS = 10
"""Model and tool steps per turn: a bound on what a looping model can cost."""


def tool_loop(
    model: Runnable[LanguageModelInput, AIMessage], tools: Sequence[BaseTool]
) -> CompiledStateGraph[Any, Any, Any, Any]:
    async def call_model(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", call_model)
    # Tool failures propagate: the assistant answers them with a safe message, instead of a
    # stack trace reaching the model and, through it, the patient.
    graph.add_node("tools", ToolNode(list(tools), handle_tool_errors=False))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: END})
    graph.add_edge("tools", "agent")
    return graph.compile()
