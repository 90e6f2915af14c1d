//! The npy loader on arbitrary bytes: never a panic, a hang or unbounded memory; errors are fine.
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::load("fuzz.npy", data, isolate::io::FileKind::Npy);
});
