"""The simulated company coordinated by the orchestrator's pure core, in one process.

The live run (``make run``) plays the world against the department services over HTTP; this
couples the same world to :class:`~orchestrator.core.engine.LocalEngine` (the core the faust
agents run) with no transport in between: every event a department's system sends is applied at
once, every action the core emits lands in the department's inbox at once, and the staff's
outcomes go back through the department kit's own outcome builder. What the customers received
is counted by the world itself (its tally and journeys), never by the orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from company_simulator.population import build_population
from company_simulator.world import (
    ContactQuestion,
    Mode,
    OutcomeReport,
    OutgoingEvent,
    Step,
    World,
)
from department_kit.actions import OutcomeRequest, build_outcome
from lifecycle_schemas.catalogue import ACTION_TYPES, CONTACT_REQUEST_OF_DEPARTMENT
from lifecycle_schemas.events import ContactRequestedData
from lifecycle_schemas.outputs import ContactDecided
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.messages import Decision
from orchestrator.core.playbook import Playbook

DEADLINE_CHECK_EVERY = timedelta(hours=1)


@dataclass
class CoordinatedRun:
    """A world in coordinated mode whose departments are directed by a ``LocalEngine``."""

    world: World
    engine: LocalEngine
    actions: dict[str, Any] = field(default_factory=dict)
    # The core's answers to marketing's questions (ask_before_promotions), in order.
    contact_answers: list[ContactDecided] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        playbook: Playbook,
        customers: int,
        seed: int,
        at: datetime,
        *,
        ask_before_promotions: bool = False,
    ) -> CoordinatedRun:
        """A fresh company of ``customers`` for ``seed`` from simulated time ``at``; with
        ``ask_before_promotions``, marketing's own promotions ask the core first."""
        world = World(
            build_population(customers, seed),
            seed=seed,
            start=at,
            mode=Mode.COORDINATED,
            ask_before_promotions=ask_before_promotions,
        )
        return cls(world, LocalEngine(playbook))

    def run_until(self, until: datetime) -> None:
        """Advance the world and the core together, one happening at a time, up to ``until``."""
        next_check = self.world.now + DEADLINE_CHECK_EVERY
        while (at := self.world.next_at()) is not None and at <= until:
            while next_check <= at:
                self._deliver(self.engine.tick(next_check))
                next_check += DEADLINE_CHECK_EVERY
            for step in self.world.step():
                self._apply(step)

    def _apply(self, step: Step) -> None:
        if isinstance(step, OutgoingEvent):
            self._deliver(self.engine.submit_event(step.record, step.at))
        elif isinstance(step, OutcomeReport):
            action = self.actions[step.action_id]
            outcome = build_outcome(action, OutcomeRequest.model_validate(step.body), step.at)
            self._deliver(self.engine.submit(action.data.customer_id, outcome, step.at))
        elif isinstance(step, ContactQuestion):
            request = CONTACT_REQUEST_OF_DEPARTMENT[step.department].build(
                ContactRequestedData.model_validate(
                    {
                        "customer": step.customer,
                        "channel": step.channel,
                        "purpose": step.purpose,
                        "campaign_id": step.campaign_id,
                        "answer_by": step.at + timedelta(seconds=2),
                    },
                    strict=False,
                ),
                id=step.question_id,
                time=step.at,
            )
            answers = [
                r
                for r in published(self.engine.submit_event(request, step.at))
                if isinstance(r, ContactDecided)
            ]
            self.contact_answers.extend(answers)
            for answer in answers:
                allowed = answer.data.decision.value == "allow"
                for then in self.world.contact_answered(
                    step.question_id, allowed, answer.data.contact_id
                ):
                    self._apply(then)

    def _deliver(self, decisions: list[Decision]) -> None:
        for record in published(decisions):
            if record.type not in ACTION_TYPES or record.id in self.actions:
                continue
            self.actions[record.id] = record
            self.world.receive_action(
                record.data.department,
                {
                    "action_id": record.id,
                    "type": record.type,
                    "deadline": record.data.deadline.isoformat(),
                    "record": record.model_dump(mode="json"),
                },
            )
