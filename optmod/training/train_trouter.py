"""Training trouter: a small MLP (torch, CPU, deterministic) over (embedding, model description) pairs.

The network predicts a (prompt, model) pair's quality with a binary cross-entropy loss (qualities in [0, 1]
are soft labels). A share of the training pairs hides the model's parameter count, as for configured models
whose size is not published. After training the weights are exported to numpy (`trouter.npz`), which is what
the proxy serves; `trouter_weights.pt` is written beside it for torch users.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optmod.encoders import EMBEDDING_CACHE_DIR, Encoder, cached_embeddings
from optmod.routing.model_description import describe_dataset_models, model_feature_matrix
from optmod.routing.trouter import PARAMS_COLUMN, TORCH_CHECKPOINT, MLPWeights, load_trouter, save_weights
from optmod.training.data import RoutingDataset

load_trouter_predictor = load_trouter


@dataclass(frozen=True, slots=True)
class TRouterHyperParameters:
    """Chosen on a validation split carved from train."""

    hidden: tuple[int, ...] = (128, 64)
    epochs: int = 6
    batch: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    hide_params_share: float = 0.3
    reference_prompts: int = 512


def _standardiser(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nanmean(raw, axis=0) if np.isfinite(raw).any() else np.zeros(raw.shape[1])
    mean = np.where(np.isnan(mean), 0.0, mean)
    std = np.nanstd(raw, axis=0) if np.isfinite(raw).any() else np.ones(raw.shape[1])
    std = np.where(np.isnan(std) | (std < 1e-6), 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def pair_arrays(
    quality: np.ndarray,
    raw_models: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    rng: np.random.Generator,
    share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prompt index, model inputs (standardised + mask) and target of every known (prompt, model) pair."""
    prompt_index, model_index = np.nonzero(~np.isnan(quality))
    described = raw_models[model_index].copy()
    hide = rng.random(len(described)) < share
    described[hide, PARAMS_COLUMN] = np.nan
    unknown = np.isnan(described[:, PARAMS_COLUMN])
    filled = np.where(np.isnan(described), mean, described)
    inputs = np.column_stack([(filled - mean) / std, unknown.astype(np.float32)]).astype(np.float32)
    return prompt_index, inputs, quality[prompt_index, model_index].astype(np.float32)


def build_network(torch: Any, inputs: int, params: TRouterHyperParameters) -> Any:
    layers: list[Any] = []
    width = inputs
    for size in params.hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU(), torch.nn.Dropout(params.dropout)]
        width = size
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


def fit_network(
    embeddings: np.ndarray,
    prompt_index: np.ndarray,
    model_inputs: np.ndarray,
    target: np.ndarray,
    params: TRouterHyperParameters,
    seed: int,
) -> Any:
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    network = build_network(torch, embeddings.shape[1] + model_inputs.shape[1], params)
    optimiser = torch.optim.AdamW(network.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    emb, described = torch.from_numpy(embeddings), torch.from_numpy(model_inputs)
    index, labels = torch.from_numpy(prompt_index), torch.from_numpy(target)
    generator = torch.Generator().manual_seed(seed)
    network.train()
    for _ in range(params.epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), params.batch):
            batch = order[start : start + params.batch]
            logits = network(torch.cat([emb[index[batch]], described[batch]], dim=1)).squeeze(1)
            loss = loss_fn(logits, labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    network.eval()
    return network


def export_weights(
    network: Any, raw_models: np.ndarray, mean: np.ndarray, std: np.ndarray, reference: np.ndarray
) -> MLPWeights:
    import torch

    linear = [layer for layer in network if isinstance(layer, torch.nn.Linear)]
    layers = tuple(
        (layer.weight.detach().numpy().T.astype(np.float32).copy(), layer.bias.detach().numpy().astype(np.float32))
        for layer in linear
    )
    known = np.isfinite(raw_models)
    low = np.where(known.any(axis=0), np.nanmin(np.where(known, raw_models, np.inf), axis=0), mean)
    high = np.where(known.any(axis=0), np.nanmax(np.where(known, raw_models, -np.inf), axis=0), mean)
    return MLPWeights(
        layers=layers,
        feature_mean=mean,
        feature_std=std,
        feature_low=low.astype(np.float32),
        feature_high=high.astype(np.float32),
        reference_embeddings=reference,
    )


def train_trouter(
    train: RoutingDataset,
    encoder: Encoder,
    out_dir: Path,
    seed: int,
    params: TRouterHyperParameters | None = None,
    embeddings: np.ndarray | None = None,
) -> None:
    """Fit trouter on `train` (the TRAIN split); write `trouter.npz`, `meta.json` and `trouter_weights.pt`."""
    import torch

    params = params or TRouterHyperParameters()
    if embeddings is None:
        embeddings = cached_embeddings(train, encoder, EMBEDDING_CACHE_DIR)
    raw = model_feature_matrix(describe_dataset_models(train))
    mean, std = _standardiser(raw)
    rng = np.random.default_rng(seed)
    prompt_index, model_inputs, target = pair_arrays(train.quality, raw, mean, std, rng, params.hide_params_share)
    network = fit_network(embeddings.astype(np.float32), prompt_index, model_inputs, target, params, seed)
    meta = {
        "router": "trouter",
        "encoder": encoder.name,
        "encoder_fingerprint": getattr(encoder, "fingerprint", encoder.name),
        "dataset": train.name,
        "train_prompts": len(train),
        "seed": seed,
        "hyper_parameters": asdict(params),
    }
    chosen = np.sort(rng.choice(len(embeddings), size=min(params.reference_prompts, len(embeddings)), replace=False))
    # Rounded as stored, so the anchoring the router computes is the one measured here.
    reference = embeddings[chosen].astype(np.float16).astype(np.float32)
    save_weights(out_dir, export_weights(network, raw, mean, std, reference), meta)
    torch.save(network.state_dict(), out_dir / TORCH_CHECKPOINT)
