"""The capture-directory format (FORMAT.md is the normative text; this module writes it).

Pure metadata: names, shapes, dtypes and what a scale tensor *means*. Nothing here computes model
numerics; the only data-dependent check is whether every stored scale is a power of two (a fact about
the dump, recorded so that `isolate capture ls` can show it).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence

FORMAT_NAME = "isolate-capture"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

#: Roles of a GEMM site (design.md "Tensor roles"); a quant site holds x, xq, xs.
GEMM_ROLES = ("x", "xq", "xs", "w", "ws", "target_out")
QUANT_ROLES = ("x", "xq", "xs")
ALL_ROLES = GEMM_ROLES + ("bias", "ref_out")
#: What `isolate capture check` requires per kind (x is optional for a GEMM: a GEMM wrapper alone never
#: sees the pre-quant activation; it is linked from a wrapped quantizer when there is one).
REQUIRED_ROLES = {"gemm": ("xq", "xs", "w", "ws", "target_out"), "quant": ("x", "xq", "xs")}

_SITE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def check_site_name(name: str) -> str:
    if not isinstance(name, str) or not _SITE_RE.match(name) or name in (".", "..") or ".." in name:
        raise ValueError(
            f"isolate_capture: site name {name!r} must be letters, digits, '_', '.', '-' (it names a folder)"
        )
    return name


def site_file(site: str, call: int, rank: int) -> str:
    """Relative path of the safetensors file of one (site, call, rank)."""
    return f"sites/{site}/call{call:03d}.rank{rank}.safetensors"


def stages_file(call: int, side: str, rank: int) -> str:
    """Relative path of one forward call's hidden states, in the name `isolate compare` looks for."""
    return f"fwd/call{call:03d}/{side}_rank{rank}_fwd.safetensors"


# --- dtypes -----------------------------------------------------------------------------------------

def dtype_name(dtype) -> str:
    """The safetensors dtype name of a torch dtype (what `isolate inspect` prints)."""
    import torch

    names = {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
        torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
        torch.bool: "BOOL",
    }
    for attr, n in (("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2"),
                    ("float8_e4m3fnuz", "F8_E4M3FNUZ"), ("float8_e5m2fnuz", "F8_E5M2FNUZ"),
                    ("float8_e8m0fnu", "F8_E8M0"), ("uint32", "U32"), ("uint16", "U16"), ("uint64", "U64")):
        if hasattr(torch, attr):
            names[getattr(torch, attr)] = n
    return names.get(dtype, str(dtype).replace("torch.", ""))


def fp8_format(dtype) -> Optional[str]:
    """e4m3fn | e4m3fnuz | e5m2 | e5m2fnuz for an FP8 dtype, "u8-bytes" for raw bytes, else None."""
    import torch

    for attr, n in (("float8_e4m3fn", "e4m3fn"), ("float8_e4m3fnuz", "e4m3fnuz"),
                    ("float8_e5m2", "e5m2"), ("float8_e5m2fnuz", "e5m2fnuz")):
        if getattr(torch, attr, None) is dtype:
            return n
    if dtype is torch.uint8 or dtype is torch.int8:
        return "u8-bytes"
    return None


FP8_MAX = {"e4m3fn": 448.0, "e4m3fnuz": 240.0, "e5m2": 57344.0, "e5m2fnuz": 57344.0}


# --- scale meaning ----------------------------------------------------------------------------------

def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _source_layout(t, rows: int) -> Dict[str, Any]:
    """How a 2-D scale tensor sat in memory in the kernel's hands (from its strides)."""
    if t.dim() != 2 or t.numel() <= 1:
        return {"source_layout": "row", "mn_major": False, "tma_aligned": False}
    s0, s1 = t.stride()
    m, n = t.shape
    if n == 1 or s1 == 1 and s0 >= n:
        return {"source_layout": "row", "mn_major": False, "tma_aligned": False}
    if s0 == 1:
        if s1 == m:
            return {"source_layout": "col", "mn_major": True, "tma_aligned": m % 4 == 0}
        if s1 == _cdiv(m, 4) * 4:
            return {"source_layout": "tma", "mn_major": True, "tma_aligned": True}
    return {"source_layout": f"strided{tuple(t.stride())}", "mn_major": False, "tma_aligned": False}


