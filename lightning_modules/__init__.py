"""LightningModules; importing this package registers them for short names in YAML."""

from lightning_modules.language_model import GPT2Pretrainer
from lightning_modules.sae import SparseDictionaryModule

__all__ = ["GPT2Pretrainer", "SparseDictionaryModule"]
