//! The CPU emulation of a [`GemmSpec`]: C[M,N] = A[M,K] · B[N,K]ᵀ, bit for bit per the definitions below.
//!
//! Definitions (docs/numerics.md §8.2; σ = fl32(sa · sb) of the interval's two scales; every
//! accumulator starts at +0):
//! - An interval is `promote` K elements inside one scale block of each operand. Its partial p is formed
//!   from the code values (decode(q), no scale) by `acc`:
//!   `block-exact`: the exact Σ a_k·b_k rounded once to f32; `f32-seq`: p = fma(a_k, b_k, p) for k
//!   ascending; `trunc:N`: t = RZ_N(t + exact Σ of the next 32 products) for each 32-k step (RZ_N =
//!   truncation to N explicit mantissa bits, `exact::truncate_bits`), p = t; `exact`: the exact sum
//!   rounded once to f64.
//! - Promotion into the f32 accumulator c: `fused`: c = fma(p, σ, c); `left`:
//!   c = fl32(fl32(fl32(p·sa)·sb) + c). With `acc=exact` it is f64 instead: c = c + p·(sa·sb) (`fused`, sa·sb exact in f64) or c =
//!   ((p·sa)·sb) + c (`left`), each f64 op rounded to nearest.
//! - `promote=none`: no f32 promotion; the inner accumulator runs over all of K and applies each scale
//!   block's σ itself: `block-exact`: one rounding of the exact Σ a_k·b_k·σ_k; `f32-seq`: c =
//!   fma(fl32(a_k·b_k), σ_k, c) (c = fma(a_k, b_k, c) when neither operand has scales); `trunc:N`: t =
//!   RZ_N(t + σ·exact Σ of the 32 products) per 32-k step; `exact`: as promote = the scale-block width.
//! - `split_k = S`: the intervals are cut into S contiguous ranges (range s = [s·I/S, (s+1)·I/S)), each
//!   range is a GEMM of its own from c = +0, and the S results are added in f32 (f64 for `exact`) in order.
//! - `dequant=bf16`: both operands are first replaced by plain bf16 values bf16(fl32(decode(q)·s)).
//! - `out=bf16`: the f32 result rounded to bf16, nearest-even (`exact`: f64 → f32 → bf16, torch's path).

use rayon::prelude::*;

use crate::error::Result;
use crate::gemm::exact::{ro_sum, truncate_bits, two_prod, ExactSum};
use crate::gemm::kernels::{promote_f32, seq_f32, seq_f32_scaled, sums_f64, ATile, NT};
use crate::gemm::mma::fast::{exponents, MmaTile};
use crate::gemm::operand::{Bounds, Operand};
use crate::gemm::output::GemmOutput;
use crate::gemm::plan::{plan, Plan};
use crate::gemm::spec::{Acc, Dequant, Epilogue, GemmSpec, Promote, ScaleOrder};

/// Rows of A per tile.
const MT: usize = 32;

/// Runs `spec` on the CPU.
pub fn gemm(spec: &GemmSpec, a: &Operand, b: &Operand) -> Result<GemmOutput> {
    gemm_with_progress(spec, a, b, &|_, _| {})
}

/// Runs `spec` on the CPU and calls `progress(done, total)` after each tile of B columns.
pub fn gemm_with_progress(
    spec: &GemmSpec,
    a: &Operand,
    b: &Operand,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<GemmOutput> {
    let (da, db);
    let (a, b) = match spec.dequant {
        Dequant::None => (a, b),
        Dequant::Bf16 => {
            a.validate("activation")?;
            b.validate("weight")?;
            da = a.dequant_bf16();
            db = b.dequant_bf16();
            (&da, &db)
        }
    };
    let p = plan(spec, a, b)?;
    let values = Ctx::new(spec, &p, a, b).run(progress);
    Ok(GemmOutput::from_f32(p.m, p.n, values, spec.out))
}

/// The axes a family of specs varies while sharing the accumulator's work ([`gemm_many`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fold {
    pub split_k: usize,
    pub scale_order: ScaleOrder,
    pub epilogue: Epilogue,
}

impl Fold {
    /// The fold of a spec.
    pub fn of(spec: &GemmSpec) -> Fold {
        Fold {
            split_k: spec.split_k,
            scale_order: spec.scale_order,
            epilogue: spec.epilogue,
        }
    }

