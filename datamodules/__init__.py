"""LightningDataModules; importing this package registers them for short names in YAML."""

from datamodules.corpus import TextCorpusDataModule

__all__ = ["TextCorpusDataModule"]
