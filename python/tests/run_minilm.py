"""Runs the real MiniLM-L6 with FP8 FFN stand-ins over the six fixture sentences (one forward, 114 tokens)
and prints a sha256 of the output bytes. Capture, if any, comes from the environment only (the
sitecustomize hook imports isolate_capture when ISOLATE_CAPTURE is set). FP8_STANDIN_VARIANT=torch-e8m0
plants ATOM's round-to-nearest e8m0 scale."""
import hashlib
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fp8_standin  # noqa: E402
import minilm_model  # noqa: E402

fp8_standin.QUANT_VARIANT = os.environ.get("FP8_STANDIN_VARIANT", "deepgemm-ue8m0")
model, tok = minilm_model.load()
ids = torch.cat([tok.encode(s) for s in minilm_model.SENTENCES])
with torch.no_grad():
    out = model(ids)
print("captured-module-loaded" if "isolate_capture" in sys.modules else "no-capture-module")
print("output-sha256", hashlib.sha256(bytes(out.contiguous().view(torch.uint8).flatten().tolist())).hexdigest())
