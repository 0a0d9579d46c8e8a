"""Teacher-learning regression losses (Multilingual-CLIP, Carlsson et al., LREC 2022).

* :func:`teacher_mse_loss`: ``L = mean_{b,d} (s_bd - t_bd)^2`` between the student's projected embedding of a
  sentence s [B, D] and the frozen teacher's embedding t [B, D] of its parallel English sentence
  (``torch.nn.MSELoss`` semantics, as M-CLIP trains).
* :class:`LayerwiseMSELoss`: optional intermediate supervision. Student layer i (of L_s) is matched to teacher
  layer ``round((i + 1) * L_t / L_s) - 1`` through a learned linear map W_i: H_s -> H_t (the widths differ);
  ``L = mean_i mean_{b,d} (W_i p^s_i - p^t_{m(i)})^2`` over pooled per-layer states p [B, H]. The maps belong
  to the loss (training aids, not exported with the model). Pooling is the models' business (student: mean
  over real tokens; teacher: its end-of-text token).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def teacher_mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error between student [B, D] and (detached) teacher [B, D] embeddings; scalar."""
    if student.shape != teacher.shape:
        raise ValueError(
            f"teacher_mse_loss: student {tuple(student.shape)} and teacher {tuple(teacher.shape)} differ; "
            "the student projection must output the teacher's embed_dim"
        )
    return F.mse_loss(student, teacher.detach())


def layer_mapping(num_student: int, num_teacher: int) -> list[int]:
    """Teacher layer index for each student layer: evenly spread, the last student layer -> the last teacher's."""
    if num_student < 1 or num_teacher < 1:
        raise ValueError(f"layer_mapping: need >= 1 layer on both sides, got {num_student}, {num_teacher}")
    return [max(0, round((i + 1) * num_teacher / num_student) - 1) for i in range(num_student)]


class TeacherMSELoss(nn.Module):
    """Module form of :func:`teacher_mse_loss`."""

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return teacher_mse_loss(student, teacher)


class LayerwiseMSELoss(nn.Module):
    """Mean over student layers of MSE(W_i p^s_i, p^t_{m(i)}); see the module docstring."""

    def __init__(self, student_width: int, teacher_width: int, num_student: int, num_teacher: int):
        super().__init__()
        self.mapping = layer_mapping(num_student, num_teacher)
        self.maps = nn.ModuleList(nn.Linear(student_width, teacher_width) for _ in range(num_student))

    def forward(self, student_layers: list[torch.Tensor], teacher_layers: list[torch.Tensor]) -> torch.Tensor:
        """``student_layers``: L_s tensors [B, H_s]; ``teacher_layers``: L_t tensors [B, H_t]; scalar."""
        if len(student_layers) != len(self.maps):
            raise ValueError(
                f"LayerwiseMSELoss: expected {len(self.maps)} student layers, got {len(student_layers)}"
            )
        if len(teacher_layers) <= max(self.mapping):
            raise ValueError(
                f"LayerwiseMSELoss: mapping needs {max(self.mapping) + 1} teacher layers, got {len(teacher_layers)}"
            )
        losses = [
            teacher_mse_loss(proj(s), teacher_layers[j])
            for proj, s, j in zip(self.maps, student_layers, self.mapping)
        ]
        return torch.stack(losses).mean()
