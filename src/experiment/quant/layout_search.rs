//! The layout fingerprint of a dumped `xs` (docs/numerics.md §7.5): when `xs` does not fit the declared
//! `--xs-layout`, or the payload is inconsistent with the stored scale in most groups, read `xs` in the
//! layouts and views real kernels produce and say which one makes payload and scale consistent.
//!
//! Every interpretation is a *view* of the dumped bytes (the same bytes under another shape) read by the one
//! definition of each layout, `quant::layout::read_scales` (docs/numerics.md §7.1): row `[T, ng]`, column-major
//! `[ng, T]` (a transposed `xs`), TMA-aligned MN-major `[ng, align(T, 4)]`, packed UE8M0 words `[T, ⌈ng/4⌉]` or
//! MN-major `[⌈ng/4⌉, align(T, 4)]`. Reading a tensor of another shape under a layout is the reshape mistake
//! (a `[T·H, D/G]` scale tensor of a per-head view read as `[T, H·D/G]`). For 3-D (per-expert) activations the
//! per-expert stride mistaken for 0 (every expert quantized with expert 0's scales) is one more candidate.
//!
//! Packed UE8M0 words are also checked byte by byte ([`packed_leak`]): a word whose bytes are not the codes its
//! four groups need is counted, with its pattern (bytes filled with 0xff: mantissa bits leaking into the
//! neighbouring codes; the bit pattern of an f32 scale written into the word).
//!
//! Work is bounded: at most [`MAX_CHECKED`] groups (evenly spaced) are checked per interpretation, and at most
//! [`MAX_WORDS`] packed words; the result says when it sampled.

use crate::formats::e8m0;
use crate::io::Tensor;
use crate::quant::layout::{read_scales, XsLayout};
use crate::quant::scale::{amax, e8m0_code_of};
use crate::quant::spec::NanRule;

use super::consistency::{candidates, reproduces, Dump};

/// Groups checked per interpretation; above this many, an evenly spaced sample.
pub const MAX_CHECKED: usize = 8192;
/// Packed words checked; above this many, an evenly spaced sample.
pub const MAX_WORDS: usize = 65536;
/// Below this fraction of consistent groups under the declared layout, the search runs.
pub const SEARCH_BELOW: f64 = 0.5;

/// One way of reading the dumped `xs`: its bytes viewed as `view`, read in `layout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interp {
    pub layout: XsLayout,
    pub view: Vec<usize>,
    /// Every expert's rows read with expert 0's scales (a per-expert stride of 0).
    pub expert_stride0: bool,
}

impl Interp {
    /// `row [114, 12]`, `packed-ue8m0 [3, 116]`, with the stride-0 note.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {:?}", self.layout.name(), self.view);
        if self.expert_stride0 {
            s += " with a per-expert stride of 0 (every expert reads expert 0's scales)";
        }
        s
    }
}

/// An interpretation and how many of the checked groups it makes consistent.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub interp: Interp,
    pub consistent: usize,
    pub checked: usize,
}

impl Scored {
    pub fn fraction(&self) -> f64 {
        if self.checked == 0 {
            1.0
        } else {
            self.consistent as f64 / self.checked as f64
        }
    }
}

/// What the best interpretation says about the declared one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Row-major against column-major (or MN-major TMA-aligned) storage.
    Transposed,
    /// The same layout over another shape of the same bytes.
    Reshaped,
    /// Column-major against TMA-aligned (the M alignment), or packed against unpacked.
    OtherLayout,
    /// Packed words in the other order (logical `[T, ⌈ng/4⌉]` against MN-major).
    PackedOrder,
    /// Every expert quantized with expert 0's scales.
    ExpertStride0,
    /// No interpretation does better than the declared one.
    NoneBetter,
}

