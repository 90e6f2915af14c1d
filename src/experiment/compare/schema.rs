//! `compare schema` (docs/method.md §3.1, §5.3; ATOM `schema_diff`): names only in A, only in B and
//! common after prefix normalisation, then every common parameter compared: shape, dtype, bytes, values.
//!
//! Each side is one or more files. A name found in several files of one side is a tensor-parallel shard set:
//! identical copies are taken once (replicated), different ones are concatenated along `--tp-dim` (or along
//! the one other dimension that gives the other side's shape). With `--unshuffle aiter16x16`, the 1-byte
//! weights (fp8/int8, not e8m0 scales) of the shuffled side are put back in row-major order first, shard by
//! shard (aiter shuffles each rank's local weight). Dtypes that differ are compared as values (e8m0 scales
//! against f32 ones, bf16 norms against f32).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::experiment::compare::stages::natural_cmp;
use crate::formats::shuffle::unshuffle_aiter16x16;
use crate::formats::DType;
use crate::io::{Tensor, TensorFile};
use crate::metrics::{byte_equal_fraction_per_byte, compare, Comparison, Severity};

/// ATOM `normalize_name`: strips the first prefix `p` (in the given order) that the name starts with, or
/// `"buffer:" + p` (which drops the buffer marker too); otherwise the name is unchanged.
pub fn normalize_name<'a>(name: &'a str, prefixes: &[String]) -> &'a str {
    for p in prefixes {
        if let Some(s) = name.strip_prefix(p.as_str()) {
            return s;
        }
        if let Some(s) = name
            .strip_prefix("buffer:")
            .and_then(|s| s.strip_prefix(p.as_str()))
        {
            return s;
        }
    }
    name
}

/// Which side holds aiter-shuffled weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideId {
    A,
    B,
}

/// What to do before comparing.
#[derive(Clone, Debug)]
pub struct SchemaOptions {
    /// Prefixes stripped by [`normalize_name`] (ATOM's default: `model.`).
    pub strip_prefixes: Vec<String>,
    /// Concatenation dimension for tensor-parallel shards.
    pub tp_dim: Option<usize>,
    /// Undo aiter's `shuffle_weight(16, 16)` on this side's 1-byte weights.
    pub unshuffle: Option<SideId>,
}

fn is_shuffled_kind(d: DType) -> bool {
    d.size() == 1 && !matches!(d, DType::F8E8M0 | DType::Bool)
}

fn unshuffle(t: &Tensor) -> std::result::Result<Tensor, String> {
    let bytes = unshuffle_aiter16x16(t.bytes(), &t.shape, 1).map_err(|e| e.to_string())?;
    Tensor::new(t.name.clone(), t.dtype, t.shape.clone(), bytes).map_err(|e| e.to_string())
}

/// Concatenates tensors along `dim`.
pub fn concat(parts: &[Tensor], dim: usize) -> Result<Tensor> {
    let first = &parts[0];
    let rank = first.shape.len();
    let ok = dim < rank
        && parts.iter().all(|p| {
            p.dtype == first.dtype
                && p.shape.len() == rank
                && (0..rank).all(|d| d == dim || p.shape[d] == first.shape[d])
        });
    if !ok {
        let shapes: Vec<String> = parts
            .iter()
            .map(|p| format!("{}{:?}", p.dtype, p.shape))
            .collect();
        return Err(Error::BadTensor(format!(
            "'{}': cannot concatenate shards {} along dim {dim}",
            first.name,
            shapes.join(", ")
        )));
    }
    let outer: usize = first.shape[..dim].iter().product();
    let mut shape = first.shape.clone();
    shape[dim] = parts.iter().map(|p| p.shape[dim]).sum();
    let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.bytes().len()).sum());
    for o in 0..outer {
        for p in parts {
            let chunk = p.bytes().len() / outer.max(1);
            bytes.extend_from_slice(&p.bytes()[o * chunk..(o + 1) * chunk]);
        }
    }
    Tensor::new(first.name.clone(), first.dtype, shape, bytes)
}

/// One side's tensors by normalised name (several when the name is in several files).
type Shards = BTreeMap<String, Vec<Tensor>>;

