"""LightningDataModules; importing this package registers them for short names in YAML."""

from datamodules.corpus import TextCorpusDataModule
from datamodules.prompts import PromptDataModule

__all__ = ["TextCorpusDataModule", "PromptDataModule"]
