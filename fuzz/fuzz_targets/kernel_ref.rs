//! `kernel_ref::KernelRef::parse` (and `from_file_arg`, the `--kernel` form) on arbitrary text: never a panic;
//! the entry point, when split off, is what followed the last ':'.
#![no_main]

use isolate::kernel_ref::KernelRef;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(k) = KernelRef::parse(s) {
        if let Some(e) = &k.entry {
            assert!(s.ends_with(&format!(":{e}")), "{s:?} → {k:?}");
        }
    }
    let k = KernelRef::from_file_arg(s);
    assert!(s.starts_with(k.path.to_str().unwrap()), "{s:?} → {k:?}");
});
