"""mlmm retrieval metric as an ``evaluate.Metric`` (loaded offline by ``mlmm.eval.load_metric("retrieval")``).

compute(text_to_image=[N_t] ints, image_embeddings=[N_i, D], text_embeddings=[N_t, D]) or
compute(text_to_image=..., scores=[N_i, N_t]); optional ks, normalize, chunk_size, device.
Returns i2t_r1 .. t2i_r10 (percent), i2t/t2i medr and meanr, mean_recall, rsum.
See mlmm.eval.retrieval for the definitions (equal to CLIP_benchmark's recall@k).
"""

import datasets
import evaluate

from mlmm.eval.retrieval import retrieval_metrics


class Retrieval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=__doc__,
            features=datasets.Features({"text_to_image": datasets.Value("int64")}),
        )

    def _compute(self, text_to_image, image_embeddings=None, text_embeddings=None, scores=None, **options):
        return retrieval_metrics(
            image_embeddings=image_embeddings,
            text_embeddings=text_embeddings,
            text_to_image=list(text_to_image),
            scores=scores,
            **options,
        )
