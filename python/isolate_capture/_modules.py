"""Global nn.Module hooks: which module is running (names wrapped-call sites), and per-stage hidden states
for `isolate compare` (module outputs by name pattern, `embed.input_ids`, `embed.final_h`)."""
from __future__ import annotations

import threading
import weakref
from typing import Any, Dict, List, Optional

from . import _capture as cap

_tls = threading.local()
_names: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_handles: List[Any] = []


def _stack() -> List[Any]:
    s = getattr(_tls, "stack", None)
    if s is None:
        s = _tls.stack = []
    return s


def current_module_name() -> Optional[str]:
    """Normalized name of the innermost running module (`layer3.output.dense`), None outside a forward."""
    for m in reversed(_stack()):
        n = _names.get(m)
        if n:
            return cap.normalize_module_name(n)
    return None


def _first_tensor(v):
    import torch

    if isinstance(v, torch.Tensor):
        return v
    if isinstance(v, (list, tuple)):
        for e in v:
            t = _first_tensor(e)
            if t is not None:
                return t
    if isinstance(v, dict):
        for e in v.values():
            t = _first_tensor(e)
            if t is not None:
                return t
    if hasattr(v, "last_hidden_state"):
        return getattr(v, "last_hidden_state")
    return None


class _Fwd:
    def __init__(self, call: int, record: bool):
        self.call = call
        self.record = record
        self.stages: Dict[str, Any] = {}


def _pre(module, args):
    s = cap.current()
    st = _stack()
    if s is None:
        st.append(module)
        return None
    if not st:
        if module not in _names:
            for n, m in module.named_modules():
                _names[m] = n
        call = s.next_call("__forward__")
        rec = s.stage_re is not None and s.active and s.calls(call)
        fwd = _Fwd(call, rec)
        _tls.fwd = fwd
        a0 = args[0] if args else None
        import torch

        if isinstance(a0, torch.Tensor) and not a0.is_floating_point() and not a0.is_complex():
            from . import _format as fmt

            s.token = fmt.token_ids_hash(a0)
            if rec:
                fwd.stages["embed.input_ids"] = a0
    elif module not in _names:
        # a submodule attached after the root's names were taken
        pass
    st.append(module)
    fwd = getattr(_tls, "fwd", None)
    if fwd is not None and fwd.record and s.stage_re is not None:
        name = _names.get(module)
        if name is not None:
            n = cap.normalize_module_name(name)
            if n.startswith("layer") and "." not in n and s.stage_re.search(n) and s.layers(n):
                t = _first_tensor(args)
                if t is not None and t.is_floating_point():
                    fwd.stages[f"{n}.hidden_in"] = t
    return None


def _post(module, args, output):
    st = _stack()
    if st and st[-1] is module:
        st.pop()
    elif module in st:
        while st and st.pop() is not module:
            pass
    s = cap.current()
    fwd = getattr(_tls, "fwd", None)
    if s is None or fwd is None:
        return None
    if fwd.record and s.stage_re is not None:
        name = _names.get(module)
        if name is not None and name != "":
            n = cap.normalize_module_name(name)
            if s.stage_re.search(n) and s.layers(n):
                t = _first_tensor(output)
                if t is not None and t.is_floating_point():
                    stage = f"{n}.hidden_out" if (n.startswith("layer") and "." not in n) else n
                    if s.graph_ok():
                        fwd.stages[stage] = t
    if not st:
        if fwd.record:
            t = _first_tensor(output)
            if t is not None and t.is_floating_point():
                fwd.stages.setdefault("embed.final_h", t)
            if s.graph_ok():
                s.record_stages(fwd.call, fwd.stages)
        from . import _wrap

        _wrap.flush_pending(s)
        _tls.fwd = None
    return None


def install() -> None:
    """Installs the global forward hooks (idempotent)."""
    if _handles:
        return
    import torch.nn.modules.module as mm

    _handles.append(mm.register_module_forward_pre_hook(_pre))
    try:
        _handles.append(mm.register_module_forward_hook(_post, always_call=True))
    except TypeError:  # older torch without always_call
        _handles.append(mm.register_module_forward_hook(_post))


def uninstall() -> None:
    while _handles:
        _handles.pop().remove()
    _tls.stack = []
    _tls.fwd = None