    /// `spec` with this fold's axes.
    pub fn apply(self, spec: &GemmSpec) -> GemmSpec {
        GemmSpec {
            split_k: self.split_k,
            scale_order: self.scale_order,
            epilogue: self.epilogue,
            ..*spec
        }
    }
}

/// Most output values a shared family holds at once (one [M, N] f32 block per member): larger dumps run their
/// members one at a time.
const FAMILY_VALUES: usize = 1 << 26;

/// Runs every spec of `specs` on the CPU and hands each result to `each(index, result)` (in no particular
/// order; an invalid spec gets its plan() error). Every result is bit-identical to [`gemm`] of that spec, but
/// accumulator-model specs (`acc=sm90|sm89|sm100|cdna3`) that differ only in split-K, scale order and epilogue
/// share their work: with a promotion interval the model's partial of every interval is computed once per
/// tile and folded for each member; with `promote=none` the chained accumulator of each split-K is computed
/// once and every epilogue order applied to it (docs/numerics.md §8.7). The first error `each` returns stops
/// the run.
pub fn gemm_many(
    specs: &[GemmSpec],
    a: &Operand,
    b: &Operand,
    each: &mut dyn FnMut(usize, Result<GemmOutput>) -> Result<()>,
) -> Result<()> {
    // Families: accumulator-model specs by everything but the fold (preset names do not change the numbers).
    let mut families: Vec<(GemmSpec, Vec<usize>)> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        if matches!(s.acc, Acc::Mma(_)) && s.dequant == Dequant::None {
            let key = GemmSpec {
                preset: crate::gemm::Preset::Blockwise,
                split_k: 1,
                scale_order: ScaleOrder::Fused,
                epilogue: Epilogue::Promote,
                ..*s
            };
            match families.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(i),
                None => families.push((key, vec![i])),
            }
        } else {
            each(i, gemm(s, a, b))?;
        }
    }
    let per = (FAMILY_VALUES / (a.rows() * b.rows()).max(1)).max(1);
    for (_, members) in families {
        for chunk in members.chunks(per) {
            let chunk_specs: Vec<GemmSpec> = chunk.iter().map(|&i| specs[i]).collect();
            for (r, &i) in family(&chunk_specs, a, b).into_iter().zip(chunk) {
                each(i, r)?;
            }
        }
    }
    Ok(())
}

/// The members of one family (same spec but for the [`Fold`]): each result as [`gemm`] gives it.
fn family(specs: &[GemmSpec], a: &Operand, b: &Operand) -> Vec<Result<GemmOutput>> {
    let mut out: Vec<Option<Result<GemmOutput>>> = (0..specs.len()).map(|_| None).collect();
    let mut valid: Vec<(usize, Fold, Plan)> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        match plan(s, a, b) {
            Ok(p) => valid.push((i, Fold::of(s), p)),
            Err(e) => out[i] = Some(Err(e)),
        }
    }
    if let Some(&(first, _, ref p0)) = valid.first() {
        let spec = specs[first];
        let ctx = Ctx::new(&spec, p0, a, b);
        let (m, n) = (p0.m, p0.n);
        if spec.promote == Promote::None {
            // One chained accumulator per split-K, every epilogue applied to it.
            let mut splits: Vec<usize> = valid.iter().map(|v| v.1.split_k).collect();
            splits.dedup();
            splits.sort_unstable();
            splits.dedup();
            for sk in splits {
                let members: Vec<&(usize, Fold, Plan)> =
                    valid.iter().filter(|v| v.1.split_k == sk).collect();
                let raw_spec = GemmSpec {
                    split_k: sk,
                    ..specs[members[0].0]
                };
                let mut rctx = Ctx::new(&raw_spec, &members[0].2, a, b);
                rctx.raw = true;
                let raw = rctx.run(&|_, _| {});
                for &&(i, fold, _) in &members {
                    let mut v = raw.clone();
                    for r in 0..m {
                        let sa = a.scale(r, 0);
                        for c in 0..n {
                            let x = &mut v[r * n + c];
                            *x = epilogue_scale(fold.epilogue, *x, sa, b.scale(c, 0));
                        }
                    }
                    out[i] = Some(Ok(GemmOutput::from_f32(m, n, v, spec.out)));
                }
            }
        } else {
            let folds: Vec<(Fold, Plan)> = valid.iter().map(|v| (v.1, v.2.clone())).collect();
            let tiles = n.div_ceil(NT);
            let cols: Vec<Vec<Vec<f32>>> = (0..tiles)
                .into_par_iter()
                .map(|t| ctx.family_tile(t * NT, &folds))
                .collect();
            for (f, &(i, _, _)) in valid.iter().enumerate() {
                let blocks: Vec<&Vec<f32>> = cols.iter().map(|c| &c[f]).collect();
                let values = assemble(m, n, &blocks);
                out[i] = Some(Ok(GemmOutput::from_f32(m, n, values, spec.out)));
            }
        }
    }
    out.into_iter()
        .map(|r| r.expect("every member has a result"))
        .collect()
}