impl Finding {
    pub fn key(self) -> &'static str {
        match self {
            Finding::Transposed => "transposed",
            Finding::Reshaped => "reshaped",
            Finding::OtherLayout => "other_layout",
            Finding::PackedOrder => "packed_order",
            Finding::ExpertStride0 => "expert_stride_0",
            Finding::NoneBetter => "none_better",
        }
    }
    fn words(self) -> &'static str {
        match self {
            Finding::Transposed => "xs is transposed",
            Finding::Reshaped => "xs is reshaped",
            Finding::OtherLayout => "xs is in another layout",
            Finding::PackedOrder => "xs's packed words are in the other order",
            Finding::ExpertStride0 => "a per-expert stride of 0",
            Finding::NoneBetter => "",
        }
    }
}

/// Why the search ran.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// The declared layout does not fit xs's shape or dtype (the reason).
    DoesNotFit(String),
    /// The declared layout fits but fewer than [`SEARCH_BELOW`] of the groups are consistent.
    MostlyInconsistent,
}

/// The layout fingerprint.
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutSearch {
    pub trigger: Trigger,
    pub declared: Interp,
    /// The declared interpretation's score, when it fits.
    pub declared_score: Option<Scored>,
    /// Every interpretation that fits, best first (the declared one first among equals).
    pub candidates: Vec<Scored>,
    pub finding: Finding,
    /// Groups of the activation, and how many each interpretation checked.
    pub groups: usize,
    pub checked: usize,
    /// Experts E when x is `[E, T, K]`.
    pub experts: Option<usize>,
}

impl LayoutSearch {
    pub fn sampled(&self) -> bool {
        self.checked < self.groups
    }
    /// The best interpretation (None when nothing fits).
    pub fn best(&self) -> Option<&Scored> {
        self.candidates.first()
    }
    /// Whether the declared layout is wrong: it does not fit, or another interpretation does better.
    pub fn declared_wrong(&self) -> bool {
        self.finding != Finding::NoneBetter || self.declared_score.is_none()
    }
    /// The finding in one sentence.
    pub fn sentence(&self) -> String {
        let declared = match (&self.declared_score, &self.trigger) {
            (Some(d), _) => format!(
                "{} as declared ({})",
                pct(d.fraction()),
                self.declared.describe()
            ),
            (None, Trigger::DoesNotFit(why)) => format!(
                "as declared ({}) it does not fit: {why}",
                self.declared.describe()
            ),
            (None, _) => "the declared layout does not fit".into(),
        };
        let sample = if self.sampled() {
            format!(
                " (checked on {} of {} groups, evenly spaced)",
                self.checked, self.groups
            )
        } else {
            String::new()
        };
        match (self.finding, self.best()) {
            (Finding::NoneBetter, Some(b)) => format!(
                "no searched layout or view makes payload and scale more consistent (best: {} of groups as {}; \
                 {declared}): the inconsistency is in the values, not the layout{sample}",
                pct(b.fraction()),
                b.interp.describe()
            ),
            (Finding::NoneBetter, None) => format!(
                "no searched layout or view fits xs {:?} for x [{}] in groups: {declared}",
                self.declared.view, self.groups
            ),
            (f, Some(b)) => format!(
                "{}: {} of groups consistent as {} vs {declared}{sample}",
                f.words(),
                pct(b.fraction()),
                b.interp.describe()
            ),
            (_, None) => declared,
        }
    }
}

/// A fraction as a percentage for sentences: `100 %`, `3.2 %`.
pub fn pct(f: f64) -> String {
    if f == 1.0 || f == 0.0 {
        format!("{} %", (f * 100.0) as i64)
    } else {
        format!("{:.1} %", f * 100.0)
    }
}

/// The checked group indices: all of them, or [`MAX_CHECKED`] evenly spaced.
fn sample(n: usize, cap: usize) -> Vec<usize> {
    if n <= cap {
        (0..n).collect()
    } else {
        (0..cap).map(|i| i * n / cap).collect()
    }
}

