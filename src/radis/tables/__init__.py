"""Tables 1-5 and the figures of the report, from the per-cell result files alone.

One module per concern: the table model and its renderings (:mod:`.model`), Tables 1-2 (translation,
:mod:`.translation`), Table 3 and the drift columns (:mod:`.general`), Table 5 (:mod:`.table5`),
Figure 1 and the drift figure (:mod:`.figures`), and the steps the rules run (:mod:`.steps`). What
other modules and the tests use is importable from the package.
"""

from radis.tables.figures import drift_figure, figure1
from radis.tables.general import (DRIFT_COLUMNS, DRIFT_DECIMALS, drift_resamples, general_mark, general_score,
                                  general_table, relative_performance)
from radis.tables.model import (METRIC_NAMES, NOT_SHOWN, PRIOR_GROUP, Table, method_name, render_csv, render_latex,
                                render_markdown, write_table)
from radis.tables.steps import DRIFT_KEY, GENERAL_KEY, TRANSLATION_KEY, seeded
from radis.tables.table5 import table5
from radis.tables.translation import (choose_metric, load_translation_results, translation_resamples,
                                      translation_table)

__all__ = ["DRIFT_COLUMNS", "DRIFT_DECIMALS", "DRIFT_KEY", "GENERAL_KEY", "METRIC_NAMES", "NOT_SHOWN", "PRIOR_GROUP",
           "TRANSLATION_KEY", "Table", "choose_metric", "drift_figure", "drift_resamples", "figure1", "general_mark",
           "general_score", "general_table", "load_translation_results", "method_name", "relative_performance",
           "render_csv", "render_latex", "render_markdown", "seeded", "table5", "translation_resamples",
           "translation_table", "write_table"]
