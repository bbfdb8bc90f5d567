"""The training config (YAML): the case, the power-map distribution, the network, the data
term, validation and the schedule (a step budget; a time limit only as an option), read and
validated by :func:`load_train_config` with errors that name the file, line and key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveInt

from chiptherm.description.settings import Settings, load_settings
from chiptherm.operator.config import ModelConfig
from chiptherm.operator.model import CaseConfig
from chiptherm.operator.sampling import Distribution, MapFiles, Mixture


class DataConfig(Settings):
    """Optional supervised term: ``samples`` solver solutions drawn once (from the training
    distribution), compared on a random sub-grid of ``points`` cells per lateral axis in batches of
    ``batch`` maps, weighted by ``weight``."""

    samples: int = Field(default=0, ge=0)
    """Solver solutions drawn once for the data term; 0: physics only."""
    weight: float = Field(default=0.0, ge=0)
    """Weight of the data term in the loss."""
    batch: int = Field(default=8, ge=1)
    points: int = Field(default=32, ge=1)
    """Cells per lateral axis of the random sub-grid compared."""


class ValidationConfig(Settings):
    """Check against the reference solver every ``every`` steps on ``maps`` fixed maps."""

    every: int = Field(default=500, ge=1)
    """Steps between validations against the solver."""
    maps: int = Field(default=8, ge=0)
    """Fixed maps of the training distribution validated on."""
    seed: int = 12345
    """Seed of the validation maps."""


class Schedule(Settings):
    """Optimizer and learning-rate schedule: linear warm-up, then cosine decay to ``lr_final``.

    For ``combine: modal`` models ``batch`` is the number of sampled modes per step and the
    last ``collocation`` entry the depths per mode; the optimizer trains the coefficient
    network's body, and every ``refit_every`` steps the heads are set to their exact
    least-squares optimum on 6·batch modes.
    """

    steps: int = Field(default=2000, ge=1)
    """The step budget: training stops here (not at a time)."""
    batch: int = Field(default=32, ge=1)
    """Power maps per step (modal models: sampled modes per step)."""
    collocation: tuple[PositiveInt, PositiveInt, PositiveInt] = (21, 21, 11)
    """Collocation points per step along x, y and z."""
    cluster: bool = True
    """Cluster collocation points towards layer interfaces and faces."""
    optimizer: Literal["adam", "adamw"] = "adam"
    """The torch optimizer."""
    lr: float = Field(default=2e-3, gt=0)
    """Peak learning rate after the warm-up."""
    lr_final: float = Field(default=2e-5, ge=0)
    """Learning rate at the end of the cosine decay."""
    warmup: int = Field(default=100, ge=0)
    """Steps of linear warm-up."""
    weight_decay: float = Field(default=0.0, ge=0)
    """AdamW weight decay."""
    boundary_weight: float = Field(default=1.0, ge=0)
    """Weight of the boundary-condition residuals."""
    energy_weight: float = Field(default=0.0, ge=0)
    """Weight of the global energy-balance term."""
    clip: float | None = Field(default=1.0, gt=0)
    """Gradient-norm clipping; none: no clipping."""
    max_minutes: float | None = Field(default=None, gt=0)
    """A time limit for one invocation (each --resume starts its own); reached, the run stops
    early, saves and says so. Shipped configs set none: they train to a step budget."""
    checkpoint_every: int = Field(default=500, ge=1)
    """Steps between checkpoints (Ctrl-C also saves one)."""
    refit_every: int = Field(default=100, ge=1)
    """Modal models: steps between least-squares refits of the heads."""
    seed: int = 0
    """Seed of the initial weights and the sampled maps."""
    device: str = "cpu"
    """'cpu', 'cuda' or 'cuda:N'."""
    cuda_graph: bool = False
    """Record the step once as a CUDA graph and replay it (physics loss, CUDA only)."""
    compile: bool = False
    """Compile the physics loss with torch.compile (compiling takes a while once)."""

    def learning_rate(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(self.steps - self.warmup, 1)
        return self.lr_final + 0.5 * (self.lr - self.lr_final) * (
            1 + math.cos(math.pi * min(progress, 1.0))
        )


class TrainConfig(Settings):
    """A complete training run."""

    name: str = "operator"
    """Name of the model."""
    case: CaseConfig
    """The stack and the inputs that vary."""
    distribution: Distribution
    """The power maps trained on (`kind`: grf, blocks, files or mixture)."""
    model: ModelConfig = ModelConfig()
    """The network."""
    training: Schedule = Schedule()
    """Optimizer, schedule and budget."""
    data: DataConfig = DataConfig()
    """Optional supervised term."""
    validation: ValidationConfig = ValidationConfig()
    """Checks against the solver during training."""
    output: str = "runs/operator"
    """The run folder (relative to the working directory); --out overrides it."""


def load_train_config(path: str | Path) -> tuple[TrainConfig, Path]:
    """Read and validate a training config; returns it and the folder it lives in."""
    path = Path(path)
    cfg = load_settings(path, TrainConfig, "a training config")
    return with_base_dir(cfg, path.parent), path.parent


def with_base_dir(cfg: TrainConfig, base: Path) -> TrainConfig:
    """Make map-file patterns of the distribution relative to the config's folder."""
    dist = cfg.distribution

    def fix(d: Any) -> Any:
        if isinstance(d, MapFiles):
            return d.model_copy(update={"base_dir": str(base / d.base_dir)})
        if isinstance(d, Mixture):
            return d.model_copy(update={"parts": [fix(p) for p in d.parts]})
        return d

    return cfg.model_copy(update={"distribution": fix(dist)})
