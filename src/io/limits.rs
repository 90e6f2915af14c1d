//! How much memory reading one input file may make `isolate` allocate beyond the file itself.
//!
//! A hostile or damaged file can claim sizes that cost nothing to write down and everything to honour: a
//! zip entry that inflates to 2⁶⁰ bytes, a strided `.pt` view with stride 0 that is tiny on disk and
//! enormous once made dense, a pickle whose shared containers expand to 10⁹ entries. Every such claim is
//! checked against the budget *before* allocating, and refused with the numbers in the message.
//!
//! The budget is the machine's physical memory (`MemTotal` of `/proc/meminfo`; 1 TiB where that cannot
//! be read), or what [`set_memory_limit`] set (the fuzz targets lower it to stay within libFuzzer's RSS
//! limit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Most entries (tensors and other leaves) that walking one unpickled object may visit: a shared
/// container counts once per reference to it, so a pickle of a few hundred bytes cannot expand to 2⁶⁰.
pub const MAX_PICKLE_ENTRIES: usize = 1 << 22;

/// Longest safetensors header the `safetensors` crate reads (its `MAX_HEADER_SIZE`).
pub const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

static LIMIT: AtomicU64 = AtomicU64::new(0);

/// Where the budget comes from, for messages.
fn machine_memory() -> Option<u64> {
    static MEM: OnceLock<Option<u64>> = OnceLock::new();
    *MEM.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kb.checked_mul(1024)
    })
}

/// The number of bytes one file may make us allocate, and what that number is.
pub fn memory_limit() -> (u64, &'static str) {
    match LIMIT.load(Ordering::Relaxed) {
        0 => match machine_memory() {
            Some(m) => (m, "this machine's memory"),
            None => (
                1 << 40,
                "the assumed memory (1 TiB; /proc/meminfo unreadable)",
            ),
        },
        n => (n, "the memory limit set for this process"),
    }
}

/// Lowers (or raises) the budget for the rest of the process; 0 goes back to the machine's memory.
pub fn set_memory_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// A running total of what reading one file has allocated.
#[derive(Debug)]
pub struct Budget {
    used: u64,
    limit: u64,
    what: &'static str,
}

impl Budget {
    /// A fresh budget at [`memory_limit`].
    pub fn new() -> Budget {
        let (limit, what) = memory_limit();
        Budget {
            used: 0,
            limit,
            what,
        }
    }

    /// Claims `bytes` more (None: more than 2⁶⁴ bytes), or says why not: `needs` is the thing that needs
    /// them ("tensor 'w' made dense").
    pub fn claim(
        &mut self,
        bytes: Option<u64>,
        needs: impl FnOnce() -> String,
    ) -> Result<(), String> {
        let total = bytes.and_then(|b| b.checked_add(self.used));
        match total {
            Some(t) if t <= self.limit => {
                self.used = t;
                Ok(())
            }
            _ => {
                let need = bytes.map_or_else(|| "more than 2^64".to_string(), |b| b.to_string());
                let before = if self.used > 0 {
                    format!(" (on top of {} already read)", self.used)
                } else {
                    String::new()
                };
                Err(format!(
                    "{} needs {need} bytes{before}, more than {} ({} bytes); refused before allocating",
                    needs(),
                    self.what,
                    self.limit
                ))
            }
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_add_up_and_refusals_carry_the_numbers() {
        let mut b = Budget {
            used: 0,
            limit: 100,
            what: "the test limit",
        };
        assert!(b.claim(Some(60), || "a".into()).is_ok());
        let e = b.claim(Some(50), || "entry x".into()).unwrap_err();
        assert!(
            e.contains("entry x needs 50 bytes (on top of 60 already read), more than the test limit (100 bytes)"),
            "{e}"
        );
        let e = b.claim(None, || "y".into()).unwrap_err();
        assert!(e.contains("more than 2^64"), "{e}");
        assert!(b.claim(Some(40), || "z".into()).is_ok());
    }

    #[test]
    fn the_machine_budget_is_positive() {
        assert!(memory_limit().0 > 0);
    }
}
