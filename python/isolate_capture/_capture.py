"""The capture session: filters, one-shot per (site, call), host copies, the size bound, the writer
thread, the manifest, and the loud report at exit."""
from __future__ import annotations

import atexit
import os
import queue
import re
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from . import _format as fmt

PREFIX = "isolate_capture:"
DEFAULT_MAX_BYTES = 4 << 30


def say(msg: str) -> None:
    """One line on stderr (every message of the package goes through here)."""
    print(f"{PREFIX} {msg}", file=sys.stderr, flush=True)


# --- filters ----------------------------------------------------------------------------------------

class CallFilter:
    """`0-2`, `0,3,5-`, `all` / `*` / empty = every call."""

    def __init__(self, spec: Optional[str]):
        self.spec = spec
        self.ranges: Optional[List[Tuple[int, Optional[int]]]] = None
        s = (spec if spec is not None else "").strip()
        if s in ("", "all", "*"):
            return
        rs = []
        for part in s.replace("|", ",").split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d+)(?:-(\d*))?", part)
            if not m:
                raise ValueError(f"{PREFIX} calls {spec!r}: expected e.g. '0', '0-2', '1,4-', 'all'")
            lo = int(m.group(1))
            hi = lo if m.group(2) is None else (int(m.group(2)) if m.group(2) else None)
            if hi is not None and hi < lo:
                raise ValueError(f"{PREFIX} calls {spec!r}: range {part} is empty")
            rs.append((lo, hi))
        self.ranges = rs

    def __call__(self, call: int) -> bool:
        if self.ranges is None:
            return True
        return any(lo <= call and (hi is None or call <= hi) for lo, hi in self.ranges)

    def exhausted_after(self, call: int) -> bool:
        return self.ranges is not None and all(hi is not None and call >= hi for _, hi in self.ranges)


_LAYER_RE = re.compile(r"(?:^|[._])layers?[._]?(\d+)(?:[._]|$)")


def layer_of(site: str) -> Optional[int]:
    """The layer number in a site or stage name (`layer3.ffn.down`, `model.layers.17.mlp`), else None."""
    m = _LAYER_RE.search(site)
    return int(m.group(1)) if m else None


class LayerFilter:
    """`3|17`, `3,17`, `0-5`; None = every layer (and sites without a layer)."""

    def __init__(self, spec):
        self.spec = spec
        if spec is None or spec == "" or spec == "all":
            self.f = None
        elif isinstance(spec, int):
            self.f = CallFilter(str(spec))
        elif isinstance(spec, (list, tuple, set)):
            self.f = CallFilter(",".join(str(int(v)) for v in spec))
        else:
            self.f = CallFilter(str(spec))

    def __call__(self, site: str) -> bool:
        if self.f is None:
            return True
        layer = layer_of(site)
        return layer is not None and self.f(layer)


_BLOCK_RE = re.compile(r"^(?:.*\.)?(?:layers?|h|blocks?)\.(\d+)(?:\.(.*))?$")


def normalize_module_name(name: str) -> str:
    """`encoder.layer.3.output.dense` → `layer3.output.dense`, `model.layers.17` → `layer17`."""
    m = _BLOCK_RE.match(name)
    if not m:
        return name or "model"
    return f"layer{m.group(1)}" + (f".{m.group(2)}" if m.group(2) else "")


# --- rank / context ---------------------------------------------------------------------------------

def rank_info() -> Dict[str, Any]:
    """Global rank and world size (torch.distributed), tp/ep/dp/pp ranks where a known framework that is
    already imported can tell (vLLM, SGLang); env RANK/LOCAL_RANK otherwise."""
    info: Dict[str, Any] = {"global": 0, "world": 1}
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            info["global"], info["world"] = dist.get_rank(), dist.get_world_size()
        elif "RANK" in os.environ:
            info["global"] = int(os.environ["RANK"])
            info["world"] = int(os.environ.get("WORLD_SIZE", "1"))
    except Exception:
        pass
    for mod in ("vllm.distributed.parallel_state", "sglang.srt.distributed.parallel_state"):
        ps = sys.modules.get(mod)
        if ps is None:
            continue
        for key, fn in (("tp", "get_tensor_model_parallel_rank"), ("pp", "get_pipeline_model_parallel_rank"),
                        ("dp", "get_data_parallel_rank"), ("ep", "get_ep_group")):
            try:
                f = getattr(ps, fn, None)
                if f is None:
                    continue
                v = f()
                info[key] = v.rank_in_group if key == "ep" else int(v)
            except Exception:
                pass
    if "LOCAL_RANK" in os.environ:
        info["local"] = int(os.environ["LOCAL_RANK"])
    return info


