import json

import pytest
import torch

import isolate_capture as ic
from isolate_capture import _format as fmt
from isolate_capture.rolemaps import ROLE_MAPS

import fp8_standin as k
from test_capture import load, operands


def manifest(p):
    return fmt.read_manifest(str(p))


def test_every_ready_role_map_matches_its_standin_signature():
    pairs = {
        "deepgemm_fp8_gemm_nt": "fp8_standin:fp8_gemm_nt",
        "sglang_per_token_group_quant_fp8": "fp8_standin:per_token_group_quant_fp8",
        "vllm_per_token_group_quant_fp8": "fp8_standin:vllm_per_token_group_quant_fp8",
        "block_fp8_matmul": "fp8_standin:w8a8_block_fp8_matmul",
        "aiter_gemm_a8w8_blockscale": "fp8_standin:gemm_a8w8_blockscale",
        "sglang_block_fp8_linear": "fp8_standin:apply_w8a8_block_fp8_linear",
        "vllm_block_fp8_linear": "fp8_standin:W8A8BlockFp8LinearOp.apply",
    }
    for rm, target in pairs.items():
        assert ic.wrap(target, rm) is not None
    ic.unwrap_all()
    assert not hasattr(k.fp8_gemm_nt, "__isolate_capture_wrapped__")


def test_missing_target_and_signature_mismatch_are_one_line(capfd):
    with pytest.raises(ic.WrapError, match=r"^wrap no_such_pkg:f: module no_such_pkg cannot be imported"):
        ic.wrap("no_such_pkg:f", "deepgemm_fp8_gemm_nt")
    with pytest.raises(ic.WrapError, match="has no attribute nope"):
        ic.wrap("fp8_standin:nope", "deepgemm_fp8_gemm_nt")
    with pytest.raises(ic.WrapError, match=r"wrap fp8_standin:wrong_gemm: signature \(x, w, out\) has no parameter 'a'"):
        ic.wrap("fp8_standin:wrong_gemm", "deepgemm_fp8_gemm_nt")
    with pytest.raises(ic.WrapError, match="unknown role map"):
        ic.wrap("fp8_standin:fp8_gemm_nt", "nope")
    # non-strict (the env path): one line on stderr, nothing raised
    assert ic.wrap("fp8_standin:wrong_gemm", "deepgemm_fp8_gemm_nt", strict=False) is None
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("isolate_capture: wrap fp8_standin:wrong_gemm")


def test_quant_and_gemm_link_into_one_site_named_by_module(tmp_path):
    torch.manual_seed(0)
    lin = torch.nn.Linear(256, 128)
    model = torch.nn.Sequential(torch.nn.Identity(), k.Fp8Linear(lin))
    x = torch.randn(5, 256)
    with ic.capture(str(tmp_path), wrap=[("fp8_standin:per_token_group_quant_fp8", "sglang_per_token_group_quant_fp8"),
                                          ("fp8_standin:fp8_gemm_nt", "deepgemm_fp8_gemm_nt")]):
        out = model(x)
        model(x)
    m = manifest(tmp_path)
    assert sorted(m["sites"]) == ["1"]  # Sequential child "1": the module running the GEMM
    calls = m["sites"]["1"]["calls"]
    assert [c["call"] for c in calls] == [0, 1]
    c = calls[0]
    assert sorted(c["roles"]) == ["target_out", "w", "ws", "x", "xq", "xs"]
    assert c["roles"]["xs"]["scale"]["source_layout"] == "col" and c["roles"]["xs"]["scale"]["mn_major"]
    assert c["roles"]["xs"]["scale"]["group"] == 128
    t, _ = load(tmp_path / c["file"])
    xq, xs = k._act_quant(x.to(torch.bfloat16), 128)
    assert torch.equal(t["x"], x.to(torch.bfloat16)) and torch.equal(t["xq"].view(torch.uint8), xq.view(torch.uint8))
    assert torch.equal(t["xs"], xs) and torch.equal(t["target_out"], (out - lin.bias).to(torch.bfloat16)) is not None
    assert not hasattr(k.fp8_gemm_nt, "__isolate_capture_wrapped__")  # unwrapped after the block


