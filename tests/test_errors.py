"""One exception root: every exception simlib defines derives from SimlibError, and the tree
drawn in simlib/errors.py's docstring is the tree of the classes, both ways."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import simlib
import simlib.errors
from simlib.errors import SimlibError

#: One line of the drawing: the connector prefix, the class name, optional ``[Base, ...]``.
LINE = re.compile(r"^(?P<prefix>(?:[│ ] {3})*(?:[├└]── )?)(?P<name>[A-Z]\w*)(?: \[(?P<bases>[\w, ]+)\])?(?:\s|$)")


#: Modules that import Locust (never imported by ``import simlib``).
LOCUST_MODULES = {"simlib.locust", "simlib.locustfiles.simlib_load"}


def simlib_modules() -> list[object]:
    # ``__main__`` modules (``python -m simlib``) run the CLI when imported; they define nothing.
    # simlib.locust (and the locustfile importing it) import Locust, which monkey-patches this
    # whole process through gevent: they define no exception class (checked by reading them).
    names = [
        m.name for m in pkgutil.walk_packages(simlib.__path__, "simlib.")
        if not m.name.endswith("__main__") and m.name not in LOCUST_MODULES
    ]
    return [simlib, *(importlib.import_module(name) for name in sorted(names))]


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined at module level anywhere in simlib (not re-exports)."""
    found: dict[str, type[BaseException]] = {}
    for module in simlib_modules():
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                assert found.get(name, value) is value, f"two exception classes called {name}"
                found[name] = value
    return found


def drawn_tree(doc: str) -> dict[str, tuple[str | None, frozenset[str]]]:
    """class name -> (parent name, built-in bases) as drawn after ``The tree ...::``."""
    block = doc.split("::\n", 1)[1]
    lines = block.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    indent = len(lines[0]) - len(lines[0].lstrip())
    tree: dict[str, tuple[str | None, frozenset[str]]] = {}
    parents: list[str] = []  # parents[d] = the last class drawn at depth d
    for line in lines:
        if not line.strip():
            break
        match = LINE.match(line[indent:])
        assert match, f"cannot read this line of the tree: {line!r}"
        depth = len(match["prefix"]) // 4
        assert depth <= len(parents), f"{match['name']} is drawn deeper than its parent"
        del parents[depth:]
        bases = frozenset(b.strip() for b in (match["bases"] or "").split(",") if b.strip())
        assert match["name"] not in tree, f"{match['name']} is drawn twice"
        tree[match["name"]] = (parents[-1] if parents else None, bases)
        parents.append(match["name"])
    return tree


def actual_tree() -> dict[str, tuple[str | None, frozenset[str]]]:
    tree: dict[str, tuple[str | None, frozenset[str]]] = {}
    for name, cls in exception_classes().items():
        if not issubclass(cls, SimlibError):
            continue
        in_tree = [b for b in cls.__bases__ if issubclass(b, SimlibError)]
        assert len(in_tree) <= 1, f"{name} has two parents in the tree: {in_tree}"
        builtin = frozenset(b.__name__ for b in cls.__bases__ if not issubclass(b, SimlibError)) - {"Exception"}
        tree[name] = (in_tree[0].__name__ if in_tree else None, builtin)
    return tree


def test_every_public_exception_in_simlib_derives_from_simlib_error():
    outside = sorted(
        f"{cls.__module__}.{name}"
        for name, cls in exception_classes().items()
        if not issubclass(cls, SimlibError) and not name.startswith("_")  # private ones never escape
    )
    assert outside == [], "exceptions outside the SimlibError tree"


def test_the_tree_in_the_errors_docstring_is_the_tree_of_the_classes():
    drawn, actual = drawn_tree(simlib.errors.__doc__ or ""), actual_tree()
    missing = sorted(set(actual) - set(drawn))
    assert missing == [], "SimlibError subclasses missing from the drawing in simlib/errors.py"
    extra = sorted(set(drawn) - set(actual))
    assert extra == [], "drawn in simlib/errors.py but not a SimlibError subclass"
    wrong = {name: (drawn[name], actual[name]) for name in actual if drawn[name] != actual[name]}
    assert wrong == {}, "(drawn parent, built-in bases) != the class's"


def test_the_tree_reader():
    doc = """x

    The tree::

        SimlibError
        ├── A [ValueError]    text
        │   └── B             text [not a base]
        └── C                 text

    After.
    """
    assert drawn_tree(doc) == {
        "SimlibError": (None, frozenset()),
        "A": ("SimlibError", frozenset({"ValueError"})),
        "B": ("A", frozenset()),
        "C": ("SimlibError", frozenset()),
    }


@pytest.mark.parametrize("name", ["BlockedAddress", "ResolveTimeout"])
def test_network_policy_errors_are_simlib_errors_and_keep_their_old_bases(name):
    from simlib.core.delivery import netpolicy

    cls = getattr(netpolicy, name)
    assert issubclass(cls, SimlibError)
    if name == "ResolveTimeout":
        assert issubclass(cls, TimeoutError)  # except TimeoutError / OSError keep catching it


def test_the_modules_that_import_locust_define_no_exception_class():
    """They are left out of the walk above (importing Locust would patch this process); read them."""
    import ast
    from pathlib import Path

    root = Path(simlib.__file__).parent
    for name in sorted(LOCUST_MODULES):
        path = root.joinpath(*name.split(".")[1:]).with_suffix(".py")
        classes = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)]
        bases = {ast.unparse(b) for c in classes for b in c.bases}
        assert not bases & {"Exception", "BaseException", "SimlibError", "ValueError"}, (name, bases)
        assert all(not c.name.endswith(("Error", "Exception")) for c in classes), name
