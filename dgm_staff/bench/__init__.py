"""The course's benchmark (staff only): ``python -m dgm_staff.bench run|report``.

* :mod:`.common`: what the runner and the report share (phases, notebooks, tolerances, the run
  directory's files, :func:`solution_namespace`);
* :mod:`.runner`: the command line and the notebook phases (``smoke``, ``full``);
* :mod:`.throughput`, :mod:`.profile`, :mod:`.autograde`: the other phases;
* :mod:`.report`: ``benchmarks/REPORT.md``, its figures and the README table, from a run;
* :mod:`.gan_step`, :mod:`.grading`: stand-alone measurements quoted in the README
  (``python -m dgm_staff.bench.gan_step``, ``python -m dgm_staff.bench.grading``).
"""

from dgm_staff.bench.common import (ANCHOR, NOTEBOOKS, PHASES, TOLERANCES, default_out,
                                    load_phase, machine, notebook_quality, solution_namespace,
                                    write_phase)

__all__ = ["ANCHOR", "NOTEBOOKS", "PHASES", "TOLERANCES", "default_out", "load_phase", "machine",
           "notebook_quality", "solution_namespace", "write_phase"]
