//! A progress bar (indicatif) for work expected to take more than ~2 s (estimate: 1 GMAC/s on the CPU).

use std::sync::Mutex;

use crate::experiment::Progress;

/// Shows a bar once [`Progress::begin`] announces enough work; nothing otherwise.
pub struct Bar(Mutex<Option<indicatif::ProgressBar>>);

impl Bar {
    pub fn new() -> Bar {
        Bar(Mutex::new(None))
    }

    fn with(&self, f: impl FnOnce(&mut Option<indicatif::ProgressBar>)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

impl Progress for Bar {
    fn begin(&self, what: &str, macs: f64) {
        if macs <= 2e9 {
            return;
        }
        let pb = indicatif::ProgressBar::new(100);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent}%")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_message(what.to_string());
        self.with(|b| *b = Some(pb));
    }

    fn set(&self, fraction: f64) {
        self.with(|b| {
            if let Some(pb) = b {
                pb.set_position((fraction.clamp(0.0, 1.0) * 100.0) as u64);
            }
        });
    }

    fn end(&self) {
        self.with(|b| {
            if let Some(pb) = b.take() {
                pb.finish_and_clear();
            }
        });
    }
}
