"""LightningDataModules; importing this package registers them for short names in YAML."""

from datamodules.corpus import TextCorpusDataModule
from datamodules.ground_truth import GroundTruthDataModule

__all__ = ["TextCorpusDataModule", "GroundTruthDataModule"]
from datamodules.prompts import PromptDataModule

__all__ = ["TextCorpusDataModule", "PromptDataModule"]
from datamodules.validation import HypothesisValidationDataModule

__all__ = ["TextCorpusDataModule", "HypothesisValidationDataModule"]
