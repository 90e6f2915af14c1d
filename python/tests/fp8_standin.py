"""CPU stand-ins with the exact published signatures of the functions the role maps cover (see
isolate_capture/rolemaps.py for the sources). Numerics: DeepGEMM-style ue8m0 1x128 activation quant
(fixtures/gen: per_token_cast_to_fp8 with ceil_to_ue8m0), 128x128 weight quant, and a
dequantize-and-matmul GEMM; QUANT_VARIANT = "torch-e8m0" plants ATOM's act_quant_inplace rule (the scale
rounded by torch's float8_e8m0fnu cast, i.e. to nearest) instead."""
from typing import List, Optional

import torch

QUANT_VARIANT = "deepgemm-ue8m0"
CALLS = []  # (function name) log, for the tests


def ceil_to_ue8m0(x):
    b = x.abs().float().view(torch.int32)
    e = ((b >> 23) & 0xFF) + ((b & 0x7FFFFF) != 0).int()
    return (torch.clamp(e, 1, 254) << 23).view(torch.float32)


def _act_quant(x, group_size):
    m, k = x.shape
    v = x.float().view(m, k // group_size, group_size)
    amax = v.abs().amax(dim=2, keepdim=True).clamp(1e-4)
    if QUANT_VARIANT == "torch-e8m0":
        s = (amax * (1.0 / 448.0)).to(torch.float8_e8m0fnu).float()
        q = (v / s).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)
    else:
        s = ceil_to_ue8m0(amax / 448.0)
        q = (v * (1.0 / s)).to(torch.float8_e4m3fn)
    return q.view(m, k), s.view(m, k // group_size)


def weight_quant(w):
    n, k = w.shape
    v = w.float().view(n // 128, 128, k // 128, 128)
    sf = ceil_to_ue8m0(v.abs().amax(dim=(1, 3), keepdim=True).clamp(1e-4) / 448.0)
    return (v * (1.0 / sf)).to(torch.float8_e4m3fn).view(n, k), sf.view(n // 128, k // 128)


def _dequant_mm(xq, xs, w, ws, out_dtype):
    m, k = xq.shape
    n = w.shape[0]
    g = k // xs.shape[1]
    a = (xq.float().view(m, k // g, g) * xs.float().view(m, -1, 1)).view(m, k)
    b = (w.float().view(n // 128, 128, k // 128, 128) * ws.float().view(n // 128, 1, k // 128, 1)).view(n, k)
    return (a @ b.T).to(out_dtype)


# SGLang fp8_kernel.py _per_token_group_quant_8bit_raw (= per_token_group_quant_fp8)
def per_token_group_quant_fp8(x: torch.Tensor, group_size: int, eps: float = 1e-10,
                              dtype: torch.dtype = torch.float8_e4m3fn, column_major_scales: bool = False,
                              scale_tma_aligned: bool = False, scale_ue8m0: bool = False):
    CALLS.append("per_token_group_quant_fp8")
    q, s = _act_quant(x, group_size)
    if column_major_scales:  # MN-major storage, as the real function allocates it
        s = s.t().contiguous().t()
    return q, s


# vLLM fp8_utils.py per_token_group_quant_fp8
def vllm_per_token_group_quant_fp8(x: torch.Tensor, group_size: int, eps: float = 1e-10,
                                   dtype: Optional[torch.dtype] = None, column_major_scales: bool = False,
                                   out_q: Optional[torch.Tensor] = None, use_ue8m0: Optional[bool] = None):
    return per_token_group_quant_fp8(x, group_size, column_major_scales=column_major_scales)


# DeepGEMM fp8_gemm_nt (pybind: a, b, d, c=None, recipe=None, compiled_dims="nk", disable_ue8m0_cast=False)
def fp8_gemm_nt(a, b, d, c=None, recipe=None, compiled_dims="nk", disable_ue8m0_cast=False):
    CALLS.append("fp8_gemm_nt")
    d.copy_(_dequant_mm(a[0], a[1], b[0], b[1], d.dtype) if c is None else
            (_dequant_mm(a[0], a[1], b[0], b[1], torch.float32) + c.float()).to(d.dtype))


# vLLM w8a8_triton_block_scaled_mm / SGLang w8a8_block_fp8_matmul
def w8a8_block_fp8_matmul(A, B, As, Bs, block_size: List[int], output_dtype: torch.dtype = torch.float16):
    return _dequant_mm(A, As, B, Bs, output_dtype)


# aiter gemm_op_a8w8.py (CK)
def gemm_a8w8_blockscale(XQ, WQ, x_scale, w_scale, dtype=torch.bfloat16, isBpreshuffled=False):
    return _dequant_mm(XQ, x_scale, WQ, w_scale, dtype)


# SGLang fp8_utils.py apply_w8a8_block_fp8_linear
def apply_w8a8_block_fp8_linear(input, weight, block_size, weight_scale, input_scale=None, bias=None):
    q, s = per_token_group_quant_fp8(input.view(-1, input.shape[-1]), block_size[1])
    out = _dequant_mm(q, s, weight, weight_scale, input.dtype)
    return out if bias is None else out + bias


# vLLM fp8_utils.py W8A8BlockFp8LinearOp.apply
class W8A8BlockFp8LinearOp:
    def apply(self, input, weight, weight_scale, input_scale=None, bias=None):
        return apply_w8a8_block_fp8_linear(input, weight, [128, 128], weight_scale, input_scale, bias)


# a GEMM whose signature does NOT match the DeepGEMM role map (for the bad-input test)
def wrong_gemm(x, w, out):
    return None


class Fp8Linear(torch.nn.Module):
    """A linear layer running per_token_group_quant_fp8 + fp8_gemm_nt (looked up on this module at call time,
    as real model code does through its kernel module)."""

    def __init__(self, lin: torch.nn.Linear):
        super().__init__()
        w, ws = weight_quant(lin.weight.detach())
        self.register_buffer("w", w)
        self.register_buffer("ws", ws)
        self.bias = None if lin.bias is None else torch.nn.Parameter(lin.bias.detach().clone(), requires_grad=False)

    def forward(self, x):
        import fp8_standin as k

        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).to(torch.bfloat16).contiguous()
        xq, xs = k.per_token_group_quant_fp8(x2, 128, 1e-4, column_major_scales=True)
        out = torch.empty(x2.shape[0], self.w.shape[0], dtype=torch.bfloat16)
        k.fp8_gemm_nt((xq, xs), (self.w, self.ws), out)
        out = out.to(x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.view(*shape[:-1], -1)
