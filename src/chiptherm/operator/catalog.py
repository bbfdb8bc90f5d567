"""What a trained model is, read from its model.json: the case it covers, the inputs it takes
(with their ranges and defaults), its network, its size, how it was trained and how accurate it
was at its last validation. Nothing is loaded into torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chiptherm.errors import InputError
from chiptherm.operator.checkpoint import SHIPPED, read_meta, resolve, shipped_models


@dataclass
class ModelInput:
    """A scalar input: a face's heat-transfer coefficient, W/(m²·K).

    Attributes:
        default: the stack's own value, used when the input is not given (None: none set).
    """

    name: str
    face: str
    low: float
    high: float
    default: float | None


@dataclass
class ModelSummary:
    """One model in a few lines. Lengths in mm, times in s.

    Attributes:
        name: shipped name, or the training run's name for a folder.
        folder: where the model lives.
        shipped: installed with chiptherm.
        size_mm: (x, y) chip extent; thickness_mm: the stack's total thickness.
        layers: layer names, top first.
        power: the stack's power source the model takes as its input map.
        power_face: the face a surface source enters through, or None for a layer source.
        fixed_power: the stack's other power sources, fixed in every prediction.
        homogenized: layers with material regions (named) learned as effective media.
        sensors: (ny, nx) sensor grid of the map.
        network: e.g. "separable-kan trunk, tucker, rank 24".
        parameters: trainable values; file_kib: size of model.safetensors.
        metrics: the last validation against the solver (keys as in ``Metrics.as_dict``).
        resolution: the hot spots it predicts within its tolerance (keys as in
            ``Resolution.as_dict``), when measured.
    """

    name: str
    folder: str
    shipped: bool
    size_mm: tuple[float, float]
    thickness_mm: float
    layers: list[str]
    power: str
    power_face: str | None
    fixed_power: list[str]
    homogenized: list[str]
    sensors: tuple[int, int]
    inputs: list[ModelInput]
    network: str
    parameters: int
    file_kib: float
    steps: int
    train_s: float | None
    device: str | None
    metrics: dict[str, float] | None = field(default=None)
    resolution: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def network_label(model: dict[str, Any]) -> str:
    """A short description of a model config (the ``model`` entry of model.json)."""
    trunk = model.get("trunk", {})
    combine = model.get("combine", "product")
    if combine == "modal":
        return f"modal: {model['rank']} × {model['rank']} cosine modes, {trunk.get('kind')} depth"
    return f"{trunk.get('kind')} trunk, {combine}, rank {model['rank']}"


def describe(model: str | Path) -> ModelSummary:
    """The summary of a model given as a folder or a shipped name."""
    folder = resolve(model)
    meta = read_meta(folder)
    try:
        return summary_of(folder, meta)
    except (KeyError, TypeError, IndexError) as exc:
        raise InputError(
            f"model description is incomplete: {exc} is missing or malformed",
            source=str(folder / "model.json"),
        ) from None


def summary_of(folder: Path, meta: dict[str, Any]) -> ModelSummary:
    """The summary of the model in ``folder`` from its parsed model.json ``meta``."""
    case = meta["case"]
    stack = case["stack"]
    boundaries = stack.get("boundaries", {})
    inputs = [
        ModelInput(
            p["name"], p["face"], p["low"], p["high"], boundaries.get(p["face"], {}).get("htc")
        )
        for p in case.get("parameters", [])
    ]
    faces = [f for f, bc in boundaries.items() if bc.get("power") == case["power"]]
    used = [layer.get("power") for layer in stack["layers"]]
    used += [bc.get("power") for bc in boundaries.values()]
    fixed = sorted({name for name in used if name and name != case["power"]})
    training = meta.get("training", {})
    weights = folder / "model.safetensors"
    shipped = folder.resolve().parent == SHIPPED.resolve()
    return ModelSummary(
        name=folder.name if shipped else meta.get("name", folder.name),
        folder=str(folder),
        shipped=shipped,
        size_mm=(1e3 * stack["size"][0], 1e3 * stack["size"][1]),
        thickness_mm=1e3 * sum(layer["thickness"] for layer in stack["layers"]),
        layers=[layer["name"] for layer in stack["layers"]],
        power=case["power"],
        power_face=faces[0] if faces else None,
        fixed_power=fixed,
        homogenized=[la["name"] for la in stack["layers"] if la.get("regions")]
        if case.get("homogenize")
        else [],
        sensors=tuple(case["sensors"]),
        inputs=inputs,
        network=network_label(meta["model"]),
        parameters=int(meta.get("parameters_count", 0)),
        file_kib=weights.stat().st_size / 1024 if weights.exists() else 0.0,
        steps=int(meta.get("step", 0)),
        train_s=training.get("elapsed_s"),
        device=training.get("device"),
        metrics=meta.get("metrics"),
        resolution=meta.get("resolution"),
    )


def catalog() -> list[ModelSummary]:
    """Summaries of every shipped model."""
    return [describe(name) for name in shipped_models()]
