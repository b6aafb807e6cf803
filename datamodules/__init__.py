"""LightningDataModules; importing this package registers them for short names in YAML."""

from datamodules.activations import ActivationDataModule
from datamodules.active_prompts import ActivePromptDataModule
from datamodules.corpus import TextCorpusDataModule
from datamodules.encyclopedia import ConceptContextDataModule, EncyclopediaDataModule
from datamodules.ground_truth import GroundTruthDataModule
from datamodules.prompts import PromptDataModule
from datamodules.validation import HypothesisValidationDataModule

__all__ = [
    "ActivationDataModule", "ActivePromptDataModule", "ConceptContextDataModule",
    "EncyclopediaDataModule", "GroundTruthDataModule", "HypothesisValidationDataModule",
    "PromptDataModule", "TextCorpusDataModule",
]
