"""The GPU check: what CI cannot run, in one unattended command on any CUDA machine.

    python bench/gpu_check.py                  # about 3-6 minutes on one GPU; writes bench/gpu_check.txt
    python bench/gpu_check.py --device cpu --quick   # a dry run of every code path, nothing written

1. **Architecture matrix in bf16 and fp32** (the eleven tiny architectures of
   tests/architectures.py, on the GPU): greedy continuous-batching decoding against
   ``generate`` one prompt at a time (fp32 must match exactly; bf16 is reported, since batched
   and unbatched bf16 matmuls round differently), the ``layer.-1`` SAE hook and concept capture.
2. **Decoder against batched ``generate``**: a ~0.3B-parameter random Llama in bf16, prompts
   of mixed lengths, sampled at temperature 1; generated tokens per second of
   `difflens.decoding.sample_batch` (continuous batching, preallocated KV cache) and of
   ``generate(do_sample=True)`` on left-padded batches of the same size; the ratio.
3. **SAE training step against sparsify**: TopK at d_in 2304, 16x expansion, k 64, batch 4096,
   fp32 on the GPU: activations per second of difflens's step (forward, loss, backward, decoder
   constraint, Adam) and of EleutherAI sparsify's (``pip install eai-sparsify``; skipped with a
   note when it is not installed); the ratio.

Every section is timed and has a budget, so the whole run stays under 10 minutes. The report is
printed and, on CUDA, written to bench/gpu_check.txt (commit it the first time a GPU run exists).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from difflens.decoding import SamplingConfig, sample_batch  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def toy_tokenizer(vocab_size: int):
    from difflens.models import train_bpe_tokenizer
    from difflens.toyworld import ToyWorld

    texts = [d.text for d in ToyWorld(seed=123).documents(3000 if vocab_size > 1000 else 600)]
    return train_bpe_tokenizer(texts, vocab_size=vocab_size, model_max_length=512), texts


# ---- 1. the architecture matrix ----------------------------------------------------------------
MATRIX_PROMPTS = ["", "The ocean is", "Perhaps", "We saw a very small knight move across the board and the waves",
                  "x", "A storm over the reef", "In the morning the market", ""]


def generate_one(model, tokenizer, ids: list[int], max_new_tokens: int) -> str:
    x = torch.tensor([ids], device=model.device)
    out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), do_sample=False,
                         max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, x.shape[1]:], skip_special_tokens=True)


def architecture_matrix(device: torch.device, print_) -> bool:
    from difflens.activations import ActivationHarvester
    from difflens.encyclopedia.pooling import capture_batch, encode_contexts
    from tests.architectures import ARCHITECTURES, make_tiny_model

    tokenizer, _ = toy_tokenizer(397)
    config = SamplingConfig(max_new_tokens=16, temperature=0)
    ok = True
    print_("| architecture | fp32 greedy = generate | bf16 greedy = generate | layer.-1 hook | capture |")
    print_("|---|---|---|---|---|")
    for arch in ARCHITECTURES:
        row = [arch]
        for dtype in (torch.float32, torch.bfloat16):
            model = make_tiny_model(arch, tokenizer).to(device=device, dtype=dtype)
            ours = sample_batch(model, tokenizer, MATRIX_PROMPTS, list(range(len(MATRIX_PROMPTS))), config, max_rows=3)
            same = sum(c.text == generate_one(model, tokenizer, c.prompt_ids, config.max_new_tokens) for c in ours)
            row.append(f"{same}/{len(ours)}")
            ok &= dtype != torch.float32 or same == len(ours)
        enc = tokenizer(MATRIX_PROMPTS[1:4], return_tensors="pt", padding=True).to(device)
        x = ActivationHarvester(model, "layer.-1")(enc["input_ids"], enc["attention_mask"], torch.arange(3))["x"]
        row.append("finite" if torch.isfinite(x).all() else "NON-FINITE")
        contexts = encode_contexts(tokenizer, MATRIX_PROMPTS[1:4], [(4, 9), None, None])
        batch = {key: value.to(device) for key, value in contexts.items()}
        pooled = capture_batch(model, batch, [0, 1], ["span_mean"])
        row.append("finite" if all(torch.isfinite(v).all() for v in pooled.values()) else "NON-FINITE")
        ok &= row[-1] == row[-2] == "finite"
        print_("| " + " | ".join(row) + " |")
    return ok


# ---- 2. the decoder against batched generate -------------------------------------------------
def decoder_vs_generate(device: torch.device, quick: bool, print_) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from difflens.decoding import left_pad

    tokenizer, texts = toy_tokenizer(4096)
    n_prompts, batch, new = (64, 32, 32) if quick else (1024, 256, 128)
    hidden, layers = (64, 2) if quick else (1024, 16)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                         num_hidden_layers=layers, num_attention_heads=16 if not quick else 4,
                         num_key_value_heads=4 if not quick else 2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config).to(device=device, dtype=torch.bfloat16).eval()
    n_params = sum(p.numel() for p in model.parameters())
    # mixed lengths: free generation and toy-world openings of 1 to 40 words
    prompts = ["" if i % 4 == 0 else " ".join(texts[i % len(texts)].split()[:1 + i % 40]) for i in range(n_prompts)]
    sampling = SamplingConfig(max_new_tokens=new, temperature=1.0)
    sample_batch(model, tokenizer, prompts[:batch], list(range(batch)), sampling, max_rows=batch)  # warm-up
    sync(device)
    start = time.perf_counter()
    ours = sample_batch(model, tokenizer, prompts, list(range(n_prompts)), sampling, max_rows=batch)
    sync(device)
    ours_s = time.perf_counter() - start
    ours_tokens = sum(c.n_tokens for c in ours)

    ids = [c.prompt_ids for c in ours]
    gen_tokens, start = 0, None
    for k in range(0, n_prompts, batch):
        input_ids, mask = left_pad(ids[k:k + batch], tokenizer.pad_token_id)
        input_ids, mask = input_ids.to(device), mask.to(device)
        if start is None:  # warm-up on the first batch, then time them all
            model.generate(input_ids=input_ids, attention_mask=mask, do_sample=True, max_new_tokens=4,
                           pad_token_id=tokenizer.pad_token_id)
            sync(device)
            start = time.perf_counter()
        out = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=True, top_k=0,
                             max_new_tokens=new, pad_token_id=tokenizer.pad_token_id)
        generated = out[:, input_ids.shape[1]:]
        # tokens up to and including each row's first end token, as sample_batch counts them
        ended = (generated == tokenizer.eos_token_id).int().cumsum(dim=1)
        gen_tokens += int(((ended == 0) | ((ended == 1) & (generated == tokenizer.eos_token_id))).sum())
    sync(device)
    gen_s = time.perf_counter() - start
    print_(f"model: random Llama, {n_params / 1e6:.1f}M parameters, bf16; {n_prompts} prompts (1-40 words or "
           f"empty), {new} new tokens at most, temperature 1, rows at once {batch}")
    print_("| method | seconds | generated tokens | tokens/s |")
    print_("|---|---|---|---|")
    print_(f"| difflens sample_batch (continuous batching) | {ours_s:.2f} | {ours_tokens} | "
           f"{ours_tokens / ours_s:.0f} |")
    print_(f"| generate(do_sample=True), left-padded batches of {batch} | {gen_s:.2f} | {gen_tokens} | "
           f"{gen_tokens / gen_s:.0f} |")
    print_(f"ratio (tokens/s, difflens / generate): {(ours_tokens / ours_s) / (gen_tokens / gen_s):.2f}x")


# ---- 3. the SAE step against sparsify ---------------------------------------------------------
def sae_vs_sparsify(device: torch.device, quick: bool, print_) -> None:
    from bench.sae_throughput import difflens_step, sparsify_step  # the CPU bench's steps, on this device

    d_in, expansion, k, batch, steps = (64, 4, 8, 256, 5) if quick else (2304, 16, 64, 4096, 50)
    d_sae = d_in * expansion
    g = torch.Generator(device="cpu").manual_seed(0)
    basis = torch.randn(4 * d_in, d_in, generator=g) / d_in ** 0.5
    batches = [(torch.rand(batch, 4 * d_in, generator=g).pow(30) @ basis).to(device) for _ in range(4)]

    def timed(make):
        step = make("topk", torch, d_in=d_in, d_sae=d_sae, k=k, device=device)
        for i in range(3):
            step(batches[i % 4])
        sync(device)
        start = time.perf_counter()
        for i in range(steps):
            step(batches[i % 4])
        sync(device)
        return steps * batch / (time.perf_counter() - start)

    ours = timed(difflens_step)
    print_(f"TopK SAE, d_in {d_in}, d_sae {d_sae}, k {k}, batch {batch}, fp32, {steps} timed steps")
    print_(f"| difflens | {ours:,.0f} activations/s |")
    try:
        import sparsify  # noqa: F401
    except ImportError:
        print_("sparsify is not installed (`pip install eai-sparsify`): its side and the ratio are not measured")
        return
    theirs = timed(sparsify_step)
    print_(f"| sparsify | {theirs:,.0f} activations/s |")
    print_(f"ratio (difflens / sparsify): {ours / theirs:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the check) or cpu (a dry run, nothing written)")
    parser.add_argument("--quick", action="store_true", help="small sizes: check the code paths, not the speed")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine (or --device cpu --quick for a dry run)",
              file=sys.stderr)
        return 2
    report = io.StringIO()

    def print_(line: str = "") -> None:
        print(line, flush=True)
        report.write(line + "\n")

    import transformers

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print_("# bench/gpu_check.py")
    print_(f"device: {name}; torch {torch.__version__}, transformers {transformers.__version__}, "
           f"python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    ok = True
    for title, section in (("## 1. Architecture matrix", lambda: architecture_matrix(device, print_)),
                           ("## 2. Decoder against batched generate",
                            lambda: decoder_vs_generate(device, args.quick, print_)),
                           ("## 3. SAE training step against sparsify",
                            lambda: sae_vs_sparsify(device, args.quick, print_))):
        print_()
        print_(title)
        start = time.perf_counter()
        try:
            ok &= section() is not False
        except Exception as err:  # a failed section is reported; the others still run
            ok = False
            print_(f"FAILED: {type(err).__name__}: {err}")
        print_(f"({time.perf_counter() - start:.0f}s)")
    print_()
    print_("result: " + ("all checks passed" if ok else "SOME CHECKS FAILED (see above)"))
    if device.type == "cuda" and not args.quick:
        with contextlib.suppress(OSError):
            (HERE / "gpu_check.txt").write_text(report.getvalue(), encoding="utf-8")
            print(f"written to {HERE / 'gpu_check.txt'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
