import json
import os

import pytest
import torch
from safetensors import safe_open

import isolate_capture as ic
from isolate_capture import _capture, _format as fmt

import fp8_standin as k


def operands(m=8, kk=256, n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(m, kk, generator=g) * 3).to(torch.bfloat16)
    xq, xs = k._act_quant(x, 128)
    w, ws = k.weight_quant(torch.randn(n, kk, generator=g))
    out = k._dequant_mm(xq, xs, w, ws, torch.bfloat16)
    return dict(x=x, xq=xq, xs=xs, w=w, ws=ws, target_out=out)


def load(path):
    with safe_open(path, "pt") as f:
        return {n: f.get_tensor(n) for n in f.keys()}, f.metadata()


def test_site_writes_file_with_role_names_and_manifest(tmp_path):
    ops = operands()
    with ic.capture(str(tmp_path)) as s:
        assert ic.site("layer3.ffn.down", **ops)
    m = json.load(open(tmp_path / "manifest.json"))
    assert m["format"] == "isolate-capture" and m["version"] == 1
    e = m["sites"]["layer3.ffn.down"]
    assert e["kind"] == "gemm" and e["layer"] == 3
    c = e["calls"][0]
    assert c["file"] == "sites/layer3.ffn.down/call000.rank0.safetensors"
    assert c["roles"]["xq"]["fp8"] == "e4m3fn" and c["roles"]["xs"]["scale"]["granularity"] == "1x128"
    assert c["roles"]["ws"]["scale"]["granularity"] == "128x128"
    assert c["roles"]["xs"]["scale"]["all_pow2"] is True and c["roles"]["xs"]["scale"]["stored_layout"] == "row"
    tensors, md = load(tmp_path / c["file"])
    assert sorted(tensors) == sorted(ops)
    for r, t in ops.items():  # byte-identical copies
        assert tensors[r].dtype == t.dtype and torch.equal(tensors[r].view(torch.uint8), t.contiguous().view(torch.uint8))
    assert json.loads(md["entry"])["call"] == 0 and md["site"] == "layer3.ffn.down"


def test_one_shot_calls_and_layer_filters(tmp_path):
    ops = operands()
    with ic.capture(str(tmp_path), layers="3|17", calls="1-2") as s:
        for layer in (3, 4, 17):
            for _ in range(4):
                ic.site(f"layer{layer}.mlp.down", **ops)
        # an explicit call index already captured is one-shot
        assert not ic.site("layer3.mlp.down", call=1, **ops)
    m = fmt.read_manifest(str(tmp_path))
    assert sorted(m["sites"]) == ["layer17.mlp.down", "layer3.mlp.down"]
    assert [c["call"] for c in m["sites"]["layer3.mlp.down"]["calls"]] == [1, 2]
    assert s.seen["layer4.mlp.down"] == 4


def test_call_filter_parsing():
    f = _capture.CallFilter("0,3,5-")
    assert [c for c in range(8) if f(c)] == [0, 3, 5, 6, 7]
    assert _capture.CallFilter("all")(99)
    with pytest.raises(ValueError):
        _capture.CallFilter("2-1")
    assert _capture.layer_of("model.layers.17.mlp") == 17 and _capture.layer_of("embed.out") is None
    assert _capture.normalize_module_name("encoder.layer.3.output.dense") == "layer3.output.dense"


def test_size_bound_stops_with_one_clear_line(tmp_path, capfd):
    ops = operands()
    per = sum(t.numel() * t.element_size() for t in ops.values())
    with ic.capture(str(tmp_path), max_bytes=int(per * 2.5)) as s:
        for i in range(5):
            ic.site(f"layer{i}.down", **ops)
        ic.site("layer9.down", **ops)
    err = capfd.readouterr().err
    assert "size bound reached" in err and "the model keeps running" in err
    assert len(s.files) == 2 and s.stopped


def test_empty_capture_is_loud(tmp_path, capfd):
    with ic.capture(str(tmp_path), sites="nothing-matches"):
        ic.site("layer3.ffn.down", **operands())
    err = capfd.readouterr().err
    assert "NOTHING WAS CAPTURED" in err and "filtered out" in err and "layer3.ffn.down" in err


def test_empty_capture_without_any_site_says_so(tmp_path, capfd):
    with ic.capture(str(tmp_path)):
        pass
    err = capfd.readouterr().err
    assert "NOTHING WAS CAPTURED" in err and "No capture site was ever called" in err


def test_refuses_during_cuda_graph_capture(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    with ic.capture(str(tmp_path)) as s:
        assert not ic.site("layer3.ffn.down", **operands())
        assert not ic.site("layer3.ffn.down", **operands())
    err = capfd.readouterr().err
    assert err.count("CUDA graph is being captured") == 1 and s.refused_graph == 2
    assert "refused because a CUDA graph" in err


def test_scale_meaning_layouts():
    xs = torch.ones(6, 12)
    col = xs.t().contiguous().t()
    assert fmt.scale_meaning("xs", col, [6, 1536])["source_layout"] == "col"
    tma = torch.ones(12, 8)[:, :6].t()  # [6, 12] stored MN-major with the row stride padded to 8
    sm = fmt.scale_meaning("xs", tma, [6, 1536])
    assert sm["source_layout"] == "tma" and sm["tma_aligned"] and sm["granularity"] == "1x128"
    packed = torch.zeros(8, 3, dtype=torch.int32)
    sm = fmt.scale_meaning("xs", packed, [8, 1536])
    assert sm["encoding"] == "ue8m0-packed-int32" and sm["stored_layout"] == "packed-ue8m0"
    assert fmt.scale_meaning("xs", torch.ones(8, 1), [8, 256])["granularity"] == "per-row"
    assert fmt.scale_meaning("ws", torch.ones(()), [128, 256])["granularity"] == "per-tensor"
    e8 = fmt.scale_meaning("ws", torch.ones(2, 3).to(torch.float8_e8m0fnu), [256, 384])
    assert e8["encoding"] == "e8m0" and e8["granularity"] == "128x128"


def test_fnuz_and_bad_site_name(tmp_path):
    with ic.capture(str(tmp_path)):
        x = torch.randn(4, 128)
        ic.site("layer0.q", x=x, xq=x.to(torch.float8_e4m3fnuz), xs=torch.ones(4, 1))
        with pytest.raises(ValueError, match="site name"):
            ic.site("../evil", x=x)
    c = fmt.read_manifest(str(tmp_path))["sites"]["layer0.q"]["calls"][0]
    assert c["roles"]["xq"]["fp8"] == "e4m3fnuz" and c["roles"]["xq"]["fp8_max"] == 240.0
    assert fmt.read_manifest(str(tmp_path))["sites"]["layer0.q"]["kind"] == "quant"


def test_full_disk_stops_capture_model_keeps_running(tmp_path, capfd, monkeypatch):
    from isolate_capture import _st

    def boom(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_st, "save", boom)
    with ic.capture(str(tmp_path)) as s:
        ic.site("layer1.down", **operands())
        s.flush()
        assert not ic.site("layer2.down", **operands())
    err = capfd.readouterr().err
    assert "No space left on device" in err and "capture stopped" in err
