//! `QuantSpec::parse` on arbitrary text: never a panic; a spec that parses prints canonically, and that
//! canonical text parses back to a spec that prints the same.
#![no_main]

use isolate::quant::QuantSpec;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = QuantSpec::parse(s) {
        let text = spec.to_string();
        let again = QuantSpec::parse(&text)
            .unwrap_or_else(|e| panic!("{s:?} printed as {text:?}, which does not parse: {e}"));
        assert_eq!(again.to_string(), text, "{s:?}");
    }
});
