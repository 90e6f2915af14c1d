//! Finding and loading forward dumps: ATOM's `{dir}/atom_rank{R}_fwd.pt` + `{dir}/ref_rank{R}_fwd.pt` pair
//! (docs/method.md §4; any format `io::load` reads works), the `embed.input_ids` check that comes before
//! anything else (docs/contract.md §3), and the leading-dimension squeeze of docs/method.md §4.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::experiment::compare::stages::{Order, StageOrder};
use crate::io::{self, FileKind, Tensor, TensorFile};

/// One loaded dump and whether its container keeps the writer's order of names.
pub struct Dump {
    pub file: TensorFile,
    /// False for safetensors, whose writers sort names (so file order is not execution order).
    pub keeps_order: bool,
}

impl Dump {
    /// The dump's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

/// Loads one dump of any supported format.
pub fn load_dump(path: &Path) -> Result<Dump> {
    let file = io::load(path)?;
    let keeps_order = file_kind(path)? != FileKind::Safetensors;
    Ok(Dump { file, keeps_order })
}

fn file_kind(path: &Path) -> Result<FileKind> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut n = 0;
    while n < head.len() {
        let k = f.read(&mut head[n..]).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    io::sniff(path, &head[..n])
}

/// The stage order to use: `auto` = file order when every dump keeps its writer's order, else canonical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderChoice {
    Auto,
    File,
    Canonical,
}

impl OrderChoice {
    /// Parses `auto | file | canonical`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(OrderChoice::Auto),
            "file" => Ok(OrderChoice::File),
            "canonical" => Ok(OrderChoice::Canonical),
            _ => Err(Error::Usage(format!(
                "--order {s}: expected auto, file or canonical"
            ))),
        }
    }
}

/// Builds the stage order for dumps (names of the first dump first).
pub fn stage_order(choice: OrderChoice, dumps: &[&Dump]) -> StageOrder {
    let order = match choice {
        OrderChoice::File => Order::File,
        OrderChoice::Canonical => Order::Canonical,
        OrderChoice::Auto if dumps.iter().all(|d| d.keeps_order) => Order::File,
        OrderChoice::Auto => Order::Canonical,
    };
    StageOrder::new(
        order,
        dumps
            .iter()
            .flat_map(|d| d.file.tensors.iter().map(|t| t.name.as_str())),
    )
}

/// The ATOM file names for one side of a forward dump pair.
fn candidates(side: &str, rank: u32) -> [String; 2] {
    [
        format!("{side}_rank{rank}_fwd.pt"),
        format!("{side}_rank{rank}_fwd.safetensors"),
    ]
}

/// Finds `atom_rank{R}_fwd.pt` and `ref_rank{R}_fwd.pt` (or `.safetensors`) in `dir`; the error lists what
/// was looked for and what the directory holds instead.
pub fn locate_fwd_pair(dir: &Path, rank: u32) -> Result<(PathBuf, PathBuf)> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "--dir {}: not a directory",
            dir.display()
        )));
    }
    let find = |side: &str| {
        candidates(side, rank)
            .into_iter()
            .map(|c| dir.join(c))
            .find(|p| p.is_file())
    };
    match (find("atom"), find("ref")) {
        (Some(t), Some(r)) => Ok((t, r)),
        (t, r) => {
            let missing: Vec<String> = [("atom", t.is_none()), ("ref", r.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(s, _)| candidates(s, rank).join(" or "))
                .collect();
            let mut msg = format!(
                "{}: no ATOM forward dump pair for rank {rank}: looked for atom_rank{rank}_fwd.pt and \
                 ref_rank{rank}_fwd.pt (or .safetensors); missing {}",
                dir.display(),
                missing.join(", ")
            );
            let others = fwd_like(dir);
            if !others.is_empty() {
                msg.push_str(&format!("; the directory holds {}", others.join(", ")));
            } else if dir.join("fwd").is_dir() {
                msg.push_str(&format!(
                    "; did you mean --dir {}?",
                    dir.join("fwd").display()
                ));
            }
            Err(Error::Usage(msg))
        }
    }
}

/// Names in `dir` that look like forward dumps of some rank (for the error message).
fn fwd_like(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| {
                    n.contains("_fwd.") || n.ends_with(".pt") || n.ends_with(".safetensors")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    if v.len() > 8 {
        let more = v.len() - 8;
        v.truncate(8);
        v.push(format!("… {more} more"));
    }
    v
}

/// Outcome of the `embed.input_ids` check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputIds {
    /// Both dumps hold the same ids (this many).
    Match(usize),
    /// Neither dump holds `embed.input_ids`: token alignment is not checked.
    Absent,
    /// Only the target holds it.
    OnlyTarget,
    /// Only the reference holds it.
    OnlyReference,
}

/// The stage holding the token ids.
pub const INPUT_IDS: &str = "embed.input_ids";

