"""End to end on CPU: the real MiniLM-L6 with FP8 FFN stand-ins, captured through the environment-variable
path and the documented one-line .pth/sitecustomize hook, then judged by the `isolate` binary."""
import json
import os
import subprocess
import sys

import pytest

import isolate_capture as ic
from isolate_capture.__main__ import HOOK_LINE

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)

WRAP = ("fp8_standin:per_token_group_quant_fp8=sglang_per_token_group_quant_fp8,"
        "fp8_standin:fp8_gemm_nt=deepgemm_fp8_gemm_nt")


def run_model(tmp_path, capture_dir=None, variant="deepgemm-ue8m0", extra_env=None):
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK_LINE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISOLATE_CAPTURE")}
    env["PYTHONPATH"] = os.pathsep.join([str(hook), HERE, PKG])
    env["FP8_STANDIN_VARIANT"] = variant
    env["HF_HUB_OFFLINE"] = "1"
    if capture_dir:
        env.update({"ISOLATE_CAPTURE": str(capture_dir), "ISOLATE_CAPTURE_WRAP": WRAP,
                    "ISOLATE_CAPTURE_SITES": r"layer3\.ffn\.down", "ISOLATE_CAPTURE_STAGES": r"^layer\d+$",
                    "ISOLATE_CAPTURE_RENAME": "output.dense=ffn.down;intermediate.dense=ffn.up",
                    "ISOLATE_CAPTURE_MAX_BYTES": "64M"})
    env.update(extra_env or {})
    p = subprocess.run([sys.executable, "-W", "ignore", os.path.join(HERE, "run_minilm.py")], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return p


def sha(p):
    return [l for l in p.stdout.splitlines() if l.startswith("output-sha256")][0]


def test_env_capture_then_isolate_gemm_names_the_quantizer(tmp_path, minilm, isolate_bin):
    plain = run_model(tmp_path)
    assert "no-capture-module" in plain.stdout  # the hook imports nothing without ISOLATE_CAPTURE
    verdicts = {}
    for variant in ("deepgemm-ue8m0", "torch-e8m0"):
        d = tmp_path / f"cap-{variant}"
        p = run_model(tmp_path, d, variant)
        assert "captured-module-loaded" in p.stdout
        assert "isolate_capture: capturing into" in p.stderr and "wrote 2 file(s)" in p.stderr, p.stderr
        if variant == "deepgemm-ue8m0":
            assert sha(p) == sha(plain)  # capture changed nothing, bit for bit
        m = ic.read_manifest(str(d))
        assert list(m["sites"]) == ["layer3.ffn.down"]
        c = m["sites"]["layer3.ffn.down"]["calls"][0]
        assert c["roles"]["x"]["shape"] == [114, 1536] and c["roles"]["w"]["shape"] == [384, 1536]
        assert c["token_ids"]["count"] == 114 and m["stages"][0]["file"] == "fwd/call000/atom_rank0_fwd.safetensors"
        r = ic.gemm(str(d), "layer3.ffn.down", target_quant="dumped", ref_quant="deepgemm-ue8m0",
                    target_gemm="exact", ref_gemm="exact", binary=isolate_bin)
        verdicts[variant] = (r["verdict"], r["exit_code"], r["shares"])
        q = ic.quant(str(d), "layer3.ffn.down", reference="deepgemm-ue8m0", binary=isolate_bin)
        verdicts[variant + "/quant"] = q["exit_code"]
    assert verdicts["deepgemm-ue8m0"][:2] == ("none", 0), verdicts
    assert verdicts["torch-e8m0"][:2] == ("quant", 1), verdicts
    assert verdicts["torch-e8m0"][2]["quant"] > 0.8 > verdicts["torch-e8m0"][2]["gemm"]
    assert verdicts["deepgemm-ue8m0/quant"] == 0 and verdicts["torch-e8m0/quant"] == 1


def test_env_capture_compare_reads_the_hidden_states(tmp_path, minilm, isolate_bin):
    a, b = tmp_path / "tgt", tmp_path / "ref"
    run_model(tmp_path, a, "torch-e8m0")
    run_model(tmp_path, b, "deepgemm-ue8m0", {"ISOLATE_CAPTURE_SIDE": "ref"})
    p = subprocess.run([isolate_bin, "compare", "ref-vs-target",
                        "--target", str(a / "fwd/call000/atom_rank0_fwd.safetensors"),
                        "--ref", str(b / "fwd/call000/ref_rank0_fwd.safetensors"), "--json", "-"],
                       capture_output=True, text=True)
    assert p.returncode in (0, 1), p.stderr
    out = json.loads(p.stdout)
    text = json.dumps(out)
    assert "layer0.hidden_out" in text and "embed.input_ids" in text


def test_env_bad_wrap_target_is_one_line_and_model_runs(tmp_path, minilm):
    d = tmp_path / "bad"
    p = run_model(tmp_path, d, extra_env={"ISOLATE_CAPTURE_WRAP": "no_such_mod:f=deepgemm_fp8_gemm_nt,"
                                                                   "fp8_standin:wrong_gemm=deepgemm_fp8_gemm_nt",
                                          "ISOLATE_CAPTURE_STAGES": ""})
    lines = [l for l in p.stderr.splitlines() if l.startswith("isolate_capture: wrap")]
    assert len(lines) == 2 and "no_such_mod" in lines[0] and "wrong_gemm" in lines[1]
    assert "NOTHING WAS CAPTURED" in p.stderr and "output-sha256" in p.stdout
