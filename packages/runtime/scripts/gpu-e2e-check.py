#!/usr/bin/env python3
"""Hugging Face reference results for the runtime's GPU end-to-end check (runs on the GPU host).

Builds a small random Llama-3-architecture model from a config (no downloads: GQA, rope_scaling
llama3, untied LM head, ragged FFN 172, BF16), saves it with save_pretrained, and for it and the
stories260K fixture writes:
  - teacher-forced next-token logits of a 64-token sequence, from a float32 forward pass over the
    BF16 weights (the exact math our engine approximates), plus the relative error of a BF16
    forward pass against it at each position (how far a BF16 engine may honestly land);
  - 32 greedy steps from a short prompt (float32 forward, and BF16 for comparison).
The node side (gpu-e2e-compare.ts, bundled to runtime-e2e.mjs) runs our engine on the same
directories and compares.

usage: python3 gpu-e2e-check.py --fixture models/stories260K --out DIR
"""
import argparse
import json
import os
import sys
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

SEQ_LEN = 64
GREEDY_STEPS = 32
PROMPT_LEN = 8


def random_llama3(out_dir: str, seed: int) -> str:
    torch.manual_seed(seed)
    rope = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 32,  # small, so the 64-token test crosses all three bands
    }
    # transformers >= 5 folds rope_theta and the scaling into rope_parameters.
    if int(transformers.__version__.split(".")[0]) >= 5:
        rope_kwargs = {"rope_parameters": {**rope, "rope_theta": 500000.0}}
    else:
        rope_kwargs = {"rope_theta": 500000.0, "rope_scaling": rope}
    config = LlamaConfig(
        vocab_size=1000,
        hidden_size=256,
        intermediate_size=172,  # ragged: no 64-multiple
        num_hidden_layers=3,
        num_attention_heads=8,
        num_key_value_heads=2,  # GQA 4:1
        head_dim=32,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        **rope_kwargs,
        tie_word_embeddings=False,
        hidden_act="silu",
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=0.02,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))  # norms that are not all ones
            elif name == "lm_head.weight":
                p.copy_(0.2 * torch.randn_like(p))  # peaked logits: greedy margins well above BF16 noise
    model = model.to(torch.bfloat16)
    path = os.path.join(out_dir, "random-llama3")
    model.save_pretrained(path, safe_serialization=True)
    return path


def load(path: str, dtype: torch.dtype, device: str) -> LlamaForCausalLM:
    # No dtype argument (renamed across transformers versions): load, then cast (bf16 -> f32 is exact).
    model = LlamaForCausalLM.from_pretrained(path)
    return model.to(dtype=dtype, device=device).eval()


@torch.no_grad()
def teacher_forced(model: LlamaForCausalLM, ids: list, device: str) -> torch.Tensor:
    x = torch.tensor([ids], device=device)
    return model(input_ids=x, use_cache=False).logits[0].float().cpu()  # [T, V]


@torch.no_grad()
def greedy(model: LlamaForCausalLM, prompt: list, steps: int, device: str) -> list:
    out = []
    past = None
    x = torch.tensor([prompt], device=device)
    for _ in range(steps):
        res = model(input_ids=x, past_key_values=past, use_cache=True)
        past = res.past_key_values
        nxt = int(torch.argmax(res.logits[0, -1].float()))
        out.append(nxt)
        x = torch.tensor([[nxt]], device=device)
    return out


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a.double() - b.double()) / torch.linalg.vector_norm(b.double()))


def case(name: str, path: str, seed: int, device: str) -> dict:
    cfg = json.load(open(os.path.join(path, "config.json")))
    vocab = cfg["vocab_size"]
    bos = cfg.get("bos_token_id", 1)
    g = torch.Generator().manual_seed(seed)
    ids = [bos] + torch.randint(3, vocab, (SEQ_LEN - 1,), generator=g).tolist()
    f32 = load(path, torch.float32, device)
    bf16 = load(path, torch.bfloat16, device)
    t0 = time.time()
    ref = teacher_forced(f32, ids, device)
    lo = teacher_forced(bf16, ids, device)
    prompt = ids[:PROMPT_LEN] if name != "stories260K" else [bos]
    result = {
        "name": name,
        "dir": path,
        "ids": ids,
        "logits_f32": [[round(v, 6) for v in row] for row in ref.tolist()],
        "hf_bf16_rel_err": [rel_err(lo[t], ref[t]) for t in range(len(ids))],
        "greedy_prompt": prompt,
        "greedy_f32": greedy(f32, prompt, GREEDY_STEPS, device),
        "greedy_bf16": greedy(bf16, prompt, GREEDY_STEPS, device),
        "seconds": time.time() - t0,
    }
    agree = 0
    for a, b in zip(result["greedy_f32"], result["greedy_bf16"]):
        if a != b:
            break
        agree += 1
    result["hf_bf16_greedy_agrees_steps"] = agree
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", required=True, help="stories260K directory")
    ap.add_argument("--out", required=True, help="output directory (models + hf-reference.json)")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False  # the float32 reference must be float32
    torch.backends.cudnn.allow_tf32 = False
    random_dir = random_llama3(args.out, args.seed)
    cases = [case("random-llama3", random_dir, args.seed, device), case("stories260K", os.path.abspath(args.fixture), args.seed, device)]
    report = {
        "tool": "packages/runtime/scripts/gpu-e2e-check.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "seq_len": SEQ_LEN,
        "greedy_steps": GREEDY_STEPS,
        "cases": cases,
    }
    with open(os.path.join(args.out, "hf-reference.json"), "w") as f:
        json.dump(report, f)
    for c in cases:
        print(f"{c['name']}: max HF bf16-vs-f32 rel err {max(c['hf_bf16_rel_err']):.2e}, "
              f"HF bf16 greedy agrees with f32 for {c['hf_bf16_greedy_agrees_steps']}/{GREEDY_STEPS} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
