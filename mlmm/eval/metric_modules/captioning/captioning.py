"""mlmm captioning metrics as an ``evaluate.Metric`` (``mlmm.eval.load_metric("captioning")``).

compute(predictions=[N] str, references=[N][>=1] str, lang="en", tokenizer="auto", meteor="auto").
Returns bleu_1 .. bleu_4, meteor (English, when Java and pycocoevalcap's jar are present), rouge_l,
cider (CIDEr-D), and ``tokenizer``: the name (str) of the tokeniser used. English defaults to
``ptb-java`` (pycocoevalcap's own Stanford PTBTokenizer, so scores equal pycocoevalcap) when Java and the
jar are present, else ``ptb-python``; ``tokenizer="ptb-python"`` / ``"ptb-java"`` chooses explicitly. zh is segmented with jieba, ja with MeCab (fugashi).
See mlmm.eval.captioning.
"""

import datasets
import evaluate

from mlmm.eval.captioning import caption_metrics


class Captioning(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=__doc__,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, **options):
        return caption_metrics(predictions, references, **options)
