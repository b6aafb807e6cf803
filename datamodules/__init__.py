"""LightningDataModules; importing this package registers them for short names in YAML."""

from datamodules.corpus import TextCorpusDataModule
from datamodules.encyclopedia import ConceptContextDataModule, EncyclopediaDataModule

__all__ = ["TextCorpusDataModule", "ConceptContextDataModule", "EncyclopediaDataModule"]