/// Whether group `k` (row-major over `[rows, ng]`) of the payload is what the element rule gives with `s`.
fn group_ok(d: &Dump, ng: usize, k: usize, s: f32, buf: &mut [u8]) -> bool {
    let (r, g) = (k / ng, k % ng);
    let (c0, c1) = (g * d.group, ((g + 1) * d.group).min(d.cols));
    let mut spec = d.element;
    spec.fp8 = d.fmt;
    let o = r * d.cols;
    reproduces(
        &d.x[o + c0..o + c1],
        &d.q[o + c0..o + c1],
        s,
        &spec,
        &mut buf[..c1 - c0],
    )
}

/// Consistent groups among `idx` under the logical scale grid `grid`.
fn score(d: &Dump, ng: usize, grid: &[f32], idx: &[usize]) -> usize {
    let mut buf = vec![0u8; d.group];
    idx.iter()
        .filter(|&&k| group_ok(d, ng, k, grid[k], &mut buf))
        .count()
}

/// `grid` with every expert's rows replaced by expert 0's (E experts of rows/E rows each).
fn stride0(grid: &[f32], rows: usize, ng: usize, experts: usize) -> Vec<f32> {
    let t = rows / experts;
    (0..rows * ng)
        .map(|k| grid[(k / ng % t) * ng + k % ng])
        .collect()
}

/// What `b` is, seen from the declared `d`.
fn classify(b: &Interp, d: &Interp) -> Finding {
    use XsLayout::*;
    if b.expert_stride0 {
        return Finding::ExpertStride0;
    }
    match (d.layout, b.layout) {
        (PackedUe8m0, PackedUe8m0) => Finding::PackedOrder,
        (x, y) if x == y => Finding::Reshaped,
        (Row, Col | Tma) | (Col | Tma, Row) => Finding::Transposed,
        _ => Finding::OtherLayout,
    }
}

/// Logical scales of `xs` viewed as `view` and read in `layout`, or why not.
fn read_view(
    xs: &Tensor,
    layout: XsLayout,
    view: &[usize],
    rows: usize,
    ng: usize,
) -> Result<Vec<f32>, String> {
    let t = xs.reshaped(view.to_vec()).map_err(|e| e.to_string())?;
    read_scales(&t, layout, rows, ng)
        .map(|s| s.values)
        .map_err(|e| e.to_string())
}

/// The views of `xs` each layout reads, for an activation of `rows` rows and `ng` groups per row.
fn views(rows: usize, ng: usize) -> [(XsLayout, Vec<usize>); 5] {
    let (ma, nw) = (rows.div_ceil(4) * 4, ng.div_ceil(4));
    [
        (XsLayout::Row, vec![rows, ng]),
        (XsLayout::Col, vec![ng, rows]),
        (XsLayout::Tma, vec![ng, ma]),
        (XsLayout::PackedUe8m0, vec![rows, nw]),
        (XsLayout::PackedUe8m0, vec![nw, ma]),
    ]
}

