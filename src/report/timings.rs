//! The phases of a run (`ISOLATE_TIMINGS=1`): one line per phase with the running total.

/// One line per phase: its seconds and the total so far.
pub fn render(phases: &[(String, f64)]) -> String {
    let mut total = 0.0;
    let mut o = String::new();
    for (what, s) in phases {
        total += s;
        o.push_str(&format!(
            "timing: {what:<34} {s:8.3} s   (total {total:7.3} s)\n"
        ));
    }
    o
}
