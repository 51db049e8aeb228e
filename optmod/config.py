"""The one place that reads configuration.

`config.yaml` is validated here into frozen pydantic models at start-up. An invalid file raises
`ConfigError`, whose message names every bad field and the reason. Secrets never live in the file: each
model names the environment variable that holds its key (`api_key_env`), and `.env` is read by the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG_PATH = PACKAGE_DIR.parent / "config.yaml"

TIER_NAMES = {0: "fast", 1: "reasoning", 2: "oracle"}

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class ConfigError(ValueError):
    """config.yaml is missing, unreadable or invalid; the message names the field and the reason."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelConfig(_Frozen):
    """One model of the pool, as the forwarder, the routers and the cost arithmetic see it."""

    name: str = Field(min_length=1)
    tier: Literal[0, 1, 2]
    base_url: str = Field(pattern=r"^https?://")
    api_key_env: str | None = None
    # The model id sent upstream when it differs from the pool name (for example a provider prefix).
    upstream_model: str | None = None
    input_usd_per_mtok: NonNegativeFloat
    output_usd_per_mtok: NonNegativeFloat
    cached_input_usd_per_mtok: NonNegativeFloat
    cache_write_usd_per_mtok: NonNegativeFloat | None = None
    context_window: Annotated[int, Field(gt=0)]
    supports_vision: bool = False
    supports_thinking: bool = False
    # A capability score in [0, 1] that learned routers use to place a model they never saw in training.
    quality_prior: Annotated[float, Field(ge=0, le=1)] = 0.5
    description: str = ""

    @property
    def wire_name(self) -> str:
        return self.upstream_model or self.name

    @property
    def tier_name(self) -> str:
        return TIER_NAMES[self.tier]


# Router artifact paths are relative to the optmod/routing/ folder unless absolute.
ROUTING_DIR = PACKAGE_DIR / "routing"


class RuleBasedSettings(_Frozen):
    long_context_tokens: Annotated[int, Field(gt=0)] = 24_000
    hard_difficulty: Annotated[float, Field(ge=0, le=1)] = 0.6
    easy_difficulty: Annotated[float, Field(ge=0, le=1)] = 0.25


class DecisionTreeSettings(_Frozen):
    artifact: str = "artifacts/routing_policy.pkl"


class TRouterSettings(_Frozen):
    artifact: str = "artifacts/trouter"
    cost_weight: NonNegativeFloat = 1.0


class PerfRouterSettings(_Frozen):
    # The defaults are config.yaml's, chosen with bench/perf_router_knobs.py (README, "Default knobs").
    artifact_dir: str = "artifacts/perf_router"
    perf_router_cost_weight: NonNegativeFloat = 3.0
    perf_router_baseline: str | None = None
    perf_router_degradation_threshold: Annotated[float, Field(ge=0, le=1)] = 0.15
    perf_router_min_similarity: Annotated[float, Field(ge=-1, le=1)] = 0.2


class RoutersSettings(_Frozen):
    rule_based: RuleBasedSettings = RuleBasedSettings()
    decision_tree: DecisionTreeSettings = DecisionTreeSettings()
    trouter: TRouterSettings = TRouterSettings()
    perf_router: PerfRouterSettings = PerfRouterSettings()


class CompressorSettings(_Frozen):
    enabled: bool = True
    min_chars: Annotated[int, Field(ge=0)] = 800


class SessionStoreSettings(_Frozen):
    kind: Literal["memory", "sqlite", "redis"] = "sqlite"
    sqlite_path: str = "logs/session_pins.sqlite3"
    redis_url: str | None = None
    # A pin lookup sits on the request path: a Redis that does not answer within this counts as down, and the
    # request routes unpinned. Local Redis answers in well under a millisecond; this only bounds the bad case.
    redis_timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0
    max_sessions: Annotated[int, Field(gt=0)] = 100_000

    @model_validator(mode="after")
    def _redis_needs_url(self) -> SessionStoreSettings:
        if self.kind == "redis" and not self.redis_url:
            raise ValueError("kind 'redis' needs redis_url")
        return self


class LimitsSettings(_Frozen):
    max_body_bytes: Annotated[int, Field(gt=0)] = 8 * 1024 * 1024
    max_json_depth: Annotated[int, Field(gt=0)] = 64
    total_deadline_s: PositiveFloat = 300.0
    connect_timeout_s: PositiveFloat = 5.0
    first_byte_timeout_s: PositiveFloat = 120.0
    # Longest silence tolerated between two stream chunks once the stream has started.
    read_timeout_s: PositiveFloat = 120.0
    retry_after_cap_s: NonNegativeFloat = 5.0
    cooldown_s: NonNegativeFloat = 30.0
    max_attempts: Annotated[int, Field(gt=0, le=20)] = 4


class ServerSettings(_Frozen):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536)] = 8765
    admin_token_env: str = "OPTMOD_ADMIN_TOKEN"


# Read once, when the process starts: the listening socket, the log file and the pin store. A config reload
# reports a change to them rather than applying it.
STARTUP_SETTINGS = ("server", "log_path", "session_store")


class Config(_Frozen):
    """The whole of config.yaml, validated."""

    server: ServerSettings = ServerSettings()
    router: str = "perf_router"
    primary_model: str
    routers: RoutersSettings = RoutersSettings()
    mutators: tuple[str, ...] = ("thinking_mode", "tool_result_compressor")
    compressor: CompressorSettings = CompressorSettings()
    session_pin_hard_window_s: NonNegativeFloat = 300.0
    session_pin_soft_window_s: NonNegativeFloat = 1800.0
    session_pin_soft_bonus_weight: NonNegativeFloat = 0.5
    session_store: SessionStoreSettings = SessionStoreSettings()
    log_path: str = "logs/routing.log.jsonl"
    limits: LimitsSettings = LimitsSettings()
    models: tuple[ModelConfig, ...] = Field(min_length=1)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: tuple[ModelConfig, ...]) -> tuple[ModelConfig, ...]:
        seen: set[str] = set()
        for model in models:
            if model.name in seen:
                raise ValueError(f"model {model.name!r} is listed twice")
            seen.add(model.name)
        return models

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        names = {m.name for m in self.models}
        if self.primary_model not in names:
            raise ValueError(f"primary_model {self.primary_model!r} is not in models")
        if self.session_pin_soft_window_s < self.session_pin_hard_window_s:
            raise ValueError("session_pin_soft_window_s must not be shorter than session_pin_hard_window_s")
        return self

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)

    def startup_changes(self, new: Config) -> list[str]:
        """The settings read only when the process starts (`STARTUP_SETTINGS`) whose value `new` changes."""
        return [name for name in STARTUP_SETTINGS if getattr(self, name) != getattr(new, name)]

    def with_base_url(self, base_url: str) -> Config:
        """The same pool pointed at one upstream: how demo mode aims every model at the simulator."""
        models = tuple(m.model_copy(update={"base_url": base_url, "api_key_env": None}) for m in self.models)
        return self.model_copy(update={"models": models})


def resolve_path(config_path: Path, value: str) -> Path:
    """A path from the config: absolute as given, relative to the config file's folder otherwise."""
    path = Path(value)
    return path if path.is_absolute() else config_path.resolve().parent / path


def parse_config(data: Any) -> Config:
    if not isinstance(data, dict):
        raise ConfigError("config: the file must hold a mapping at the top level")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "config"
            problems.append(f"{field}: {error['msg']}")
        raise ConfigError("invalid config: " + "; ".join(problems)) from None


def load_config(path: Path | str = DEFAULT_CONFIG_PATH) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
    return parse_config(data)
