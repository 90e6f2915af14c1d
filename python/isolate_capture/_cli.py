"""A thin API over the `isolate` binary's JSON output (nothing here computes numerics)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, Dict, List, Optional, Sequence

from . import _format as fmt


class IsolateError(RuntimeError):
    """`isolate` said the input is bad (exit 2), or could not be run; the message is its line."""


def find_binary(binary: Optional[str] = None) -> str:
    """`binary`, else $ISOLATE_BIN, else `isolate` on PATH."""
    cand = binary or os.environ.get("ISOLATE_BIN") or shutil.which("isolate")
    if not cand or not os.path.exists(cand):
        raise IsolateError("the `isolate` binary was not found: install the isolate wheel (scripts/build-wheel.sh), "
                           "put it on PATH or set ISOLATE_BIN")
    return cand


def site_entry(path: str, site: str, call: Optional[int] = None, rank: int = 0) -> Dict[str, Any]:
    """The manifest entry of (site, call, rank) of a capture directory (call None: the lowest captured)."""
    m = fmt.read_manifest(path)
    s = m["sites"].get(site)
    if s is None:
        known = ", ".join(sorted(m["sites"])[:20]) or "none"
        raise IsolateError(f"{path}: no site {site!r} in the manifest (sites: {known})")
    calls = [c for c in s.get("calls", []) if c.get("rank", {}).get("global", 0) == rank]
    if call is not None:
        calls = [c for c in calls if c.get("call") == call]
    if not calls:
        have = sorted({c.get("call") for c in s.get("calls", [])})
        raise IsolateError(f"{path}: site {site!r} has no call {call} for rank {rank} (calls: {have})")
    return calls[0]


def run(args: Sequence[str], binary: Optional[str] = None) -> Dict[str, Any]:
    """Runs `isolate ARGS --json -` and returns its JSON with `exit_code` added. Exit 2 raises IsolateError."""
    cmd = [find_binary(binary)] + list(args)
    if "--json" not in cmd:
        cmd += ["--json", "-"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in (0, 1):
        line = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        raise IsolateError(f"isolate {' '.join(args[:1])}: {line}")
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        raise IsolateError(f"isolate {' '.join(args[:1])}: no JSON on stdout (exit {p.returncode}): "
                           f"{p.stdout[:200]!r} {p.stderr[-200:]!r}") from None
    if isinstance(out, dict):
        out["exit_code"] = p.returncode
        if p.stderr.strip():
            out.setdefault("stderr", p.stderr.strip())
    return out


def _site_inputs(path: str, site: Optional[str], call: Optional[int], rank: int) -> List[str]:
    if os.path.isdir(path):
        if site is None:
            raise IsolateError(f"{path} is a capture directory: name a site")
        e = site_entry(path, site, call, rank)
        args = ["--input", os.path.join(path, e["file"])]
        xs = e.get("roles", {}).get("xs", {}).get("scale", {})
        if xs.get("stored_layout") and xs["stored_layout"] != "row":
            args += ["--xs-layout", xs["stored_layout"]]
        return args
    return ["--input", path]


def gemm(path: str, site: Optional[str] = None, *, call: Optional[int] = None, rank: int = 0,
         target_quant: str = "dumped", ref_quant: str = "deepgemm-ue8m0", target_gemm: str = "blockwise",
         ref_gemm: str = "blockwise", extra: Sequence[str] = (), binary: Optional[str] = None) -> Dict[str, Any]:
    """`isolate gemm` on one captured (site, call) — or on a plain safetensors file — as a dict."""
    args = ["gemm"] + _site_inputs(path, site, call, rank) + [
        "--target-quant", target_quant, "--ref-quant", ref_quant, "--target-gemm", target_gemm,
        "--ref-gemm", ref_gemm] + list(extra)
    return run(args, binary)


def quant(path: str, site: Optional[str] = None, *, call: Optional[int] = None, rank: int = 0,
          reference: str = "deepgemm-ue8m0", candidate: str = "dumped", extra: Sequence[str] = (),
          binary: Optional[str] = None) -> Dict[str, Any]:
    """`isolate quant` (is the captured quantizer byte-equal to a preset?) as a dict."""
    args = ["quant"] + _site_inputs(path, site, call, rank) + ["--reference", reference, "--candidate", candidate]
    return run(args + list(extra), binary)


def inspect_site(path: str, site: Optional[str] = None, *, call: Optional[int] = None, rank: int = 0,
                 binary: Optional[str] = None) -> Any:
    """`isolate inspect` of one captured file."""
    ins = _site_inputs(path, site, call, rank)
    return run(["inspect", ins[1]], binary)
