//! The `preset[,axis=value]…` syntax that quant specs and GEMM specs share (`deepgemm-ue8m0,eps=1e-10`,
//! `blockwise,split_k=2,out=f32`): one tokenizer, so both kinds accept and reject the same spellings.
//!
//! Each spec kind brings its own typed axis enum ([`SpecAxis`]); the tokenizer turns the text into the preset
//! name and a list of (axis, value) pairs, rejecting a part that is not `axis=value`, an unknown axis and an axis
//! given twice, each with a message that names the spec and the valid axes.

/// An axis of a spec kind: its spellings and the list shown in error messages.
pub trait SpecAxis: Copy + PartialEq + Sized + 'static {
    /// Every axis, in spec-string order.
    fn all() -> &'static [Self];
    /// The canonical spelling.
    fn name(self) -> &'static str;
    /// Parses a spelling; `-` and `_` are interchangeable (`split-k` = `split_k`).
    fn parse(s: &str) -> Option<Self> {
        let s = s.replace('-', "_");
        Self::all().iter().copied().find(|a| a.name() == s)
    }
}

/// A tokenized spec: the preset name and the overrides in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecTokens<'a, A> {
    pub preset: &'a str,
    pub overrides: Vec<(A, &'a str)>,
}

/// The names of every axis of `A`, comma-separated.
pub fn axis_list<A: SpecAxis>() -> String {
    A::all()
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `s` (a `kind` spec, for messages: "quant", "GEMM") into its preset and typed overrides.
pub fn tokenize<'a, A: SpecAxis>(kind: &str, s: &'a str) -> Result<SpecTokens<'a, A>, String> {
    let mut parts = s.split(',').map(str::trim);
    let preset = parts.next().unwrap_or("");
    let mut overrides: Vec<(A, &str)> = Vec::new();
    for part in parts {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!(
                "{kind} spec '{s}': '{part}' is not axis=value; axes: {}",
                axis_list::<A>()
            )
        })?;
        let axis = A::parse(k.trim()).ok_or_else(|| {
            format!(
                "{kind} spec '{s}': unknown axis '{}'; axes: {}",
                k.trim(),
                axis_list::<A>()
            )
        })?;
        if overrides.iter().any(|(a, _)| *a == axis) {
            return Err(format!(
                "{kind} spec '{s}': axis '{}' given twice",
                axis.name()
            ));
        }
        overrides.push((axis, v.trim()));
    }
    Ok(SpecTokens { preset, overrides })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Ax {
        SplitK,
        Out,
    }
    impl SpecAxis for Ax {
        fn all() -> &'static [Ax] {
            &[Ax::SplitK, Ax::Out]
        }
        fn name(self) -> &'static str {
            match self {
                Ax::SplitK => "split_k",
                Ax::Out => "out",
            }
        }
    }

    #[test]
    fn tokenizes_and_rejects() {
        let t = tokenize::<Ax>("GEMM", " p , split-k = 2,out=f32").unwrap();
        assert_eq!(t.preset, "p");
        assert_eq!(t.overrides, vec![(Ax::SplitK, "2"), (Ax::Out, "f32")]);
        let e = tokenize::<Ax>("GEMM", "p,out").unwrap_err();
        assert!(
            e.contains("'out' is not axis=value; axes: split_k, out"),
            "{e}"
        );
        let e = tokenize::<Ax>("GEMM", "p,foo=1").unwrap_err();
        assert!(e.contains("unknown axis 'foo'"), "{e}");
        let e = tokenize::<Ax>("GEMM", "p,out=f32,out=bf16").unwrap_err();
        assert!(e.contains("axis 'out' given twice"), "{e}");
    }
}
