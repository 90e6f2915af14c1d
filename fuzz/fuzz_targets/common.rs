// Shared by the loader targets (included with `#[path]`): a budget under libFuzzer's -rss_limit_mb=2048,
// so that a file claiming more than that is refused by isolate's own limit check (src/io/limits.rs) the way
// a file claiming more than the machine's memory is refused in real use.
use std::path::Path;

pub fn load(name: &str, data: &[u8], kind: isolate::io::FileKind) {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| isolate::io::limits::set_memory_limit(256 << 20));
    if let Ok(f) = isolate::io::load_bytes(Path::new(name), data, Some(kind)) {
        // Touch what a command would: every tensor's bytes and its f64 view.
        for t in &f.tensors {
            assert_eq!(t.bytes().len(), t.numel() * t.dtype.size());
            if t.numel() <= 1 << 16 {
                std::hint::black_box(t.to_f32());
            }
        }
    }
}
