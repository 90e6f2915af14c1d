//! A capture directory's `manifest.json` (python/FORMAT.md) on arbitrary bytes, read the way `isolate capture
//! ls` / `check` and `--input DIR --site NAME` read it: `Capture::from_manifest_text` (format, version, the
//! typed manifest), then every (site, call, rank) resolved to its file and its recorded scale meaning taken,
//! and the `capture ls` report rendered. Never a panic; a file the manifest names is never outside the
//! directory.
#![no_main]

use std::path::Path;

use isolate::experiment::capture::Listing;
use isolate::io::capture::{Capture, SiteSelector};
use isolate::report::Render;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("/nonexistent/capture");
    let Ok(capture) = Capture::from_manifest_text(dir, text) else {
        return;
    };
    let m = &capture.manifest;
    for (name, site) in &m.sites {
        for c in &site.calls {
            let sel = SiteSelector {
                site: name.clone(),
                call: Some(c.call),
                rank: Some(c.rank.global),
            };
            if let Ok(r) = capture.resolve(&sel) {
                assert!(r.path.starts_with(dir), "{:?}", r.path);
                std::hint::black_box((r.label(), r.name_mappings(), r.recorded().ok()));
            }
        }
        std::hint::black_box(capture.resolve(&SiteSelector {
            site: name.clone(),
            call: None,
            rank: None,
        })
        .ok());
    }
    let files = m
        .sites
        .values()
        .flat_map(|s| s.calls.iter().map(|c| (c.file.clone(), false)))
        .chain(m.stages.iter().map(|s| (s.file.clone(), false)))
        .collect();
    let listing = Listing {
        capture: capture.clone(),
        files,
    };
    std::hint::black_box((listing.document(false).to_terminal(), listing.json()));
});
