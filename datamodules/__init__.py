"""LightningDataModules; importing this package registers them for short names in YAML."""

from datamodules.corpus import TextCorpusDataModule
from datamodules.activations import ActivationDataModule

__all__ = ["TextCorpusDataModule", "ActivationDataModule"]
