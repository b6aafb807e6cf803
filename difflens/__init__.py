"""difflens: find out what an intervention changed in a language model, and why.

This package is the framework-free core (plain PyTorch / NumPy); the Lightning adapters live
in the top-level packages ``lightning_modules``, ``datamodules`` and ``callbacks``.
"""

__version__ = "0.1.0"