fn load_side(
    files: &[TensorFile],
    side: SideId,
    opts: &SchemaOptions,
) -> Result<(Shards, Vec<String>)> {
    let tag = if side == SideId::A { "A" } else { "B" };
    let mut notes = Vec::new();
    let mut by_name: BTreeMap<String, Vec<Tensor>> = BTreeMap::new();
    let mut order: Vec<&TensorFile> = files.iter().collect();
    order.sort_by(|x, y| natural_cmp(&x.path.to_string_lossy(), &y.path.to_string_lossy()));
    for f in order {
        let mut raw_of: BTreeMap<String, String> = BTreeMap::new();
        for t in &f.tensors {
            if t.name.starts_with('_') {
                continue;
            }
            let norm = normalize_name(&t.name, &opts.strip_prefixes).to_string();
            if let Some(prev) = raw_of.insert(norm.clone(), t.name.clone()) {
                notes.push(format!(
                    "{tag} {}: '{prev}' and '{}' both normalise to '{norm}'; the last is kept (as ATOM does)",
                    f.path.display(),
                    t.name
                ));
                by_name.get_mut(&norm).unwrap().pop();
            }
            by_name.entry(norm).or_default().push(t.clone());
        }
        for n in &f.notes {
            notes.push(format!("{tag} {}: {n}", f.path.display()));
        }
    }
    Ok((by_name, notes))
}

/// Merges one name's shard list into one tensor (see the module doc), given the other side's shape.
fn merge_shards(
    name: &str,
    mut parts: Vec<Tensor>,
    shuffled: bool,
    tp_dim: Option<usize>,
    other_shape: Option<&[usize]>,
) -> Result<(Tensor, Vec<String>)> {
    let mut notes = Vec::new();
    if shuffled && is_shuffled_kind(parts[0].dtype) {
        let mut done = true;
        for p in parts.iter_mut() {
            match unshuffle(p) {
                Ok(u) => *p = u,
                Err(why) => {
                    notes.push(format!("not unshuffled: {why}"));
                    done = false;
                    break;
                }
            }
        }
        if done {
            notes.push("unshuffled (aiter16x16)".into());
        }
    }
    if parts.len() == 1 {
        return Ok((parts.pop().unwrap(), notes));
    }
    let k = parts.len();
    if parts.iter().all(|p| {
        p.shape == parts[0].shape && p.dtype == parts[0].dtype && p.bytes() == parts[0].bytes()
    }) {
        notes.push(format!("replicated in {k} files"));
        return Ok((parts.swap_remove(0), notes));
    }
    let Some(dim) = tp_dim else {
        return Err(Error::Usage(format!(
            "'{name}' differs between the {k} files of one side: give --tp-dim D to concatenate tensor-parallel shards"
        )));
    };
    let rank = parts[0].shape.len();
    let fits = |d: usize| -> Option<Tensor> {
        let t = concat(&parts, d).ok()?;
        other_shape
            .is_none_or(|s| s == t.shape.as_slice())
            .then_some(t)
    };
    if let Some(t) = fits(dim) {
        notes.push(format!("{k} shards concatenated along dim {dim}"));
        return Ok((t, notes));
    }
    if let Some((d, t)) = (0..rank)
        .filter(|&d| d != dim)
        .find_map(|d| fits(d).map(|t| (d, t)))
    {
        notes.push(format!(
            "{k} shards concatenated along dim {d} (dim {dim} does not give the other side's shape)"
        ));
        return Ok((t, notes));
    }
    let t = concat(&parts, dim)?;
    notes.push(format!("{k} shards concatenated along dim {dim}"));
    Ok((t, notes))
}

/// A common parameter's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Identical bytes (same dtype and shape).
    BytesEqual,
    /// Equal as numbers (dtypes differ, or −0/+0).
    ValuesEqual,
    /// Compared: the severity flag of the values (docs/numerics.md §9.8).
    Flag(Severity),
    /// Shapes differ (values still compared when the element counts agree).
    ShapeMismatch,
    /// Not comparable (reason).
    NotComparable(String),
}

