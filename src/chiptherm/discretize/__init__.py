"""From a stack to equations: the tensor grid and the finite-volume system A·T = b.

:mod:`~chiptherm.discretize.grid` places cell faces on layer and block edges;
:mod:`~.system` paints materials on the grid and assembles the conductances, the matrix, the
right-hand side, the residual and the energy balance; :mod:`~.homogenize` turns a layer with
material regions into one effective medium. Nothing here solves: that is
:mod:`chiptherm.solvers`.
"""