/// [M, N] row-major from the [M, NT] blocks of consecutive column tiles.
fn assemble(m: usize, n: usize, blocks: &[&Vec<f32>]) -> Vec<f32> {
    let mut values = vec![0f32; m * n];
    for (t, c) in blocks.iter().enumerate() {
        let n0 = t * NT;
        let w = NT.min(n - n0);
        for i in 0..m {
            values[i * n + n0..i * n + n0 + w].copy_from_slice(&c[i * NT..i * NT + w]);
        }
    }
    values
}

/// Everything a tile needs, shared read-only.
struct Ctx<'a> {
    spec: &'a GemmSpec,
    p: &'a Plan,
    a: &'a Operand,
    b: &'a Operand,
    /// A decoded to code values, [M, K].
    adec: Vec<f32>,
    /// Bounds of A per (row, unit), when the static bounds do not prove every unit sum exact.
    ameta: Option<Vec<Bounds>>,
    /// `acc=sm90|…`: the model exponents of A's codes ([M, K]; empty otherwise).
    aexp: Vec<i32>,
    /// Leave out the epilogue scaling (the f32 accumulator as it is after the K loop).
    raw: bool,
}

/// The FP8 format of a quantized operand (plan() refuses MMA models on plain ones).
fn fmt_of(o: &Operand) -> crate::formats::Fp8Format {
    match o {
        Operand::Quantized(q) => q.fmt,
        Operand::Plain { .. } => crate::formats::Fp8Format::E4m3fn,
    }
}

impl<'a> Ctx<'a> {
    fn new(spec: &'a GemmSpec, p: &'a Plan, a: &'a Operand, b: &'a Operand) -> Self {
        let k = p.k;
        let mut adec = vec![0f32; p.m * k];
        adec.par_chunks_mut(k.max(1))
            .enumerate()
            .for_each(|(r, row)| a.decode_rows(r, 1, row));
        let needs_sums = !matches!(spec.acc, Acc::F32Seq | Acc::Mma(_));
        let mut aexp = Vec::new();
        if matches!(spec.acc, Acc::Mma(_)) {
            aexp = vec![0i32; adec.len()];
            exponents(&adec, fmt_of(a), &mut aexp);
        }
        let statically_exact = match (a.static_bounds(), b.static_bounds()) {
            (Some(x), Some(y)) => x.f64_sum_exact(y, p.unit),
            _ => false,
        };
        let ameta = (needs_sums && !statically_exact).then(|| row_bounds(&adec, p.m, k, p.unit));
        Ctx {
            spec,
            p,
            a,
            b,
            adec,
            ameta,
            aexp,
            raw: false,
        }
    }

    /// The whole [M, N] f32 result, column tiles in parallel; `progress(done, total)` after each tile.
    fn run(&self, progress: &(dyn Fn(usize, usize) + Sync)) -> Vec<f32> {
        let tiles = self.p.n.div_ceil(NT);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let cols: Vec<Vec<f32>> = (0..tiles)
            .into_par_iter()
            .map(|t| {
                let r = self.tile(t * NT);
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(d, tiles);
                r
            })
            .collect();
        let blocks: Vec<&Vec<f32>> = cols.iter().collect();
        assemble(self.p.m, self.p.n, &blocks)
    }