impl Status {
    /// Whether the parameter passes the Phase 1 check of docs/method.md §3.1 (byte-equal, value-equal, or ✓).
    pub fn ok(&self) -> bool {
        matches!(
            self,
            Status::BytesEqual | Status::ValuesEqual | Status::Flag(Severity::Ok)
        )
    }
    /// Short label.
    pub fn label(&self) -> &'static str {
        match self {
            Status::BytesEqual => "bytes=",
            Status::ValuesEqual => "values=",
            Status::Flag(s) => s.symbol(),
            Status::ShapeMismatch => "shape",
            Status::NotComparable(_) => "n/a",
        }
    }
}

/// One common parameter.
#[derive(Clone, Debug)]
pub struct ParamRow {
    pub name: String,
    pub a_dtype: DType,
    pub a_shape: Vec<usize>,
    pub b_dtype: DType,
    pub b_shape: Vec<usize>,
    pub status: Status,
    pub cmp: Option<Comparison>,
    /// ATOM's `byte_equal_pct` (per byte; 0 when dtype or shape differ).
    pub byte_equal_bytes: Option<f64>,
    /// What was done to A's and B's tensor (unshuffle, shards).
    pub notes: Vec<String>,
}

/// The schema comparison.
#[derive(Clone, Debug)]
pub struct SchemaReport {
    pub a_files: Vec<PathBuf>,
    pub b_files: Vec<PathBuf>,
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
    pub rows: Vec<ParamRow>,
    pub notes: Vec<String>,
    pub options: SchemaOptions,
}

impl SchemaReport {
    /// 1 when a name is on one side only, a shape differs or a parameter is not equal (bytes, values, or ✓).
    pub fn exit_code(&self) -> i32 {
        (!self.only_a.is_empty()
            || !self.only_b.is_empty()
            || self.rows.iter().any(|r| !r.status.ok())) as i32
    }
}

fn compare_param(a: &Tensor, b: &Tensor) -> (Status, Option<Comparison>, Option<f64>) {
    let cmp = (a.numel() == b.numel()).then(|| compare(a, b));
    let cmp = match cmp {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return (Status::NotComparable(e.to_string()), None, None),
        None => None,
    };
    if a.shape != b.shape {
        return (Status::ShapeMismatch, cmp, None);
    }
    let c = cmp.expect("same shape, same numel");
    let status = if c.bitwise_equal() {
        Status::BytesEqual
    } else if c.value_equal == 1.0 {
        Status::ValuesEqual
    } else {
        Status::Flag(c.severity())
    };
    (status, Some(c), Some(byte_equal_fraction_per_byte(a, b)))
}

