"""mlmm hashing metric as an ``evaluate.Metric`` (loaded offline by ``mlmm.eval.load_metric("hashing")``).

compute(query_codes=[Q, B] float or +-1, db_codes=[N, B], query_labels=[Q, C] multi-hot or [Q] ids,
db_labels=[N, C] or [N], variant=None|"map_all"|"map_all_skip_empty"|"map_at_k"|"map_first_k_relevant",
k=1000, precision_ks=(...)). Returns map_all, map_all_skip_empty, map_at_{k}, map_first_{k}_relevant,
precision_at_{K} (or only the requested variant). Codes are binarised with x >= 0 -> +1; ranking ties
are broken by database index. See mlmm.eval.hashing.
"""

import datasets
import evaluate

from mlmm.eval.hashing import hashing_metrics


class Hashing(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=__doc__,
            features=datasets.Features({"query_codes": datasets.Sequence(datasets.Value("float32"))}),
        )

    def _compute(self, query_codes, db_codes=None, query_labels=None, db_labels=None, **options):
        return hashing_metrics(query_codes, db_codes, query_labels, db_labels, **options)
