//! The checks a GEMM spec with an accumulator model (`acc=sm90|sm89|sm100|cdna3`) or an epilogue scaling
//! (`epilogue=ab|a-b|b-a`) makes on its operands: each failure is one line naming why (a usage error, exit
//! 2; `gemm fingerprint` lists the spec as skipped).

use crate::error::{Error, Result};
use crate::gemm::operand::{fp8_dtype, Operand};
use crate::gemm::spec::{Acc, Epilogue, GemmSpec, Promote};

/// Checks `spec` against the operands (after `dequant`): K, the promotion interval `interval`.
pub fn check(spec: &GemmSpec, a: &Operand, b: &Operand, k: usize, interval: usize) -> Result<()> {
    if let Acc::Mma(m) = spec.acc {
        for (role, o) in [("activation", a), ("weight", b)] {
            match o {
                Operand::Plain { .. } => {
                    return Err(Error::Usage(format!(
                        "acc={} models an FP8 MMA instruction, but the {role} is plain values (quant none or dequant=bf16), not FP8 codes",
                        m.name()
                    )))
                }
                Operand::Quantized(q) if !m.accepts(q.fmt) => {
                    return Err(Error::Usage(format!(
                        "acc={} cannot take the {role}'s {} codes: {}",
                        m.name(),
                        fp8_dtype(q.fmt),
                        if m == crate::gemm::mma::Model::Cdna3 {
                            "MI300's FP8 MFMA takes the fnuz formats (quantize to e4m3fnuz)"
                        } else {
                            "NVIDIA FP8 tensor cores take OCP e4m3/e5m2, not fnuz"
                        }
                    )))
                }
                _ => {}
            }
        }
        if interval % m.instruction_k() != 0 {
            return Err(Error::Usage(format!(
                "acc={} runs k = {} per instruction, but the promotion interval is {interval}: use promote=32|64|128 or none",
                m.name(),
                m.instruction_k()
            )));
        }
        if spec.promote == Promote::None && spec.epilogue == Epilogue::Promote {
            return Err(Error::Usage(format!(
                "acc={} with promote=none keeps all of K in the tensor-core accumulator, which cannot apply scales: \
                 set epilogue=ab|a-b|b-a (per-tensor or per-row scales)",
                m.name()
            )));
        }
    }
    if spec.epilogue != Epilogue::Promote {
        for (role, o) in [("activation", a), ("weight", b)] {
            if let Some(bc) = o.k_block() {
                if bc < k {
                    return Err(Error::Usage(format!(
                        "epilogue={} applies the scales once after the K loop, but the {role}'s scales change along K \
                         ({bc}-wide blocks, K = {k}): it needs per-tensor or per-row scales (or epilogue=promote)",
                        crate::gemm::spec::epilogue_name(spec.epilogue)
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::formats::Fp8Format;
    use crate::gemm::{gemm, GemmSpec, Operand};
    use crate::testdata::{quantized, Scales};

    fn op(rows: usize, k: usize, br: usize, bc: usize, fmt: Fp8Format) -> Operand {
        quantized(rows, k, (br, bc), fmt, Scales::Any, rows as u64).into()
    }

    fn usage(spec: &str, a: &Operand, b: &Operand) -> String {
        match gemm(&GemmSpec::parse(spec).unwrap(), a, b) {
            Err(Error::Usage(m)) => m,
            other => panic!("{spec}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn bad_combinations_are_one_line() {
        use Fp8Format::*;
        let (a, b) = (op(4, 256, 1, 128, E4m3fn), op(64, 256, 128, 128, E4m3fn));
        let m = usage("cdna3-blockwise", &a, &b);
        assert!(m.contains("fnuz") && !m.contains('\n'), "{m}");
        let m = usage("sm90-fast-accum", &a, &b);
        assert!(
            m.contains("change along K") && m.contains("per-tensor or per-row"),
            "{m}"
        );
        let m = usage("sm90-blockwise,promote=none", &a, &b);
        assert!(m.contains("cannot apply scales"), "{m}");
        let (fa, fb) = (
            op(4, 256, 1, 128, E4m3fnuz),
            op(64, 256, 128, 128, E4m3fnuz),
        );
        assert!(usage("sm90-blockwise", &fa, &fb).contains("not fnuz"));
        assert!(gemm(&GemmSpec::parse("cdna3-blockwise").unwrap(), &fa, &fb).is_ok());
        let plain = Operand::plain(4, 256, vec![1.0; 1024]).unwrap();
        assert!(usage("sm90-blockwise", &plain, &b).contains("plain values"));
        // Per-row scales: the epilogue presets run.
        let (ra, rb) = (op(4, 256, 1, 256, E4m3fn), op(64, 256, 1, 256, E4m3fn));
        for p in [
            "sm90-promote",
            "sm90-fast-accum,split_k=2",
            "sm89-fast-accum",
            "sm100-promote",
        ] {
            assert!(gemm(&GemmSpec::parse(p).unwrap(), &ra, &rb).is_ok(), "{p}");
        }
    }

    #[test]
    fn presets_round_trip() {
        for p in crate::gemm::Preset::ALL {
            assert_eq!(GemmSpec::parse(&p.spec().to_string()).unwrap(), p.spec());
        }
        let s = GemmSpec::parse("sm90-promote,epilogue=b-a,split_k=3").unwrap();
        assert_eq!(s.to_string(), "sm90-promote,split_k=3,epilogue=b-a");
        assert_eq!(
            GemmSpec::parse("blockwise,acc=sm90")
                .unwrap()
                .canonical()
                .to_string(),
            "sm90-blockwise"
        );
        assert!(!s.is_approximate());
    }
}
