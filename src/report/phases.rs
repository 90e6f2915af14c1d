//! Wall-clock phases of a command, printed on stderr when `ISOLATE_TIMINGS=1`: where a run's seconds go
//! (loading, backend start, quantization, GEMMs, comparison, report), without a profiler.

use std::time::Instant;

/// A stopwatch that prints one line per finished phase when `ISOLATE_TIMINGS=1`, and does nothing otherwise.
pub struct Phases {
    on: bool,
    start: Instant,
    last: Instant,
}

impl Phases {
    /// Starts the clock; reads `ISOLATE_TIMINGS` once.
    pub fn start() -> Phases {
        let now = Instant::now();
        Phases {
            on: std::env::var("ISOLATE_TIMINGS").is_ok_and(|v| v == "1"),
            start: now,
            last: now,
        }
    }

    /// Ends the phase `what` (the time since the previous mark) and prints it with the running total.
    pub fn mark(&mut self, what: &str) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        eprintln!(
            "timing: {what:<34} {:8.3} s   (total {:7.3} s)",
            (now - self.last).as_secs_f64(),
            (now - self.start).as_secs_f64()
        );
        self.last = now;
    }
}