    /// The B side of the tile of output columns [n0, n0 + NT): its transposed codes, their model exponents, its
    /// scales per interval and bounds.
    fn tile_b(&self, n0: usize) -> TileB {
        let (p, k) = (self.p, self.p.k);
        let w = NT.min(p.n - n0);
        // B tile, transposed: bt[k · NT + j]; columns past N stay zero.
        let mut rows = vec![0f32; w * k];
        self.b.decode_rows(n0, w, &mut rows);
        let mut bt = vec![0f32; k * NT];
        for j in 0..w {
            for kk in 0..k {
                bt[kk * NT + j] = rows[j * k + kk];
            }
        }
        let bmeta = self.ameta.as_ref().map(|_| {
            let mut m = row_bounds(&rows, w, k, p.unit);
            m.resize(NT * p.n_units(), Bounds::default());
            m
        });
        drop(rows);
        let mut ebt = Vec::new();
        if matches!(self.spec.acc, Acc::Mma(_)) {
            ebt = vec![0i32; bt.len()];
            exponents(&bt, fmt_of(self.b), &mut ebt);
        }
        let sb: Vec<Vec<f32>> = (0..p.n_intervals)
            .map(|iv| {
                let k0 = iv * p.interval;
                (0..NT)
                    .map(|j| if j < w { self.b.scale(n0 + j, k0) } else { 1.0 })
                    .collect()
            })
            .collect();
        TileB { bt, ebt, sb, bmeta }
    }

    /// The inputs of rows [m0, m0 + MT) of a tile.
    fn tile_in<'t>(&'t self, tb: &'t TileB, m0: usize) -> TileIn<'t> {
        let k = self.p.k;
        let mt = MT.min(self.p.m - m0);
        TileIn {
            at: ATile {
                a: &self.adec[m0 * k..(m0 + mt) * k],
                lda: k,
                rows: mt,
            },
            m0,
            bt: &tb.bt,
            sb: &tb.sb,
            bmeta: tb.bmeta.as_deref(),
            ebt: &tb.ebt,
            aexp: if self.aexp.is_empty() {
                &[]
            } else {
                &self.aexp[m0 * k..(m0 + mt) * k]
            },
        }
    }

    /// Output columns [n0, n0 + NT) for all rows, as an [M, NT] block.
    fn tile(&self, n0: usize) -> Vec<f32> {
        let p = self.p;
        let tb = self.tile_b(n0);
        let mut out = vec![0f32; p.m * NT];
        let mut ws = Work::new(MT);
        for m0 in (0..p.m).step_by(MT) {
            let t = self.tile_in(&tb, m0);
            let mt = t.at.rows;
            let res = self.splits(&t, &mut ws);
            out[m0 * NT..(m0 + mt) * NT].copy_from_slice(&res[..mt * NT]);
        }
        out
    }

    /// A promotion family's tile (`acc=sm90|…` with `promote=P`): the model's partial of every interval is
    /// computed once, then folded for each of `folds` exactly as [`Ctx::split`] and [`Ctx::splits`] fold it.
    /// Returns one [M, NT] block per fold.
    fn family_tile(&self, n0: usize, folds: &[(Fold, Plan)]) -> Vec<Vec<f32>> {
        let (p, Acc::Mma(model)) = (self.p, self.spec.acc) else {
            unreachable!("family_tile runs accumulator models only")
        };
        let tb = self.tile_b(n0);
        let mut outs = vec![vec![0f32; p.m * NT]; folds.len()];
        let mut parts = vec![0f32; p.n_intervals * MT * NT];
        for m0 in (0..p.m).step_by(MT) {
            let t = self.tile_in(&tb, m0);
            let rows = t.at.rows;
            let n = rows * NT;
            let tile = self.mma_tile(&t);
            for iv in 0..p.n_intervals {
                let kr = p.interval_range(iv);
                let part = &mut parts[iv * n..(iv + 1) * n];
                part.iter_mut().for_each(|x| *x = 0.0);
                crate::gemm::mma::fast::steps(model, &tile, kr.start, kr.end, part);
            }
            for ((fold, fp), out) in folds.iter().zip(outs.iter_mut()) {
                let epilogue = fold.epilogue != Epilogue::Promote;
                let mut total = vec![0f32; n];
                let mut acc = vec![0f32; n];
                for (s, range) in fp.splits.iter().enumerate() {
                    acc.iter_mut().for_each(|x| *x = 0.0);
                    for iv in range.clone() {
                        let k0 = p.interval_range(iv).start;
                        let sa: Vec<f32> = (0..rows)
                            .map(|i| {
                                if epilogue {
                                    1.0
                                } else {
                                    self.a.scale(m0 + i, k0)
                                }
                            })
                            .collect();
                        let ones = [1f32; NT];
                        let sb: &[f32] = if epilogue { &ones } else { &t.sb[iv] };
                        promote_f32(
                            &parts[iv * n..(iv + 1) * n],
                            &sa,
                            sb,
                            fold.scale_order == ScaleOrder::Fused,
                            &mut acc,
                        );
                    }
                    if s == 0 {
                        total.copy_from_slice(&acc);
                    } else {
                        total.iter_mut().zip(&acc).for_each(|(t, &x)| *t += x);
                    }
                }
                if epilogue {
                    self.epilogue(&t, fold.epilogue, &mut total);
                }
                out[m0 * NT..(m0 + rows) * NT].copy_from_slice(&total);
            }
        }
        outs
    }