/// Compares the parameters of side A (`a` files) with side B.
pub fn schema(a: &[TensorFile], b: &[TensorFile], opts: SchemaOptions) -> Result<SchemaReport> {
    let (ra, mut notes) = load_side(a, SideId::A, &opts)?;
    let (rb, nb) = load_side(b, SideId::B, &opts)?;
    notes.extend(nb);
    let na: HashSet<&String> = ra.keys().collect();
    let nbs: HashSet<&String> = rb.keys().collect();
    let mut only_a: Vec<String> = na.difference(&nbs).map(|s| s.to_string()).collect();
    let mut only_b: Vec<String> = nbs.difference(&na).map(|s| s.to_string()).collect();
    let mut common: Vec<String> = na.intersection(&nbs).map(|s| s.to_string()).collect();
    for v in [&mut only_a, &mut only_b, &mut common] {
        v.sort_by(|x, y| natural_cmp(x, y));
    }
    let paths = |f: &[TensorFile]| f.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    if common.is_empty() {
        let show = |v: &[String]| v.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        return Err(Error::BadTensor(format!(
            "no parameter names in common after stripping {:?}: A has {} ({}…), B has {} ({}…); try --strip-prefix",
            opts.strip_prefixes,
            only_a.len(),
            show(&only_a),
            only_b.len(),
            show(&only_b)
        )));
    }
    let single_shape = |m: &Shards, n: &str| -> Option<Vec<usize>> {
        let v = &m[n];
        (v.len() == 1 || v.iter().all(|t| t.bytes() == v[0].bytes())).then(|| v[0].shape.clone())
    };
    let mut rows = Vec::with_capacity(common.len());
    for name in &common {
        let (ta, na_) = merge_shards(
            name,
            ra[name].clone(),
            opts.unshuffle == Some(SideId::A),
            opts.tp_dim,
            single_shape(&rb, name).as_deref(),
        )?;
        let (tb, nb_) = merge_shards(
            name,
            rb[name].clone(),
            opts.unshuffle == Some(SideId::B),
            opts.tp_dim,
            Some(&ta.shape),
        )?;
        let (status, cmp, byte_frac) = compare_param(&ta, &tb);
        let mut pn: Vec<String> = na_.into_iter().map(|n| format!("A: {n}")).collect();
        pn.extend(nb_.into_iter().map(|n| format!("B: {n}")));
        rows.push(ParamRow {
            name: name.clone(),
            a_dtype: ta.dtype,
            a_shape: ta.shape.clone(),
            b_dtype: tb.dtype,
            b_shape: tb.shape.clone(),
            status,
            cmp,
            byte_equal_bytes: byte_frac,
            notes: pn,
        });
    }
    Ok(SchemaReport {
        a_files: paths(a),
        b_files: paths(b),
        only_a,
        only_b,
        rows,
        notes,
        options: opts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_like_atom() {
        let p = vec!["model.".to_string()];
        assert_eq!(normalize_name("model.layers.0.w", &p), "layers.0.w");
        assert_eq!(normalize_name("buffer:model.layers.0.b", &p), "layers.0.b");
        assert_eq!(normalize_name("buffer:layers.0.b", &p), "buffer:layers.0.b");
        assert_eq!(normalize_name("layers.0.w", &p), "layers.0.w");
        let p2 = vec!["model.".to_string(), "model.language_model.".to_string()];
        // First match wins, in the given order.
        assert_eq!(
            normalize_name("model.language_model.x", &p2),
            "language_model.x"
        );
    }

    fn t(name: &str, shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(name, shape.to_vec(), v).unwrap()
    }

    #[test]
    fn concat_along_each_dim() {
        let a = t("w", &[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = t("w", &[2, 3], &[7., 8., 9., 10., 11., 12.]);
        let c0 = concat(&[a.clone(), b.clone()], 0).unwrap();
        assert_eq!(c0.shape, vec![4, 3]);
        assert_eq!(
            c0.to_f32(),
            vec![1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.]
        );
        let c1 = concat(&[a.clone(), b.clone()], 1).unwrap();
        assert_eq!(c1.shape, vec![2, 6]);
        assert_eq!(
            c1.to_f32(),
            vec![1., 2., 3., 7., 8., 9., 4., 5., 6., 10., 11., 12.]
        );
        assert!(concat(&[a.clone(), t("w", &[3, 2], &[0.; 6])], 0).is_err());
        assert!(concat(&[a, b], 2).is_err());
    }

    #[test]
    fn shards_replicated_concatenated_or_redirected() {
        let s0 = t("w", &[2, 2], &[1., 2., 3., 4.]);
        let s1 = t("w", &[2, 2], &[5., 6., 7., 8.]);
        // Replicated copies are taken once.
        let (r, n) = merge_shards(
            "w",
            vec![s0.clone(), s0.clone()],
            false,
            None,
            Some(&[2, 2]),
        )
        .unwrap();
        assert_eq!(
            (r.shape.clone(), n[0].as_str()),
            (vec![2, 2], "replicated in 2 files")
        );
        // Different shards need --tp-dim.
        assert!(merge_shards("w", vec![s0.clone(), s1.clone()], false, None, None).is_err());
        let (r, _) = merge_shards(
            "w",
            vec![s0.clone(), s1.clone()],
            false,
            Some(0),
            Some(&[4, 2]),
        )
        .unwrap();
        assert_eq!(r.to_f32(), vec![1., 2., 3., 4., 5., 6., 7., 8.]);
        // --tp-dim 0 cannot give [2, 4]: dim 1 does (a row-parallel layer).
        let (r, n) = merge_shards("w", vec![s0, s1], false, Some(0), Some(&[2, 4])).unwrap();
        assert_eq!(r.to_f32(), vec![1., 2., 5., 6., 3., 4., 7., 8.]);
        assert!(n[0].contains("dim 1"), "{n:?}");
    }
}