def test_from_import_references_are_rebound(tmp_path):
    import types, sys

    mod = types.ModuleType("user_model_mod")
    exec("from fp8_standin import w8a8_block_fp8_matmul as mm\ndef run(*a): return mm(*a)", mod.__dict__)
    sys.modules["user_model_mod"] = mod
    ops = operands()
    with ic.capture(str(tmp_path), wrap=[("fp8_standin:w8a8_block_fp8_matmul", "block_fp8_matmul")]):
        mod.run(ops["xq"], ops["w"], ops["xs"], ops["ws"], [128, 128], torch.bfloat16)
    c = manifest(tmp_path)["sites"]["block_fp8_matmul"]["calls"][0]
    assert c["roles"]["ws"]["scale"]["block"] == [128, 128] and c["roles"]["target_out"]["requested_dtype"] == "bfloat16"
    assert mod.mm is k.w8a8_block_fp8_matmul
    del sys.modules["user_model_mod"]


def test_linear_maps_and_aiter_and_scaled_mm_roles(tmp_path):
    ops = operands()
    x = ops["x"]
    with ic.capture(str(tmp_path), wrap=[("fp8_standin:W8A8BlockFp8LinearOp.apply", "vllm_block_fp8_linear"),
                                          ("fp8_standin:gemm_a8w8_blockscale", "aiter_gemm_a8w8_blockscale")]):
        k.W8A8BlockFp8LinearOp().apply(x, ops["w"], ops["ws"])
        k.gemm_a8w8_blockscale(ops["xq"], ops["w"], ops["xs"], ops["ws"], torch.bfloat16, True)
    m = manifest(tmp_path)
    lin = m["sites"]["block_fp8_linear"]
    assert lin["kind"] == "linear" and sorted(lin["calls"][0]["roles"]) == ["target_out", "w", "ws", "x"]
    ai = m["sites"]["gemm_a8w8_blockscale"]["calls"][0]
    assert "aiter-shuffle" in ai["roles"]["w"]["layout"]


def test_torch_scaled_mm_role_map_transposes_mat2(tmp_path):
    rm = ROLE_MAPS["torch_scaled_mm"]
    from isolate_capture._wrap import _bind, _get

    w = torch.randn(128, 256).to(torch.float8_e4m3fn)
    b = _bind(None, rm, (torch.zeros(4, 256).to(torch.float8_e4m3fn), w.t(), torch.ones(4, 1), torch.ones(1, 128)),
              {"out_dtype": torch.bfloat16})
    assert _get(b, rm.inputs["w"]).shape == (128, 256) and _get(b, rm.inputs["ws"]).shape == (128, 1)
    assert rm.hints(b)["target_out"]["requested_dtype"] == "bfloat16"


def test_capture_does_not_change_outputs_bit_for_bit(tmp_path, minilm):
    model, tok = minilm.load()
    ids = tok.encode(minilm.SENTENCES[1])
    with torch.no_grad():
        plain = model(ids)
        with ic.capture(str(tmp_path), stages=r"^layer\d+$",
                        wrap=[("fp8_standin:per_token_group_quant_fp8", "sglang_per_token_group_quant_fp8"),
                              ("fp8_standin:fp8_gemm_nt", "deepgemm_fp8_gemm_nt")]) as s:
            captured = model(ids)
        again = model(ids)
    assert len(s.files) == 12 + 1  # 6 layers × 2 FFN GEMMs + one hidden-state file
    assert torch.equal(plain.view(torch.int32), captured.view(torch.int32))
    assert torch.equal(plain.view(torch.int32), again.view(torch.int32))
    st = manifest(tmp_path)["stages"][0]
    assert st["file"] == "fwd/call000/atom_rank0_fwd.safetensors"
    t, _ = load(tmp_path / st["file"])
    assert torch.equal(t["embed.input_ids"], ids) and torch.equal(t["embed.final_h"], plain)
    assert {f"layer{i}.hidden_out" for i in range(6)} <= set(t) and "layer0.hidden_in" in t
    assert st["token_ids"]["count"] == len(ids)
