//! The built-in kernels against their CPU twins (the selftest's checks).

use isolate::experiment::selftest::{self, Options};

use crate::support::{assert_all_pass, gpu};

#[test]
fn codec_kernels_equal_cpu_bitwise() {
    let Some(b) = gpu() else { return };
    let opt = Options {
        codec_n: 1 << 18,
        ..Options::default()
    };
    assert_all_pass(&selftest::codecs::checks(&b, &opt).unwrap());
}

#[test]
fn blockwise_gemm_equals_cpu_bitwise_and_hardware_gemms_are_close() {
    let Some(b) = gpu() else { return };
    assert_all_pass(&selftest::gemm::checks(&b, 11).unwrap());
}

#[test]
fn quant_kernels_equal_cpu_bitwise() {
    let Some(b) = gpu() else { return };
    assert_all_pass(&selftest::quant::checks(&b, 5).unwrap());
}
