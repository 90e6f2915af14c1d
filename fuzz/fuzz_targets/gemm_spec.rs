//! `GemmChoice::parse` on arbitrary text: never a panic; a choice that parses prints canonically, and that
//! canonical text parses back to a choice that prints the same.
#![no_main]

use isolate::gemm::GemmChoice;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(choice) = GemmChoice::parse(s) {
        let text = choice.to_string();
        let again = GemmChoice::parse(&text)
            .unwrap_or_else(|e| panic!("{s:?} printed as {text:?}, which does not parse: {e}"));
        assert_eq!(again.to_string(), text, "{s:?}");
    }
});