/// Runs the layout fingerprint of `xs` against the payload of `d` (`d.scales` is not used).
/// `declared_fit` is the declared read's outcome: the error when it did not fit.
pub fn search(
    d: &Dump,
    xs: &Tensor,
    declared: XsLayout,
    declared_fit: Result<(), String>,
    experts: Option<usize>,
) -> LayoutSearch {
    let (rows, ng) = (d.rows, d.cols.div_ceil(d.group.max(1)));
    let idx = sample(rows * ng, MAX_CHECKED);
    let declared_i = Interp {
        layout: declared,
        view: xs.shape.clone(),
        expert_stride0: false,
    };
    let mut interps = vec![declared_i.clone()];
    for (layout, view) in views(rows, ng) {
        let i = Interp {
            layout,
            view,
            expert_stride0: false,
        };
        if crate::io::tensor::checked_numel(&i.view) == Some(xs.numel()) && !interps.contains(&i) {
            interps.push(i);
        }
    }
    let mut scored: Vec<Scored> = Vec::new();
    let mut declared_score = None;
    for i in &interps {
        if *i == declared_i && declared_fit.is_err() {
            continue;
        }
        let Ok(grid) = read_view(xs, i.layout, &i.view, rows, ng) else {
            continue;
        };
        let s = Scored {
            interp: i.clone(),
            consistent: score(d, ng, &grid, &idx),
            checked: idx.len(),
        };
        if *i == declared_i {
            declared_score = Some(s.clone());
        }
        scored.push(s);
    }
    // Per-expert stride 0, on the declared and the best interpretations.
    let experts = experts.filter(|&e| e > 1 && rows % e == 0);
    if let Some(e) = experts {
        let mut bases: Vec<Interp> = declared_score.iter().map(|s| s.interp.clone()).collect();
        if let Some(b) = scored.iter().max_by_key(|s| s.consistent) {
            if !bases.contains(&b.interp) {
                bases.push(b.interp.clone());
            }
        }
        for b in bases {
            if let Ok(grid) = read_view(xs, b.layout, &b.view, rows, ng) {
                let g0 = stride0(&grid, rows, ng, e);
                scored.push(Scored {
                    interp: Interp {
                        expert_stride0: true,
                        ..b
                    },
                    consistent: score(d, ng, &g0, &idx),
                    checked: idx.len(),
                });
            }
        }
    }
    // Best first; the declared interpretation first among equals (a stable sort keeps it ahead).
    scored.sort_by_key(|s| std::cmp::Reverse(s.consistent));
    let finding = match (scored.first(), &declared_score) {
        (None, _) => Finding::NoneBetter,
        (Some(b), Some(dsc)) if b.consistent <= dsc.consistent => Finding::NoneBetter,
        (Some(b), _) if b.consistent == 0 => Finding::NoneBetter,
        (Some(b), _) => classify(&b.interp, &declared_i),
    };
    let trigger = match declared_fit {
        Err(e) => Trigger::DoesNotFit(e),
        Ok(()) => Trigger::MostlyInconsistent,
    };
    LayoutSearch {
        trigger,
        declared: declared_i,
        declared_score,
        candidates: scored,
        finding,
        groups: rows * ng,
        checked: idx.len(),
        experts,
    }
}

/// The kind of a packed word whose bytes are not its groups' codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeakPattern {
    /// Every wrong byte is 0xff: mantissa bits (an f32's low bits, a ceil's `+ 0x7fffff`) spilled into the
    /// neighbouring codes, as in `0x77ffffff` for `0x77777777`.
    FfFill,
    /// The word is the bit pattern of an f32 within 2× of one of its groups' scales: an f32 scale written into
    /// the packed slot (`0x3f800000`-like).
    F32Bits,
    Other,
}

impl LeakPattern {
    pub fn key(self) -> &'static str {
        match self {
            LeakPattern::FfFill => "ff_fill",
            LeakPattern::F32Bits => "f32_bits",
            LeakPattern::Other => "other",
        }
    }
    pub fn text(self) -> &'static str {
        match self {
            LeakPattern::FfFill => {
                "wrong bytes are 0xff: mantissa bits leaking into the neighbouring codes"
            }
            LeakPattern::F32Bits => "the word is an f32 scale's bit pattern, not 4 codes",
            LeakPattern::Other => "wrong bytes of no recognised pattern",
        }
    }
}

/// One packed word that holds wrong codes.
#[derive(Clone, Debug, PartialEq)]
pub struct LeakExample {
    pub row: usize,
    /// The word's index in its row (groups 4·word … 4·word + 3).
    pub word: usize,
    pub got: u32,
    pub expected: u32,
    pub pattern: LeakPattern,
}

/// Packed UE8M0 words whose bytes are not valid codes for their groups.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedLeak {
    /// Words of the logical grid `[rows, ⌈ng/4⌉]`, and how many were checked.
    pub words: usize,
    pub checked: usize,
    /// Checked words with at least one byte that is not the code its group needs.
    pub bad_words: usize,
    pub ff_fill: usize,
    pub f32_bits: usize,
    pub other: usize,
    /// Groups (in checked words) for which no power-of-two scale reproduces the payload: their byte is not
    /// judged.
    pub unknown_groups: usize,
    /// The first bad word.
    pub example: Option<LeakExample>,
}

