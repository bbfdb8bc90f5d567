"""Training an operator from the physics (and optionally solver data).

A training config (YAML) names the case, the power-map distribution, the network and the
schedule; :func:`train` runs it with a progress bar, validates against the reference solver on a
fixed set of maps, writes checkpoints (safetensors + JSON) and resumes from them.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from chiptherm.errors import InputError, Interrupted
from chiptherm.operator.checkpoint import (
    load_operator,
    load_training_state,
    save_operator,
    save_training_state,
)
from chiptherm.operator.deeponet import to_tensor
from chiptherm.operator.evaluate import Metrics, error_metrics, reference_fields
from chiptherm.operator.modal_physics import ModalLoss
from chiptherm.operator.model import Operator, build_case
from chiptherm.operator.physics import Collocation, PhysicsLoss, sample_collocation
from chiptherm.operator.step import TrainingStep
from chiptherm.operator.training_config import TrainConfig, load_train_config
from chiptherm.report.plots import plot_training


def estimate_power_scale(
    cfg: TrainConfig, case_sensors: tuple[int, int], size: tuple[float, float]
) -> float:
    """RMS power density (W/m²) of 256 maps of the distribution: the branch input scale."""
    rng = np.random.default_rng(cfg.training.seed + 7)
    maps = cfg.distribution.sample(256, size, case_sensors, rng)
    rms = float(np.sqrt(np.mean(maps**2)))
    if rms <= 0 or not math.isfinite(rms):
        raise InputError("the power-map distribution gives only zero maps")
    return rms


def device_of(name: str) -> torch.device:
    """The torch device called ``name``, checked to exist here."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}; expected 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r}: no CUDA GPU is available here; use 'cpu'")
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"unsupported device {name!r}; expected 'cpu' or 'cuda'")
    return device


