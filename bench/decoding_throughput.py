"""Decoding throughput: PairedDecoder against two baselines, in one run, on the same prompts.

1. ``PairedDecoder``: the real predict stage (PromptDataModule + PairedDecoder +
   DecodedTextWriter in a Lightning predict loop, texts written to disk), base and intervention.
2. ``generate, one prompt at a time``: ``model.generate(do_sample=True)`` per prompt and model
   (timed on a subset: it is slow; tokens per second is the comparable figure).
3. ``hand-written batched KV-cache loop``: fixed batches in prompt order, left padding, a KV
   cache, ``torch.multinomial`` sampling, stopping when every row of the batch has ended.

Prompts have mixed lengths: free generation from BOS and toy-world prefixes of 1 to 40 words.
Tokens are generated tokens including the end-of-text token, summed over both models.

Two comparisons: one core each (every method on one thread), and the whole machine
(PairedDecoder as ``--cores`` one-thread DDP processes, the way `difflens predict` runs with
``trainer.devices``, against ``generate`` on ``--cores`` threads or one, whichever is faster).

    .venv/bin/python bench/decoding_throughput.py [--prompts 1536] [--generate-prompts 32] [--cores 2]

Writes its report to stdout; the latest is committed as bench/decoding_throughput.txt.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from difflens.decoding import SamplingConfig, encode_prompts, left_pad, max_positions  # noqa: E402
from difflens.models import ModelSpec, load_causal_lm, load_tokenizer  # noqa: E402
from difflens.prompts import Prompt  # noqa: E402


def mixed_prompts(n: int, seed: int = 0) -> list[Prompt]:
    """A quarter free generation, the rest toy-world prefixes of 1-40 words, shuffled."""
    from difflens.toyworld import ToyWorld

    rng = random.Random(seed)
    docs = ToyWorld(seed).documents(n, start=2_000_000)
    prompts = []
    for i, doc in enumerate(docs):
        words = doc.text.split()
        text = "" if i % 4 == 0 else " ".join(words[: rng.randint(1, min(40, len(words)))])
        prompts.append(Prompt(f"bench:{i}", text, "bench"))
    rng.shuffle(prompts)
    return prompts


def run_paired_decoder(base: str, intervention: str, prompts: list[Prompt], config: SamplingConfig,
                       batch_size: int, max_rows: int, threads: int, processes: int = 1) -> tuple[int, float]:
    import pytorch_lightning as pl

    from callbacks import DecodedTextWriter
    from cli.decoding import decode
    from datamodules import PromptDataModule
    from difflens.records import DecodedText, read_records
    from lightning_modules import PairedDecoder

    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "prompts.txt"
        # free prompts cannot be lines of a file; give the datamodule both sources
        lines.write_text("\n".join(p.text for p in prompts if p.text) + "\n")
        n_free = sum(1 for p in prompts if not p.text)
        from difflens.prompts import PromptFile

        data = PromptDataModule(free=n_free, files=[PromptFile(str(lines), format="lines")], batch_size=batch_size,
                                max_new_tokens=config.max_new_tokens, temperature=config.temperature)
        module = PairedDecoder(ModelSpec(base), ModelSpec(intervention), num_threads=threads, max_rows=max_rows)
        module.language_models()  # load outside the timed region, as the baselines do
        writer = DecodedTextWriter(tmp + "/out")
        trainer = pl.Trainer(accelerator="cpu", devices=processes, strategy="ddp_fork" if processes > 1 else "auto",
                             logger=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[writer])
        start = time.perf_counter()
        decode(trainer, module, data, writer)
        seconds = time.perf_counter() - start
        records = read_records(Path(tmp) / "out" / "texts.jsonl", DecodedText)
    return sum(r.n_tokens for r in records), seconds


def run_generate_one_at_a_time(models, prompts: list[Prompt], config: SamplingConfig,
                               threads: int) -> tuple[int, float]:
    torch.set_num_threads(threads)
    tokens = 0
    start = time.perf_counter()
    for model, tok in models:
        for i, p in enumerate(prompts):
            ids = encode_prompts(tok, [p.text], 10_000)[0]
            input_ids = torch.tensor([ids])
            torch.manual_seed(i)
            out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), do_sample=True,
                                 temperature=config.temperature, top_k=0, max_new_tokens=config.max_new_tokens,
                                 pad_token_id=tok.pad_token_id)
            new = out[0, input_ids.shape[1]:].tolist()
            if tok.eos_token_id in new:
                new = new[: new.index(tok.eos_token_id) + 1]
            tokens += len(new)
    return tokens, time.perf_counter() - start


@torch.no_grad()
def hand_written_batched(model, tok, prompts: list[str], config: SamplingConfig, batch_size: int) -> int:
    """The loop one writes by hand: fixed batches, left padding, KV cache, stop when all rows end."""
    tokens = 0
    eos, pad = tok.eos_token_id, tok.pad_token_id
    for k in range(0, len(prompts), batch_size):
        ids = encode_prompts(tok, prompts[k:k + batch_size], max_positions(model) - config.max_new_tokens)
        input_ids, mask = left_pad(ids, pad)
        position = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=input_ids, attention_mask=mask, position_ids=position, use_cache=True)
        next_pos = position[:, -1] + 1
        finished = torch.zeros(len(ids), dtype=torch.bool)
        for _ in range(config.max_new_tokens):
            probs = torch.softmax(out.logits[:, -1, :] / config.temperature, dim=-1)
            nxt = torch.multinomial(probs, 1).squeeze(1)
            nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
            tokens += int((~finished).sum())
            finished |= nxt == eos
            if finished.all():
                break
            mask = torch.cat([mask, mask.new_ones((len(ids), 1))], dim=1)
            out = model(input_ids=nxt.unsqueeze(1), attention_mask=mask, position_ids=next_pos.unsqueeze(1),
                        past_key_values=out.past_key_values, use_cache=True)
            next_pos = next_pos + 1
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="runs/quickstart/base_lm/model")
    parser.add_argument("--intervention", default="runs/quickstart/finetune/model",
                        help="falls back to the base model when missing (the timing is the same for equal sizes)")
    parser.add_argument("--prompts", type=int, default=1536)
    parser.add_argument("--generate-prompts", type=int, default=32, help="prompts for the slow generate loop")
    parser.add_argument("--batch-size", type=int, default=256, help="prompts per predict step")
    parser.add_argument("--max-rows", type=int, default=64,
                        help="rows decoded at once (PairedDecoder) and the hand-written loop's batch size")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1),
                        help="cores of the whole-machine comparison: PairedDecoder in this many 1-thread "
                             "processes (DDP) against generate with this many threads")
    args = parser.parse_args()
    os.chdir(REPO)
    torch.set_num_threads(1)
    intervention = args.intervention if Path(args.intervention, "config.json").exists() else args.base
    config = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=1.0)
    prompts = mixed_prompts(args.prompts)
    models = [(load_causal_lm(p, dtype="float32"), load_tokenizer(p)) for p in (args.base, intervention)]

    rows = []  # (name, cores used, prompts, tokens, seconds)
    tokens, seconds = run_paired_decoder(args.base, intervention, prompts, config, args.batch_size, args.max_rows, 1)
    rows.append(("PairedDecoder (predict loop, texts written)", "1 x 1", len(prompts), tokens, seconds))
    start = time.perf_counter()
    tokens = sum(hand_written_batched(m, t, [p.text for p in prompts], config, args.max_rows) for m, t in models)
    rows.append(("hand-written batched KV-cache loop", "1 x 1", len(prompts), tokens, time.perf_counter() - start))
    few = prompts[: args.generate_prompts]
    tokens, seconds = run_generate_one_at_a_time(models, few, config, threads=1)
    rows.append(("generate, one prompt at a time", "1 x 1", len(few), tokens, seconds))
    if args.cores > 1:
        tokens, seconds = run_paired_decoder(args.base, intervention, prompts, config, args.batch_size, args.max_rows,
                                             1, processes=args.cores)
        rows.append(("PairedDecoder (predict loop, texts written)", f"{args.cores} x 1", len(prompts), tokens, seconds))
        tokens, seconds = run_generate_one_at_a_time(models, few, config, threads=args.cores)
        rows.append(("generate, one prompt at a time", f"1 x {args.cores}", len(few), tokens, seconds))

    lengths = [len(p.text.split()) for p in prompts]
    print(f"# decoding throughput, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# base {args.base}, intervention {intervention}; torch {torch.__version__}, "
          f"{os.cpu_count()} cores, {platform.machine()}, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"# prompts: {sum(1 for p in prompts if not p.text)} free, others 1-{max(lengths)} words; "
          f"max_new_tokens {args.max_new_tokens}, temperature 1.0, {args.batch_size} prompts per predict step, "
          f"{args.max_rows} rows at once; both models; cores = processes x threads")
    print(f"{'method':<46} {'cores':>6} {'prompts':>7} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
    rate = {}
    for name, cores, n, tokens, seconds in rows:
        rate[name, cores] = tokens / seconds
        print(f"{name:<46} {cores:>6} {n:>7} {tokens:>7} {seconds:>8.1f} {tokens / seconds:>9.0f}")
    paired, generate = "PairedDecoder (predict loop, texts written)", "generate, one prompt at a time"
    one = rate[paired, "1 x 1"]
    print(f"one core each:  PairedDecoder / generate one at a time: "
          f"{one / rate[generate, '1 x 1']:.1f}x (target >= 20x)")
    print(f"one core each:  PairedDecoder / hand-written batched:   "
          f"{one / rate['hand-written batched KV-cache loop', '1 x 1']:.2f}x (target >= 1.0x)")
    if args.cores > 1:
        machine = rate[paired, f"{args.cores} x 1"]
        best = max(rate[generate, "1 x 1"], rate[generate, f"1 x {args.cores}"])
        print(f"whole machine ({args.cores} cores each, generate at its better thread count): "
              f"PairedDecoder / generate one at a time: {machine / best:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
