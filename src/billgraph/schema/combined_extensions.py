"""Several schema extensions run as one (`combined`), for the cost of one.

Strawberry wraps, for every operation and every stage (operation, parse, validate,
execute), each extension's hook in a `contextlib.contextmanager` made on the spot,
inside an `AsyncExitStack`: with four extensions that was ~10 % of a partner
createOrder's server CPU (py-spy, bench/RESULTS.md, issue 13 session 11). `combined`
gives strawberry one extension whose hook per stage drives the parts' generator hooks
itself — entered in the order given, left in reverse, an exception thrown into each
part still inside it, as ExitStack does — so each part keeps its own code and order.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator, Iterator
from typing import Any, cast

from strawberry.extensions import SchemaExtension

STAGES = ("on_operation", "on_parse", "on_validate", "on_execute")


def _hooked(part: type[SchemaExtension], stage: str) -> bool:
    hook = getattr(part, stage)
    if hook is getattr(SchemaExtension, stage):
        return False
    if not inspect.isgeneratorfunction(hook):
        raise TypeError(f"{part.__name__}.{stage} must be a generator function to be combined")
    return True


def _nested(hooks: list[Generator[None, None, None]]) -> Iterator[None]:
    """The hooks (started generators of one stage) as one: each advanced to its yield in
    order, then, once the stage is done, past it in reverse; an exception of the stage
    is thrown into each, innermost first: one that returns swallows it (the parts outside
    it then leave normally), one that raises passes on what it raised."""
    entered: list[Generator[None, None, None]] = []
    error: BaseException | None = None
    try:
        for hook in hooks:
            next(hook)
            entered.append(hook)
    except BaseException as raised:  # a part failed to enter: unwind the others
        error = raised
    else:
        try:
            yield
        except BaseException as raised:
            error = raised
    for hook in reversed(entered):
        try:
            if error is None:
                next(hook)
            else:
                hook.throw(error)
        except StopIteration:
            error = None  # done; or it swallowed the error, for the parts outside it too
            continue
        except BaseException as raised:
            error = raised
            continue
        raise RuntimeError("a schema extension hook yielded twice")
    if error is not None:
        raise error


def combined(*parts: type[SchemaExtension]) -> type[SchemaExtension]:
    """One extension class running `parts` (extension classes with generator hooks and no
    `resolve`) in this order."""
    for part in parts:
        if part.resolve is not SchemaExtension.resolve:
            raise TypeError(f"{part.__name__} has a resolve hook: it cannot be combined")
        if inspect.iscoroutinefunction(part.get_results):
            raise TypeError(f"{part.__name__}.get_results is async: it cannot be combined")
    staged = {stage: [n for n, part in enumerate(parts) if _hooked(part, stage)]
              for stage in STAGES}

    class Combined(SchemaExtension):
        def __init__(self, *, execution_context: Any = None) -> None:
            self.parts = [part(execution_context=execution_context) for part in parts]
            self.execution_context = execution_context  # strawberry sets it again later

        @property
        def execution_context(self) -> Any:
            return self.parts[0].execution_context if self.parts else None

        @execution_context.setter
        def execution_context(self, context: Any) -> None:
            for part in self.parts:
                part.execution_context = context

        def _stage(self, stage: str) -> Iterator[None]:
            return _nested([getattr(self.parts[n], stage)() for n in staged[stage]])

        def on_operation(self) -> Iterator[None]:
            yield from self._stage("on_operation")

        def on_parse(self) -> Iterator[None]:
            yield from self._stage("on_parse")

        def on_validate(self) -> Iterator[None]:
            yield from self._stage("on_validate")

        def on_execute(self) -> Iterator[None]:
            yield from self._stage("on_execute")

        def get_results(self) -> dict[str, Any]:
            results: dict[str, Any] = {}
            for part in self.parts:
                results.update(cast(dict[str, Any], part.get_results()))
            return results

    Combined.__name__ = Combined.__qualname__ = "Combined" + "".join(p.__name__ for p in parts)
    return Combined
