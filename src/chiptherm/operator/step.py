"""One optimizer step of the physics loss, run eagerly or replayed from a CUDA graph.

A separable trunk's training step is a few thousand small kernels (the forward-mode derivatives
of three small networks, the contractions, their backward pass and the optimizer update). On a
GPU the time to launch them one by one from Python dominates the arithmetic. A CUDA graph
records the whole step once — loss, backward, gradient clipping and the Adam update — and
replays it with one launch per step; only the new batch is copied into the graph's fixed input
buffers before each replay. This is PyTorch's "whole-network capture" pattern:

1. the first batch runs a few eager warm-up steps on a side stream (lazy initialisation of
   cuBLAS, autograd and the optimizer state must happen outside the capture);
2. the parameters and optimizer state are then restored to what they were, so the warm-up
   leaves no trace in the training run;
3. the step is captured, and every call copies its batch in and replays it.

The optimizer runs with ``capturable=True`` and a tensor learning rate, which
:meth:`TrainingStep.set_learning_rate` fills in place. On the CPU, or with ``graph=False``, the
same object runs the plain eager step.

Independently, the loss (forward and backward) can be compiled with ``torch.compile``, which
fuses the many small element-wise kernels of the derivative streams into a few (on a CPU and on
a GPU); combined with a graph the fused kernels are replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from chiptherm.operator.physics import Collocation, Inputs

LossTerms = dict[str, torch.Tensor]


def _zero_tangents_as_zeros() -> None:
    """Let compiled code hold forward-mode zero tangents as ordinary zero tensors.

    Forward-mode AD gives parameters (which have no tangent) storage-free "efficient zero"
    tangents. The compiler keeps them as such but may later reuse their buffer as an output,
    which fails with "ZeroTensors are immutable" (pytorch/pytorch#177261). Decomposing them
    into plain zeros is exact, and lets the compiler fold them away.
    """
    from torch._inductor.decomposition import decompositions

    op = torch.ops.aten._efficientzerotensor.default
    if op not in decompositions:

        def zeros(
            size: list[int],
            *,
            dtype: torch.dtype | None = None,
            layout: torch.layout | None = None,
            device: torch.device | None = None,
            pin_memory: bool | None = None,
        ) -> torch.Tensor:
            return torch.zeros(size, dtype=dtype, device=device)

        decompositions[op] = zeros


def compiled(fn: Callable[..., LossTerms]) -> Callable[..., LossTerms]:
    """``torch.compile(fn)`` for a loss with forward-mode derivatives (see
    :func:`_zero_tangents_as_zeros`). Compiles at the first call, again for new shapes."""
    _zero_tangents_as_zeros()
    return torch.compile(fn)


@dataclass
class StaticBatch:
    """Fixed device buffers for one batch: the graph reads its inputs from here."""

    inputs: Inputs
    col: Collocation

    @classmethod
    def like(cls, inputs: Inputs, col: Collocation) -> StaticBatch:
        """Buffers with the shapes of ``inputs`` and ``col``, holding copies of them."""
        p = None if inputs.p is None else inputs.p.clone()
        biot = {face: v.clone() for face, v in inputs.biot.items()}
        static_inputs = Inputs(inputs.q.clone(), p, biot)
        static_col = Collocation(col.x.clone(), col.y.clone(), col.s.clone(), col.layer.clone())
        return cls(static_inputs, static_col)

    def load(self, inputs: Inputs, col: Collocation) -> None:
        """Copy a new batch into the buffers; shapes and the layer of each depth point must
        match the batch the graph was recorded with."""
        pairs = [(self.inputs.q, inputs.q), (self.col.x, col.x), (self.col.y, col.y)]
        pairs.append((self.col.s, col.s))
        if (self.inputs.p is None) != (inputs.p is None) or set(self.inputs.biot) != set(
            inputs.biot
        ):
            raise ValueError("a recorded training step needs the same inputs every step")
        if self.inputs.p is not None:
            assert inputs.p is not None
            pairs.append((self.inputs.p, inputs.p))
        pairs += [(self.inputs.biot[f], inputs.biot[f]) for f in self.inputs.biot]
        for buffer, value in pairs:
            if buffer.shape != value.shape:
                raise ValueError(
                    f"a recorded training step needs fixed shapes: {tuple(buffer.shape)} was "
                    f"recorded, {tuple(value.shape)} given"
                )
        if not torch.equal(self.col.layer, col.layer):
            raise ValueError("a recorded training step needs the same depth points per layer")
        for buffer, value in pairs:
            buffer.copy_(value, non_blocking=True)


class TrainingStep:
    """Loss, backward, optional gradient clipping and optimizer update, as one call.

    Args:
        terms: batch -> loss terms. To be recorded, the batch must be (inputs, collocation)
            and ``terms`` must run the same kernels for every batch of the same shapes (true of
            :class:`~chiptherm.operator.physics.PhysicsLoss`).
        total: loss terms -> the scalar that is minimized.
        optimizer: updates ``parameters``.
        parameters: what is trained (and clipped).
        clip: maximum gradient norm, or None.
        graph: record the step as a CUDA graph (used only when the parameters live on a CUDA
            device).
        warmup: eager steps before the recording.
        fallback: when compiling or recording fails, train without it (the reasons are kept
            in ``failures``) instead of raising.
        compile: compile ``terms`` (forward and backward) with ``torch.compile``.
    """

    def __init__(
        self,
        terms: Callable[..., LossTerms],
        total: Callable[[LossTerms], torch.Tensor],
        optimizer: torch.optim.Optimizer,
        parameters: list[torch.nn.Parameter],
        clip: float | None = None,
        graph: bool = False,
        warmup: int = 3,
        fallback: bool = False,
        compile: bool = False,
    ) -> None:
        self.plain_terms = terms
        self.terms = compiled(terms) if compile else terms
        self._unproven = compile  # the compiled loss has not run yet
        self.total = total
        self.optimizer = optimizer
        self.parameters = parameters
        self.clip = clip
        self.device = parameters[0].device
        self.graph = graph and self.device.type == "cuda"
        self.warmup = warmup
        self.fallback = fallback
        self.failures: list[str] = []
        self._recorded: tuple[torch.cuda.CUDAGraph, StaticBatch, torch.Tensor, LossTerms] | None
        self._recorded = None

    @property
    def compiled(self) -> bool:
        """Whether the steps run the compiled loss (False after a fallback)."""
        return self.terms is not self.plain_terms

    def pending(self) -> list[str]:
        """What the next call does once before its step (each takes a while)."""
        work = ["compiling the loss"] if self._unproven else []
        if self.graph and self._recorded is None:
            work.append("recording the step as a CUDA graph")
        return work

    # -- learning rate -------------------------------------------------------------------------
    def set_learning_rate(self, value: float) -> None:
        """Set every parameter group's learning rate (in place where the graph reads it)."""
        for group in self.optimizer.param_groups:
            if torch.is_tensor(group["lr"]):
                group["lr"].fill_(value)
            else:
                group["lr"] = value

    def _make_capturable(self) -> None:
        """Adam and AdamW may be recorded only with capturable=True: step counts on the device
        and a tensor learning rate. Done at the recording, after any resume has loaded the
        optimizer state."""
        for group in self.optimizer.param_groups:
            group["capturable"] = True
            group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
            for p in group["params"]:
                state = self.optimizer.state.get(p, {})
                if "step" in state:
                    state["step"] = state["step"].to(self.device, torch.float32)

    # -- the step ------------------------------------------------------------------------------
    def _eager(self, *batch: Any) -> tuple[torch.Tensor, LossTerms]:
        terms = self.terms(*batch)
        loss = self.total(terms)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
        self.optimizer.step()
        return loss, terms

    def __call__(self, *batch: Any) -> tuple[torch.Tensor, LossTerms]:
        """One optimizer step on this batch; returns the loss and its terms (before the update).

        With a graph the returned tensors are the graph's output buffers: read them before the
        next call.
        """
        if self._unproven:
            self._prove_compiled(*batch)
        if not self.graph:
            return self._eager(*batch)
        inputs, col = batch
        if self._recorded is None:
            try:
                self._recorded = self._record(inputs, col)
            except RuntimeError as exc:
                if not self.fallback:
                    raise
                self.graph = False
                self.failures.append(f"CUDA graph recording failed: {type(exc).__name__}: {exc}")
                return self._eager(*batch)
        graph, static, loss, terms = self._recorded
        static.load(inputs, col)
        graph.replay()
        return loss, terms

    def _prove_compiled(self, *batch: Any) -> None:
        """Compile by running the loss and its backward pass once (no update); with
        ``fallback``, a failure switches back to the plain loss."""
        self._unproven = False
        try:
            self.total(self.terms(*batch)).backward()
        except Exception as exc:
            if not self.fallback:
                raise
            self.terms = self.plain_terms
            self.failures.append(f"torch.compile failed: {type(exc).__name__}: {exc}")
        finally:
            self.optimizer.zero_grad(set_to_none=True)

    def _record(
        self, inputs: Inputs, col: Collocation
    ) -> tuple[torch.cuda.CUDAGraph, StaticBatch, torch.Tensor, LossTerms]:
        self._make_capturable()
        static = StaticBatch.like(inputs, col)
        saved = self._snapshot()
        try:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(self.warmup):
                    self._eager(static.inputs, static.col)
            torch.cuda.current_stream(self.device).wait_stream(side)
            self._restore(saved)
            graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(graph):
                loss, terms = self._eager(static.inputs, static.col)
        except RuntimeError:
            self._restore(saved)  # a failure must not leave warm-up updates behind
            raise
        return graph, static, loss, terms

    def _snapshot(self) -> tuple[list[torch.Tensor], dict[int, dict[str, torch.Tensor]]]:
        """Copies of the parameters and of the optimizer state (empty before the first step)."""
        params = [p.detach().clone() for p in self.parameters]
        state = {
            i: {k: v.clone() for k, v in self.optimizer.state[p].items() if torch.is_tensor(v)}
            for i, p in enumerate(self.parameters)
            if p in self.optimizer.state
        }
        return params, state

    def _restore(
        self, saved: tuple[list[torch.Tensor], dict[int, dict[str, torch.Tensor]]]
    ) -> None:
        """Undo the warm-up in place (the graph records these very tensors): parameters back,
        optimizer state back, or zeroed where there was none (Adam starts from zeros)."""
        params, state = saved
        with torch.no_grad():
            for i, (p, value) in enumerate(zip(self.parameters, params, strict=True)):
                p.copy_(value)
                for name, current in self.optimizer.state.get(p, {}).items():
                    if torch.is_tensor(current):
                        old = state.get(i, {}).get(name)
                        current.copy_(old) if old is not None else current.zero_()
