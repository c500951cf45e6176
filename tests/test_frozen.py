"""fast_init (cds_service.frozen): every frozen dataclass of the package carries it, and builds
exactly what the dataclass's own `__init__` would have built."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import FrozenInstanceError, InitVar, dataclass, field
from pathlib import Path
from typing import Any

import pytest

import cds_service
from cds_service.frozen import MARK, fast_init

# Modules that run something when imported (the command line, the WSGI app built from CDS_*,
# the migrations run by alembic).
SCRIPTS = frozenset({"cds_service.__main__", "cds_service.wsgi"})


def _package_classes() -> list[type]:
    found: dict[str, type] = {}
    root = Path(cds_service.__file__).parent
    for path in sorted(root.rglob("*.py")):  # files, not pkgutil: `facts` is a namespace package
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name in SCRIPTS or name.startswith("cds_service.migrations"):
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


FROZEN = [c for c in _package_classes() if c.__dataclass_params__.frozen]  # type: ignore[attr-defined]


def _standard_twin(cls: type) -> type:
    """The same fields under a plain @dataclass(frozen=True): the reference __init__."""
    spec = []
    for f in dataclasses.fields(cls):
        kwargs: dict[str, Any] = {"init": f.init}
        if f.default is not dataclasses.MISSING:
            kwargs["default"] = f.default
        if f.default_factory is not dataclasses.MISSING:
            kwargs["default_factory"] = f.default_factory
        spec.append((f.name, f.type, field(**kwargs)))
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True)


def test_the_package_has_frozen_dataclasses_to_check() -> None:
    assert len(FROZEN) >= 55  # facts, findings, cards, resolution, dosing, knowledge rows


@pytest.mark.parametrize("cls", FROZEN, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_frozen_dataclass_builds_what_the_dataclass_would(cls: type) -> None:
    assert getattr(vars(cls)["__init__"], MARK, False), f"{cls.__qualname__} lacks @fast_init"
    twin = _standard_twin(cls)
    ours, theirs = inspect.signature(cls), inspect.signature(twin)
    assert list(ours.parameters) == list(theirs.parameters)
    for name, parameter in ours.parameters.items():
        reference = theirs.parameters[name]
        assert parameter.kind == reference.kind
        assert (parameter.default is inspect.Parameter.empty) == (
            reference.default is inspect.Parameter.empty
        )
        if repr(reference.default) != "<factory>":
            assert parameter.default is reference.default or parameter.default == reference.default
    # Required fields get distinct objects, defaulted ones their defaults: the instance's fields
    # must be the very objects the reference __init__ stores.
    required = {
        name: object()
        for name, p in ours.parameters.items()
        if p.default is inspect.Parameter.empty
    }
    built, reference_built = cls(**required), twin(**required)
    assert vars(built).keys() == vars(reference_built).keys()
    for name, value in vars(reference_built).items():
        if name in required:
            assert vars(built)[name] is value
        else:
            assert vars(built)[name] == value
    first = next(iter(vars(built)), None)
    if first is not None:
        with pytest.raises(FrozenInstanceError):
            setattr(built, first, None)
        with pytest.raises(FrozenInstanceError):
            delattr(built, first)


@fast_init
@dataclass(frozen=True)
class _Sample:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)
    d: int = field(default=4, init=False)
    e: tuple[int, ...] = field(default_factory=tuple, init=False)


def test_defaults_factories_and_fields_left_out_of_init() -> None:
    one, two = _Sample(1), _Sample(1)
    assert one == two and one is not two
    assert one.c == [] and one.c is not two.c  # a fresh list per instance, as the factory says
    assert (one.b, one.d, one.e) == ("b", 4, ())
    assert _Sample(1, "z", [3]) == _Sample(a=1, b="z", c=[3])
    assert dataclasses.replace(one, b="q") == _Sample(1, "q")
    assert repr(_Sample(1)) == "_Sample(a=1, b='b', c=[], d=4, e=())"
    assert str(inspect.signature(_Sample)) == (
        "(a: 'int', b: 'str' = 'b', c: 'list[int]' = <factory>) -> None"
    )
    with pytest.raises(TypeError):
        _Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Sample(1, "b", [], 4)  # type: ignore[call-arg]  # d is not a parameter


def test_what_it_cannot_reproduce_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="frozen dataclass"):

        @fast_init
        @dataclass
        class NotFrozen:
            a: int

    with pytest.raises(TypeError, match="__post_init__"):

        @fast_init
        @dataclass(frozen=True)
        class PostInit:
            a: int

            def __post_init__(self) -> None:
                pass

    with pytest.raises(TypeError, match="InitVar"):

        @fast_init
        @dataclass(frozen=True)
        class WithInitVar:
            a: int
            b: InitVar[int] = 0

    with pytest.raises(TypeError, match="kw_only"):

        @fast_init
        @dataclass(frozen=True, kw_only=True)
        class KeywordOnly:
            a: int

    with pytest.raises(TypeError, match="slots"):

        @fast_init
        @dataclass(frozen=True, slots=True)
        class Slotted:
            a: int

    with pytest.raises(TypeError, match="uses itself"):

        @fast_init
        @dataclass(frozen=True)
        class Shadowing:
            _d: int
