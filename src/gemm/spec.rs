//! `GemmSpec`: the axes of a blockwise-scaled FP8 GEMM emulation and the named presets (docs/numerics.md
//! §8.2, §8.4). A spec string is `preset[,axis=value]...`, e.g. `blockwise,split_k=2,out=f32`.
//!
//! C[M,N] = A[M,K] · B[N,K]ᵀ; A has 1×G scales, B 128×128 scales (docs/numerics.md §8.1).

use std::fmt;

use crate::error::{Error, Result};
use crate::gemm::mma::Model;
use crate::spec_syntax::{tokenize, SpecAxis};

/// K interval after which a partial sum is folded into the f32 accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Promote {
    /// Every `n` K elements (32, 64 or 128).
    Every(usize),
    /// Never: the whole K stays in the inner accumulator, which applies each K block's scale itself.
    None,
}

/// How the partial sum of one promotion interval is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Acc {
    /// The exact sum of the interval's products, rounded once to f32 (order-independent).
    BlockExact,
    /// Sequential f32 fused multiply-adds in k order.
    F32Seq,
    /// An accumulator kept to `N` explicit mantissa bits, truncated toward zero after every 32-k step.
    Trunc(u32),
    /// Everything in f64, no f32 rounding before the output.
    Exact,
    /// A bit-exact model of an FP8 MMA instruction's accumulator ([`crate::gemm::mma`]): the partial sum of an
    /// interval is a chain of the model's steps from C = +0 (`sm90`, `sm89`, `sm100`, `cdna3`).
    Mma(Model),
}

/// Where the scales are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Epilogue {
    /// At each promotion, as `scale_order` says (block-scaled kernels: DeepGEMM, cuBLASLt 1×128·128×128).
    Promote,
    /// Once after the K loop on the unscaled f32 accumulator (per-tensor / per-row scales): acc·fl32(sa·sb).
    Ab,
    /// (acc·sa)·sb, each product rounded.
    AThenB,
    /// (acc·sb)·sa, each product rounded.
    BThenA,
}

/// How a partial sum is scaled when promoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleOrder {
    /// acc = fma(partial, fl32(sa·sb), acc): one product of the scales, one rounding for the FMA.
    Fused,
    /// acc = fl32(fl32(fl32(partial·sa)·sb) + acc): left to right, every op rounded.
    Left,
}

/// Whether the operands are dequantized before the GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dequant {
    None,
    /// x = bf16(fl32(decode(q)·s)) for both operands, then a GEMM on plain bf16 values.
    Bf16,
}

/// Output element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutType {
    /// f32 accumulator rounded to bf16, nearest-even.
    Bf16,
    F32,
}

/// A GEMM emulation: a preset's axes with any overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmSpec {
    /// The preset it started from.
    pub preset: Preset,
    pub promote: Promote,
    pub acc: Acc,
    pub scale_order: ScaleOrder,
    /// Number of partial GEMMs over contiguous K ranges, summed in f32 at the end (1 = no split).
    pub split_k: usize,
    pub dequant: Dequant,
    pub out: OutType,
    /// Where the scales are applied (`promote` for the block-scaled presets).
    pub epilogue: Epilogue,
}

/// The named presets (docs/numerics.md §8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    Blockwise,
    BlockwiseV3,
    FastAccum,
    DequantBf16,
    Exact,
    Sm90Blockwise,
    Sm90Promote,
    Sm90FastAccum,
    Sm89Blockwise,
    Sm89Promote,
    Sm89FastAccum,
    Sm100Promote,
    Sm100FastAccum,
    Cdna3Blockwise,
    Cdna3Promote,
    Cdna3FastAccum,
}

/// One axis of a GEMM spec string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmAxis {
    Promote,
    Acc,
    ScaleOrder,
    SplitK,
    Dequant,
    Out,
    Epilogue,
}