    /// Applies an epilogue scaling (scales constant along K, as plan() checked: the row's and the column's
    /// first scale) to a tile's f32 results.
    fn epilogue(&self, t: &TileIn, e: Epilogue, r: &mut [f32]) {
        for i in 0..t.at.rows {
            let sa = self.a.scale(t.m0 + i, 0);
            for (j, &sb) in t.sb[0].iter().enumerate() {
                let c = &mut r[i * NT + j];
                *c = epilogue_scale(e, *c, sa, sb);
            }
        }
    }

    /// All splits of one tile, added in order.
    fn splits(&self, t: &TileIn, ws: &mut Work) -> Vec<f32> {
        let n = t.at.rows * NT;
        let exact = self.spec.acc == Acc::Exact;
        let mut total32 = vec![0f32; n];
        let mut total64 = vec![0f64; n];
        for (s, range) in self.p.splits.iter().enumerate() {
            let (r32, r64) = self.split(t, range.clone(), ws);
            for i in 0..n {
                if s == 0 {
                    total32[i] = r32[i];
                    total64[i] = r64[i];
                } else if exact {
                    total64[i] += r64[i];
                } else {
                    total32[i] += r32[i];
                }
            }
        }
        let mut r = if exact {
            total64.iter().map(|&x| x as f32).collect()
        } else {
            total32
        };
        if self.spec.epilogue != Epilogue::Promote && !self.raw {
            self.epilogue(t, self.spec.epilogue, &mut r);
        }
        r
    }

