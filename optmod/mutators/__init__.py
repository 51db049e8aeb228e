"""Mutators: the name table and the pipeline that applies the configured ones in order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from optmod.config import Config, ModelConfig
from optmod.mutators.base import Mutation, Mutator
from optmod.mutators.noop import NoopMutator
from optmod.mutators.thinking_mode import ThinkingModeMutator
from optmod.mutators.tool_result_compressor import ToolResultCompressorMutator

MUTATORS: dict[str, type[Mutator]] = {
    "noop": NoopMutator,
    "thinking_mode": ThinkingModeMutator,
    "tool_result_compressor": ToolResultCompressorMutator,
}

__all__ = ["MUTATORS", "Mutation", "Mutator", "MutatorPipeline", "PipelineResult", "UnknownMutatorError"]


class UnknownMutatorError(KeyError):
    def __str__(self) -> str:
        return f"unknown mutator {self.args[0]!r}; valid mutators: {', '.join(MUTATORS)}"


@dataclass(frozen=True, slots=True)
class PipelineResult:
    body: dict[str, Any]
    applied: tuple[str, ...]
    details: dict[str, Any]


class MutatorPipeline:
    """The configured mutators, applied in config order; `disabled` names are skipped (runtime toggles)."""

    def __init__(self, config: Config, names: Iterable[str]) -> None:
        self.mutators: tuple[Mutator, ...] = tuple(_build(name, config) for name in names)

    def apply(self, body: dict[str, Any], model: ModelConfig, disabled: frozenset[str] = frozenset()) -> PipelineResult:
        applied: list[str] = []
        details: dict[str, Any] = {}
        for mutator in self.mutators:
            if mutator.name in disabled:
                continue
            outcome = mutator.apply(body, model)
            body = outcome.body
            if outcome.applied:
                applied.append(mutator.name)
            if outcome.detail:
                details[mutator.name] = dict(outcome.detail)
        return PipelineResult(body=body, applied=tuple(applied), details=details)


def _build(name: str, config: Config) -> Mutator:
    try:
        return MUTATORS[name](config)
    except KeyError:
        raise UnknownMutatorError(name) from None
