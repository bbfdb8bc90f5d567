"""Physics-informed neural operators: learn a stack's temperature field from its power map.

A *case* (:mod:`~chiptherm.operator.case`) fixes one stack, its grid and the inputs that vary
(a power map on a sensor grid, heat-transfer coefficients); :mod:`~chiptherm.operator.sampling`
draws power maps for it. The networks are DeepONet forms (:mod:`~chiptherm.operator.deeponet`,
branch · trunk with MLP, KAN and separable trunks, built from :mod:`~chiptherm.operator.nets`)
and a modal form (:mod:`~chiptherm.operator.modal`, coefficients of the averaged stack's
eigenmodes). They train from the finite-volume physics alone
(:mod:`~chiptherm.operator.physics`, :mod:`~chiptherm.operator.modal_physics`,
:mod:`~chiptherm.operator.train`), are saved and loaded with their case
(:mod:`~chiptherm.operator.checkpoint`, :mod:`~chiptherm.operator.catalog` for the shipped
ones), and predict one map or millions (:mod:`~chiptherm.operator.inference`,
:mod:`~chiptherm.operator.batch`), with a plausibility check on their inputs
(:mod:`~chiptherm.operator.plausibility`). Nothing here is imported by ``import chiptherm``:
torch loads only when an operator is used.
"""
