"""In-place knowledge distillation (BigNAS): the largest subnet teaches the others.

At every supernet step the largest subnet is trained on the labels first; its logits on
the same batch, detached, are the soft targets of every other subnet sampled in that
step. The student's loss is ``T**2 * KL(softmax(teacher / T) || softmax(student / T))``
(Hinton et al.; the ``T**2`` keeps gradient magnitudes comparable across temperatures).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["distillation_loss"]


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Batch-mean KL divergence of the student's softened predictions from the teacher's.

    ``student_logits``, ``teacher_logits``: ``[N, classes]``. The teacher is detached (no
    gradient reaches it); computed in float32 even under autocast. Returns a scalar.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    t = float(temperature)
    student = F.log_softmax(student_logits.float() / t, dim=1)
    teacher = F.log_softmax(teacher_logits.detach().float() / t, dim=1)
    return F.kl_div(student, teacher, reduction="batchmean", log_target=True) * (t * t)
