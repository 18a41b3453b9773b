"""Co-design sweeps: one command from a sweep file to a Pareto report (``macforge sweep``, ``macforge report``).

One job per module:

* :mod:`.spec`: the TOML sweep file, validated (errors name the key and the allowed values);
* :mod:`.points`: axes -> points (bundle + hardware configuration + run-time options) and skipped
  combinations with their reason; points -> tasks (one per measurement step, hardware steps shared);
* :mod:`.steps`: the named measurements (``cycles``, ``sim``, ``synth``, ``pnr``) and their resources;
* :mod:`.worker`: one task in its own process;
* :mod:`.store`: the SQLite database keyed by configuration digest + tool versions (resume, no reruns);
* :mod:`.backends`: local process pool or Ray tasks;
* :mod:`.run`: the sweep itself, with a progress bar; :mod:`.report`: Markdown table, Pareto front, PNGs.
"""

from .run import SweepSummary, run_sweep
from .report import write_report
from .spec import SpecError, load_spec

__all__ = ["SpecError", "SweepSummary", "load_spec", "run_sweep", "write_report"]