impl SpecAxis for GemmAxis {
    fn all() -> &'static [GemmAxis] {
        &[
            GemmAxis::Promote,
            GemmAxis::Acc,
            GemmAxis::ScaleOrder,
            GemmAxis::SplitK,
            GemmAxis::Dequant,
            GemmAxis::Out,
            GemmAxis::Epilogue,
        ]
    }
    fn name(self) -> &'static str {
        match self {
            GemmAxis::Promote => "promote",
            GemmAxis::Acc => "acc",
            GemmAxis::ScaleOrder => "scale_order",
            GemmAxis::SplitK => "split_k",
            GemmAxis::Dequant => "dequant",
            GemmAxis::Out => "out",
            GemmAxis::Epilogue => "epilogue",
        }
    }
}

impl Preset {
    /// Every preset, in the order reports list them.
    pub const ALL: [Preset; 16] = [
        Preset::Blockwise,
        Preset::BlockwiseV3,
        Preset::FastAccum,
        Preset::DequantBf16,
        Preset::Exact,
        Preset::Sm90Blockwise,
        Preset::Sm90Promote,
        Preset::Sm90FastAccum,
        Preset::Sm89Blockwise,
        Preset::Sm89Promote,
        Preset::Sm89FastAccum,
        Preset::Sm100Promote,
        Preset::Sm100FastAccum,
        Preset::Cdna3Blockwise,
        Preset::Cdna3Promote,
        Preset::Cdna3FastAccum,
    ];