impl PackedLeak {
    pub fn sampled(&self) -> bool {
        self.checked < self.words
    }
    /// The finding in one sentence (None when every word is right).
    pub fn sentence(&self) -> Option<String> {
        let e = self.example.as_ref()?;
        let mut kinds = Vec::new();
        for (n, p) in [
            (self.ff_fill, LeakPattern::FfFill),
            (self.f32_bits, LeakPattern::F32Bits),
            (self.other, LeakPattern::Other),
        ] {
            if n > 0 {
                kinds.push(format!("{n}: {}", p.text()));
            }
        }
        Some(format!(
            "{} of {} packed UE8M0 words hold bytes that are not their groups' codes ({}); e.g. row {} word {} = \
             {:#010x}, expected {:#010x}{}",
            self.bad_words,
            self.checked,
            kinds.join("; "),
            e.row,
            e.word,
            e.got,
            e.expected,
            if self.sampled() {
                format!(" (checked {} of {} words, evenly spaced)", self.checked, self.words)
            } else {
                String::new()
            }
        ))
    }
}

/// The E8M0 code group `k` needs: its stored code when that reproduces the payload, else the first
/// power-of-two searched scale (docs/numerics.md §7.5) that does; None when none does.
fn needed_code(d: &Dump, ng: usize, k: usize, stored: u8, buf: &mut [u8]) -> Option<u8> {
    if group_ok(d, ng, k, e8m0::decode(stored), buf) {
        return Some(stored);
    }
    let (r, g) = (k / ng, k % ng);
    let (c0, c1) = (g * d.group, ((g + 1) * d.group).min(d.cols));
    let a = amax(&d.x[r * d.cols + c0..r * d.cols + c1], NanRule::Ignore);
    candidates(a, d.fmt.max_finite())
        .into_iter()
        .filter_map(|(_, s)| e8m0_code_of(s).filter(|c| *c != stored && *c != 0xFF))
        .find(|&c| group_ok(d, ng, k, e8m0::decode(c), buf))
}

/// The pattern of a wrong word.
fn pattern(got: u32, expected_codes: &[Option<u8>]) -> LeakPattern {
    let v = f32::from_bits(got);
    if v.is_normal() && v > 0.0 {
        let near = expected_codes.iter().flatten().any(|&c| {
            let r = v as f64 / e8m0::decode(c) as f64;
            (0.5..=2.0).contains(&r)
        });
        if near {
            return LeakPattern::F32Bits;
        }
    }
    let bytes = got.to_le_bytes();
    let wrong: Vec<u8> = expected_codes
        .iter()
        .enumerate()
        .filter_map(|(j, e)| e.filter(|c| *c != bytes[j]).map(|_| bytes[j]))
        .collect();
    if !wrong.is_empty() && wrong.iter().all(|&b| b == 0xFF) {
        LeakPattern::FfFill
    } else {
        LeakPattern::Other
    }
}