# --- host copies ------------------------------------------------------------------------------------

_side_streams: Dict[Any, Any] = {}


def host_copy(t):
    """A host copy of `t`'s logical (row-major contiguous) value that never touches the model's tensors.

    CUDA: a pinned buffer filled on a side stream that first waits for the current stream (so it sees
    the value the kernel produced), `record_stream` keeps the source alive; returns (cpu, event). CPU:
    a clone. Reading is all it does: the model's numerics are unchanged (tested bit for bit).
    """
    import torch

    t = t.detach()
    if t.device.type == "cuda":
        src = t if t.is_contiguous() else t.contiguous()
        dst = torch.empty(src.shape, dtype=src.dtype, pin_memory=True)
        dev = src.device
        stream = _side_streams.get(dev)
        if stream is None:
            stream = _side_streams[dev] = torch.cuda.Stream(device=dev)
        stream.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(stream):
            dst.copy_(src, non_blocking=True)
        src.record_stream(stream)
        ev = torch.cuda.Event()
        ev.record(stream)
        return dst, ev
    if t.device.type == "meta":
        raise ValueError("meta tensor: nothing to copy")
    return t.contiguous().clone(), None


def graph_capturing() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_current_stream_capturing())
    except Exception:
        return False


# --- session ----------------------------------------------------------------------------------------

