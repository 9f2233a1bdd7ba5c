"""quick_init: a frozen dataclass's cheaper constructor behaves as the generated one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from billgraph.services.billing.charges import Charge, Item, Terms
from billgraph.services.billing.values import quick_init


@dataclass(frozen=True)
class Plain:
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()
    d: int = field(default=4, kw_only=True)


@quick_init
@dataclass(frozen=True)
class Quick:
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()
    d: int = field(default=4, kw_only=True)


def fields_of(value: object) -> dict[str, object]:
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "kwargs"), [
    ((1,), {}), ((1, "x"), {}), ((1, "x", (2,)), {"d": 5}), ((), {"a": 1, "c": (3,)}),
    ((), {"d": 0, "b": "y", "a": 2})])
def test_the_same_fields_from_the_same_arguments(args: tuple[Any, ...],
                                                 kwargs: dict[str, Any]) -> None:
    assert fields_of(Quick(*args, **kwargs)) == fields_of(Plain(*args, **kwargs))


def test_the_same_argument_errors() -> None:
    calls: list[Callable[[Any], object]] = [
        lambda cls: cls(), lambda cls: cls(1, "x", (), 5),  # d is keyword-only
        lambda cls: cls(1, a=1), lambda cls: cls(1, e=2)]
    for call in calls:
        with pytest.raises(TypeError):
            call(Plain)
        with pytest.raises(TypeError):
            call(Quick)


def test_still_frozen_equal_hashable_and_replaceable() -> None:
    q = Quick(1, "x", (2,), d=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.a = 2  # type: ignore[misc]
    assert q == Quick(1, "x", (2,), d=5) and q != Quick(2, "x", (2,), d=5)
    assert hash(q) == hash(Quick(1, "x", (2,), d=5))
    assert repr(q) == "Quick(a=1, b='x', c=(2,), d=5)"
    assert dataclasses.replace(q, b="y") == Quick(1, "y", (2,), d=5)
    assert Quick.__init__.__qualname__ == "Quick.__init__"


def test_defaults_are_not_shared_mutable_state() -> None:
    # a default is the dataclass's own object, as with the generated __init__
    assert Quick(1).c is Plain.__dataclass_fields__["c"].default


def test_only_for_what_it_can_build() -> None:
    @dataclass
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    @dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None: ...

    @dataclass(frozen=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    for cls in (Mutable, Slotted, Checked, Factory):
        with pytest.raises(TypeError):
            quick_init(cls)


def test_the_bill_runs_value_types_use_it() -> None:
    for cls in (Terms, Item, Charge):
        assert cls.__init__.__code__.co_filename == "<string>"
        assert "__dict__" in cls.__init__.__code__.co_names


def test_fields_named_like_its_own_locals() -> None:
    @quick_init
    @dataclass(frozen=True)
    class Odd:
        self: int
        values: int = 2
        _values_: int = 3

    assert fields_of(Odd(1)) == {"self": 1, "values": 2, "_values_": 3}
    assert fields_of(Odd(self=5, _values_=0)) == {"self": 5, "values": 2, "_values_": 0}
