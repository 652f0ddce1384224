"""Trainable networks, architecture only, one family per module:

* :mod:`.layers` — padded convolutions, residual blocks, upsampling, seeded initialisation;
* :mod:`.transformer` — Johnson et al.'s TransformerNet and its narrowing for distillation;
* :mod:`.adain` — the AdaIN paper's VGG-19 decoder, and that decoder with one painting's statistics;
* :mod:`.light` — the light AdaIN model and the one-style network grown from it.
"""

from .adain import AdaINDecoder, StyledAdaINDecoder
from .layers import ConvLayer, ResidualBlock, RowSplitConv2d, UpsampleConv, init_seeded
from .light import AdaINStyleNet, LightAdaIN, LightDecoder, LightEncoder, light_fields, mirrored_decoder_widths
from .transformer import TransformerNet, slim_transformer

__all__ = ["AdaINDecoder", "AdaINStyleNet", "ConvLayer", "LightAdaIN", "LightDecoder", "LightEncoder", "ResidualBlock",
           "RowSplitConv2d", "StyledAdaINDecoder", "TransformerNet", "UpsampleConv", "init_seeded", "light_fields",
           "mirrored_decoder_widths", "slim_transformer"]
