"""nst_toolkit: neural style transfer on one VGG-19 core (Gatys, improved Gatys, fast, AdaIN)."""

__version__ = "0.1.0"