/// ATOM's first check: `embed.input_ids` of both sides compared as `long().flatten()`. A mismatch is an
/// error (exit 2): nothing after it can be trusted.
pub fn check_input_ids(target: &Dump, reference: &Dump) -> Result<InputIds> {
    let (t, r) = match (target.file.get(INPUT_IDS), reference.file.get(INPUT_IDS)) {
        (None, None) => return Ok(InputIds::Absent),
        (Some(_), None) => return Ok(InputIds::OnlyTarget),
        (None, Some(_)) => return Ok(InputIds::OnlyReference),
        (Some(t), Some(r)) => (t, r),
    };
    let ids = |x: &Tensor| -> Vec<i64> { (0..x.numel()).map(|i| x.get_f64(i) as i64).collect() };
    let (a, b) = (ids(t), ids(r));
    if a == b {
        return Ok(InputIds::Match(a.len()));
    }
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    let detail = match first {
        Some(i) => format!("first difference at token {i}: {} vs {}", a[i], b[i]),
        None => "one is a prefix of the other".into(),
    };
    Err(Error::BadTensor(format!(
        "{INPUT_IDS} differ between target {} ({} tokens) and reference {} ({} tokens); {detail}. \
         STOP: align the tokenization first, no stage can be compared until then",
        target.path().display(),
        a.len(),
        reference.path().display(),
        b.len()
    )))
}

/// The squeeze of docs/method.md §4: a single leading dimension is dropped from whichever side has the higher
/// rank, when it is of size 1 (`squeeze(0)`).
pub fn squeeze_pair(a: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
    let squeeze = |t: &Tensor| {
        t.reshaped(t.shape[1..].to_vec())
            .expect("dropping a size-1 dim keeps numel")
    };
    if a.shape.len() > b.shape.len() && a.shape[0] == 1 {
        (squeeze(a), b.clone())
    } else if b.shape.len() > a.shape.len() && b.shape[0] == 1 {
        (a.clone(), squeeze(b))
    } else {
        (a.clone(), b.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::pickle_builder::{f32s, write_pt, P};

    /// A torch.save-style `.pt` of a dict stage → f32[2] tensor, in the given (execution) order.
    fn write_pt_dict(path: &Path, names: &[&str]) {
        let mut p = P::new().op(b"}").mark();
        let mut storages = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let key = i.to_string();
            p = p.s(n).tensor_v2("FloatStorage", &key, 2, 0, &[2], &[1]);
            storages.push((key, f32s(&[i as f32, 1.0])));
        }
        let pkl = p.op(b"u").stop();
        let st: Vec<(&str, Vec<u8>)> = storages
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        write_pt(path, &pkl, &st, Some("little"), false);
    }

    #[test]
    fn pt_dumps_keep_execution_order_safetensors_do_not() {
        let d = tempfile::tempdir().unwrap();
        // Post-norm (BERT) order: attn_out runs before attn_norm_out; the canonical order says otherwise.
        let names = [
            "layer0.hidden_in",
            "layer0.attn_out",
            "layer0.attn_norm_out",
            "layer0.hidden_out",
        ];
        let pt = d.path().join("atom_rank0_fwd.pt");
        write_pt_dict(&pt, &names);
        let dump = load_dump(&pt).unwrap();
        assert!(dump.keeps_order);
        let mut v: Vec<String> = names.iter().rev().map(|s| s.to_string()).collect();
        stage_order(OrderChoice::Auto, &[&dump]).sort(&mut v);
        assert_eq!(v, names);
        stage_order(OrderChoice::Canonical, &[&dump]).sort(&mut v);
        assert_eq!(v[1..3], ["layer0.attn_norm_out", "layer0.attn_out"]);
        let st = d.path().join("x.safetensors");
        crate::io::safetensors_io::write(&st, &dump.file.tensors, None).unwrap();
        let sdump = load_dump(&st).unwrap();
        assert!(!sdump.keeps_order);
        // Mixed inputs: auto falls back to canonical.
        stage_order(OrderChoice::Auto, &[&dump, &sdump]).sort(&mut v);
        assert_eq!(v[1..3], ["layer0.attn_norm_out", "layer0.attn_out"]);
    }

    #[test]
    fn squeeze_only_the_higher_rank_leading_one() {
        let t = |s: &[usize]| {
            Tensor::from_f32("x", s.to_vec(), &vec![0.0; s.iter().product()]).unwrap()
        };
        let (a, b) = squeeze_pair(&t(&[1, 4, 8]), &t(&[4, 8]));
        assert_eq!((a.shape, b.shape), (vec![4, 8], vec![4, 8]));
        let (a, b) = squeeze_pair(&t(&[4, 8]), &t(&[1, 4, 8]));
        assert_eq!((a.shape, b.shape), (vec![4, 8], vec![4, 8]));
        // Same rank: nothing is squeezed, even a leading 1.
        let (a, b) = squeeze_pair(&t(&[1, 32]), &t(&[32, 1]));
        assert_eq!((a.shape, b.shape), (vec![1, 32], vec![32, 1]));
        // Only one dim goes.
        let (a, _) = squeeze_pair(&t(&[1, 1, 8]), &t(&[8]));
        assert_eq!(a.shape, vec![1, 8]);
        // A leading dim that is not 1 stays.
        let (a, _) = squeeze_pair(&t(&[2, 8]), &t(&[16]));
        assert_eq!(a.shape, vec![2, 8]);
    }
}