@dataclass
class History:
    """Loss and validation records, one dict per logged step."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, **entry: Any) -> None:
        self.records.append(entry)


class Trainer:
    """Runs one :class:`TrainConfig`: sampling, loss, optimizer, validation, checkpoints."""

    def __init__(self, cfg: TrainConfig, base_dir: Path, out: Path, quiet: bool = False) -> None:
        self.cfg = cfg
        self.out = out
        self.console = Console(quiet=quiet)
        self.warnings = Console(stderr=True)  # what did not go as configured: shown even if quiet
        self.quiet = quiet
        t = cfg.training
        probe = build_case(cfg.case, base_dir, 1.0)
        scale = cfg.case.power_scale or estimate_power_scale(cfg, probe.sensors, probe.size)
        self.case = build_case(cfg.case, base_dir, scale)
        self.device = device_of(t.device)
        self.op = Operator.create(self.case, cfg.model, seed=t.seed)
        self.op.net.to(self.device)
        self.modal = (
            ModalLoss(self.case, self.op.net.trunk.depth, self.device)
            if self.op.net.modal
            else None
        )
        self.loss = (
            None if self.modal else PhysicsLoss(self.case, self.device, energy=t.energy_weight > 0)
        )
        opt = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt(self.trained_parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.runner = TrainingStep(
            self.loss_terms,
            self.total,
            self.optimizer,
            list(self.op.net.parameters()),
            clip=t.clip,
            graph=self.graph_allowed(),
            fallback=True,
            compile=self.compile_allowed(),
        )
        self.rng = np.random.default_rng(t.seed)
        self.step = 0
        self.history = History()
        self.elapsed = 0.0
        self.stopped_early: str | None = None  # why the run ended before training.steps
        self.signal: str | None = None  # set by SIGINT / SIGTERM during the loop
        self.validation: tuple[np.ndarray, list[dict[str, float]], np.ndarray] | None = None
        self.data: tuple[np.ndarray, list[dict[str, float]], np.ndarray] | None = None
        self.metrics: Metrics | None = None

    def graph_allowed(self) -> bool:
        """Whether ``training.cuda_graph`` can be honoured; says why not when it cannot."""
        t = self.cfg.training
        if not t.cuda_graph:
            return False
        reason = (
            "the device is not a CUDA GPU"
            if self.device.type != "cuda"
            else "modal models refit their heads between steps"
            if self.modal is not None
            else "the data term samples its own sub-grid"
            if self.cfg.data.samples and self.cfg.data.weight > 0
            else None
        )
        if reason is not None:
            self.warnings.print(f"training.cuda_graph: not used, {reason}")
        return reason is None

    def compile_allowed(self) -> bool:
        """Whether ``training.compile`` can be honoured; says why not when it cannot."""
        if self.cfg.training.compile and self.modal is not None:
            self.warnings.print("training.compile: not used, modal models train eagerly")
            return False
        return self.cfg.training.compile

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        """What the optimizer updates: everything, except the heads of a modal model (those are
        refitted exactly)."""
        if self.modal is None:
            return list(self.op.net.parameters())
        return list(self.op.net.trunk.depth.body.parameters())

    def refit(self) -> float | None:
        """Exact least-squares heads of a modal model on fresh modes; the fit's relative
        residual (None for other models)."""
        if self.modal is None:
            return None
        t = self.cfg.training
        depth = self.op.net.trunk.depth
        sample = self.modal.sample(depth, 6 * t.batch, t.collocation[2], self.rng)
        weights = {"pde": 1.0, "bottom": t.boundary_weight, "top": t.boundary_weight}
        weights["interface"] = t.boundary_weight
        return self.modal.refit(depth, sample, weights)

    # -- resume --------------------------------------------------------------------------------
    def resume(self) -> bool:
        """Continue from the checkpoint in the output folder, if there is one."""
        if not (self.out / "state.json").exists():
            return False
        op, _ = load_operator(self.out, device=str(self.device))
        self.op.net.load_state_dict(op.net.state_dict())
        doc = load_training_state(self.out, self.optimizer)
        self.step = int(doc["step"])
        self.rng.bit_generator.state = doc["rng"]
        self.history = History(doc.get("history", []))
        self.elapsed = float(doc.get("elapsed_s", 0.0))
        self.console.print(f"resuming {self.out} at step {self.step}")
        return True

    # -- sampling ------------------------------------------------------------------------------
    def sample_maps(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, list[dict[str, float]]]:
        """n densities (n, ny, nx) W/m² and per-sample parameter values."""
        dens = self.cfg.distribution.sample(n, self.case.size, self.case.sensors, rng)
        params: list[dict[str, float]] = [{} for _ in range(n)]
        for p in self.case.parameters:
            values = np.exp(rng.uniform(math.log(p.low), math.log(p.high), n))
            for i in range(n):
                params[i][p.name] = float(values[i])
        return dens, params

    @staticmethod
    def stacked(params: list[dict[str, float]]) -> dict[str, np.ndarray]:
        return {k: np.array([p[k] for p in params]) for k in (params[0] if params else {})}

    def collocation(self) -> Collocation:
        t = self.cfg.training
        return sample_collocation(self.case, t.collocation, self.rng, self.device, t.cluster)

    # -- one step ------------------------------------------------------------------------------
    def batch(self) -> tuple[Any, ...]:
        """The next training batch: sampled modes for a modal model, else (inputs, collocation)
        of ``training.batch`` fresh maps."""
        t = self.cfg.training
        if self.modal is not None:  # modes, not maps (see chiptherm.operator.modal_physics)
            depth = self.op.net.trunk.depth
            return (self.modal.sample(depth, t.batch, t.collocation[2], self.rng),)
        dens, params = self.sample_maps(t.batch, self.rng)
        return self.op.inputs(dens, self.stacked(params)), self.collocation()

    def loss_terms(self, *batch: Any) -> dict[str, torch.Tensor]:
        """Loss terms of one batch (see :meth:`batch`), with the data term when configured."""
        if self.modal is not None:
            terms = self.modal(self.op.net.trunk.depth, batch[0])
        else:
            assert self.loss is not None
            terms = self.loss(self.op.net, *batch)
        if self.data is not None and self.cfg.data.weight > 0:
            terms["data"] = self.data_term()
        return terms

    def data_rise(self, idx: np.ndarray) -> np.ndarray:
        """(b, nz, ny, nx) K: the solver fields of the data samples ``idx`` less their
        background (see :meth:`Operator.background`): the rise the network must learn."""
        assert self.data is not None
        _, params, ref = self.data
        return ref[idx] - self.op.background(len(idx), self.stacked([params[i] for i in idx]))

    def data_term(self) -> torch.Tensor:
        """Mean squared error against stored solver fields on a random sub-grid (nondimensional).

        The sub-grid takes ``data.points`` cells along x and y and half as many along z, so the
        cost per step stays small whatever the case grid.
        """
        assert self.data is not None
        dens, params, ref = self.data
        d = self.cfg.data
        idx = self.rng.choice(len(dens), min(d.batch, len(dens)), replace=False)
        inputs = self.op.inputs(dens[idx], self.stacked([params[i] for i in idx]))
        nz, ny, nx = ref.shape[1:]

        def pick(n: int, k: int) -> np.ndarray:
            return np.sort(self.rng.choice(n, min(n, k), replace=False))

        iz, iy, ix = pick(nz, max(d.points // 2, 1)), pick(ny, d.points), pick(nx, d.points)
        xs, ys, ss = self.case.grid_coordinates(self.case.grid())
        x, y, s = (to_tensor(a, self.device) for a in (xs[ix], ys[iy], ss[iz]))
        b = self.op.net.branch(inputs.q, inputs.p)
        u = self.op.net.grid(b, x, y, s)
        target = self.data_rise(idx)[:, iz][:, :, iy][:, :, :, ix]
        target = to_tensor(target / self.case.temperature_scale, self.device)
        return (u - target).square().mean()

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        t = self.cfg.training
        out = terms["pde"]
        for name, value in terms.items():
            if name == "data":
                out = out + self.cfg.data.weight * value
            elif name == "energy":
                out = out + t.energy_weight * value
            elif name != "pde":
                out = out + t.boundary_weight * value
        return out

    # -- validation ----------------------------------------------------------------------------
    def prepare_references(self, progress: Progress | None) -> None:
        v, d = self.cfg.validation, self.cfg.data
        if v.maps:
            dens, params = self.sample_maps(v.maps, np.random.default_rng(v.seed))
            self.validation = (
                dens,
                params,
                reference_fields(self.case, dens, params, progress=progress),
            )
        if d.samples and d.weight > 0:
            dens, params = self.sample_maps(d.samples, np.random.default_rng(v.seed + 1))
            self.data = (dens, params, reference_fields(self.case, dens, params, progress=progress))

    def validate(self) -> Metrics | None:
        if self.validation is None:
            return None
        dens, params, ref = self.validation
        pred = self.op.predict(dens, self.stacked(params))
        self.op.net.train()
        return error_metrics(pred, ref, self.case.ambient)

    # -- checkpoints ---------------------------------------------------------------------------
    def save(self) -> None:
        extra = {
            "name": self.cfg.name,
            "metrics": None if self.metrics is None else self.metrics.as_dict(),
            "training": {
                "steps": self.step,
                "elapsed_s": round(self.elapsed, 2),
                "device": str(self.device),
                "config": self.cfg.model_dump(mode="json"),
                # how the steps ran: compiled, recorded as a CUDA graph, and what failed
                "compiled": self.runner.compiled,
                "cuda_graph": self.runner.graph,
                "failures": self.runner.failures,
                "planned_steps": self.cfg.training.steps,
                "stopped_early": self.stopped_early,
            },
            "parameters_count": sum(p.numel() for p in self.op.net.parameters()),
        }
        save_operator(self.op, self.out, self.step, extra)
        save_training_state(
            self.out,
            self.step,
            self.optimizer,
            {
                "rng": self.rng.bit_generator.state,
                "history": self.history.records,
                "elapsed_s": self.elapsed,
            },
        )

    # -- the loop ------------------------------------------------------------------------------
    def progress(self) -> Progress:
        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[rate]:>7} it/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            disable=self.quiet,
            transient=False,
        )

    def run(self) -> Metrics | None:
        t = self.cfg.training
        self.op.net.train()
        with Progress(console=self.console, disable=self.quiet, transient=True) as progress:
            self.prepare_references(progress)
        with self.interruptible(), self.progress() as progress:
            task = progress.add_task("train", total=t.steps, completed=self.step, rate="-", info="")
            if self.step == 0:
                self.refit()
            started = time.perf_counter() - self.elapsed
            this_run = time.perf_counter()  # the time limit counts this invocation alone
            first_step = self.step
            if self.runner.pending():  # the first step takes a while then: say why
                info = " and ".join(self.runner.pending()) + " on the first batch..."
                progress.update(task, info=info)
            window = (time.perf_counter(), self.step)
            while self.step < t.steps:
                self.runner.set_learning_rate(t.learning_rate(self.step))
                loss, terms = self.runner(*self.batch())
                if self.step == first_step:  # compiling and recording happen in the first step
                    for failure in self.runner.failures:
                        self.warnings.print(f"{failure}; training without it")
                self.step += 1
                self.elapsed = time.perf_counter() - started
                over_time = (
                    t.max_minutes is not None
                    and time.perf_counter() - this_run > 60 * t.max_minutes
                )
                stopping = over_time or self.signal is not None
                if self.step % t.refit_every == 0 or self.step == t.steps or stopping:
                    self.refit()
                if self.step % 25 == 0 or self.step == t.steps:
                    now = time.perf_counter()
                    rate = (self.step - window[1]) / max(now - window[0], 1e-9)
                    window = (now, self.step)
                    values = {k: float(v.detach()) for k, v in terms.items()}
                    self.history.add(
                        step=self.step,
                        time_s=round(self.elapsed, 3),
                        loss=float(loss.detach()),
                        **values,
                    )
                    info = " ".join(f"{k} {v:.2e}" for k, v in values.items())
                    progress.update(task, completed=self.step, rate=f"{rate:.1f}", info=info)
                if self.step % self.cfg.validation.every == 0 or self.step == t.steps or stopping:
                    self.metrics = self.validate()
                    if self.metrics is not None:
                        m = self.metrics
                        self.history.add(
                            step=self.step, time_s=round(self.elapsed, 3), validation=m.as_dict()
                        )
                        progress.console.print(
                            f"step {self.step}: MAE {m.mae_k:.4f} K, max {m.max_abs_k:.3f} K, "
                            f"peak {m.peak_error_k:.3f} K, rel L2 {m.rel_l2:.2e}, "
                            f"MAPE {m.mape_percent:.4f} %"
                        )
                if over_time and self.step < t.steps:
                    self.stopped_early = (
                        f"time limit of {t.max_minutes:g} min reached after {self.step} of "
                        f"{t.steps} steps"
                    )
                if self.step % t.checkpoint_every == 0 or self.step == t.steps or stopping:
                    self.save()
                if stopping:
                    break
        if self.history.records:
            plot_training(self.history.records, self.out / "history.png", title=self.cfg.name)
        if self.signal is not None:
            raise Interrupted(
                f"training interrupted by {self.signal} at step {self.step} of "
                f"{self.cfg.training.steps}; checkpoint saved in {self.out} (continue with "
                "--resume)",
                signal_name=self.signal,
                saved=str(self.out),
            )
        return self.metrics

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """While training: SIGINT and SIGTERM end the loop after the current step, which is then
        saved (see :meth:`run`); a second SIGINT stops at once. Handlers are installed only in
        the main thread, where Python delivers signals, and not for a signal the process
        ignores."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, frame: Any) -> None:
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.signal = signal.Signals(signum).name

        previous = {
            s: signal.signal(s, stop)
            for s in (signal.SIGINT, signal.SIGTERM)
            if signal.getsignal(s) is not signal.SIG_IGN  # as under nohup: keep ignoring it
        }
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def train(
    config: str | Path,
    out: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    overrides: dict[str, Any] | None = None,
) -> Trainer:
    """Train from a config file; returns the finished trainer (its ``op`` and ``metrics``).

    Args:
        config: training config YAML.
        out: output folder (default: the config's ``output``, relative to the working folder).
        resume: continue from the checkpoint in the output folder (an error where there is
            none); the step budget goes on, a time limit starts anew.
        quiet: no progress output.
        overrides: values replacing ``training.*`` keys (e.g. {"steps": 100}).

    Raises:
        Interrupted: SIGINT or SIGTERM during the steps; the checkpoint is saved first.
    """
    cfg, base = load_train_config(config)
    if overrides:
        cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update=overrides)})
    folder = Path(out) if out is not None else Path(cfg.output)
    if resume and not (folder / "state.json").exists():
        raise InputError(
            f"--resume: {folder} holds no checkpoint (state.json) to continue; train without "
            "--resume to start a new run there"
        )
    if not resume and (folder / "state.json").exists():
        raise InputError(
            f"{folder} already holds a training run; pass --resume to continue it or choose "
            "another --out"
        )
    try:
        trainer = Trainer(cfg, base, folder, quiet=quiet)
    except InputError as exc:  # raised while building the case: name the config it came from
        if exc.source is not None:
            raise
        raise InputError(exc.detail, source=str(config), key=exc.key) from None
    if resume:
        trainer.resume()
    trainer.run()
    return trainer
