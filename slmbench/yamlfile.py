"""YAML read as hostile input: a duplicate key is refused with its line, and aliases may not
expand the document beyond a bound (a "billion laughs" file is refused, not walked).

Every YAML file slmbench reads from a user goes through `load_yaml`.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from .files import read_regular

# Nodes of the document with every alias expanded; the paper grid's config has a few thousand.
MAX_NODES = 200_000
MAX_BYTES = 16 << 20


class YamlError(ValueError):
    """A YAML file slmbench will not read; the message names the file and, where it can, the line."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, recursive aliases and documents that expand too far."""

    def __init__(self, stream):
        super().__init__(stream)
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent, index):
        alias = self.check_event(yaml.AliasEvent)
        node = super().compose_node(parent, index)
        if alias and id(node) not in self._sizes:  # an alias of a node still being composed
            raise YamlError(f"line {node.start_mark.line + 1}: a recursive alias")
        if id(node) not in self._sizes:
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            else:
                children = node.value if isinstance(node, yaml.SequenceNode) else []
            self._sizes[id(node)] = 1 + sum(self._sizes[id(c)] for c in children)
        if self._sizes[id(node)] > MAX_NODES:
            raise YamlError(f"line {node.start_mark.line + 1}: its aliases expand to more than {MAX_NODES} values")
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise YamlError(f"line {line}: the key {key!r} is given twice (first on line {seen[key]}); "
                                        f"a second one would silently replace the first")
                    seen[key] = line
                except TypeError:  # an unhashable key: SafeLoader names it
                    pass
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, source: str) -> Any:
    """The YAML document in `text`; `source` names it in errors."""
    try:
        return yaml.load(text, Loader=_Loader)
    except YamlError as e:
        raise YamlError(f"{source}, {e}") from None
    except yaml.YAMLError as e:
        raise YamlError(f"{source} is not valid YAML: {e}") from None


def load_yaml(path: str | os.PathLike) -> Any:
    """The YAML document in the file at `path` (a regular file, bounded in size)."""
    try:
        text = read_regular(path, MAX_BYTES, follow=True).decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise YamlError(f"{path} cannot be read as a YAML file: {e}") from None
    return parse_yaml(text, str(path))
