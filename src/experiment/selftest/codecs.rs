//! Codec checks: E8M0 encode (every rounding mode) and decode (every code), FP8 encode (every format and
//! overflow policy) and decode (every code), each against src/formats bit for bit.

use rayon::prelude::*;

use crate::backend::cuda::codecs::Sweep;
use crate::backend::{Backend, Device};
use crate::error::Result;
use crate::experiment::selftest::{Check, Options};
use crate::formats::{e8m0, E8m0Round, Fp8Format, Overflow};
use crate::testdata::{codec_inputs, Rng};

/// Every codec check on `opt.codec_n` random + edge inputs.
pub fn checks(b: &dyn Backend, opt: &Options) -> Result<Vec<Check>> {
    let mut rng = Rng::new(opt.seed);
    let x = codec_inputs(&mut rng, opt.codec_n);
    let mut out = Vec::new();
    for m in E8m0Round::ALL {
        let got = b.e8m0_encode(&x, m)?;
        let want: Vec<u8> = x.par_iter().map(|&v| e8m0::encode(v, m)).collect();
        out.push(Check::compare(
            format!("e8m0 encode {}", m.name()),
            &got,
            &want,
            |a, b| a == b,
            |i| {
                format!(
                    "x={:e} ({:#010x}): {} vs cpu {}",
                    x[i],
                    x[i].to_bits(),
                    got[i],
                    want[i]
                )
            },
        ));
    }
    let codes: Vec<u8> = (0..=255).collect();
    let got = b.e8m0_decode(&codes)?;
    let want: Vec<f32> = codes.iter().map(|&c| e8m0::decode(c)).collect();
    out.push(bits_check("e8m0 decode (all codes)", &codes, &got, &want));
    for f in Fp8Format::ALL {
        for ov in [Overflow::Saturate, Overflow::Nan] {
            let got = b.fp8_encode(&x, f, ov)?;
            let want: Vec<u8> = x.par_iter().map(|&v| f.encode(v, ov)).collect();
            let name = format!("fp8 encode {} {}", f.name(), ov.name());
            out.push(Check::compare(
                name,
                &got,
                &want,
                |a, b| a == b,
                |i| {
                    format!(
                        "x={:e} ({:#010x}): {:#04x} vs cpu {:#04x}",
                        x[i],
                        x[i].to_bits(),
                        got[i],
                        want[i]
                    )
                },
            ));
        }
        let got = b.fp8_decode(&codes, f)?;
        let want: Vec<f32> = codes.iter().map(|&c| f.decode(c)).collect();
        out.push(bits_check(
            &format!("fp8 decode {} (all codes)", f.name()),
            &codes,
            &got,
            &want,
        ));
    }
    Ok(out)
}

fn bits_check(name: &str, codes: &[u8], got: &[f32], want: &[f32]) -> Check {
    Check::compare(
        name,
        got,
        want,
        |a, b| a.to_bits() == b.to_bits(),
        |i| {
            format!(
                "code {:#04x}: {:#010x} vs cpu {:#010x}",
                codes[i],
                got[i].to_bits(),
                want[i].to_bits()
            )
        },
    )
}

/// Exhaustive sweeps on a CUDA backend: float-ceil over every non-negative f32 (it is the one encoder whose
/// result depends on the device's `log2f`, against the table measured on an H100), and every other encoder over
/// every f32 bit pattern with the sign bit clear and set.
pub fn exhaustive(device: &Device) -> Result<Vec<Check>> {
    let Some(cuda) = device.cuda() else {
        return Ok(Vec::new());
    };
    let mut sweeps: Vec<(String, Sweep, u64)> = E8m0Round::ALL
        .into_iter()
        .map(|m| {
            (
                format!("e8m0 encode {} (all 2^31 |x|)", m.name()),
                Sweep::E8m0(m),
                1u64 << 31,
            )
        })
        .collect();
    for f in Fp8Format::ALL {
        for ov in [Overflow::Saturate, Overflow::Nan] {
            let name = format!("fp8 encode {} {} (all 2^32 x)", f.name(), ov.name());
            sweeps.push((name, Sweep::Fp8(f, ov), 1u64 << 32));
        }
    }
    let mut out = Vec::new();
    const CHUNK: u64 = 1 << 28;
    for (name, sweep, total) in sweeps {
        let mut check = Check {
            name,
            n: 0,
            mismatches: 0,
            first: None,
        };
        let mut base = 0u64;
        while base < total {
            let n = CHUNK.min(total - base) as usize;
            let got = crate::backend::cuda::codecs::encode_sweep(cuda, sweep, base as u32, n)?;
            let bad: Vec<usize> = got
                .par_iter()
                .enumerate()
                .with_min_len(1 << 16)
                .filter(|&(i, &g)| {
                    let x = f32::from_bits(base as u32 + i as u32);
                    g != match sweep {
                        Sweep::E8m0(m) => e8m0::encode(x, m),
                        Sweep::Fp8(f, ov) => f.encode(x, ov),
                    }
                })
                .map(|(i, _)| i)
                .collect();
            if let (None, Some(&i)) = (&check.first, bad.first()) {
                let x = f32::from_bits(base as u32 + i as u32);
                check.first = Some(format!("x={x:e} ({:#010x}): {:#04x}", x.to_bits(), got[i]));
            }
            check.n += n;
            check.mismatches += bad.len();
            base += n as u64;
        }
        out.push(check);
    }
    Ok(out)
}
