"""A minimal safetensors writer over torch alone (safetensors' own writer needs numpy, which the
capture side does not want to require). Layout per the safetensors spec: u64 little-endian header size,
a JSON header (names → dtype, shape, data_offsets; `__metadata__` str → str) padded with spaces to 8
bytes, then the raw little-endian tensor bytes in header order."""
from __future__ import annotations

import ctypes
import json
import struct
import sys
from typing import Dict, Optional

from ._format import dtype_name


def save(tensors: Dict[str, "object"], path: str, metadata: Optional[Dict[str, str]] = None) -> None:
    import torch

    if sys.byteorder != "little":  # pragma: no cover
        raise RuntimeError("big-endian hosts are not supported")
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))  # larger alignment first
    off = 0
    blobs = []
    for name in order:
        t = tensors[name].detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        n = t.numel() * t.element_size()
        header[name] = {"dtype": dtype_name(t.dtype), "shape": list(t.shape), "data_offsets": [off, off + n]}
        blobs.append((t, n))
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for t, n in blobs:
            if n:
                f.write(ctypes.string_at(t.data_ptr(), n))
