"""The main job, ``chiptherm demo``: a tour of chiptherm on its shipped models, with a report
folder.

- :mod:`~chiptherm.demo.run`: the tour, section by section (:func:`run_demo`);
- :mod:`~chiptherm.demo.steps`: what each section computes and draws;
- :mod:`~chiptherm.demo.stacks`: the stacks the demo writes itself (a die with nonlinear
  physics, an interlayer-cooled pair of dies);
- :mod:`~chiptherm.demo.report`: the HTML page of the run.
"""

from chiptherm.demo.run import SECTIONS, DemoReport, run_demo

__all__ = ["SECTIONS", "DemoReport", "run_demo"]
