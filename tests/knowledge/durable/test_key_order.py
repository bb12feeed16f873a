"""What a resumed run reads back is what was written, key order included (PostgreSQL's jsonb
would sort keys; the columns runs read back are plain json)."""

from __future__ import annotations

from sqlalchemy import select

from engine.tools.function import tool
from engine.tools.registry import ToolRegistry
from knowledge.durable.runner import DurableRunner
from knowledge.store.models import Run, StepCall
from tests.knowledge.durable.helpers import blueprint, step, store_version


@tool("order.keep")
async def keep(name: str) -> dict[str, int]:
    """Returns keys in a deliberate, unsorted order."""
    return {"zeta": 1, "alpha": 2, "mid": 3, "name_len": len(name)}


async def test_outputs_and_inputs_come_back_in_the_order_they_were_written(db):
    registry = ToolRegistry([keep])
    version = store_version(
        db,
        registry,
        blueprint(
            "ordered",
            step("k", "order.keep"),
            inputs={"opts": {"type": "object", "default": {"b": 1, "a": 2}}},
            outputs={"o": "{{ steps.k.output }}"},
        ),
    )
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.run(version, {"opts": {"z": 1, "y": 2, "x": 3}}, started_by="t")
    with db.reading() as session:
        row = session.scalars(select(StepCall).where(StepCall.run_id == ticket.run_id)).one()
        run = session.get(Run, ticket.run_id)
        assert run is not None
        assert list(row.output) == ["zeta", "alpha", "mid", "name_len"]
        assert list(run.inputs["opts"]) == ["z", "y", "x"]
        assert list(run.outputs["o"]) == ["zeta", "alpha", "mid", "name_len"]