    /// One split: intervals `range`, from an accumulator of +0. Returns the f32 result (and the f64 one for
    /// `acc=exact`).
    fn split(
        &self,
        t: &TileIn,
        range: std::ops::Range<usize>,
        ws: &mut Work,
    ) -> (Vec<f32>, Vec<f64>) {
        let (spec, p) = (self.spec, self.p);
        let rows = t.at.rows;
        let n = rows * NT;
        let mut acc32 = vec![0f32; n];
        let mut acc64 = vec![0f64; n];
        let mut exs: Vec<ExactSum> = Vec::new();
        let none = spec.promote == Promote::None;
        if none && spec.acc == Acc::BlockExact {
            let mut zero = ExactSum::new();
            zero.add(0.0); // the accumulator starts at +0: an all-zero sum is +0
            exs = vec![zero; n];
        }
        for iv in range {
            let kr = p.interval_range(iv);
            let epilogue = spec.epilogue != Epilogue::Promote;
            let sa: Vec<f32> = (0..rows)
                .map(|i| {
                    if epilogue {
                        1.0
                    } else {
                        self.a.scale(t.m0 + i, kr.start)
                    }
                })
                .collect();
            let ones = [1f32; NT];
            let sb: &[f32] = if epilogue { &ones } else { &t.sb[iv] };
            for (srow, &a) in ws.sigma.chunks_exact_mut(NT).zip(&sa) {
                srow.iter_mut().zip(sb).for_each(|(s, &b)| *s = a * b);
            }
            match (spec.acc, none) {
                (Acc::BlockExact, false) => {
                    self.exact_units(t, kr.start, kr.end, ws, Round::Odd);
                    ws.part32
                        .iter_mut()
                        .zip(&ws.part64)
                        .for_each(|(o, &x)| *o = x as f32);
                    self.promote(&ws.part32[..n], &sa, sb, &mut acc32);
                }
                (Acc::Exact, _) => {
                    self.exact_units(t, kr.start, kr.end, ws, Round::Nearest);
                    for i in 0..rows {
                        for j in 0..NT {
                            let (x, a, b) = (ws.part64[i * NT + j], sa[i] as f64, sb[j] as f64);
                            let c = &mut acc64[i * NT + j];
                            *c = match spec.scale_order {
                                ScaleOrder::Fused => *c + x * (a * b),
                                ScaleOrder::Left => x * a * b + *c,
                            };
                        }
                    }
                }
                (Acc::BlockExact, true) => {
                    self.scaled_exact_into(t, kr.start, kr.end, ws, &mut exs);
                }
                (Acc::F32Seq, false) => {
                    ws.part32[..n].iter_mut().for_each(|x| *x = 0.0);
                    seq_f32(t.at, t.bt, kr.start, kr.end, &mut ws.part32[..n]);
                    self.promote(&ws.part32[..n], &sa, sb, &mut acc32);
                }
                (Acc::F32Seq, true) => {
                    if p.scaled {
                        seq_f32_scaled(t.at, t.bt, kr.start, kr.end, &ws.sigma[..n], &mut acc32);
                    } else {
                        seq_f32(t.at, t.bt, kr.start, kr.end, &mut acc32);
                    }
                }
                (Acc::Trunc(bits), false) => {
                    acc64.iter_mut().for_each(|x| *x = 0.0);
                    ws.sigma[..n].iter_mut().for_each(|x| *x = 1.0);
                    self.trunc_steps(t, kr.start, kr.end, bits, ws, &mut acc64);
                    ws.part32
                        .iter_mut()
                        .zip(&acc64)
                        .for_each(|(o, &x)| *o = x as f32);
                    self.promote(&ws.part32[..n], &sa, sb, &mut acc32);
                }
                (Acc::Trunc(bits), true) => {
                    self.trunc_steps(t, kr.start, kr.end, bits, ws, &mut acc64);
                }
                (Acc::Mma(m), false) => {
                    // A fresh C per interval, then promoted like any partial.
                    ws.part32[..n].iter_mut().for_each(|x| *x = 0.0);
                    crate::gemm::mma::fast::steps(
                        m,
                        &self.mma_tile(t),
                        kr.start,
                        kr.end,
                        &mut ws.part32[..n],
                    );
                    self.promote(&ws.part32[..n], &sa, sb, &mut acc32);
                }
                (Acc::Mma(m), true) => {
                    // One C chained over the split's K range (σ = 1: the scales come in the epilogue).
                    crate::gemm::mma::fast::steps(
                        m,
                        &self.mma_tile(t),
                        kr.start,
                        kr.end,
                        &mut acc32,
                    );
                }
            }
        }
        match (spec.acc, none) {
            (Acc::BlockExact, true) => acc32 = exs.iter().map(ExactSum::to_f32).collect(),
            (Acc::Trunc(_), true) => acc32 = acc64.iter().map(|&x| x as f32).collect(),
            _ => {}
        }
        (acc32, acc64)
    }

    /// The tile as the accumulator models take it.
    fn mma_tile<'t>(&'t self, t: &TileIn<'t>) -> MmaTile<'t> {
        MmaTile {
            at: t.at,
            ea: t.aexp,
            bt: t.bt,
            ebt: t.ebt,
            fa: fmt_of(self.a),
            fb: fmt_of(self.b),
        }
    }

    fn promote(&self, part: &[f32], sa: &[f32], sb: &[f32], acc: &mut [f32]) {
        promote_f32(
            part,
            sa,
            sb,
            self.spec.scale_order == ScaleOrder::Fused,
            acc,
        );
    }

    /// Whether the f64 sum of unit `u` for tile element (i, j) is exact.
    fn fast(&self, t: &TileIn, i: usize, j: usize, u: usize, len: usize) -> bool {
        match (&self.ameta, t.bmeta) {
            (Some(am), Some(bm)) => {
                let nu = self.p.n_units();
                am[(t.m0 + i) * nu + u].f64_sum_exact(bm[j * nu + u], len)
            }
            _ => true,
        }
    }

    /// The exact product a_k · b_k of tile element (i, j) (exact in f64).
    #[inline]
    fn product(&self, t: &TileIn, i: usize, j: usize, k: usize) -> f64 {
        t.at.a[i * t.at.lda + k] as f64 * t.bt[k * NT + j] as f64
    }

