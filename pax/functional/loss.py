"""Losses (``objax.functional.loss``)."""

from pax._src.functional.loss import cross_entropy_logits as cross_entropy_logits
from pax._src.functional.loss import cross_entropy_logits_sparse as cross_entropy_logits_sparse
from pax._src.functional.loss import l2 as l2
from pax._src.functional.loss import mean_absolute_error as mean_absolute_error
from pax._src.functional.loss import mean_squared_error as mean_squared_error
from pax._src.functional.loss import mean_squared_log_error as mean_squared_log_error
from pax._src.functional.loss import sigmoid_cross_entropy_logits as sigmoid_cross_entropy_logits

__all__ = [
    "cross_entropy_logits",
    "cross_entropy_logits_sparse",
    "l2",
    "mean_absolute_error",
    "mean_squared_error",
    "mean_squared_log_error",
    "sigmoid_cross_entropy_logits",
]
