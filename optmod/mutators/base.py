"""The mutator interface: a small deterministic rewrite of the request body for the chosen model.

A mutator never changes the body it is given; it returns a new body (sharing untouched parts) and what it
did. It must keep the provider's prompt cache valid: the same earlier messages always become the same bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from optmod.config import Config, ModelConfig


@dataclass(frozen=True, slots=True)
class Mutation:
    """The body after one mutator, whether it changed anything, and numbers worth logging."""

    body: dict[str, Any]
    applied: bool
    detail: Mapping[str, Any] = field(default_factory=dict)


class Mutator(ABC):
    name: ClassVar[str]

    def __init__(self, config: Config) -> None:
        self.config = config

    @abstractmethod
    def apply(self, body: dict[str, Any], model: ModelConfig) -> Mutation: ...