    /// ws.part64 = the exact sum over [k0, k1) of each tile element, rounded to f64 (to odd or nearest).
    fn exact_units(&self, t: &TileIn, k0: usize, k1: usize, ws: &mut Work, round: Round) {
        let n = t.at.rows * NT;
        sums_f64(t.at, t.bt, k0, k1, &mut ws.part64[..n]);
        let u = k0 / self.p.unit;
        for i in 0..t.at.rows {
            for j in 0..NT {
                if !self.fast(t, i, j, u, k1 - k0) && ws.part64[i * NT + j].is_finite() {
                    let s = &mut ws.sum;
                    s.clear();
                    s.add(0.0);
                    (k0..k1).for_each(|k| s.add(self.product(t, i, j, k)));
                    ws.part64[i * NT + j] = match round {
                        Round::Odd => s.to_f64_ro(),
                        Round::Nearest => s.to_f64_rn(),
                    };
                }
            }
        }
    }

    /// exs[e] += σ_e · (exact Σ over [k0, k1)) for every tile element, exactly.
    fn scaled_exact_into(
        &self,
        t: &TileIn,
        k0: usize,
        k1: usize,
        ws: &mut Work,
        exs: &mut [ExactSum],
    ) {
        let n = t.at.rows * NT;
        sums_f64(t.at, t.bt, k0, k1, &mut ws.part64[..n]);
        let u = k0 / self.p.unit;
        for i in 0..t.at.rows {
            for j in 0..NT {
                let e = i * NT + j;
                let sg = ws.sigma[e] as f64;
                if self.fast(t, i, j, u, k1 - k0) || !ws.part64[e].is_finite() {
                    add_scaled(&mut exs[e], ws.part64[e], sg);
                } else {
                    for k in k0..k1 {
                        add_scaled(&mut exs[e], self.product(t, i, j, k), sg);
                    }
                }
            }
        }
    }

    /// The truncated accumulator over [k0, k1) in 32-k steps: acc = RZ_N(acc + σ · exact step sum), where
    /// σ is ws.sigma (1 inside a promotion interval).
    fn trunc_steps(
        &self,
        t: &TileIn,
        k0: usize,
        k1: usize,
        bits: u32,
        ws: &mut Work,
        acc: &mut [f64],
    ) {
        let n = t.at.rows * NT;
        let step = self.p.unit;
        for s0 in (k0..k1).step_by(step) {
            let s1 = (s0 + step).min(k1);
            sums_f64(t.at, t.bt, s0, s1, &mut ws.part64[..n]);
            let u = s0 / step;
            for i in 0..t.at.rows {
                for j in 0..NT {
                    let e = i * NT + j;
                    let sg = ws.sigma[e] as f64;
                    let x = if self.fast(t, i, j, u, s1 - s0) || !ws.part64[e].is_finite() {
                        let (hi, lo) = two_prod(ws.part64[e], sg);
                        if lo == 0.0 || !hi.is_finite() {
                            ro_sum(acc[e], hi)
                        } else {
                            let s = &mut ws.sum;
                            s.clear();
                            s.add(acc[e]);
                            s.add(hi);
                            s.add(lo);
                            s.to_f64_ro()
                        }
                    } else {
                        let s = &mut ws.sum;
                        s.clear();
                        s.add(acc[e]);
                        for k in s0..s1 {
                            let (hi, lo) = two_prod(self.product(t, i, j, k), sg);
                            s.add(hi);
                            s.add(lo);
                        }
                        s.to_f64_ro()
                    };
                    acc[e] = truncate_bits(x, bits);
                }
            }
        }
    }
}

/// How an exact sum is rounded to f64.
#[derive(Clone, Copy)]
enum Round {
    /// To odd: the f32 rounding that follows is then a single correct rounding.
    Odd,
    Nearest,
}

/// The B side of a tile ([`Ctx::tile_b`]).
struct TileB {
    bt: Vec<f32>,
    ebt: Vec<i32>,
    sb: Vec<Vec<f32>>,
    bmeta: Option<Vec<Bounds>>,
}

/// An epilogue scaling of one f32 result c with its row's scale sa and column's scale sb: `ab` c·fl32(sa·sb),
/// `a-b` (c·sa)·sb, `b-a` (c·sb)·sa, each product rounded to f32 (`promote`: c unchanged).
pub fn epilogue_scale(e: Epilogue, c: f32, sa: f32, sb: f32) -> f32 {
    match e {
        Epilogue::Ab => c * (sa * sb),
        Epilogue::AThenB => c * sa * sb,
        Epilogue::BThenA => c * sb * sa,
        Epilogue::Promote => c,
    }
}

