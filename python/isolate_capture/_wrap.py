"""`wrap("module.path:function", role_map)`: records a named function's operands without editing the model."""
from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import _capture as cap
from . import _modules
from .rolemaps import ROLE_MAPS, RoleMap, parse_spec


class WrapError(ValueError):
    """A wrap target that cannot be wrapped; the message is one line naming it."""


_tls = threading.local()
_installed: List[Tuple[Any, str, Any, Any, List[Tuple[Any, str]]]] = []  # (owner, attr, original, wrapper, rebinds)


def _resolve(target: str):
    if ":" not in target:
        raise WrapError(f"wrap {target}: expected 'module.path:function' (or 'module.path:Class.method')")
    mod_name, attr_path = target.split(":", 1)
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:
        raise WrapError(f"wrap {target}: module {mod_name} cannot be imported ({type(e).__name__}: {e})") from None
    owner: Any = mod
    parts = attr_path.split(".")
    for p in parts[:-1]:
        if not hasattr(owner, p):
            raise WrapError(f"wrap {target}: {owner.__name__ if hasattr(owner, '__name__') else owner} has no attribute {p}")
        owner = getattr(owner, p)
    if not hasattr(owner, parts[-1]):
        raise WrapError(f"wrap {target}: {mod_name} has no attribute {attr_path}")
    # the raw attribute (a staticmethod stays a staticmethod when read from the class __dict__)
    raw = inspect.getattr_static(owner, parts[-1])
    return owner, parts[-1], raw, getattr(owner, parts[-1])


