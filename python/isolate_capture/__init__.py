"""isolate_capture: record FP8 kernel operands and hidden states from a running PyTorch model into a capture
directory that `isolate` reads (FORMAT.md).

Three ways in:

    with isolate_capture.capture("dumps/tgt", layers="3|17", calls="0-2"):      # (a) explicit
        model(ids)                 # ... and isolate_capture.site("layer3.ffn.down", x=..., xq=..., ...) inside
    isolate_capture.wrap("deep_gemm:fp8_gemm_nt", "deepgemm_fp8_gemm_nt")      # (b) wrap a named function
    ISOLATE_CAPTURE=dumps/tgt ISOLATE_CAPTURE_WRAP=vllm python serve.py         # (c) environment, on import

Importing this package with ISOLATE_CAPTURE set activates (c); without it, importing does nothing else.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

from . import _capture, _modules, _wrap
from ._capture import Session, current, say
from ._cli import IsolateError, find_binary, gemm, inspect_site, quant, run, site_entry
from ._format import FORMAT_VERSION, read_manifest
from ._wrap import WrapError, unwrap_all, wrap
from .rolemaps import PRESETS, ROLE_MAPS, RoleMap

__version__ = "0.1.0"
__all__ = ["capture", "site", "wrap", "unwrap_all", "tokens", "set_phase", "activate_from_env", "current",
           "Session", "RoleMap", "ROLE_MAPS", "PRESETS", "WrapError", "gemm", "quant", "inspect_site", "run",
           "IsolateError", "find_binary", "read_manifest", "site_entry", "FORMAT_VERSION"]


@contextlib.contextmanager
def capture(dir: str, *, sites: Optional[str] = None, layers=None, calls: Optional[str] = None,
            max_bytes: Optional[int] = None, side: str = "atom", stages: Optional[str] = None,
            rename: Optional[Dict[str, str]] = None, wrap: Sequence[Tuple[str, Union[str, RoleMap]]] = (),
            token_ids=None, phase: Optional[str] = None) -> Iterator[Session]:
    """Captures into `dir` while the block runs.

    sites: regex searched in site names; layers: `3|17`, `0-5`, an int or a list (sites whose name holds
    `layer{N}`); calls: `0-2`, `1,4-`, `all` (default); max_bytes: stop (loudly) past this many bytes;
    stages: regex over normalized module names (`layer3`, `layer3.attention`, …) whose outputs are
    written as hidden states for `isolate compare` (with `embed.input_ids` and `embed.final_h`);
    side: `atom` (the target) or `ref` — the prefix of the hidden-state file; rename: substring
    replacements applied to site names (`{"output.dense": "ffn.down"}`); wrap: (target, role map) pairs
    wrapped for the duration of the block.
    """
    s = Session(dir, sites=sites, layers=layers, calls=calls, max_bytes=max_bytes, side=side, stages=stages,
                rename=rename, source="api", token_ids=token_ids, phase=phase)
    prev = _capture.current()
    _capture.set_current(s)
    _modules.install()
    n_before = len(_wrap._installed)
    try:
        for target, rm in wrap:
            _wrap.wrap(target, rm)
        yield s
    finally:
        try:
            _wrap.flush_pending(s)
        finally:
            while len(_wrap._installed) > n_before:
                owner, attr, raw, wrapper, rebinds = _wrap._installed.pop()
                setattr(owner, attr, raw)
                orig = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
                for m, k in rebinds:
                    if m.__dict__.get(k) is wrapper:
                        m.__dict__[k] = orig
            _capture.set_current(prev)
            if prev is None:
                _modules.uninstall()
            s.close(report=True)


def site(name: str, *, x=None, xq=None, xs=None, w=None, ws=None, target_out=None, bias=None, ref_out=None,
         call: Optional[int] = None, kind: Optional[str] = None, scale: Optional[Dict[str, Dict[str, Any]]] = None,
         phase: Optional[str] = None, op: str = "site") -> bool:
    """Records one call of a site from inside your own kernel wrapper (the always-works path).

    Counts the call (or uses `call`), applies the session's filters and one-shot rule, copies the given
    tensors to the host without touching them, and returns whether it was recorded. `scale` adds or
    overrides the recorded meaning of xs/ws, e.g. `{"xs": {"group": 128, "pow2_rule": "ue8m0"}}`.
    Without an active capture it does nothing and returns False.
    """
    s = _capture.current()
    if s is None or not s.active:
        return False
    name = s.site_name(name)
    c = s.next_call(name) if call is None else int(call)
    if not s.wants(name, c):
        return False
    roles = {"x": x, "xq": xq, "xs": xs, "w": w, "ws": ws, "target_out": target_out, "bias": bias, "ref_out": ref_out}
    roles = {k: v for k, v in roles.items() if v is not None}
    if kind is None:
        kind = "gemm" if ("w" in roles or "target_out" in roles) and "xq" in roles else (
            "linear" if "w" in roles else "quant")
    return s.record(name, c, kind, roles, op=op, module=_modules.current_module_name(), hints=scale, phase=phase)


def tokens(ids) -> None:
    """Sets the token ids of what runs next (their hash goes into every entry)."""
    s = _capture.current()
    if s is not None:
        from . import _format as fmt

        s.token = fmt.token_ids_hash(ids)


def set_phase(phase: Optional[str]) -> None:
    """`prefill` / `decode` / None for the entries recorded from now on."""
    s = _capture.current()
    if s is not None:
        s.phase = phase


def _parse_bytes(v: str) -> int:
    v = v.strip().upper().rstrip("B").rstrip("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if v and v[-1] in mult:
        return int(float(v[:-1]) * mult[v[-1]])
    return int(v)


def activate_from_env(environ=None) -> Optional[Session]:
    """Starts the environment-gated capture: ISOLATE_CAPTURE=DIR plus ISOLATE_CAPTURE_SITES (regex),
    _LAYERS, _CALLS, _WRAP (presets or module:function=role_map, comma-separated), _MAX_BYTES (e.g. 2G),
    _STAGES (regex), _SIDE (atom|ref), _RENAME (a=b;c=d). Problems are one line each; the model runs on."""
    env = os.environ if environ is None else environ
    d = env.get("ISOLATE_CAPTURE")
    if not d:
        return None
    if _capture.current() is not None and _capture.current().source == "env":
        return _capture.current()
    mb = None
    if env.get("ISOLATE_CAPTURE_MAX_BYTES"):
        try:
            mb = _parse_bytes(env["ISOLATE_CAPTURE_MAX_BYTES"])
        except ValueError:
            say(f"ISOLATE_CAPTURE_MAX_BYTES={env['ISOLATE_CAPTURE_MAX_BYTES']!r} is not a size (e.g. 2G, 500M, "
                f"1048576); using the default {_capture.DEFAULT_MAX_BYTES}")
    rename = {}
    for part in (env.get("ISOLATE_CAPTURE_RENAME") or "").split(";"):
        if "=" in part:
            a, b = part.split("=", 1)
            rename[a.strip()] = b.strip()
    try:
        s = Session(d, sites=env.get("ISOLATE_CAPTURE_SITES") or None, layers=env.get("ISOLATE_CAPTURE_LAYERS") or None,
                    calls=env.get("ISOLATE_CAPTURE_CALLS") or None, max_bytes=mb,
                    side=env.get("ISOLATE_CAPTURE_SIDE") or "atom", stages=env.get("ISOLATE_CAPTURE_STAGES") or None,
                    rename=rename, source="env")
    except Exception as e:
        say(f"ISOLATE_CAPTURE={d}: not activated: {e}")
        return None
    _capture.set_current(s)
    _modules.install()
    spec = env.get("ISOLATE_CAPTURE_WRAP") or ""
    try:
        targets = _wrap.parse_wrap_env(spec)
    except WrapError as e:
        say(str(e))
        s.errors.append(str(e))
        targets = []
    for target, rm in targets:
        _wrap.wrap(target, rm, strict=False)
    say(f"capturing into {s.dir} (sites={s.sites_spec or 'all'}, calls={s.calls.spec or 'all'}, "
        f"wraps={len(s.wraps)}/{len(targets)}, stages={env.get('ISOLATE_CAPTURE_STAGES') or 'none'}, "
        f"max {s.max_bytes} bytes)")
    return s


activate_from_env()
