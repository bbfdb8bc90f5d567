"""Operator checkpoints: weights in safetensors, everything else in JSON beside them.

A model folder holds

    model.safetensors   network weights (float32)
    model.json          case (stack inline), network settings, scales, metrics, training config
    state.safetensors   optimizer moments and torch RNG state (training checkpoints only)
    state.json          step, optimizer settings, sampler RNG state, history

Each file is written atomically; ``model.json`` and ``state.json`` carry the step of the weights
they belong to, and loading checks that they match. Shipped models live in
``chiptherm/models/<name>/`` and are found by name.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from chiptherm.atomic import atomic_write_bytes, atomic_write_text
from chiptherm.errors import InputError
from chiptherm.operator.config import ModelConfig
from chiptherm.operator.model import CaseConfig, Operator, build_case, portable_stack

FORMAT = "chiptherm-operator"
VERSION = 1
SHIPPED = Path(__file__).resolve().parent.parent / "models"


def shipped_models() -> list[str]:
    """Names of the models installed with chiptherm."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "model.json").exists())


def resolve(model: str | Path) -> Path:
    """The folder of a model given as a path (folder or its model.json) or a shipped name."""
    path = Path(model)
    if path.name == "model.json":
        path = path.parent
    if (path / "model.json").exists():
        return path
    if str(model) in shipped_models():
        return SHIPPED / str(model)
    raise InputError(
        f"no model at {str(model)!r}: expected a folder with model.json or a shipped model "
        f"name ({', '.join(shipped_models()) or 'none installed'})"
    )


MODEL_FILES = ("model.json", "model.safetensors")
"""What a model folder needs for predictions (the training state stays with the run)."""


def ship_model(run: str | Path, name: str, force: bool = False, models: Path | None = None) -> Path:
    """Make the training run in ``run`` a shipped model called ``name`` (found by name from
    then on): its weights and description are checked to load, then copied into
    ``models/name`` as a whole (a fresh folder renamed into place), its description with the
    smallest hot spot it resolves (:func:`record_resolution`); ``models`` defaults to the
    package's own models folder.

    Raises:
        InputError: no loadable model in ``run``, a name that is not a plain folder name, or an
            existing model of that name without ``force``.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise InputError(f"model name {name!r}: expected letters, digits, '_', '-' or '.'")
    source = resolve(run)
    load_operator(source)  # refuse a damaged or half-written run before touching the package
    models = SHIPPED if models is None else models
    target = models / name
    if target.exists() and not force:
        raise InputError(
            f"a model {name!r} is already installed in {target}; pass --force to replace it"
        )
    models.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=models))
    try:
        for file in MODEL_FILES:
            shutil.copy2(source / file, fresh / file)
        record_resolution(fresh)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=models))
            target.rename(old / name)
            fresh.rename(target)
            shutil.rmtree(old)
        else:
            fresh.rename(target)
    finally:
        if fresh.exists():
            shutil.rmtree(fresh)
    return target


def record_resolution(folder: Path) -> dict[str, Any]:
    """Measure what the model in ``folder`` resolves
    (:func:`~chiptherm.operator.resolution.measure_resolution`, at the default tolerance, on
    hot spots of its training maps' strongest density) and record it in its model.json as
    ``resolution``; returns the record."""
    from chiptherm.operator.inference import training_distribution
    from chiptherm.operator.resolution import measure_resolution

    op, meta = load_operator(folder)
    record = measure_resolution(op, training_distribution(meta)).as_dict()
    meta["resolution"] = record
    atomic_write_text(folder / "model.json", json.dumps(meta, indent=1))
    return record


def save_operator(op: Operator, folder: str | Path, step: int, extra: dict[str, Any]) -> Path:
    """Write weights and description of ``op`` into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in op.net.state_dict().items()}
    atomic_write_bytes(
        folder / "model.safetensors",
        save_tensors(state, metadata={"format": FORMAT, "step": str(step)}),
    )
    case = op.case
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "case": {
            "stack": portable_stack(case),
            "power": case.power,
            "sensors": list(case.sensors),
            "parameters": [vars(p) for p in case.parameters],
            "power_scale": case.power_scale,
            "homogenize": case.homogenize,
        },
        "model": op.model_config.model_dump(mode="json"),
        **extra,
    }
    atomic_write_text(folder / "model.json", json.dumps(meta, indent=1))
    return folder