def check_signature(fn, rm: RoleMap, target: str) -> Optional[inspect.Signature]:
    """The function's signature when it matches the role map; WrapError (one line) when it does not; None
    when it has no inspectable signature (a builtin: bound by the role map's documented order)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    ps = list(sig.parameters.values())
    names = [p.name for p in ps]
    var_pos = any(p.kind is p.VAR_POSITIONAL for p in ps)
    var_kw = any(p.kind is p.VAR_KEYWORD for p in ps)
    if var_pos and var_kw and len(names) == 2:
        return None  # f(*args, **kwargs): a forwarding wrapper, bound by the documented order
    for p in rm.referenced_params():
        if p not in names and not var_kw:
            raise WrapError(f"wrap {target}: signature {sig} has no parameter '{p}' that role map {rm.name} "
                            f"needs (role map parameters: {', '.join(rm.params)})")
    for i, p in enumerate(rm.params):
        if p in names and names.index(p) != i and ps[names.index(p)].kind in (
                inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            raise WrapError(f"wrap {target}: parameter '{p}' is at position {names.index(p)} of {sig}, role map "
                            f"{rm.name} documents it at position {i}")
    return sig


def _bind(sig: Optional[inspect.Signature], rm: RoleMap, args, kwargs) -> Dict[str, Any]:
    if sig is not None:
        ba = sig.bind(*args, **kwargs)
        ba.apply_defaults()
        out = dict(ba.arguments)
        for p in sig.parameters.values():
            if p.kind is p.VAR_KEYWORD and p.name in out:
                out.update(out.pop(p.name))
        return out
    out = dict(zip(rm.params, args))
    out.update(kwargs)
    return out


def _get(bound: Dict[str, Any], spec: str, result: Any = None):
    name, idx, t = parse_spec(spec)
    v = result if name == "return" else bound.get(name)
    if v is not None and idx is not None:
        v = v[idx]
    if v is not None and t and hasattr(v, "dim") and v.dim() == 2:
        v = v.t()
    return v


def _pending(session) -> Dict[Tuple[int, Tuple[int, ...], str], Dict[str, Any]]:
    p = getattr(session, "_pending_quant", None)
    if p is None:
        p = session._pending_quant = {}
    return p


def _key(t):
    return (t.data_ptr(), tuple(t.shape), str(t.device))


def _materialize(copy):
    t, ev = copy
    if ev is not None:
        ev.synchronize()
    return t


def flush_pending(session) -> None:
    """Quantizer calls that no wrapped GEMM consumed are written as quant sites of their own."""
    p = _pending(session)
    items = list(p.values())
    p.clear()
    for rec in items:
        site = rec["site"] + ".act_quant" if not rec["site"].endswith("act_quant") else rec["site"]
        call = session.next_call(site)
        if session.wants(site, call):
            roles = {k: _materialize(v) for k, v in rec["roles"].items()}
            session.record(site, call, "quant", roles, op=rec["op"], module=rec["module"], hints=rec["hints"])


def make_wrapper(fn: Callable, rm: RoleMap, target: str, sig: Optional[inspect.Signature]) -> Callable:
    label = target

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        s = cap.current()
        depth = getattr(_tls, "depth", 0)
        if s is None or not s.active or depth > 0:
            return fn(*args, **kwargs)
        try:
            bound = _bind(sig, rm, args, kwargs)
            module = _modules.current_module_name()
            site = s.site_name(module or rm.default_site or rm.name)
        except Exception as e:
            _warn_once(s, target, f"wrap {target}: arguments do not fit role map {rm.name} ({e}); passing through")
            return fn(*args, **kwargs)
        if rm.kind == "quant":
            call = s.counters.get(site, 0)  # the GEMM that consumes it will take this call index
            want = s.site_re is None or s.site_re.search(site) or s.site_re.search(site + ".act_quant")
            want = want and s.layers(site) and s.calls(call) and not cap.graph_capturing()
        else:
            call = s.next_call(site)
            want = s.wants(site, call)
        pre: Dict[str, Any] = {}
        if want:
            for role, spec in rm.inputs.items():
                try:
                    pre[role] = _get(bound, spec)
                except Exception:
                    pass
        _tls.depth = depth + 1
        try:
            result = fn(*args, **kwargs)
        finally:
            _tls.depth = depth
        if not want:
            return result
        try:
            roles = dict(pre)
            for role, spec in rm.outputs.items():
                roles[role] = _get(bound, spec, result)
            hints = rm.hints(bound) if rm.hints else {}
            import torch

            if rm.kind == "quant":
                xq = roles.get("xq")
                if isinstance(xq, torch.Tensor) and isinstance(roles.get("x"), torch.Tensor):
                    from . import _format as fmt

                    xs = roles.get("xs")
                    if isinstance(xs, torch.Tensor):  # strides are lost in the host copy: keep their meaning now
                        hints.setdefault("xs", {}).update(
                            {k: v for k, v in fmt._source_layout(xs, xq.shape[0]).items()})
                    # host copies now: the buffers may be reused before the GEMM runs
                    copies = {k: cap.host_copy(v) for k, v in roles.items() if isinstance(v, torch.Tensor)}
                    _pending(s)[_key(xq)] = {"site": site, "roles": copies, "hints": hints, "op": label,
                                             "module": module}
            else:
                xq = roles.get("xq")
                if isinstance(xq, torch.Tensor):
                    q = _pending(s).pop(_key(xq), None)
                    if q is not None:
                        for r in ("x", "xq", "xs"):
                            if roles.get(r) is None and r in q["roles"]:
                                roles[r] = _materialize(q["roles"][r])
                        for r, h in q["hints"].items():
                            hints.setdefault(r, {}).update({k: v for k, v in h.items() if k not in hints.get(r, {})})
                        hints.setdefault("x", {})["linked_from"] = q["op"]
                s.record(site, call, rm.kind, roles, op=label, module=module, hints=hints,
                         extra={"role_map": rm.name})
        except Exception as e:
            _warn_once(s, target, f"wrap {target}: recording failed ({type(e).__name__}: {e}); the call's result is unchanged")
        return result

    wrapper.__isolate_capture_wrapped__ = fn  # type: ignore[attr-defined]
    wrapper.__isolate_capture_role_map__ = rm.name  # type: ignore[attr-defined]
    return wrapper


def _warn_once(s, target: str, msg: str) -> None:
    seen = getattr(s, "_warned", None)
    if seen is None:
        seen = s._warned = set()
    if target not in seen:
        seen.add(target)
        cap.say(msg)
        s.errors.append(msg)


def wrap(target: str, role_map: Union[str, RoleMap], *, strict: bool = True) -> Optional[Callable]:
    """Replaces `module.path:function` (or `module.path:Class.method`) with a recording wrapper.

    `role_map` is a RoleMap or the name of a ready one (`isolate_capture.ROLE_MAPS`). The module is
    imported now; references to the function that other already-imported modules hold
    (`from x import f`) are rebound too. A missing target or a signature that does not match the role map
    raises WrapError (one line naming it) — or, with strict=False, prints that line and returns None.
    """
    try:
        rm = role_map if isinstance(role_map, RoleMap) else ROLE_MAPS.get(role_map)
        if rm is None:
            raise WrapError(f"wrap {target}: unknown role map {role_map!r} (known: {', '.join(sorted(ROLE_MAPS))})")
        owner, attr, raw, fn = _resolve(target)
        if getattr(fn, "__isolate_capture_wrapped__", None) is not None:
            return fn
        is_static = isinstance(raw, staticmethod)
        inner = raw.__func__ if is_static or isinstance(raw, classmethod) else fn
        sig = check_signature(inner, rm, target)
        wrapper = make_wrapper(inner, rm, target, sig)
        new = staticmethod(wrapper) if is_static else wrapper
        setattr(owner, attr, new)
        rebinds = []
        if inspect.ismodule(owner):
            for name, m in list(sys.modules.items()):
                d = getattr(m, "__dict__", None)
                if not d or m is owner:
                    continue
                try:
                    for k, v in list(d.items()):
                        if v is fn:
                            d[k] = wrapper
                            rebinds.append((m, k))
                except Exception:
                    continue
        _installed.append((owner, attr, raw, wrapper, rebinds))
        s = cap.current()
        if s is not None:
            s.wraps.append(f"{target}={rm.name}")
        return wrapper
    except WrapError as e:
        if strict:
            raise
        cap.say(str(e))
        s = cap.current()
        if s is not None:
            s.errors.append(str(e))
        return None


def unwrap_all() -> None:
    """Restores every wrapped function (and the references rebound to it)."""
    while _installed:
        owner, attr, raw, wrapper, rebinds = _installed.pop()
        setattr(owner, attr, raw)
        orig = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
        for m, k in rebinds:
            if m.__dict__.get(k) is wrapper:
                m.__dict__[k] = orig


def parse_wrap_env(spec: str) -> List[Tuple[str, str]]:
    """`deepgemm,vllm` (presets) and/or `pkg.mod:func=role_map` entries, comma-separated."""
    from .rolemaps import PRESETS

    out: List[Tuple[str, str]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if ":" not in part:
            if part not in PRESETS:
                raise WrapError(f"ISOLATE_CAPTURE_WRAP: {part!r} is neither a preset ({', '.join(PRESETS)}) nor "
                                "'module.path:function=role_map'")
            out.extend(PRESETS[part])
            continue
        if "=" not in part:
            raise WrapError(f"ISOLATE_CAPTURE_WRAP: {part!r} needs a role map: 'module.path:function=role_map' "
                            f"(role maps: {', '.join(sorted(ROLE_MAPS))})")
        t, r = part.rsplit("=", 1)
        out.append((t.strip(), r.strip()))
    return out
