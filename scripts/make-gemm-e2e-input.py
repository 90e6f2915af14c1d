#!/usr/bin/env python3
"""Writes a DeepSeek-sized `isolate gemm` input for the end-to-end timing in scripts/gpu-check.sh.

    python3 scripts/make-gemm-e2e-input.py OUT.safetensors [M] [N] [K]     (defaults 4096 7168 7168)

x: bf16 [M, K] activations (normal, a few outlier columns as in real LLM activations), w: bf16 [N, K] weights
(normal, std 0.02), target_out: bf16 x @ w.T computed by torch (cuBLAS on the GPU when there is one). Seeded, so
every run times the same bytes.
"""
import sys

import torch
from safetensors.torch import save_file

out = sys.argv[1]
m, n, k = (int(v) for v in (sys.argv[2:5] + ["4096", "7168", "7168"][len(sys.argv[2:5]):]))
dev = "cuda" if torch.cuda.is_available() else "cpu"
g = torch.Generator(device=dev).manual_seed(20261126)
x = torch.randn(m, k, generator=g, device=dev)
x[:, :: max(k // 16, 1)] *= 30.0  # outlier channels: groups with very different amax
w = torch.randn(n, k, generator=g, device=dev) * 0.02
x, w = x.to(torch.bfloat16), w.to(torch.bfloat16)
y = (x @ w.T).to(torch.bfloat16)
save_file({"x": x.cpu(), "w": w.cpu(), "target_out": y.cpu()}, out)
print(f"wrote {out}: x [{m}, {k}], w [{n}, {k}], target_out [{m}, {n}] ({dev})")
