"""LightningModules; importing this package registers them for short names in YAML."""

from lightning_modules.active_sampling import ActiveSampler
from lightning_modules.concept_capture import ConceptCapture
from lightning_modules.decoding import PairedDecoder
from lightning_modules.finetune import CausalLMFinetuner
from lightning_modules.interpreter import ConceptInterpreter
from lightning_modules.language_model import GPT2Pretrainer
from lightning_modules.sae import SparseDictionaryModule
from lightning_modules.validation import HypothesisValidator

__all__ = [
    "ActiveSampler", "CausalLMFinetuner", "ConceptCapture", "ConceptInterpreter", "GPT2Pretrainer",
    "HypothesisValidator", "PairedDecoder", "SparseDictionaryModule",
]