class Session:
    """One capture into one directory. Created by `capture(...)` or by the environment at import."""

    def __init__(self, dir: str, *, sites: Optional[str] = None, layers=None, calls: Optional[str] = None,
                 max_bytes: Optional[int] = None, side: str = "atom", stages: Optional[str] = None,
                 rename: Optional[Dict[str, str]] = None, source: str = "api", token_ids=None,
                 phase: Optional[str] = None):
        self.dir = os.path.abspath(dir)
        self.site_re = re.compile(sites) if sites else None
        self.sites_spec = sites
        self.layers = LayerFilter(layers)
        self.calls = CallFilter(calls)
        self.max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
        if side not in ("atom", "ref"):
            raise ValueError(f"{PREFIX} side {side!r}: expected 'atom' (the target) or 'ref' (the reference)")
        self.side = side
        self.stage_re = re.compile(stages) if stages else None
        self.rename = dict(rename or {})
        self.source = source
        self.phase = phase
        self.token = fmt.token_ids_hash(token_ids) if token_ids is not None else None
        self.active = True
        self.stopped: Optional[str] = None
        self.counters: Dict[str, int] = {}
        self.seen: Dict[str, int] = {}
        self.filtered: Dict[str, int] = {}
        self.done: set = set()
        self.bytes = 0
        self.files: List[str] = []
        self.refused_graph = 0
        self.errors: List[str] = []
        self.wraps: List[str] = []
        self.lock = threading.RLock()
        self.q: "queue.Queue" = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="isolate_capture-writer", daemon=True)
        self.worker.start()
        self.rank = rank_info()
        os.makedirs(self.dir, exist_ok=True)
        self._run = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                     "argv": list(sys.argv)[:8], "source": source, "side": side, "rank": self.rank,
                     "filters": {"sites": sites, "layers": None if layers is None else str(layers),
                                 "calls": calls, "stages": stages, "max_bytes": self.max_bytes}}
        fmt.write_manifest_locked(self.dir, lambda m: m["runs"].append(self._run))

    # -- naming / filtering --------------------------------------------------------------------------

    def site_name(self, name: str) -> str:
        for a, b in self.rename.items():
            name = name.replace(a, b)
        return fmt.check_site_name(name)

    def next_call(self, site: str) -> int:
        with self.lock:
            c = self.counters.get(site, 0)
            self.counters[site] = c + 1
            return c

    def wants(self, site: str, call: int) -> bool:
        """Whether (site, call) is to be captured now (counts what was seen and filtered out)."""
        with self.lock:
            self.seen[site] = self.seen.get(site, 0) + 1
            if not self.active:
                return False
            ok = (self.site_re is None or self.site_re.search(site) is not None) and self.layers(site) \
                and self.calls(call) and (site, call, self.rank["global"]) not in self.done
            if not ok:
                self.filtered[site] = self.filtered.get(site, 0) + 1
                return False
            return self.graph_ok(f"{site} call {call}")

    def graph_ok(self, what: str = "hidden states") -> bool:
        """False (and one message, then a count) while a CUDA graph is being captured."""
        if not graph_capturing():
            return True
        with self.lock:
            self.refused_graph += 1
            first = self.refused_graph == 1
        if first:
            say(f"refusing to capture {what}: a CUDA graph is being captured, and copies made during graph "
                "capture record garbage (they run at replay, not now). Capture with CUDA graphs off (vLLM "
                "enforce_eager=True, SGLang --disable-cuda-graph); further refusals are counted and reported at exit")
        return False

    # -- recording -----------------------------------------------------------------------------------

    def record(self, site: str, call: int, kind: str, roles: Dict[str, Any], *, op: str = "site",
               module: Optional[str] = None, hints: Optional[Dict[str, Dict[str, Any]]] = None,
               extra: Optional[Dict[str, Any]] = None, phase: Optional[str] = None) -> bool:
        """Copies `roles` (name → tensor) to the host and queues one file. Returns whether it was queued."""
        import torch

        roles = {k: v for k, v in roles.items() if isinstance(v, torch.Tensor)}
        hints = hints or {}
        nbytes = sum(v.numel() * v.element_size() for v in roles.values())
        with self.lock:
            if not self.active:
                return False
            key = (site, call, self.rank["global"])
            if key in self.done:
                return False
            if self.bytes + nbytes > self.max_bytes:
                self._stop(f"size bound reached: {site} call {call} needs {nbytes} bytes, {self.bytes} of "
                           f"{self.max_bytes} already written (ISOLATE_CAPTURE_MAX_BYTES / max_bytes). Capture stopped "
                           f"after {len(self.files)} files; the model keeps running. Narrow the sites/calls or raise the bound")
                return False
            self.done.add(key)
            self.bytes += nbytes
        meta: Dict[str, Dict[str, Any]] = {}
        copies: Dict[str, Tuple[Any, Any]] = {}
        try:
            for role, t in roles.items():
                info: Dict[str, Any] = {"tensor": role, "dtype": fmt.dtype_name(t.dtype), "shape": list(t.shape),
                                        "device": str(t.device)}
                f8 = fmt.fp8_format(t.dtype) if role in ("xq", "w") else None
                if f8:
                    info["fp8"] = f8
                    if f8 in fmt.FP8_MAX:
                        info["fp8_max"] = hints.get(role, {}).get("fp8_max", fmt.FP8_MAX[f8])
                if role in ("xs", "ws"):
                    operand = roles.get("xq" if role == "xs" else "w")
                    oshape = list(operand.shape) if operand is not None else (
                        list(roles["x"].shape) if role == "xs" and "x" in roles else list(t.shape))
                    if operand is not None and operand.dim() > 2:
                        oshape = [int(torch.tensor(operand.shape[:-1]).prod()), operand.shape[-1]]
                    info["scale"] = fmt.scale_meaning(role, t, oshape, hints.get(role))
                elif role in hints:
                    info.update({k: v for k, v in hints[role].items() if v is not None})
                meta[role] = info
                copies[role] = host_copy(t)
        except Exception as e:  # never break the model
            self.errors.append(f"{site} call {call}: {e}")
            say(f"could not copy {site} call {call}: {e}; skipped")
            return False
        entry = {"call": call, "rank": self.rank, "file": fmt.site_file(site, call, self.rank["global"]),
                 "op": op, "phase": phase or self.phase, "roles": meta}
        first = roles.get("xq", roles.get("x"))
        if first is not None and first.dim() >= 1:
            entry["m"] = int(first.numel() // first.shape[-1]) if first.dim() >= 1 and first.shape[-1] else 0
        if self.token:
            entry["token_ids"] = self.token
        if extra:
            entry["extra"] = extra
        site_info = {"kind": kind, "op": op, "module": module, "layer": layer_of(site)}
        self.q.put(("site", site, site_info, entry, copies))
        return True

    def record_stages(self, call: int, tensors: Dict[str, Any]) -> bool:
        """Queues one forward call's hidden states as `fwd/call{NNN}/{side}_rank{R}_fwd.safetensors`."""
        import torch

        tensors = {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}
        if not tensors:
            return False
        nbytes = sum(v.numel() * v.element_size() for v in tensors.values())
        with self.lock:
            if not self.active:
                return False
            if self.bytes + nbytes > self.max_bytes:
                self._stop(f"size bound reached: hidden states of forward call {call} need {nbytes} bytes, "
                           f"{self.bytes} of {self.max_bytes} already written. Capture stopped; the model keeps running")
                return False
            self.bytes += nbytes
        copies = {k: host_copy(v) for k, v in tensors.items()}
        entry = {"call": call, "rank": self.rank, "side": self.side,
                 "file": fmt.stages_file(call, self.side, self.rank["global"]),
                 "stages": {k: {"dtype": fmt.dtype_name(v.dtype), "shape": list(v.shape)} for k, v in tensors.items()}}
        if self.token:
            entry["token_ids"] = self.token
        self.q.put(("stages", None, None, entry, copies))
        return True

    def _stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
            self.active = False
            say(why)

    # -- writer --------------------------------------------------------------------------------------

    def _work(self) -> None:
        from ._st import save as save_file

        while True:
            item = self.q.get()
            try:
                if item is None:
                    return
                what, site, site_info, entry, copies = item
                tensors = {}
                for role, (t, ev) in copies.items():
                    if ev is not None:
                        ev.synchronize()
                    tensors[role] = t
                if what == "site":
                    for role in ("xs", "ws"):
                        if role in tensors and "scale" in entry["roles"].get(role, {}):
                            entry["roles"][role]["scale"]["all_pow2"] = fmt.all_pow2(tensors[role])
                path = os.path.join(self.dir, entry["file"])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                md = {"isolate_capture": "1", "side": self.side}
                if what == "site":
                    import json

                    md.update({"site": site, "call": str(entry["call"]), "entry": json.dumps(entry)})
                tmp = path + ".tmp"
                save_file(tensors, tmp, metadata=md)
                os.replace(tmp, path)
                with self.lock:
                    self.files.append(entry["file"])
                if what == "site":
                    fmt.write_manifest_locked(self.dir, lambda m: fmt.merge_entry(m, site, site_info, entry))
                else:
                    def upd(m, e=entry):
                        m["stages"] = [s for s in m["stages"] if s.get("file") != e["file"]] + [e]
                    fmt.write_manifest_locked(self.dir, upd)
            except OSError as e:
                self._stop(f"writing into {self.dir} failed ({e}); capture stopped, the model keeps running")
            except Exception as e:  # pragma: no cover - defensive
                self.errors.append(str(e))
                say(f"writer error: {e}")
            finally:
                self.q.task_done()

    def flush(self) -> None:
        self.q.join()

    def close(self, report: bool = True) -> None:
        """Stops capturing, writes what is queued, and reports (loudly when nothing was written)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self.active = False
        self.flush()
        self.q.put(None)
        self.worker.join(timeout=30)
        if report:
            self.report()

    def summary(self) -> Dict[str, Any]:
        return {"dir": self.dir, "files": list(self.files), "bytes": self.bytes, "seen": dict(self.seen),
                "filtered": dict(self.filtered), "refused_graph": self.refused_graph, "stopped": self.stopped,
                "errors": list(self.errors), "wraps": list(self.wraps)}

    def report(self) -> None:
        if self.files:
            say(f"wrote {len(self.files)} file(s), {self.bytes} bytes, into {self.dir}"
                + (f"; {self.refused_graph} call(s) refused under CUDA graph capture" if self.refused_graph else "")
                + (f"; STOPPED: {self.stopped}" if self.stopped else ""))
            return
        lines = [f"NOTHING WAS CAPTURED into {self.dir} (0 files)."]
        if self.refused_graph:
            lines.append(f"  {self.refused_graph} call(s) were refused because a CUDA graph was being captured: "
                         "run eagerly (vLLM enforce_eager=True, SGLang --disable-cuda-graph).")
        if not self.seen:
            how = f"wrapped: {', '.join(self.wraps)}" if self.wraps else "no function was wrapped"
            lines.append(f"  No capture site was ever called ({how}; stages pattern: "
                         f"{self.stage_re.pattern if self.stage_re else 'none'}). Is the wrapped function the one the model "
                         "really calls (a module that did `from x import f` before activation keeps the old f), or is "
                         "the model running in another process?")
        else:
            seen = ", ".join(f"{k}×{v}" for k, v in sorted(self.seen.items())[:12])
            lines.append(f"  Sites seen: {seen}{' …' if len(self.seen) > 12 else ''}.")
            lines.append(f"  All filtered out by sites={self.sites_spec!r} layers={self.layers.spec!r} "
                         f"calls={self.calls.spec!r}." if self.filtered else "  None was recorded.")
        if self.stopped:
            lines.append(f"  Stopped: {self.stopped}")
        for e in self.errors[:5]:
            lines.append(f"  error: {e}")
        bar = "!" * 78
        print(f"{bar}\n{PREFIX} " + "\n".join(lines) + f"\n{bar}", file=sys.stderr, flush=True)


# --- the current session ----------------------------------------------------------------------------

_current: Optional[Session] = None
_atexit_registered = False


def current() -> Optional[Session]:
    return _current


def set_current(s: Optional[Session]) -> None:
    global _current, _atexit_registered
    _current = s
    if s is not None and not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True


def _at_exit() -> None:
    s = _current
    if s is not None:
        s.close(report=True)
