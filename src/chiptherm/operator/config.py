"""The settings of an operator's networks, as a training config's ``model:`` section holds them:
the trunk (:class:`TrunkConfig`), the branch (:class:`BranchConfig`) and how they combine
(:class:`ModelConfig`). The networks they describe are in :mod:`chiptherm.operator.deeponet`
and :mod:`chiptherm.operator.modal`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from chiptherm.description.settings import Settings


class TrunkConfig(Settings):
    """Trunk network settings (per axis for separable trunks).

    ``lateral: cosine`` (separable trunks, adiabatic sides): the x and y trunk functions are the
    cosine modes cos(iπx̂), i = 0..rank-1, themselves, the eigenfunctions of a laterally uniform
    stack with adiabatic sides; only the depth axis is a network. With ``combine: tucker`` the
    model is then a modal expansion whose depth profiles are learned from the physics.
    """

    kind: Literal["separable-kan", "separable-mlp", "kan", "mlp"] = "separable-kan"
    """The trunk form: separable (one network per axis) or point-wise, KAN or MLP."""
    width: int = Field(default=32, ge=1)
    """Hidden width."""
    depth: int = Field(default=2, ge=0)
    """Hidden layers."""
    degree: int = Field(default=4, ge=1, le=32)
    """KAN: degree of the Chebyshev polynomials."""
    layer_norm: bool = True
    """Layer normalization between layers."""
    activation: str = "tanh"
    """Activation of an MLP trunk's hidden layers."""
    fourier: int = Field(default=0, ge=0)
    """Random Fourier features of the coordinate (0: none)."""
    fourier_scale: float = Field(default=1.0, gt=0)
    """Scale of the Fourier features' frequencies."""
    features: int = Field(default=1, ge=1, le=64)
    """Output features per trunk function."""
    lateral: Literal["network", "cosine"] = "network"
    """Separable trunks: lateral functions from a network, or the exact cosine modes."""

    @property
    def separable(self) -> bool:
        return self.kind.startswith("separable")

    @model_validator(mode="after")
    def _cosine_needs_separable(self) -> TrunkConfig:
        if self.lateral == "cosine" and not self.separable:
            raise ValueError("lateral: cosine needs a separable trunk")
        return self


class BranchConfig(Settings):
    """Branch network settings.

    Attributes:
        project: if set, first reduce the map to ``project`` x ``project`` features by learned
            per-axis projections (initialized to cosine modes); keeps large sensor grids cheap.
        width, depth: hidden layers of the map network; width 0 makes it linear (no bias).
        param_width: hidden width of the network on the scalar parameters.
    """

    project: int | None = Field(default=None, ge=1)
    width: int = Field(default=0, ge=0)
    depth: int = Field(default=0, ge=0)
    activation: str = "tanh"
    """Activation of the hidden layers (tanh, sin, silu, gelu)."""
    param_width: int = Field(default=32, ge=1)


class ModelConfig(Settings):
    """A DeepONet: rank of the inner product, how separable trunks combine, branch and trunk.

    ``combine``: 'product' sums rank-r products X_r·Y_r·Z_r (the classic separable DeepONet);
    'tucker' sums over all index triples, u = Σ_ijk C_ijk(q)·X_i·Y_j·Z_k, with ``rank`` functions
    per axis and C_ijk = F_ji(q)·W_jik, F = P_yᵀ·q·P_x the map's projection on learned per-axis
    bases. For a laterally uniform stack this is the structure of the exact solution (lateral
    modes, each with its own depth profile), with rank² lateral modes for the cost of rank.
    'modal' (adiabatic sides): the exact cosine modes, rank per axis, each with the depth profile
    of its wavenumber expanded in a physics basis whose coefficients come from the trunk network
    (see :mod:`chiptherm.operator.modal`); ``chebyshev`` fixed features T_0..T_{n-1} of the
    log-wavenumber go to its linear heads beside the trunk network's.
    """

    rank: int = Field(default=64, ge=1)
    """Terms of the inner product (functions per axis for tucker and modal)."""
    combine: Literal["product", "tucker", "modal"] = "product"
    """How separable trunks combine (see above)."""
    branch: BranchConfig = BranchConfig()
    trunk: TrunkConfig = TrunkConfig()
    chebyshev: int = Field(default=24, ge=0, le=64)
    """Modal form: fixed Chebyshev features of the log-wavenumber."""

    @model_validator(mode="after")
    def _tucker_needs_separable(self) -> ModelConfig:
        if self.combine in ("tucker", "modal") and not self.trunk.separable:
            raise ValueError(f"combine: {self.combine} needs a separable trunk")
        return self
