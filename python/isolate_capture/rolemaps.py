"""Ready role maps for the FP8 functions users actually call, written from their published signatures.

A role map says which argument or result of a function is which `isolate` role:

- inputs: `"param"` (an argument), `"param[i]"` (element i of a tuple argument), `"param.T"` (its
  transpose, for `torch._scaled_mm`'s column-major `mat2`);
- outputs: `"return"`, `"return[i]"`, or `"param"` / `"param[i]"` read after the call (an output written
  in place, e.g. DeepGEMM's `d`).

`params` is the documented parameter order; `wrap()` checks it against the real function's signature at
activation (a builtin without an inspectable signature is bound by this order). `hints(args)` turns
arguments such as `group_size`, `use_ue8m0`, `block_size` into the recorded scale meaning.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclass
class RoleMap:
    name: str
    kind: str  # "quant" | "gemm" | "linear"
    params: List[str]
    inputs: Dict[str, str]
    outputs: Dict[str, str]
    source: str  # where the signature comes from
    hints: Optional[Callable[[Dict[str, Any]], Dict[str, Dict[str, Any]]]] = None
    default_site: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def referenced_params(self) -> List[str]:
        out = []
        for spec in list(self.inputs.values()) + list(self.outputs.values()):
            p = parse_spec(spec)[0]
            if p != "return" and p not in out:
                out.append(p)
        return out


def parse_spec(spec: str) -> Tuple[str, Optional[int], bool]:
    """`a[0]` → ("a", 0, False); `mat2.T` → ("mat2", None, True); `return[1]` → ("return", 1, False)."""
    t = spec.endswith(".T")
    if t:
        spec = spec[:-2]
    if spec.endswith("]") and "[" in spec:
        name, idx = spec[:-1].split("[", 1)
        return name, int(idx), t
    return spec, None, t


def _g(a: Dict[str, Any], k: str, default=None):
    v = a.get(k, default)
    return default if v is None else v


def _group_quant_hints(preset_plain: str, preset_ue8m0: str, ue8m0_param: str):
    def hints(a: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        ue8m0 = a.get(ue8m0_param)
        xs = {"group": _g(a, "group_size"), "eps": a.get("eps"),
              "requested": {ue8m0_param: ue8m0, "column_major_scales": a.get("column_major_scales"),
                            "scale_tma_aligned": a.get("scale_tma_aligned")}}
        if ue8m0 is not None:
            xs["pow2_rule"] = "ue8m0 (exp2(ceil(log2(s))))" if ue8m0 else "none"
            xs["suggested_preset"] = preset_ue8m0 if ue8m0 else preset_plain
        return {"xs": xs}
    return hints


def _block_hints(a: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    bs = a.get("block_size")
    out: Dict[str, Dict[str, Any]] = {}
    if bs is not None and len(bs) == 2:
        bn, bk = int(bs[0]), int(bs[1])
        out["ws"] = {"granularity": f"{bn}x{bk}", "block": [bn, bk]}
        out["xs"] = {"group": bk}
    od = a.get("output_dtype")
    if od is not None:
        out["target_out"] = {"requested_dtype": str(od).replace("torch.", "")}
    return out


def _deepgemm_hints(a: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    r = a.get("recipe")
    out: Dict[str, Dict[str, Any]] = {"xs": {}, "ws": {}}
    if r is not None and len(r) == 3:
        gm, gn, gk = (int(v) for v in r)
        out["xs"] = {"group": gk}
        out["ws"] = {"granularity": f"{gn}x{gk}", "block": [gn, gk]}
    if a.get("disable_ue8m0_cast") is not None:
        out["xs"]["requested"] = {"disable_ue8m0_cast": a.get("disable_ue8m0_cast")}
    return out


def _aiter_hints(a: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {}
    if a.get("isBpreshuffled"):
        out["w"] = {"layout": "aiter-shuffle-16x16 (shuffle_weight(w, layout=(16, 16)); undo before replay)"}
    return out


def _scaled_mm_hints(a: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {"target_out": {"use_fast_accum": bool(a.get("use_fast_accum", False))}}
    if a.get("out_dtype") is not None:
        out["target_out"]["requested_dtype"] = str(a["out_dtype"]).replace("torch.", "")
    return out


# --- the maps ---------------------------------------------------------------------------------------

# DeepGEMM csrc/apis/gemm.hpp register_apis:
#   m.def("fp8_gemm_nt", &fp8_gemm_nt, py::arg("a"), py::arg("b"), py::arg("d"),
#         py::arg("c") = std::nullopt, py::arg("recipe") = std::nullopt,
#         py::arg("compiled_dims") = "nk", py::arg("disable_ue8m0_cast") = false);
# a = (xq [M, K] fp8, xs [M, ceil(K/128)] f32, or int32 packed UE8M0 on SM100), b = (w [N, K], ws), d = [M, N]
# bf16 written in place (D = A·Bᵀ, optionally + c).
DEEPGEMM_FP8_GEMM_NT = RoleMap(
    name="deepgemm_fp8_gemm_nt", kind="gemm",
    params=["a", "b", "d", "c", "recipe", "compiled_dims", "disable_ue8m0_cast"],
    inputs={"xq": "a[0]", "xs": "a[1]", "w": "b[0]", "ws": "b[1]"},
    outputs={"target_out": "d"},
    source="deepseek-ai/DeepGEMM csrc/apis/gemm.hpp (pybind fp8_gemm_nt)",
    hints=_deepgemm_hints, default_site="fp8_gemm_nt")

# vLLM vllm/model_executor/layers/quantization/utils/fp8_utils.py:
#   def per_token_group_quant_fp8(x, group_size, eps=1e-10, dtype=None, column_major_scales=False,
#                                 out_q=None, use_ue8m0=None) -> tuple[Tensor, Tensor]   # (x_q, x_s)
VLLM_PER_TOKEN_GROUP_QUANT_FP8 = RoleMap(
    name="vllm_per_token_group_quant_fp8", kind="quant",
    params=["x", "group_size", "eps", "dtype", "column_major_scales", "out_q", "use_ue8m0"],
    inputs={"x": "x"}, outputs={"xq": "return[0]", "xs": "return[1]"},
    source="vllm-project/vllm vllm/model_executor/layers/quantization/utils/fp8_utils.py",
    hints=_group_quant_hints("vllm", "vllm-ue8m0", "use_ue8m0"), default_site="act_quant")

# SGLang python/sglang/srt/layers/quantization/fp8_kernel.py:
#   def _per_token_group_quant_8bit_raw(x, group_size, eps=1e-10, dtype=fp8_dtype, column_major_scales=False,
#                                       scale_tma_aligned=False, scale_ue8m0=False) -> (x_q, x_s)
#   per_token_group_quant_fp8 = _per_token_group_quant_8bit_raw   # "backward compatibility"
# (Triton: amax clamp eps, s = amax / fp8_max, ue8m0 → exp2(ceil(log2(s))), q = clamp(x / s): vLLM's rules.)
SGLANG_PER_TOKEN_GROUP_QUANT_FP8 = RoleMap(
    name="sglang_per_token_group_quant_fp8", kind="quant",
    params=["x", "group_size", "eps", "dtype", "column_major_scales", "scale_tma_aligned", "scale_ue8m0"],
    inputs={"x": "x"}, outputs={"xq": "return[0]", "xs": "return[1]"},
    source="sgl-project/sglang python/sglang/srt/layers/quantization/fp8_kernel.py",
    hints=_group_quant_hints("vllm", "vllm-ue8m0", "scale_ue8m0"), default_site="act_quant")

# SGLang fp8_kernel.py (the sgl-kernel CUDA path):
#   def sglang_per_token_group_quant_fp8(x, group_size, eps=1e-10, column_major_scales=False,
#       scale_tma_aligned=False, scale_ue8m0=False, fuse_silu_and_mul=False, masked_m=None) -> (x_q, x_s)
# With scale_ue8m0 the scales come back as int32 words of 4 UE8M0 codes, MN-major, TMA-aligned.
SGLANG_SGL_PER_TOKEN_GROUP_QUANT_FP8 = RoleMap(
    name="sglang_sgl_per_token_group_quant_fp8", kind="quant",
    params=["x", "group_size", "eps", "column_major_scales", "scale_tma_aligned", "scale_ue8m0",
            "fuse_silu_and_mul", "masked_m"],
    inputs={"x": "x"}, outputs={"xq": "return[0]", "xs": "return[1]"},
    source="sgl-project/sglang python/sglang/srt/layers/quantization/fp8_kernel.py",
    hints=_group_quant_hints("vllm", "vllm-ue8m0", "scale_ue8m0"), default_site="act_quant")

# vLLM fp8_utils.py:  def w8a8_triton_block_scaled_mm(A, B, As, Bs, block_size, output_dtype=torch.float16)
# SGLang fp8_kernel.py: def w8a8_block_fp8_matmul(A, B, As, Bs, block_size, output_dtype=torch.float16)
#                       (also w8a8_block_fp8_matmul_triton / _deepgemm, same parameters)
# A [M, K] fp8, B [N, K] fp8, As [M, ceil(K/bk)], Bs [ceil(N/bn), ceil(K/bk)], block_size = [bn, bk].
BLOCK_FP8_MATMUL = RoleMap(
    name="block_fp8_matmul", kind="gemm",
    params=["A", "B", "As", "Bs", "block_size", "output_dtype"],
    inputs={"xq": "A", "w": "B", "xs": "As", "ws": "Bs"}, outputs={"target_out": "return"},
    source="vllm fp8_utils.py w8a8_triton_block_scaled_mm; sglang fp8_kernel.py w8a8_block_fp8_matmul",
    hints=_block_hints, default_site="block_fp8_matmul")

# vLLM fp8_utils.py: class W8A8BlockFp8LinearOp:
#   def apply(self, input, weight, weight_scale, input_scale=None, bias=None) -> Tensor
# (quantizes `input` itself, per 1×128 group, then runs DeepGEMM / CUTLASS / Triton / aiter).
VLLM_BLOCK_FP8_LINEAR = RoleMap(
    name="vllm_block_fp8_linear", kind="linear",
    params=["self", "input", "weight", "weight_scale", "input_scale", "bias"],
    inputs={"x": "input", "w": "weight", "ws": "weight_scale", "bias": "bias"}, outputs={"target_out": "return"},
    source="vllm-project/vllm fp8_utils.py W8A8BlockFp8LinearOp.apply", default_site="block_fp8_linear")

# SGLang python/sglang/srt/layers/quantization/fp8_utils.py (and vLLM before W8A8BlockFp8LinearOp):
#   def apply_w8a8_block_fp8_linear(input, weight, block_size, weight_scale, input_scale=None, bias=None, ...)
SGLANG_BLOCK_FP8_LINEAR = RoleMap(
    name="sglang_block_fp8_linear", kind="linear",
    params=["input", "weight", "block_size", "weight_scale", "input_scale", "bias"],
    inputs={"x": "input", "w": "weight", "ws": "weight_scale", "bias": "bias"}, outputs={"target_out": "return"},
    source="sgl-project/sglang python/sglang/srt/layers/quantization/fp8_utils.py apply_w8a8_block_fp8_linear",
    hints=_block_hints, default_site="block_fp8_linear")

# aiter aiter/ops/gemm_op_a8w8.py (CK):
#   def gemm_a8w8_blockscale(XQ, WQ, x_scale, w_scale, dtype=dtypes.bf16, isBpreshuffled=False) -> Tensor
AITER_GEMM_A8W8_BLOCKSCALE = RoleMap(
    name="aiter_gemm_a8w8_blockscale", kind="gemm",
    params=["XQ", "WQ", "x_scale", "w_scale", "dtype", "isBpreshuffled"],
    inputs={"xq": "XQ", "w": "WQ", "xs": "x_scale", "ws": "w_scale"}, outputs={"target_out": "return"},
    source="ROCm/aiter aiter/ops/gemm_op_a8w8.py gemm_a8w8_blockscale", hints=_aiter_hints,
    default_site="gemm_a8w8_blockscale")

# aiter aiter/ops/triton/gemm_a8w8_blockscale.py:
#   def gemm_a8w8_blockscale(x, w, x_scale, w_scale, dtype=torch.bfloat16, y=None, config=None)
AITER_TRITON_GEMM_A8W8_BLOCKSCALE = RoleMap(
    name="aiter_triton_gemm_a8w8_blockscale", kind="gemm",
    params=["x", "w", "x_scale", "w_scale", "dtype", "y", "config"],
    inputs={"xq": "x", "w": "w", "xs": "x_scale", "ws": "w_scale"}, outputs={"target_out": "return"},
    source="ROCm/aiter aiter/ops/triton/gemm_a8w8_blockscale.py", default_site="gemm_a8w8_blockscale")

# PyTorch native_functions.yaml:
#   _scaled_mm(Tensor self, Tensor mat2, Tensor scale_a, Tensor scale_b, Tensor? bias=None,
#              Tensor? scale_result=None, ScalarType? out_dtype=None, bool use_fast_accum=False) -> Tensor
# mat2 is [K, N] (the weight [N, K] seen column-major), scale_b [1, N] row-wise or [K/128, N/128] blockwise:
# both are transposed back to isolate's [N, K] / [N, ·] orientation.
TORCH_SCALED_MM = RoleMap(
    name="torch_scaled_mm", kind="gemm",
    params=["self", "mat2", "scale_a", "scale_b", "bias", "scale_result", "out_dtype", "use_fast_accum"],
    inputs={"xq": "self", "w": "mat2.T", "xs": "scale_a", "ws": "scale_b.T", "bias": "bias"},
    outputs={"target_out": "return"},
    source="pytorch aten/src/ATen/native/native_functions.yaml _scaled_mm", hints=_scaled_mm_hints,
    default_site="scaled_mm")

ROLE_MAPS: Dict[str, RoleMap] = {m.name: m for m in (
    DEEPGEMM_FP8_GEMM_NT, VLLM_PER_TOKEN_GROUP_QUANT_FP8, SGLANG_PER_TOKEN_GROUP_QUANT_FP8,
    SGLANG_SGL_PER_TOKEN_GROUP_QUANT_FP8, BLOCK_FP8_MATMUL, VLLM_BLOCK_FP8_LINEAR, SGLANG_BLOCK_FP8_LINEAR,
    AITER_GEMM_A8W8_BLOCKSCALE, AITER_TRITON_GEMM_A8W8_BLOCKSCALE, TORCH_SCALED_MM)}
ROLE_MAPS["vllm_block_fp8_matmul"] = BLOCK_FP8_MATMUL
ROLE_MAPS["sglang_block_fp8_matmul"] = BLOCK_FP8_MATMUL

#: Short names for ISOLATE_CAPTURE_WRAP: the real import paths of each stack's functions.
PRESETS: Dict[str, List[Tuple[str, str]]] = {
    "deepgemm": [("deep_gemm:fp8_gemm_nt", "deepgemm_fp8_gemm_nt")],
    "vllm": [
        ("vllm.model_executor.layers.quantization.utils.fp8_utils:per_token_group_quant_fp8",
         "vllm_per_token_group_quant_fp8"),
        ("vllm.model_executor.layers.quantization.utils.fp8_utils:w8a8_triton_block_scaled_mm", "block_fp8_matmul"),
        ("vllm.utils.deep_gemm:fp8_gemm_nt", "deepgemm_fp8_gemm_nt"),
    ],
    "sglang": [
        ("sglang.srt.layers.quantization.fp8_kernel:per_token_group_quant_fp8", "sglang_per_token_group_quant_fp8"),
        ("sglang.srt.layers.quantization.fp8_kernel:sglang_per_token_group_quant_fp8",
         "sglang_sgl_per_token_group_quant_fp8"),
        ("sglang.srt.layers.quantization.fp8_kernel:w8a8_block_fp8_matmul_triton", "block_fp8_matmul"),
        ("sglang.srt.layers.quantization.fp8_kernel:w8a8_block_fp8_matmul_deepgemm", "block_fp8_matmul"),
    ],
    "aiter": [("aiter:gemm_a8w8_blockscale", "aiter_gemm_a8w8_blockscale")],
    "torch": [("torch:_scaled_mm", "torch_scaled_mm")],
}