/// A tile's inputs.
struct TileIn<'t> {
    at: ATile<'t>,
    m0: usize,
    bt: &'t [f32],
    /// B scales per interval, NT columns each.
    sb: &'t [Vec<f32>],
    bmeta: Option<&'t [Bounds]>,
    /// `acc=sm90|…`: exponents of the B tile (as `bt`) and of the tile's A rows (empty otherwise).
    ebt: &'t [i32],
    aexp: &'t [i32],
}

/// Scratch buffers of one tile, allocated once.
struct Work {
    part64: Vec<f64>,
    part32: Vec<f32>,
    sigma: Vec<f32>,
    sum: ExactSum,
}

impl Work {
    fn new(rows: usize) -> Work {
        Work {
            part64: vec![0.0; rows * NT],
            part32: vec![0.0; rows * NT],
            sigma: vec![0.0; rows * NT],
            sum: ExactSum::new(),
        }
    }
}

/// Bounds of each (row, unit) of a row-major [rows, k] buffer.
fn row_bounds(x: &[f32], rows: usize, k: usize, unit: usize) -> Vec<Bounds> {
    let nu = k.div_ceil(unit);
    let mut out = vec![Bounds::default(); rows * nu];
    for r in 0..rows {
        for u in 0..nu {
            let lo = r * k + u * unit;
            let hi = r * k + ((u + 1) * unit).min(k);
            out[r * nu + u] = Bounds::of(&x[lo..hi]);
        }
    }
    out
}
/// Adds x·σ to an exact sum as the pair (fl(x·σ), its rounding error); a non-finite product is added alone (its
/// "error" fma(x, σ, −x·σ) would be NaN and turn an infinite sum into NaN).
fn add_scaled(sum: &mut ExactSum, x: f64, sigma: f64) {
    let (hi, lo) = two_prod(x, sigma);
    sum.add(hi);
    if hi.is_finite() {
        sum.add(lo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Fp8Format;
    use crate::testdata::{quantized, Scales};

    /// Every member of a shared family equals its own `gemm` bit for bit (block, per-row and per-tensor
    /// scales; promotion and chained families; all folds; invalid members get their plan() error).
    #[test]
    fn gemm_many_equals_gemm_member_by_member() {
        use Fp8Format::*;
        let ops = [
            ((1, 128), (128, 128), E4m3fn),
            ((1, 512), (1, 512), E4m3fn),
            ((5, 512), (40, 512), E5m2),
            ((1, 128), (128, 128), E4m3fnuz),
        ];
        for (s, &(ba, bb, fmt)) in ops.iter().enumerate() {
            let a: Operand = quantized(5, 512, ba, fmt, Scales::Any, 10 + s as u64).into();
            let b: Operand = quantized(40, 512, bb, fmt, Scales::Any, 20 + s as u64).into();
            let mut specs = Vec::new();
            for acc in ["sm90", "sm89", "sm100", "cdna3"] {
                for promote in ["32", "128", "none"] {
                    for split in [1, 2, 3, 4] {
                        for ep in ["promote", "ab", "a-b", "b-a"] {
                            for order in ["fused", "left"] {
                                specs.push(
                                    GemmSpec::parse(&format!(
                                        "blockwise,acc={acc},promote={promote},split_k={split},epilogue={ep},scale_order={order},out=f32"
                                    ))
                                    .unwrap(),
                                );
                            }
                        }
                    }
                }
            }
            specs.push(GemmSpec::parse("blockwise").unwrap());
            let mut seen = vec![false; specs.len()];
            gemm_many(&specs, &a, &b, &mut |i, r| {
                seen[i] = true;
                match (r, gemm(&specs[i], &a, &b)) {
                    (Ok(x), Ok(y)) => {
                        let same = x
                            .values
                            .iter()
                            .zip(&y.values)
                            .all(|(p, q)| p.to_bits() == q.to_bits());
                        assert!(same, "{}: shared result differs", specs[i]);
                    }
                    (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
                    (x, y) => panic!("{}: {:?} vs {:?}", specs[i], x.is_ok(), y.is_ok()),
                }
                Ok(())
            })
            .unwrap();
            assert!(seen.iter().all(|&x| x));
        }
    }
}