    /// The name a spec string uses.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Blockwise => "blockwise",
            Preset::BlockwiseV3 => "blockwise-v3",
            Preset::FastAccum => "fast-accum",
            Preset::DequantBf16 => "dequant-bf16",
            Preset::Exact => "exact",
            Preset::Sm90Blockwise => "sm90-blockwise",
            Preset::Sm90Promote => "sm90-promote",
            Preset::Sm90FastAccum => "sm90-fast-accum",
            Preset::Sm89Blockwise => "sm89-blockwise",
            Preset::Sm89Promote => "sm89-promote",
            Preset::Sm89FastAccum => "sm89-fast-accum",
            Preset::Sm100Promote => "sm100-promote",
            Preset::Sm100FastAccum => "sm100-fast-accum",
            Preset::Cdna3Blockwise => "cdna3-blockwise",
            Preset::Cdna3Promote => "cdna3-promote",
            Preset::Cdna3FastAccum => "cdna3-fast-accum",
        }
    }

    /// Whether the name is an alias of another preset (`fast-accum` → `sm90-fast-accum`): specs are never
    /// written canonically with it.
    pub fn is_alias(self) -> bool {
        self == Preset::FastAccum
    }

    /// Parses a preset name.
    pub fn parse(s: &str) -> Option<Preset> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    /// One line saying what the preset reproduces and how faithfully (printed by reports).
    pub fn description(self) -> &'static str {
        match self {
            Preset::Blockwise => {
                "DeepGEMM SM90 / DeepSeek-V3.2 fp8_gemm: exact 128-K partials, acc = fma(partial, fl32(sa·sb), acc), bf16 out"
            }
            Preset::BlockwiseV3 => {
                "DeepSeek-V3 Triton fp8_gemm: exact 128-K partials, acc += (partial·sa)·sb left to right, bf16 out"
            }
            Preset::FastAccum => {
                "alias of sm90-fast-accum (torch._scaled_mm(use_fast_accum=True) on Hopper, per-tensor/row scales, bit-exact); the old approximate trunc:13 model is gone (acc=trunc:N remains an axis value: blockwise,promote=none,acc=trunc:13 is that model)"
            }
            Preset::DequantBf16 => {
                "DeepSeek-V3 gemm_impl=\"bf16\" reference: both operands dequantized to bf16, sequential f32 FMA over k, bf16 out"
            }
            Preset::Exact => "oracle: exact partials, f64 promotion and accumulation, f32 out",
            Preset::Sm90Blockwise => {
                "DeepGEMM SM90 / cuBLASLt 1x128·128x128 (torch._scaled_mm block scales) on Hopper: bit-exact wgmma accumulator (acc=sm90), fresh C per 128 K, acc = fma(C, fl32(sa·sb), acc), bf16 out"
            }
            Preset::Sm90Promote => {
                "torch._scaled_mm(use_fast_accum=False) on Hopper, per-tensor/row scales: acc=sm90, C restarted every 128 K and added to an f32 accumulator, scales in the epilogue acc·(sa·sb), bf16 out"
            }
            Preset::Sm90FastAccum => {
                "torch._scaled_mm(use_fast_accum=True) on Hopper, per-tensor/row scales: one acc=sm90 chain over K (per split-K part, parts added in f32), scales in the epilogue, bf16 out"
            }
            Preset::Sm89Blockwise => "as sm90-blockwise on Ada (acc=sm89: mma.sync k32 = two 16-product steps; published data only)",
            Preset::Sm89Promote => "as sm90-promote on Ada (acc=sm89; published data only)",
            Preset::Sm89FastAccum => "as sm90-fast-accum on Ada (acc=sm89; published data only)",
            Preset::Sm100Promote => "per-tensor/row scales on Blackwell tcgen05 f8f6f4 (acc=sm100: MMA-Sim's model, not backed by the published B200 vectors), promotion every 128 K",
            Preset::Sm100FastAccum => "one acc=sm100 chain over K, scales in the epilogue (Blackwell tcgen05; MMA-Sim's model only)",
            Preset::Cdna3Blockwise => "MI300 block-scaled FP8 (acc=cdna3, fnuz operands): MMA-Sim's model, never checked on AMD hardware; fresh C per 128 K, fma(C, sa·sb, acc)",
            Preset::Cdna3Promote => "MI300 per-tensor/row scales (acc=cdna3, fnuz): MMA-Sim's model, never checked on AMD hardware; C every 128 K added in f32, epilogue scales",
            Preset::Cdna3FastAccum => "MI300 one acc=cdna3 chain over K (fnuz), epilogue scales: MMA-Sim's model, never checked on AMD hardware",
        }
    }

    /// The preset's axes.
    pub fn spec(self) -> GemmSpec {
        let base = GemmSpec {
            preset: self,
            promote: Promote::Every(128),
            acc: Acc::BlockExact,
            scale_order: ScaleOrder::Fused,
            split_k: 1,
            dequant: Dequant::None,
            out: OutType::Bf16,
            epilogue: Epilogue::Promote,
        };
        let mma = |m: Model, promote: Promote, epilogue: Epilogue| GemmSpec {
            promote,
            acc: Acc::Mma(m),
            epilogue,
            ..base
        };
        match self {
            // DeepGEMM `sm90_fp8_gemm_1d2d.cuh`: 4 WGMMAs (BLOCK_K = 128) into a fresh accumulator, then
            // `final_accum += (scale_a·scale_b) * accum` on CUDA cores (an FFMA); BF16-only output
            // (docs/numerics.md §8.4). DeepSeek-V3.2 `inference/kernel.py::fp8_gemm`: Scale_C = sa·sb rounded first,
            // fresh C_local per 128-K block, `C_accum += C_local * Scale_C`.
            Preset::Blockwise => base,
            // DeepSeek-V3 `inference/kernel.py::fp8_gemm_kernel` (Triton): `acc += tl.dot(a, b) * a_s * b_s`,
            // evaluated left to right, `c = acc.to(bf16)` (docs/numerics.md §8.4).
            Preset::BlockwiseV3 => GemmSpec {
                scale_order: ScaleOrder::Left,
                ..base
            },
            // An alias of `sm90-fast-accum` (docs/numerics.md §8.7); the approximate trunc:13 model it once was is
            // spelled with axes now.
            Preset::FastAccum => GemmSpec {
                preset: self,
                ..Preset::Sm90FastAccum.spec()
            },
            // DeepSeek-V3 `model.py::linear` with `gemm_impl = "bf16"`: `weight_dequant` (`x.to(f32) * s`, stored
            // bf16), then a bf16 `F.linear` (docs/numerics.md §8.4); modelled as sequential f32 FMAs.
            Preset::DequantBf16 => GemmSpec {
                promote: Promote::None,
                acc: Acc::F32Seq,
                dequant: Dequant::Bf16,
                ..base
            },
            // Not a kernel: the oracle every other preset is compared with.
            Preset::Exact => GemmSpec {
                acc: Acc::Exact,
                out: OutType::F32,
                ..base
            },
            // DeepGEMM `sm90_fp8_gemm_1d2d.cuh` as above, with the tensor-core accumulation made exact
            // (crate::gemm::mma::sm90); cuBLASLt's block-scaled kernel behind torch._scaled_mm is bit-equal to
            // it on every case of tests/tc_scaled_mm.rs.
            Preset::Sm90Blockwise => mma(Model::Sm90, Promote::Every(128), Epilogue::Promote),
            // CUTLASS/cuBLASLt FP8 with mma_promotion_interval = 128 K ("GmmaFP8Accumulation"): the tensor-core
            // accumulator restarts every interval and is added into an f32 accumulator; alpha/row scales in the
            // epilogue.
            Preset::Sm90Promote => mma(Model::Sm90, Promote::Every(128), Epilogue::Ab),
            Preset::Sm90FastAccum => mma(Model::Sm90, Promote::None, Epilogue::Ab),
            Preset::Sm89Blockwise => mma(Model::Sm89, Promote::Every(128), Epilogue::Promote),
            Preset::Sm89Promote => mma(Model::Sm89, Promote::Every(128), Epilogue::Ab),
            Preset::Sm89FastAccum => mma(Model::Sm89, Promote::None, Epilogue::Ab),
            Preset::Sm100Promote => mma(Model::Sm100, Promote::Every(128), Epilogue::Ab),
            Preset::Sm100FastAccum => mma(Model::Sm100, Promote::None, Epilogue::Ab),
            Preset::Cdna3Blockwise => mma(Model::Cdna3, Promote::Every(128), Epilogue::Promote),
            Preset::Cdna3Promote => mma(Model::Cdna3, Promote::Every(128), Epilogue::Ab),
            Preset::Cdna3FastAccum => mma(Model::Cdna3, Promote::None, Epilogue::Ab),
        }
    }
}

