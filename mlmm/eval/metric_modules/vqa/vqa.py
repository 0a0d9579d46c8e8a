"""mlmm VQA accuracy as an ``evaluate.Metric`` (loaded offline by ``mlmm.eval.load_metric("vqa")``).

compute(predictions=[N] str, references=[N][10] str, answer_types=None, question_types=None,
languages=None, num_answers=10, exact_match=False). Returns accuracy (official VQA v2 accuracy, x100,
2 decimals, exactly as GT-Vision-Lab vqaEval.py) plus answer_type/*, question_type/*, lang/* groups;
exact_match=True also adds the xGQA/MaXM exact-match accuracy. See mlmm.eval.vqa.
"""

import datasets
import evaluate

from mlmm.eval.vqa import exact_match_accuracy, vqa_accuracy


class VQA(evaluate.Metric):
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

    def _compute(self, predictions, references, exact_match=False, **options):
        out = vqa_accuracy(predictions, references, **options)
        if exact_match:
            out.update(exact_match_accuracy(predictions, references))
        return out