def read_meta(folder: Path) -> dict[str, Any]:
    """The parsed model.json of a model folder, checked for format and version."""
    path = folder / "model.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read model description: {exc}", source=str(path)) from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise InputError(
            f"not a chiptherm operator (format {meta.get('format')!r} version "
            f"{meta.get('version')!r}, expected {FORMAT!r} {VERSION})",
            source=str(path),
        )
    return meta


def load_operator(model: str | Path, device: str = "cpu") -> tuple[Operator, dict[str, Any]]:
    """Load a model by path or shipped name; returns the operator and its model.json."""
    folder = resolve(model)
    meta = read_meta(folder)
    c = meta["case"]
    try:
        case_cfg = CaseConfig(
            stack=c["stack"],
            power=c["power"],
            sensors=tuple(c["sensors"]),
            parameters=c["parameters"],
            homogenize=c.get("homogenize", False),
        )
        cfg = ModelConfig.model_validate(meta["model"])
    except (KeyError, ValueError) as exc:
        raise InputError(
            f"invalid model description: {exc}", source=str(folder / "model.json")
        ) from None
    case = build_case(case_cfg, folder, float(c["power_scale"]))
    op = Operator.create(case, cfg)
    path = folder / "model.safetensors"
    try:
        tensors = load_tensors(path.read_bytes())
    except (OSError, SafetensorError) as exc:
        raise InputError(f"cannot read weights: {exc}", source=str(path)) from None
    expected = op.net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        raise InputError(
            "weights do not match the network in model.json "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})",
            source=str(path),
        )
    op.net.load_state_dict(tensors)
    op.net.to(device)
    return op, meta


# -- training state ----------------------------------------------------------------------------
def save_training_state(
    folder: Path, step: int, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Optimizer moments, torch RNG and ``state`` (JSON-able) for resuming at ``step``."""
    opt = optimizer.state_dict()
    tensors = {"torch_rng": torch.get_rng_state()}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in opt["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"opt.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    atomic_write_bytes(folder / "state.safetensors", save_tensors(tensors))
    # plain settings only: a learning rate held as a tensor (for a recorded CUDA-graph step)
    # is stored as its value, and whether the update may be recorded is the resumer's choice
    groups = [
        {k: float(v) if torch.is_tensor(v) else v for k, v in g.items() if k != "capturable"}
        for g in opt["param_groups"]
    ]
    doc = {"step": step, "param_groups": groups, "scalars": scalars, **state}
    atomic_write_text(folder / "state.json", json.dumps(doc))


def load_training_state(folder: Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore optimizer and torch RNG from ``folder``; returns the JSON state."""
    try:
        doc = json.loads((folder / "state.json").read_text())
        tensors = load_tensors((folder / "state.safetensors").read_bytes())
    except (OSError, json.JSONDecodeError, SafetensorError) as exc:
        raise InputError(f"cannot resume from {folder}: {exc}") from None
    meta = read_meta(folder)
    if meta.get("step") != doc["step"]:
        raise InputError(
            f"cannot resume from {folder}: weights are from step {meta.get('step')} but the "
            f"training state from step {doc['step']}"
        )
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, entry in doc["scalars"].items():
        state.setdefault(int(index), {}).update(entry)
    optimizer.load_state_dict({"state": state, "param_groups": doc["param_groups"]})
    torch.set_rng_state(tensors["torch_rng"])
    return doc