fn usage(msg: String) -> Error {
    Error::Usage(msg)
}

fn preset_list() -> String {
    Preset::ALL.map(Preset::name).join(", ")
}

impl GemmSpec {
    /// Parses `preset[,axis=value]...`. Unknown presets, axes and values are usage errors that list the valid
    /// spellings.
    pub fn parse(s: &str) -> Result<GemmSpec> {
        let tokens = tokenize::<GemmAxis>("GEMM", s).map_err(usage)?;
        let name = tokens.preset;
        let preset = Preset::parse(name).ok_or_else(|| {
            usage(format!(
                "GEMM spec '{s}': unknown preset '{name}'; presets are {}",
                preset_list()
            ))
        })?;
        let mut spec = preset.spec();
        for (axis, value) in tokens.overrides {
            spec.set(axis, value)
                .map_err(|e| usage(format!("GEMM spec '{s}': {e}")))?;
        }
        Ok(spec)
    }

    /// Sets one axis from its spelling; the error text names the valid values.
    pub fn set(&mut self, axis: GemmAxis, value: &str) -> std::result::Result<(), String> {
        let name = axis.name();
        let bad = |valid: &str| format!("{name}={value}: {name} must be one of {valid}");
        match axis {
            GemmAxis::Promote => {
                self.promote = match value {
                    "32" => Promote::Every(32),
                    "64" => Promote::Every(64),
                    "128" => Promote::Every(128),
                    "none" => Promote::None,
                    _ => return Err(bad("32, 64, 128, none")),
                }
            }
            GemmAxis::Acc => {
                self.acc = match value {
                    "block-exact" => Acc::BlockExact,
                    "f32-seq" => Acc::F32Seq,
                    "exact" => Acc::Exact,
                    v => match (Model::parse(v), v.strip_prefix("trunc:").map(str::parse::<u32>)) {
                        (Some(m), _) => Acc::Mma(m),
                        (_, Some(Ok(n))) if (1..=23).contains(&n) => Acc::Trunc(n),
                        _ => {
                            return Err(bad(
                                "block-exact, f32-seq, trunc:N (N = 1..=23), exact, sm90, sm89, sm100, cdna3",
                            ))
                        }
                    },
                }
            }
            GemmAxis::ScaleOrder => {
                self.scale_order = match value {
                    "fused" => ScaleOrder::Fused,
                    "left" => ScaleOrder::Left,
                    _ => return Err(bad("fused, left")),
                }
            }
            GemmAxis::SplitK => {
                self.split_k = match value.parse::<usize>() {
                    Ok(n) if n >= 1 => n,
                    _ => return Err(bad("a positive integer")),
                }
            }
            GemmAxis::Dequant => {
                self.dequant = match value {
                    "none" => Dequant::None,
                    "bf16" => Dequant::Bf16,
                    _ => return Err(bad("none, bf16")),
                }
            }
            GemmAxis::Out => {
                self.out = match value {
                    "bf16" => OutType::Bf16,
                    "f32" => OutType::F32,
                    _ => return Err(bad("bf16, f32")),
                }
            }
            GemmAxis::Epilogue => {
                self.epilogue = match value {
                    "promote" => Epilogue::Promote,
                    "ab" => Epilogue::Ab,
                    "a-b" => Epilogue::AThenB,
                    "b-a" => Epilogue::BThenA,
                    _ => {
                        return Err(bad(
                            "promote (scales at each promotion), ab = acc·(sa·sb), a-b = (acc·sa)·sb, b-a = (acc·sb)·sa",
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The preset's one-line description, followed by the overrides when there are any (and the caveat of
    /// an approximate accumulator).
    pub fn description(&self) -> String {
        let base = self.preset.description();
        let ov = self.overrides();
        let mut d = if ov.is_empty() {
            base.to_string()
        } else {
            format!("{base}; overridden: {}", ov.join(", "))
        };
        if let Acc::Trunc(n) = self.acc {
            d.push_str(&format!(
                "; APPROXIMATE: acc=trunc:{n} truncates an accumulator to {n} mantissa bits every 32 K, a model not \
                 bit-exact to any kernel (the bit-exact tensor-core models are acc=sm90|sm89|sm100|cdna3)"
            ));
        }
        d
    }

    /// Every axis value as its spelling (`promote` → `128`).
    pub fn axis_value(&self, axis: GemmAxis) -> String {
        match axis {
            GemmAxis::Promote => promote_name(self.promote),
            GemmAxis::Acc => acc_name(self.acc),
            GemmAxis::ScaleOrder => order_name(self.scale_order).into(),
            GemmAxis::SplitK => self.split_k.to_string(),
            GemmAxis::Dequant => dequant_name(self.dequant).into(),
            GemmAxis::Out => out_name(self.out).into(),
            GemmAxis::Epilogue => epilogue_name(self.epilogue).into(),
        }
    }

    /// Whether the spec is only an approximate model of a real kernel (a truncated accumulator, `acc=trunc:N`).
    pub fn is_approximate(&self) -> bool {
        matches!(self.acc, Acc::Trunc(_))
    }

    /// The axes that differ from the preset's, as `axis=value`.
    pub fn overrides(&self) -> Vec<String> {
        let p = self.preset.spec();
        let mut v = Vec::new();
        if self.promote != p.promote {
            v.push(format!("promote={}", promote_name(self.promote)));
        }
        if self.acc != p.acc {
            v.push(format!("acc={}", acc_name(self.acc)));
        }
        if self.scale_order != p.scale_order {
            v.push(format!("scale_order={}", order_name(self.scale_order)));
        }
        if self.split_k != p.split_k {
            v.push(format!("split_k={}", self.split_k));
        }
        if self.dequant != p.dequant {
            v.push(format!("dequant={}", dequant_name(self.dequant)));
        }
        if self.out != p.out {
            v.push(format!("out={}", out_name(self.out)));
        }
        if self.epilogue != p.epilogue {
            v.push(format!("epilogue={}", epilogue_name(self.epilogue)));
        }
        v
    }

    /// The same axes written from the preset that needs the fewest overrides (ties: the earlier preset; never
    /// an alias), so that e.g. blockwise with `scale_order=left` reads `blockwise-v3`.
    pub fn canonical(&self) -> GemmSpec {
        Preset::ALL
            .into_iter()
            .filter(|p| !p.is_alias())
            .map(|p| GemmSpec { preset: p, ..*self })
            .min_by_key(|s| s.overrides().len())
            .unwrap_or(*self)
    }

    /// Every axis as `axis=value` (for JSON and for fingerprint tables).
    pub fn axes(&self) -> String {
        format!(
            "promote={},acc={},scale_order={},split_k={},dequant={},out={},epilogue={}",
            promote_name(self.promote),
            acc_name(self.acc),
            order_name(self.scale_order),
            self.split_k,
            dequant_name(self.dequant),
            out_name(self.out),
            epilogue_name(self.epilogue)
        )
    }
}

impl fmt::Display for GemmSpec {
    /// The canonical spec string: the preset, then its overrides. `GemmSpec::parse` reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.preset.name())?;
        for o in self.overrides() {
            write!(f, ",{o}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for GemmSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        GemmSpec::parse(s)
    }
}

/// Spelling of a promote value.
pub fn promote_name(p: Promote) -> String {
    match p {
        Promote::Every(n) => n.to_string(),
        Promote::None => "none".into(),
    }
}

/// Spelling of an acc value.
pub fn acc_name(a: Acc) -> String {
    match a {
        Acc::BlockExact => "block-exact".into(),
        Acc::F32Seq => "f32-seq".into(),
        Acc::Trunc(n) => format!("trunc:{n}"),
        Acc::Exact => "exact".into(),
        Acc::Mma(m) => m.name().into(),
    }
}

/// Spelling of an epilogue value.
pub fn epilogue_name(e: Epilogue) -> &'static str {
    match e {
        Epilogue::Promote => "promote",
        Epilogue::Ab => "ab",
        Epilogue::AThenB => "a-b",
        Epilogue::BThenA => "b-a",
    }
}

fn order_name(o: ScaleOrder) -> &'static str {
    match o {
        ScaleOrder::Fused => "fused",
        ScaleOrder::Left => "left",
    }
}

fn dequant_name(d: Dequant) -> &'static str {
    match d {
        Dequant::None => "none",
        Dequant::Bf16 => "bf16",
    }
}

fn out_name(o: OutType) -> &'static str {
    match o {
        OutType::Bf16 => "bf16",
        OutType::F32 => "f32",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_axes_of_design_md() {
        let b = GemmSpec::parse("blockwise").unwrap();
        assert_eq!(
            (b.promote, b.acc, b.scale_order, b.split_k, b.dequant, b.out),
            (
                Promote::Every(128),
                Acc::BlockExact,
                ScaleOrder::Fused,
                1,
                Dequant::None,
                OutType::Bf16
            )
        );
        assert_eq!(
            GemmSpec::parse("blockwise-v3").unwrap().scale_order,
            ScaleOrder::Left
        );
        // `fast-accum` is an alias of the bit-exact sm90-fast-accum; the old trunc:13 model is spelled with axes.
        let f = GemmSpec::parse("fast-accum").unwrap();
        let s = GemmSpec::parse("sm90-fast-accum").unwrap();
        assert_eq!(
            GemmSpec {
                preset: s.preset,
                ..f
            },
            s
        );
        assert_eq!(f.to_string(), "fast-accum");
        assert_eq!(f.canonical().to_string(), "sm90-fast-accum");
        assert!(!f.is_approximate());
        assert!(f.description().contains("alias of sm90-fast-accum"));
        assert!(f
            .description()
            .contains("approximate trunc:13 model is gone"));
        let t = GemmSpec::parse("blockwise,promote=none,acc=trunc:13").unwrap();
        assert!(t.is_approximate() && t.description().contains("APPROXIMATE"));
        let d = GemmSpec::parse("dequant-bf16").unwrap();
        assert_eq!(
            (d.dequant, d.acc, d.out),
            (Dequant::Bf16, Acc::F32Seq, OutType::Bf16)
        );
        let e = GemmSpec::parse("exact").unwrap();
        assert_eq!((e.acc, e.out), (Acc::Exact, OutType::F32));
    }

    #[test]
    fn overrides_parse_and_round_trip() {
        let s = GemmSpec::parse(
            "blockwise, promote=32 ,acc=trunc:10,scale-order=left,split_k=4,dequant=bf16,out=f32",
        )
        .unwrap();
        assert_eq!(s.promote, Promote::Every(32));
        assert_eq!(s.acc, Acc::Trunc(10));
        assert_eq!(s.scale_order, ScaleOrder::Left);
        assert_eq!(s.split_k, 4);
        assert_eq!(s.dequant, Dequant::Bf16);
        assert_eq!(s.out, OutType::F32);
        let text = s.to_string();
        assert_eq!(
            text,
            "blockwise,promote=32,acc=trunc:10,scale_order=left,split_k=4,dequant=bf16,out=f32"
        );
        assert_eq!(GemmSpec::parse(&text).unwrap(), s);
        // An override equal to the preset's value disappears from the canonical string.
        assert_eq!(
            GemmSpec::parse("exact,out=f32").unwrap().to_string(),
            "exact"
        );
        for p in Preset::ALL {
            assert_eq!(GemmSpec::parse(&p.spec().to_string()).unwrap(), p.spec());
        }
        let v3 = GemmSpec::parse("blockwise,scale_order=left")
            .unwrap()
            .canonical();
        assert_eq!(v3.to_string(), "blockwise-v3");
        let fa = GemmSpec::parse("blockwise,promote=none,acc=trunc:13,split_k=2")
            .unwrap()
            .canonical();
        assert_eq!(
            fa.to_string(),
            "blockwise,promote=none,acc=trunc:13,split_k=2"
        );
    }

    #[test]
    fn bad_specs_name_the_valid_spellings() {
        let msg = |s: &str| match GemmSpec::parse(s) {
            Err(Error::Usage(m)) => m,
            other => panic!("{s}: expected a usage error, got {other:?}"),
        };
        assert!(
            msg("blockwize").contains("blockwise, blockwise-v3, fast-accum, dequant-bf16, exact")
        );
        assert!(msg("blockwise,colour=red")
            .contains("promote, acc, scale_order, split_k, dequant, out"));
        assert!(msg("blockwise,promote=96").contains("32, 64, 128, none"));
        assert!(msg("blockwise,acc=trunc:0").contains("trunc:N"));
        assert!(msg("blockwise,acc=trunc:24").contains("trunc:N"));
        assert!(msg("blockwise,acc=fast").contains("block-exact, f32-seq"));
        assert!(msg("blockwise,split_k=0").contains("positive integer"));
        assert!(msg("blockwise,out=f16").contains("bf16, f32"));
        assert!(msg("blockwise,dequant=f8").contains("none, bf16"));
        assert!(msg("blockwise,scale_order=right").contains("fused, left"));
        assert!(msg("blockwise,promote").contains("axis=value"));
        assert!(msg("").contains("unknown preset"));
    }
}
