"""``autosnn spaces`` and ``autosnn space NAME_OR_PATH``."""

from __future__ import annotations

import argparse

from autosnn.search_spaces.space import SearchSpace


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spaces", help="list the built-in search spaces",
                       description="List the built-in search spaces with their size.")
    p.set_defaults(handler=_spaces)
    p = sub.add_parser("space", help="show a search space's dimensions and size",
                       description="Print the dimensions, fixed settings, largest/smallest subnet and size of a space.")
    p.add_argument("space", metavar="NAME_OR_PATH", help="a built-in name (see `autosnn spaces`) or a space YAML file")
    p.set_defaults(handler=_space)


def _spaces(args: argparse.Namespace) -> int:
    for name in SearchSpace.builtin_names():
        s = SearchSpace.builtin(name)
        print(f"{name:<22} {s.size():>16,} subnets  {s.description}")
    return 0


def _space(args: argparse.Namespace) -> int:
    print(SearchSpace.resolve(args.space).describe())
    return 0
