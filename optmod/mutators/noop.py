"""noop: changes nothing; a placeholder and the reference point for the pipeline's own cost."""

from __future__ import annotations

from typing import Any

from optmod.config import ModelConfig
from optmod.mutators.base import Mutation, Mutator


class NoopMutator(Mutator):
    name = "noop"

    def apply(self, body: dict[str, Any], model: ModelConfig) -> Mutation:
        return Mutation(body=body, applied=False)
