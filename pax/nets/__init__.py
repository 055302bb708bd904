"""Ready-made networks: ResNet v1 (18 to 200 layers) on NCHW images and a
Transformer decoder stack."""

from pax._src.nets.resnet import ResNet as ResNet
from pax._src.nets.resnet import ResNet18 as ResNet18
from pax._src.nets.resnet import ResNet34 as ResNet34
from pax._src.nets.resnet import ResNet50 as ResNet50
from pax._src.nets.resnet import ResNet101 as ResNet101
from pax._src.nets.resnet import ResNet152 as ResNet152
from pax._src.nets.resnet import ResNet200 as ResNet200
from pax._src.nets.transformer import Transformer as Transformer

__all__ = [
    "ResNet",
    "ResNet101",
    "ResNet152",
    "ResNet18",
    "ResNet200",
    "ResNet34",
    "ResNet50",
    "Transformer",
]
