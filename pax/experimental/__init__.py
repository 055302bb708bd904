"""PAX 0.5's experimental API, kept for code written for pax3 0.5."""

from pax._src.core.flattener import Flattener as Flattener
from pax._src.core.lazy import LazyModule as LazyModule
from pax._src.core.mixed_precision import default_mp_policy as default_mp_policy
from pax._src.core.mutable import mutable as mutable
from pax._src.core.state_dict import load_weights_from_dict as load_weights_from_dict
from pax._src.core.state_dict import save_weights_to_dict as save_weights_to_dict
from pax._src.transforms.loss_scaling import DynamicLossScale as DynamicLossScale
from pax._src.transforms.loss_scaling import adjust_loss_scale as adjust_loss_scale
from pax._src.transforms.loss_scaling import apply_scaled_gradients as apply_scaled_gradients

__all__ = [
    "DynamicLossScale",
    "Flattener",
    "LazyModule",
    "adjust_loss_scale",
    "apply_scaled_gradients",
    "default_mp_policy",
    "load_weights_from_dict",
    "mutable",
    "save_weights_to_dict",
]
