"""One turn of a revision conversation as a LangGraph graph: understand, confirm, apply.

```
understand --(a plan)--> confirm --yes/only/cascade--> apply -> END
     |                      |
     +--(not understood)--> END <--no--+
```
`confirm` pauses the run with `interrupt(plan)`; the caller shows the plan and resumes with the
user's answer (`Command(resume="yes")`). The terminal chat and a web page drive the same graph.
The instruction is read once: answering `only` or `cascade` re-plans the same edits, and `apply`
makes exactly the plan confirmed, through the `revise` the front end passes (`director.api.revise_story`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from typing_extensions import TypedDict

from director.folder.story_folder import StoryFolder
from director.revision import change
from director.revision.impact import ImpactPlan

ANSWERS = {"y": "yes", "yes": "yes", "ok": "yes", "": "yes", "n": "no", "no": "no", "cancel": "no", "only": "only", "cascade": "cascade"}


class TurnState(TypedDict, total=False):
    instruction: str
    plan: dict[str, Any]  # the ImpactPlan as JSON
    answer: str
    message: str  # what to tell the user at the end of the turn
    film: str


@dataclass
class TurnContext:
    folder: str
    revise: Callable[..., Any]  # `director.api.revise_story`: makes the version a confirmed plan describes
    on_event: Callable[[dict[str, Any]], None] | None = None


def understand(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    try:
        plan = change.plan_instruction(StoryFolder.existing(runtime.context.folder), state["instruction"], None, None, runtime.context.on_event)
    except ValueError as error:
        return {"message": str(error)}
    return {"plan": plan.model_dump(mode="json")}


def confirm(state: TurnState) -> dict[str, Any]:
    answer = str(interrupt(state["plan"])).strip().lower()
    return {"answer": ANSWERS.get(answer, "unknown")}


def apply(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    folder = runtime.context.folder
    plan = ImpactPlan.model_validate(state["plan"])
    if state["answer"] in ("only", "cascade"):
        plan = change.with_policy(StoryFolder.existing(folder), plan, state["answer"])
    result = runtime.context.revise(folder, plan.instruction, plan=plan, on_event=runtime.context.on_event)
    return {"message": f"version {result.version}: {result.generated} shot{'s' if result.generated != 1 else ''} made; film {result.film}", "film": str(result.film)}


def after_understand(state: TurnState) -> str:
    return "confirm" if state.get("plan") else END


def after_confirm(state: TurnState) -> str:
    if state["answer"] in ("yes", "only", "cascade"):
        return "apply"
    return END


def build_turn(checkpointer):
    builder = StateGraph(TurnState, context_schema=TurnContext)
    builder.add_node("understand", understand)
    builder.add_node("confirm", confirm)
    builder.add_node("apply", apply)
    builder.add_edge(START, "understand")
    builder.add_conditional_edges("understand", after_understand, ["confirm", END])
    builder.add_conditional_edges("confirm", after_confirm, ["apply", END])
    builder.add_edge("apply", END)
    return builder.compile(checkpointer=checkpointer)
