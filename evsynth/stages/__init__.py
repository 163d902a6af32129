"""The stages of the pipeline as functions of a review folder's files.

The Snakemake rules call them through the thin ``scripts/*.py`` (one job per table, dataset,
report or release); ``evsynth run`` calls them in order without Snakemake (an installed
evsynth, with no workflow folder, renders a report the same way). Each stage reads only what
the previous ones wrote: raw → processed → analyses → figures → report → versions.

Living reviews change a trial at a time, so inside a dataset's job the unit of work is the
analysis: with a cache folder (``results/cache``, :mod:`evsynth.cache`) the analyse stage
recomputes only the analyses whose rows, settings or library changed and the figures stage
redraws only the figure sets whose analysis or setting changed; the outputs are the same
bytes as a clean run's.

Outputs are all-or-nothing per stage:

* every file is replaced atomically (:mod:`evsynth.io.safe_io`);
* the figures stage draws every figure that changed before it touches ``results/figures``; a
  drawing that fails (or a full disk) leaves the figures there as they were. It then publishes
  them by hard links and renames and writes its manifest last, recording for every file its
  SHA-256 and the data version (the SHA-256 of its analysis's results) it was drawn from;
* the report stage refuses figures whose manifest does not match the results it reads or
  whose bytes are not those the manifest records (:func:`check_figures`), and records what
  it embeds (``results/report.json``).
"""

from evsynth.stages.analyse import Work, analyse_stage, index_path_of, write_analyses
from evsynth.stages.figures import (
    FiguresError,
    figures_stage,
    published_path,
    read_index,
    write_figures,
)
from evsynth.stages.gallery import gallery_stage
from evsynth.stages.release import release_stage
from evsynth.stages.report import check_figures, report_record, report_stage
from evsynth.stages.run import datasets, run_all
from evsynth.stages.validate import validate_stage

__all__ = [
    "FiguresError",
    "Work",
    "analyse_stage",
    "check_figures",
    "datasets",
    "figures_stage",
    "gallery_stage",
    "index_path_of",
    "published_path",
    "read_index",
    "release_stage",
    "report_record",
    "report_stage",
    "run_all",
    "validate_stage",
    "write_analyses",
    "write_figures",
]
