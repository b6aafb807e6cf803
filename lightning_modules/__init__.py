"""LightningModules; importing this package registers them for short names in YAML."""

from lightning_modules.language_model import GPT2Pretrainer
from lightning_modules.finetune import CausalLMFinetuner

__all__ = ["GPT2Pretrainer", "CausalLMFinetuner"]
from lightning_modules.decoding import PairedDecoder

__all__ = ["GPT2Pretrainer", "PairedDecoder"]
from lightning_modules.validation import HypothesisValidator

__all__ = ["GPT2Pretrainer", "HypothesisValidator"]
from lightning_modules.concept_capture import ConceptCapture
from lightning_modules.interpreter import ConceptInterpreter

__all__ = ["GPT2Pretrainer", "ConceptCapture", "ConceptInterpreter"]
