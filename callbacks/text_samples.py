"""Generate a few texts from the model being trained and show them in TensorBoard."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from difflens.logs import tensorboard_writers


class TextSampleCallback(pl.Callback):
    """Samples texts on rank 0 after each validation, and every ``every_n_steps`` if set.

    Works with any LightningModule that exposes a Hugging Face causal LM as ``.model`` and a
    tokenizer as ``.tokenizer``. Samples go to TensorBoard text under ``samples`` as a markdown
    table of prompt and continuation.

    Args:
        prompts: prompts to continue; ``""`` means free generation from BOS.
        max_new_tokens: tokens to generate per prompt.
        temperature: sampling temperature.
        every_n_steps: also sample every this many training steps (0 = only after validation).
        seed: generator seed, so successive samples differ only through the weights.
    """

    def __init__(self, prompts: list[str] | None = None, max_new_tokens: int = 40, temperature: float = 1.0,
                 every_n_steps: int = 0, seed: int = 0):
        self.prompts = prompts if prompts is not None else ["", "", "The", "We saw a"]
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.every_n_steps = every_n_steps
        self.seed = seed
        self.last_samples: list[tuple[str, str]] = []

    @torch.no_grad()
    def sample(self, pl_module: pl.LightningModule) -> list[tuple[str, str]]:
        model, tok = pl_module.model, pl_module.tokenizer
        was_training = model.training
        model.eval()
        side = tok.padding_side
        tok.padding_side = "left"
        try:
            enc = tok(self.prompts, return_tensors="pt", padding=True).to(pl_module.device)
            gen = torch.Generator(device="cpu").manual_seed(self.seed)
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            out = model.generate(**enc, do_sample=True, temperature=self.temperature, top_k=0,
                                 max_new_tokens=self.max_new_tokens, pad_token_id=tok.pad_token_id)
        finally:
            tok.padding_side = side
            model.train(was_training)
        new = out[:, enc["input_ids"].shape[1]:]  # (B, max_new_tokens)
        texts = tok.batch_decode(new, skip_special_tokens=True)
        return list(zip(self.prompts, texts))

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or pl_module.model is None:
            return
        # Sampling must not disturb the training RNG stream.
        with torch.random.fork_rng(devices=[]):
            self.last_samples = self.sample(pl_module)
        rows = "\n".join(f"| {p or '(BOS)'} | {t.strip().replace('|', '/')} |" for p, t in self.last_samples)
        for writer in tensorboard_writers(trainer.loggers):
            writer.add_text("samples", "| prompt | continuation |\n|---|---|\n" + rows, trainer.global_step)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._log(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0 and trainer.global_step > 0:
            self._log(trainer, pl_module)
