"""Design search: floorplan optimization with the operator for speed and the solver for the
final word (:mod:`~chiptherm.design.optimize`)."""
