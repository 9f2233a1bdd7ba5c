"""schema/combined_extensions.combined: the parts' hooks run as strawberry's ExitStack
would run them — entered in order, left in reverse, an exception thrown into each part
(innermost first), a part that returns swallowing it, one that raises replacing it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension

from billgraph.schema.combined_extensions import combined


def part(name: str, log: list[str], *, swallow: bool = False,
         replace: bool = False) -> type[SchemaExtension]:
    class Part(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append(f"{name} in {self.execution_context}")
            try:
                yield
            except ValueError as error:
                log.append(f"{name} saw {error}")
                if replace:
                    raise KeyError(name) from error
                if not swallow:
                    raise
            else:
                log.append(f"{name} out")

        def on_parse(self) -> Iterator[None]:
            log.append(f"{name} parse")
            yield

        def get_results(self) -> dict[str, Any]:
            return {name: True}

    Part.__name__ = name
    return Part


def run_stage(extension: SchemaExtension, stage: str, error: BaseException | None) -> None:
    hook = getattr(extension, stage)()
    next(hook)
    if error is None:
        with pytest.raises(StopIteration):
            next(hook)
    else:
        hook.throw(error)


def test_parts_enter_in_order_and_leave_in_reverse() -> None:
    log: list[str] = []
    both = combined(part("a", log), part("b", log))()
    both.execution_context = "ctx"  # type: ignore[assignment]
    run_stage(both, "on_operation", None)
    run_stage(both, "on_parse", None)
    run_stage(both, "on_validate", None)  # no part has it: nothing happens
    assert log == ["a in ctx", "b in ctx", "b out", "a out", "a parse", "b parse"]
    assert both.get_results() == {"a": True, "b": True}


def test_an_error_is_thrown_into_every_part_innermost_first() -> None:
    log: list[str] = []
    both = combined(part("a", log), part("b", log))(execution_context=None)
    with pytest.raises(ValueError, match="boom"):
        run_stage(both, "on_operation", ValueError("boom"))
    assert log == ["a in None", "b in None", "b saw boom", "a saw boom"]


def test_a_part_that_returns_swallows_the_error_for_the_parts_outside_it() -> None:
    log: list[str] = []
    both = combined(part("a", log), part("b", log, swallow=True))(execution_context=None)
    with pytest.raises(StopIteration):
        run_stage(both, "on_operation", ValueError("boom"))
    assert log == ["a in None", "b in None", "b saw boom", "a out"]


def test_a_part_that_raises_another_error_passes_that_one_on() -> None:
    log: list[str] = []
    both = combined(part("a", log), part("b", log, replace=True))(execution_context=None)
    with pytest.raises(KeyError, match="b"):
        run_stage(both, "on_operation", ValueError("boom"))
    assert log == ["a in None", "b in None", "b saw boom"]


def test_parts_that_cannot_be_combined_are_refused() -> None:
    class Plain(SchemaExtension):
        def on_execute(self) -> None:  # type: ignore[override]
            pass

    class Resolving(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kw: Any) -> Any:
            return _next(root, info, *args, **kw)

    for refused in (Plain, Resolving):
        with pytest.raises(TypeError, match=refused.__name__):
            combined(refused)