/// Checks the packed words of a packed UE8M0 `xs` whose logical codes are `codes` (`[rows, ng]`, as
/// `read_scales` gives them): per word, are its bytes the codes its groups need? Bytes past the last group
/// of a row (padding) are not judged.
pub fn packed_leak(d: &Dump, codes: &[u8]) -> PackedLeak {
    let ng = d.cols.div_ceil(d.group.max(1));
    let nw = ng.div_ceil(4);
    let words = d.rows * nw;
    let idx = sample(words, MAX_WORDS);
    let mut buf = vec![0u8; d.group];
    let mut leak = PackedLeak {
        words,
        checked: idx.len(),
        bad_words: 0,
        ff_fill: 0,
        f32_bits: 0,
        other: 0,
        unknown_groups: 0,
        example: None,
    };
    for wi in idx {
        let (r, w) = (wi / nw, wi % nw);
        let mut got = 0u32;
        let mut need: Vec<Option<u8>> = Vec::with_capacity(4);
        for j in 0..4 {
            let g = 4 * w + j;
            if g >= ng {
                break;
            }
            let k = r * ng + g;
            got |= (codes[k] as u32) << (8 * j);
            let c = needed_code(d, ng, k, codes[k], &mut buf);
            leak.unknown_groups += c.is_none() as usize;
            need.push(c);
        }
        let bad = need
            .iter()
            .enumerate()
            .any(|(j, c)| c.is_some_and(|c| c != (got >> (8 * j)) as u8));
        if !bad {
            continue;
        }
        leak.bad_words += 1;
        let p = pattern(got, &need);
        match p {
            LeakPattern::FfFill => leak.ff_fill += 1,
            LeakPattern::F32Bits => leak.f32_bits += 1,
            LeakPattern::Other => leak.other += 1,
        }
        if leak.example.is_none() {
            let expected = need.iter().enumerate().fold(0u32, |acc, (j, c)| {
                acc | (c.unwrap_or((got >> (8 * j)) as u8) as u32) << (8 * j)
            });
            leak.example = Some(LeakExample {
                row: r,
                word: w,
                got,
                expected,
                pattern: p,
            });
        }
    }
    leak
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{DType, Fp8Format};
    use crate::quant::presets::preset;

    /// A small random activation [rows, 512] quantized by deepgemm-ue8m0: (x, q, scales).
    fn dump(rows: usize) -> (Vec<f32>, Vec<u8>, Vec<f32>) {
        let k = 512;
        let x: Vec<f32> = (0..rows * k)
            .map(|i| {
                let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                let mag = 2f32.powi((i / 128 % 7) as i32 - 3);
                ((h % 2001) as f32 / 1000.0 - 1.0) * mag
            })
            .collect();
        let t = Tensor::from_f32("x", vec![rows, k], &x).unwrap();
        let q = crate::quant::quantize_activation(&preset("deepgemm-ue8m0").unwrap(), &t).unwrap();
        (x, q.q, q.scales)
    }

    fn d<'a>(x: &'a [f32], q: &'a [u8], rows: usize) -> Dump<'a> {
        Dump {
            x,
            rows,
            cols: 512,
            q,
            fmt: Fp8Format::E4m3fn,
            scales: &[],
            group: 128,
            element: preset("deepgemm-ue8m0").unwrap(),
        }
    }

    #[test]
    fn transposed_reshaped_and_stride0_are_named() {
        let rows = 10;
        let (x, q, s) = dump(rows);
        let dd = d(&x, &q, rows);
        // Column-major data under the logical shape [10, 4]: the declared row fits but is mostly wrong.
        let col: Vec<f32> = (0..4)
            .flat_map(|g| (0..rows).map(move |m| (m, g)))
            .map(|(m, g)| s[m * 4 + g])
            .collect();
        let xs = Tensor::from_f32("xs", vec![rows, 4], &col).unwrap();
        let r = search(&dd, &xs, XsLayout::Row, Ok(()), None);
        assert_eq!(r.finding, Finding::Transposed);
        let b = r.best().unwrap();
        assert_eq!((b.interp.layout, b.consistent), (XsLayout::Col, 40));
        assert!(r.declared_score.as_ref().unwrap().consistent < 40);
        assert!(
            r.sentence().starts_with("xs is transposed: 100 %"),
            "{}",
            r.sentence()
        );
        // Row data saved as [20, 2] (a per-head view): row does not fit as declared; viewed as [10, 4] it does.
        let xs = Tensor::from_f32("xs", vec![20, 2], &s).unwrap();
        let r = search(&dd, &xs, XsLayout::Row, Err("shape".into()), None);
        assert_eq!(r.finding, Finding::Reshaped);
        assert_eq!(r.best().unwrap().interp.view, vec![rows, 4]);
        assert_eq!(r.best().unwrap().fraction(), 1.0);
        assert!(r.declared_wrong());
        // Two experts of 5 rows; expert 1's x is expert 0's / 4, its payload quantized with expert 0's scales,
        // its stored scales its own (a quantizer that read the scales with an expert stride of 0).
        let spec = preset("deepgemm-ue8m0").unwrap();
        let x1: Vec<f32> = (0..rows * 512)
            .map(|i| {
                if i >= 5 * 512 {
                    x[i - 5 * 512] / 4.0
                } else {
                    x[i]
                }
            })
            .collect();
        let t = Tensor::from_f32("x", vec![rows, 512], &x1).unwrap();
        let own = crate::quant::quantize_activation(&spec, &t).unwrap();
        let mut q1 = own.q.clone();
        for r in 5..rows {
            for g in 0..4 {
                let o = r * 512 + g * 128;
                let rule =
                    crate::quant::element::ElementRule::new(&spec, own.scales[(r - 5) * 4 + g]);
                crate::quant::element::quantize_group(&x1[o..o + 128], &rule, &mut q1[o..o + 128]);
            }
        }
        let dd = d(&x1, &q1, rows);
        let xs = Tensor::from_f32("xs", vec![rows, 4], &own.scales).unwrap();
        let r = search(&dd, &xs, XsLayout::Row, Ok(()), Some(2));
        assert_eq!(r.finding, Finding::ExpertStride0, "{:?}", r.candidates);
        assert_eq!(r.best().unwrap().fraction(), 1.0);
        // Nothing better: a consistent dump.
        let xs = Tensor::from_f32("xs", vec![rows, 4], &s).unwrap();
        let dd = d(&x, &q, rows);
        let r = search(&dd, &xs, XsLayout::Row, Ok(()), None);
        assert_eq!(r.finding, Finding::NoneBetter);
        assert!(!r.declared_wrong());
    }

    #[test]
    fn packed_words_with_leaked_bits() {
        let rows = 6;
        let (x, q, s) = dump(rows);
        let codes: Vec<u8> = s.iter().map(|v| e8m0_code_of(*v).unwrap()).collect();
        let mut words: Vec<u32> = (0..rows)
            .map(|r| (0..4).fold(0u32, |a, j| a | (codes[r * 4 + j] as u32) << (8 * j)))
            .collect();
        let want1 = words[1];
        words[1] |= 0x00FF_FFFF; // low three codes 0xff
        words[4] = s[4 * 4 + 3].to_bits().wrapping_mul(1) | 0x0012_3456; // an f32 near group 3's scale
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let xs = Tensor::new("xs", DType::I32, vec![rows, 1], bytes).unwrap();
        let sc = read_scales(&xs, XsLayout::PackedUe8m0, rows, 4).unwrap();
        let dd = Dump {
            scales: &sc.values,
            ..d(&x, &q, rows)
        };
        let l = packed_leak(&dd, sc.codes.as_ref().unwrap());
        assert_eq!((l.words, l.bad_words, l.ff_fill, l.f32_bits), (6, 2, 1, 1));
        let e = l.example.as_ref().unwrap();
        assert_eq!((e.row, e.word, e.expected), (1, 0, want1));
        assert_eq!(e.got, want1 | 0x00FF_FFFF);
        assert!(l.sentence().unwrap().contains("2 of 6 packed UE8M0 words"));
    }

    #[test]
    fn large_grids_are_sampled() {
        let (rows, k) = (9000, 128);
        let x: Vec<f32> = (0..rows * k)
            .map(|i| ((i % 97) as f32 - 48.0) / 7.0)
            .collect();
        let t = Tensor::from_f32("x", vec![rows, k], &x).unwrap();
        let q = crate::quant::quantize_activation(&preset("deepgemm-ue8m0").unwrap(), &t).unwrap();
        let dd = Dump {
            cols: k,
            ..d(&x, &q.q, rows)
        };
        let xs = Tensor::from_f32("xs", vec![rows, 1], &q.scales).unwrap();
        let r = search(&dd, &xs, XsLayout::Row, Ok(()), None);
        assert_eq!((r.groups, r.checked), (9000, MAX_CHECKED));
        assert!(r.sampled() && r.finding == Finding::NoneBetter);
        assert_eq!(r.best().unwrap().consistent, MAX_CHECKED);
        assert!(
            r.sentence().contains("checked on 8192 of 9000 groups"),
            "{}",
            r.sentence()
        );
    }
}