def scale_meaning(role: str, scale, operand_shape: Sequence[int], hints: Optional[Dict[str, Any]] = None
                  ) -> Dict[str, Any]:
    """What a scale tensor means, inferred from its shape/dtype/strides and the operand it scales.

    `scale` is the tensor as the kernel had it (strides intact); `operand_shape` is [M, K] for xs or
    [N, K] for ws. `hints` (from a role map or the user) override: group, granularity, encoding,
    pow2_rule, fp8_max, source_layout.
    """
    import torch

    hints = dict(hints or {})
    rows, k = (int(operand_shape[0]), int(operand_shape[-1])) if len(operand_shape) >= 2 else (1, int(operand_shape[0]))
    packed = scale.dtype in (torch.int32, getattr(torch, "uint32", torch.int32))
    e8m0 = scale.dtype in (torch.uint8, getattr(torch, "float8_e8m0fnu", torch.uint8))
    enc = "ue8m0-packed-int32" if packed else ("e8m0" if e8m0 else
                                               ("f32" if scale.dtype == torch.float32 else dtype_name(scale.dtype).lower()))
    shape = list(scale.shape)
    numel = scale.numel()
    out: Dict[str, Any] = {"encoding": enc, "applies_to": "xq" if role == "xs" else "w",
                           "dequant": "value = code * scale"}
    gran, block = None, None
    if numel == 1:
        gran, block = "per-tensor", [rows, k]
    elif len(shape) >= 1 and shape[0] == rows and (len(shape) == 1 or shape[-1] == 1) and not packed:
        gran, block = "per-row", [1, k]
    elif len(shape) == 2 and shape[0] == rows:
        ng = shape[1] * (4 if packed else 1)
        g = hints.get("group") or (k // ng if ng and k % ng == 0 else None)
        if packed:
            g = hints.get("group") or 128
        if g is None:
            for cand in (128, 64, 32, 256, 16):
                if _cdiv(k, cand) == shape[1] * (4 if packed else 1) or (packed and _cdiv(_cdiv(k, cand), 4) == shape[1]):
                    g = cand
                    break
        gran, block = (f"1x{g}" if g else "1xG"), [1, g]
    elif len(shape) == 2 and role == "ws" and shape[0] == _cdiv(rows, 128) and shape[1] == _cdiv(k, 128):
        gran, block = "128x128", [128, 128]
    elif len(shape) == 2 and role == "ws":
        bn = _cdiv(rows, shape[0]) if shape[0] else None
        bk = _cdiv(k, shape[1]) if shape[1] else None
        gran, block = f"{bn}x{bk}", [bn, bk]
    out["granularity"] = hints.pop("granularity", gran or "unknown")
    out["block"] = hints.pop("block", block)
    out.update(_source_layout(scale, rows))
    for key in ("source_layout", "mn_major", "tma_aligned"):
        if key in hints:
            out[key] = hints.pop(key)
    if packed:
        out["packing"] = "4 ue8m0 codes per int32 word, byte j = group 4w+j (little-endian)"
        out["stored_layout"] = "packed-ue8m0"
        out["source_layout"] = "packed-ue8m0-" + ("tma" if out["mn_major"] else "row")
    else:
        out["packing"] = "none"
        out["stored_layout"] = "row"
    out.update({k2: v for k2, v in hints.items() if v is not None})
    return out


def all_pow2(values) -> Optional[bool]:
    """True when every stored f32 scale is a positive power of two (e8m0-representable)."""
    import torch

    if values.dtype != torch.float32 or values.numel() == 0:
        return None
    bits = values.contiguous().view(torch.int32)
    return bool(((bits & 0x7FFFFF) == 0).all().item() and (values > 0).all().item())


# --- token ids --------------------------------------------------------------------------------------

def token_ids_hash(ids) -> Dict[str, Any]:
    """sha256 of the ids as little-endian int64, flattened (first 16 hex digits) and their count."""
    import torch

    t = ids.detach().to("cpu", torch.int64).contiguous().flatten()
    return {"sha256_16": hashlib.sha256(bytes(t.view(torch.uint8).tolist())).hexdigest()[:16], "count": int(t.numel())}


# --- manifest ---------------------------------------------------------------------------------------

def empty_manifest() -> Dict[str, Any]:
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "sites": {}, "stages": [], "runs": []}


def read_manifest(dirpath: str) -> Dict[str, Any]:
    p = os.path.join(dirpath, MANIFEST)
    if not os.path.exists(p):
        return empty_manifest()
    with open(p) as f:
        m = json.load(f)
    if m.get("format") != FORMAT_NAME:
        raise ValueError(f"{p}: not an isolate capture manifest (format {m.get('format')!r})")
    return m


def merge_entry(manifest: Dict[str, Any], site: str, site_info: Dict[str, Any], call: Dict[str, Any]) -> None:
    s = manifest["sites"].setdefault(site, {k: v for k, v in site_info.items()})
    for k, v in site_info.items():
        s.setdefault(k, v)
    calls: List[Dict[str, Any]] = s.setdefault("calls", [])
    calls[:] = [c for c in calls if c.get("file") != call.get("file")] + [call]
    calls.sort(key=lambda c: (c.get("call", 0), c.get("rank", {}).get("global", 0)))


def write_manifest_locked(dirpath: str, update) -> Dict[str, Any]:
    """Read-modify-write of manifest.json under an exclusive lock (several ranks may share a directory)."""
    os.makedirs(dirpath, exist_ok=True)
    lock = os.path.join(dirpath, ".manifest.lock")
    with open(lock, "a+") as lf:
        try:
            import fcntl

            fcntl.flock(lf.fileno(), fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX
            pass
        m = read_manifest(dirpath)
        update(m)
        tmp = os.path.join(dirpath, f".{MANIFEST}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(m, f, indent=1, sort_keys=False)
            f.write("\n")
        os.replace(tmp, os.path.join(dirpath, MANIFEST))
    return m
