//! The restricted unpickler and the walk over what it builds (`.pt`'s data.pkl), on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok((leaves, notes)) = isolate::io::pt::tensor_refs(data, "t") {
        for (name, t) in &leaves {
            std::hint::black_box((name.len(), t.size.len(), t.storage.declared_bytes()));
        }
        std::hint::black_box(notes.len());
    }
});
