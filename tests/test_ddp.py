"""Two CPU processes under DDP (gloo, ddp_fork): data is sharded and weights stay in sync."""

import json

import pytorch_lightning as pl
import torch

from datamodules import TextCorpusDataModule
from difflens.corpus import ToyWorldCorpus
from lightning_modules import GPT2Pretrainer


class RecordRank(pl.Callback):
    """Each rank writes the first token block of every batch it saw and a weight checksum."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.extend(batch[0][:, :8].tolist())

    def on_fit_end(self, trainer, pl_module):
        checksum = sum(float(p.double().sum()) for p in pl_module.parameters())
        path = f"{self.out_dir}/rank{trainer.global_rank}.json"
        with open(path, "w") as f:
            json.dump({"seen": self.seen, "checksum": checksum, "world": trainer.world_size}, f)


def test_two_process_ddp_fit_shards_data_and_syncs_weights(tmp_path):
    torch.set_num_threads(1)
    data = TextCorpusDataModule(toyworld=ToyWorldCorpus(n_documents=200, seed=1), vocab_size=300,
                                block_size=32, batch_size=4, val_fraction=0.1)
    model = GPT2Pretrainer(n_layer=2, n_embd=36, n_head=3, n_positions=64, warmup_steps=1, data=data)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", max_steps=3, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=1, num_sanity_val_steps=0, callbacks=[RecordRank(tmp_path)])
    trainer.fit(model, datamodule=data)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 12
    # each rank trained on different sequences ...
    assert not {tuple(s) for s in ranks[0]["seen"]} & {tuple(s) for s in ranks[1]["seen"]}
    # ... and all-reduced gradients kept the weights identical
    assert abs(ranks[0]["checksum"] - ranks[1]["checksum"]) < 1e-6 * abs(ranks[0]["checksum"])
