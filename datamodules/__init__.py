"""LightningDataModules; importing this package registers them for short names in YAML."""

from datamodules.corpus import TextCorpusDataModule
from datamodules.validation import HypothesisValidationDataModule

__all__ = ["TextCorpusDataModule", "HypothesisValidationDataModule"]
