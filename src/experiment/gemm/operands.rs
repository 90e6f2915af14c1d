//! The operands of `isolate gemm`: the weight (FP8 codes with their scales, or a floating weight quantized on
//! the chosen backend) and each side's activation (the dump's `xq`/`xs`, a quant spec applied to `x`, or `x`
//! as it is), with the shape checks that make a bad dump one clear line.

use crate::backend::{Backend, ResidentOps};
use crate::error::{Error, Result};
use crate::experiment::gemm::staged::Staged;
use crate::formats::{DType, Fp8Format};
use crate::gemm::{load, Operand};
use crate::io::Roles;
use crate::quant::layout::XsLayout;
use crate::quant::QuantSpec;

/// How an activation is obtained: the dump's own quantized tensors, or a quantizer applied to `x`.
#[derive(Clone, Debug, PartialEq)]
pub enum ActivationQuant {
    /// `xq` and `xs` as dumped (the target's own quantizer).
    Dumped,
    /// A quant spec applied to `x` (`none` keeps `x` as it is).
    Spec(QuantSpec),
}

impl std::str::FromStr for ActivationQuant {
    type Err = String;
    /// `dumped` or a quant spec.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.trim() == "dumped" {
            return Ok(ActivationQuant::Dumped);
        }
        QuantSpec::parse(s)
            .map(ActivationQuant::Spec)
            .map_err(|e| e.to_string())
    }
}

/// How dumped code tensors are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpFormat {
    /// FP8 format of code tensors stored as raw u8/i8 bytes.
    pub raw_fp8: Fp8Format,
    /// Layout of a dumped `xs`.
    pub xs_layout: XsLayout,
    /// The group size G a capture recorded for `xs` (checked against the scale grid).
    pub group: Option<usize>,
}

/// The activation `how` gives, named by its quantizer, with at least one row. With `keep` (a backend's
/// [`ResidentOps`]) a quantizer runs on the device and its result stays there; otherwise on `be`, to the host.
pub fn activation(
    be: &dyn Backend,
    keep: Option<&dyn ResidentOps>,
    how: &ActivationQuant,
    roles: &Roles,
    dump: DumpFormat,
) -> Result<(String, Staged<Operand>)> {
    let (name, op) = match how {
        ActivationQuant::Dumped => {
            let act = load::activation(
                roles.get("xq")?,
                roles.get("xs")?,
                dump.raw_fp8,
                dump.xs_layout,
            )?;
            if let Some(g) = dump.group.filter(|&g| g != act.block_cols) {
                return Err(Error::BadTensor(format!(
                    "xs: the capture records group {g} but the scale grid {:?} of [{}, {}] gives {}",
                    roles.get("xs")?.shape,
                    act.rows,
                    act.cols,
                    act.block_cols
                )));
            }
            ("dumped".to_string(), Staged::on_host(act.into()))
        }
        ActivationQuant::Spec(spec) => {
            let x = roles.get("x")?;
            let op = if spec.is_none() {
                Staged::on_host(Operand::from_tensor(x)?)
            } else if let Some(rd) = keep {
                Staged::on_device(rd.quantize(spec, x, false)?)
            } else {
                Staged::on_host(be.quantize_activation(spec, x)?.into())
            };
            (spec.to_string(), op)
        }
    };
    if op.rows() == 0 {
        return Err(Error::BadTensor(
            "the activation has no rows (M = 0): there is nothing to multiply or compare".into(),
        ));
    }
    Ok((name, op))
}

/// The weight: FP8 codes with their scales (`w` + `ws`), or a floating `w` quantized by `weight_quant` on
/// `be` (`none` keeps it as it is); with `keep`, quantized on the device and left there.
pub fn weight(
    be: &dyn Backend,
    keep: Option<&dyn ResidentOps>,
    roles: &Roles,
    weight_quant: &QuantSpec,
    raw_fp8: Fp8Format,
) -> Result<Staged<Operand>> {
    let w = roles.get("w")?;
    if w.shape.len() != 2 {
        return Err(Error::BadTensor(format!(
            "role 'w': '{}' has shape {:?}; a weight is a matrix [N, K]",
            w.name, w.shape
        )));
    }
    let is_codes = w.dtype.fp8_format().is_some() || matches!(w.dtype, DType::U8 | DType::I8);
    if is_codes {
        let ws = roles.get_opt("ws").ok_or_else(|| {
            Error::MissingTensor(format!(
                "role 'ws': the weight '{}' is {} codes but no scale tensor '{}' was found; map it with \
                 --name ws=TENSOR",
                w.name,
                w.dtype,
                roles.tensor_name("ws")
            ))
        })?;
        return Ok(Staged::on_host(load::weight(w, ws, raw_fp8)?.into()));
    }
    if weight_quant.is_none() {
        return Ok(Staged::on_host(Operand::from_tensor(w)?));
    }
    Ok(match keep {
        Some(rd) => Staged::on_device(rd.quantize(weight_quant, w, true)?),
        None => Staged::on_host(be.quantize_weight(weight_quant, w)?.into()),
    })
}

/// The target and reference activations must have the same shape.
pub fn check_same_shape(target: &Staged<Operand>, reference: &Staged<Operand>) -> Result<()> {
    if target.rows() != reference.rows() || target.cols() != reference.cols() {
        return Err(Error::BadTensor(format!(
            "the target activation is [{}, {}] but the reference one is [{}, {}]",
            target.rows(),
            target.cols(),
            reference.rows(),
            reference.cols()
        )));
    }
    Ok(())
}
