//! `isolate gate`'s rules-file parser (`Rules::parse`: TOML, then each rule checked, its `match` compiled as a
//! glob) on arbitrary text: never a panic, every error names a line inside the text, and every pattern that
//! compiles can be matched against names without a hang (the glob's braces are capped, its stars linear).
#![no_main]

use isolate::experiment::gate::Rules;

const NAMES: [&str; 6] = [
    "",
    "layer3.ffn.down",
    "layer12.attn_out",
    "embed.final_h",
    "model.layers.0.mlp.down_proj.weight",
    "a*b?c[d]{e,f}\\g",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Rules::parse(text) {
        Ok(rules) => {
            for r in &rules.rules {
                assert!(r.line >= 1 && r.line <= text.lines().count().max(1), "{r:?}");
                assert!(r.min.is_some() || r.max.is_some());
                std::hint::black_box(r.title());
                for n in NAMES {
                    std::hint::black_box(r.pattern.matches(n));
                }
                std::hint::black_box(r.pattern.matches(r.pattern.as_str()));
            }
        }
        Err(e) => {
            if let Some(l) = e.line {
                assert!(l >= 1 && l <= text.lines().count() + 1, "{e} (text has {} lines)", text.lines().count());
            }
        }
    }
});
