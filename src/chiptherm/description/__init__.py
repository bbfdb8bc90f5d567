"""The description of a stack: what is being simulated, validated, in SI units.

:mod:`~chiptherm.description.stack` holds the :class:`Stack` and how its parts refer to one
another; :mod:`~.parts` the parts (materials, layers, regions, blocks, power sources,
boundaries, coolants); :mod:`~.values` the values they are written in (lengths and powers
with units, conductivities, maps from files); :mod:`~.stack_io` reads and writes
chiptherm's own YAML; :mod:`~.overrides` changes a stack file's numbers by dotted key
(``--set``); :mod:`~.materials` is the built-in material library; :mod:`~.channels` the
hydraulics and heat transfer of a cavity's microchannels; :mod:`~.settings` and
:mod:`~.yaml_numbers` the base of every validated YAML document. Nothing here knows how a
stack is discretized or solved, nor any other tool's file format (see :mod:`chiptherm.formats`).
"""
