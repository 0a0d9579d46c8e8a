"""mlmm.losses: one loss per file (pure function + thin module)."""

from mlmm.losses.contrastive import ContrastiveLoss, ContrastiveResult, contrastive_loss
from mlmm.losses.mse import LayerwiseMSELoss, TeacherMSELoss, layer_mapping, teacher_mse_loss

__all__ = [
    "ContrastiveLoss",
    "ContrastiveResult",
    "LayerwiseMSELoss",
    "TeacherMSELoss",
    "contrastive_loss",
    "layer_mapping",
    "teacher_mse_loss",
]
