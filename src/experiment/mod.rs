//! The jobs `isolate` runs, one folder or file per command: each turns a typed request into a result value and
//! never prints or formats (docs/ARCHITECTURE.md). `report/` renders the results; `cli/` builds the requests.

use std::time::Instant;

pub mod bench;
pub mod capture;
pub mod cast;
pub mod compare;
pub mod e8m0;
pub mod gate;
pub mod gemm;
pub mod inputs;
pub mod inspect;
pub mod kernels;
pub mod quant;
pub mod selftest;

/// Hears how a long computation advances (the CLI draws a progress bar from it; tests ignore it).
pub trait Progress: Sync {
    /// The work `what` starts: about `macs` multiply-accumulates in all.
    fn begin(&self, _what: &str, _macs: f64) {}
    /// The fraction done, in [0, 1].
    fn set(&self, _fraction: f64) {}
    /// The work ended (done or failed).
    fn end(&self) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Wall-clock phases of a run, recorded (never printed) for `ISOLATE_TIMINGS=1`: where a run's seconds go.
pub struct Stopwatch {
    last: Instant,
    /// (phase, seconds), in order.
    pub phases: Vec<(String, f64)>,
}

impl Stopwatch {
    /// Starts the clock.
    pub fn start() -> Stopwatch {
        Stopwatch {
            last: Instant::now(),
            phases: Vec::new(),
        }
    }

    /// Ends the phase `what`: the time since the previous mark.
    pub fn mark(&mut self, what: &str) {
        let now = Instant::now();
        self.phases
            .push((what.to_string(), (now - self.last).as_secs_f64()));
        self.last = now;
    }
}
