"""What the solver's answers mean for a design: many solves, or derivatives of one.

Derivatives: :mod:`~chiptherm.analysis.objectives` (temperatures of interest),
:mod:`~.parameters` (the numbers of a stack that can change), :mod:`~.jacobian` (the adjoint of
a nonlinear stack), :mod:`~.sensitivity` (gradients of an objective by one adjoint solve).
Compact models and limits: :mod:`~.compact` (the block-to-block resistance matrix),
:mod:`~.budget` (power each block may dissipate). Many solves: :mod:`~.sweep`,
:mod:`~.tolerance` (Monte Carlo over tolerances), :mod:`~.convergence` (grid convergence),
:mod:`~.compare` (two designs side by side), :mod:`~.review` (a design review of all of them).
"""
