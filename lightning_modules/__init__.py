"""LightningModules; importing this package registers them for short names in YAML."""

from lightning_modules.finetune import CausalLMFinetuner
from lightning_modules.language_model import GPT2Pretrainer

__all__ = ["GPT2Pretrainer", "CausalLMFinetuner"]
