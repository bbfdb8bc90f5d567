"""YAML as people write numbers: the YAML 1.2 core schema's floats on top of PyYAML.

PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent: ``1e4``, ``5e-5``
and ``1.0e4`` are read as *strings* and a stack file saying ``htc: 1e4`` would be refused.
:class:`Loader` resolves every plain scalar that YAML 1.2 reads as a float (with or without a
dot, with or without a sign in the exponent, ``.5``, ``1.``) to a float; everything else is
PyYAML's safe schema unchanged. Every YAML input of chiptherm (stack files, training configs,
optimization problems, ``--set`` values) is read through :func:`load_yaml`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

FLOAT_1_2 = re.compile(
    r"""^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$
    |^[-+]?\.(?:inf|Inf|INF)$
    |^\.(?:nan|NaN|NAN)$""",
    re.VERBOSE,
)
"""A YAML 1.2 core-schema float (integers match too; PyYAML's int resolver comes first)."""


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats (see the module docstring)."""


Loader.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_1_2, list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """Parse YAML text with :class:`Loader`; raises ``yaml.YAMLError`` as PyYAML does."""
    return yaml.load(text, Loader=Loader)  # a SafeLoader: no arbitrary objects
