//! `isolate capture check DIR`: is every recorded (site, call, rank) there, readable, complete for its kind
//! and consistent with the manifest (python/RUST-SIDE.md's checklist)? A missing or unreadable file is exit 2
//! naming the file and the site; anything else found is a [`Problem`] (exit 1 when one makes the directory
//! incomplete, warnings do not).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::Result;
use crate::formats::DType;
use crate::io::capture::{required_roles, Capture, ResolvedSite, SiteSelector};
use crate::io::{Tensor, TensorFile};

/// One finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// `site call N rank R`, or the file for hidden states / orphans.
    pub at: String,
    pub what: String,
    /// A warning (mixed prompts, an orphan file) does not make the directory incomplete.
    pub warning: bool,
}

/// What `isolate capture check` found.
pub struct CheckReport {
    pub dir: String,
    pub sites: usize,
    pub calls: usize,
    pub files: usize,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Complete when no problem is more than a warning.
    pub fn complete(&self) -> bool {
        self.problems.iter().all(|p| p.warning)
    }
    /// Exit 0 complete, 1 incomplete.
    pub fn exit_code(&self) -> i32 {
        (!self.complete()) as i32
    }
}

fn cdiv(a: usize, b: usize) -> usize {
    a.div_ceil(b.max(1))
}

/// The f32 scale values are all positive powers of two.
fn pow2(t: &Tensor) -> bool {
    t.bytes().chunks_exact(4).all(|b| {
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        v & 0x7F_FFFF == 0 && v >> 31 == 0 && v >> 23 != 0 && v >> 23 != 0xFF
    })
}

/// The checks of one call entry's file (2–6 and 9 of RUST-SIDE.md).
fn check_call(
    r: &ResolvedSite,
    f: &TensorFile,
    meta: Option<serde_json::Value>,
    out: &mut Vec<String>,
) {
    let e = &r.entry;
    let get = |role: &str| {
        let name = e.roles.get(role).map(|x| x.tensor.as_str()).unwrap_or(role);
        f.get(name)
    };
    match required_roles(&r.kind) {
        None => out.push(format!("unknown kind '{}' (gemm, quant, linear)", r.kind)),
        Some(req) => {
            let missing: Vec<&str> = req.iter().copied().filter(|x| get(x).is_none()).collect();
            if !missing.is_empty() {
                out.push(format!(
                    "kind {} needs {}: missing {}",
                    r.kind,
                    req.join(", "),
                    missing.join(", ")
                ));
            }
        }
    }
    for (role, re) in &e.roles {
        match f.get(&re.tensor) {
            None => out.push(format!(
                "role {role}: the manifest lists tensor '{}' but the file has none",
                re.tensor
            )),
            Some(t) => {
                if t.dtype.safetensors_name() != re.dtype || t.shape != re.shape {
                    out.push(format!(
                        "role {role}: the manifest says {} {:?}, the file holds {} {:?}",
                        re.dtype,
                        re.shape,
                        t.dtype.safetensors_name(),
                        t.shape
                    ));
                }
            }
        }
    }
    let dims = |t: &Tensor| -> (usize, usize) {
        let k = t.shape.last().copied().unwrap_or(1);
        (t.numel() / k.max(1), k)
    };
    let (x, xq, xs, w, ws, out_t) = (
        get("x"),
        get("xq"),
        get("xs"),
        get("w"),
        get("ws"),
        get("target_out"),
    );
    let act = xq.or(x);
    if let (Some(x), Some(xq)) = (x, xq) {
        if dims(x) != dims(xq) {
            out.push(format!(
                "x {:?} and xq {:?} differ in [M, K]",
                x.shape, xq.shape
            ));
        }
    }
    for (role, t) in [("xq", xq), ("w", w)] {
        if let Some(t) = t {
            let codes = t.dtype.fp8_format().is_some() || matches!(t.dtype, DType::U8 | DType::I8);
            let floating_w = role == "w" && r.kind == "linear" && t.dtype.is_float();
            if !codes && !floating_w {
                out.push(format!(
                    "{role}: {} is not FP8 codes (or u8 bytes)",
                    t.dtype
                ));
            }
        }
    }
    if let (Some(a), Some(w)) = (act, w) {
        if dims(a).1 != dims(w).1 {
            out.push(format!(
                "w {:?} has a different K than the activation {:?}",
                w.shape, a.shape
            ));
        }
        if let Some(o) = out_t {
            if dims(o) != (dims(a).0, dims(w).0) {
                out.push(format!(
                    "target_out {:?} is not [M, N] = [{}, {}]",
                    o.shape,
                    dims(a).0,
                    dims(w).0
                ));
            }
        }
    }
    for (role, t, operand) in [("xs", xs, act), ("ws", ws, w)] {
        let (Some(t), Some(op)) = (t, operand) else {
            continue;
        };
        let Some(sc) = e.roles.get(role).and_then(|x| x.scale.as_ref()) else {
            continue;
        };
        let (rows, k) = dims(op);
        let packed = sc.stored_layout.as_deref() == Some("packed-ue8m0");
        let want: Option<Vec<usize>> = match sc.granularity.as_deref() {
            Some("per-tensor") => (t.numel() != 1).then(|| vec![1]),
            Some("per-row") => (t.numel() != rows).then(|| vec![rows, 1]),
            _ => match sc.block.as_deref() {
                Some([Some(br), Some(bk)]) => {
                    let ng = cdiv(k, *bk);
                    let s = vec![cdiv(rows, *br), if packed { cdiv(ng, 4) } else { ng }];
                    (t.shape != s).then_some(s)
                }
                _ => None,
            },
        };
        if let Some(s) = want {
            out.push(format!(
                "{role} {:?} does not fit its recorded {} scales of {:?}: expected {:?}",
                t.shape,
                sc.granularity.as_deref().unwrap_or("?"),
                op.shape,
                s
            ));
        }
        let enc = sc.encoding.as_deref().unwrap_or("");
        let dtype_ok = match enc {
            "f32" => t.dtype == DType::F32,
            "e8m0" => matches!(t.dtype, DType::F8E8M0 | DType::U8),
            "ue8m0-packed-int32" => matches!(t.dtype, DType::I32 | DType::U32),
            _ => true,
        };
        if !dtype_ok {
            out.push(format!(
                "{role}: encoding {enc} but the tensor is {}",
                t.dtype
            ));
        }
        if sc.all_pow2 == Some(true) && t.dtype == DType::F32 && !pow2(t) {
            out.push(format!(
                "{role}: recorded all_pow2 = true but some scale is not a positive power of two"
            ));
        }
        if enc == "e8m0" && t.bytes().contains(&0xFF) {
            out.push(format!("{role}: e8m0 code 0xFF (NaN) in the scales"));
        }
    }
    if let Some(meta) = meta {
        let site_ok = meta.get("site").and_then(|v| v.as_str()) == Some(r.site.as_str());
        let call_ok = meta.get("call").and_then(|v| v.as_u64()) == Some(e.call);
        if !site_ok || !call_ok {
            out.push(format!(
                "the file's __metadata__ entry says site {:?} call {:?}, the manifest site {} call {}",
                meta.get("site"),
                meta.get("call"),
                r.site,
                e.call
            ));
        }
    }
}

/// Checks a capture directory.
pub fn check(dir: &Path) -> Result<CheckReport> {
    let cap = Capture::open(dir)?;
    let m = &cap.manifest;
    let mut problems = Vec::new();
    let mut files = 0;
    let mut calls = 0;
    let mut seen_files = BTreeSet::new();
    let mut hashes: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for (name, site) in &m.sites {
        let mut keys = BTreeSet::new();
        for e in &site.calls {
            calls += 1;
            let at = format!("{name} call {} rank {}", e.call, e.rank.global);
            if !keys.insert((e.call, e.rank.global)) {
                problems.push(Problem {
                    at: at.clone(),
                    what: "recorded twice".into(),
                    warning: false,
                });
            }
            if !seen_files.insert(e.file.clone()) {
                problems.push(Problem {
                    at: at.clone(),
                    what: format!("shares its file {} with another entry", e.file),
                    warning: false,
                });
            }
            if let Some(t) = &e.token_ids {
                hashes
                    .entry(e.call)
                    .or_default()
                    .insert(t.sha256_16.clone());
            }
            let r = cap.resolve(&SiteSelector {
                site: name.clone(),
                call: Some(e.call),
                rank: Some(e.rank.global),
            })?;
            let f = r.load()?;
            files += 1;
            let meta = crate::io::safetensors_io::metadata(&r.path)
                .ok()
                .flatten()
                .and_then(|md| {
                    md.get("entry")
                        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                        .map(|v| serde_json::json!({"site": md.get("site"), "call": v.get("call")}))
                });
            let mut found = Vec::new();
            check_call(&r, &f, meta, &mut found);
            problems.extend(found.into_iter().map(|what| Problem {
                at: at.clone(),
                what,
                warning: false,
            }));
        }
    }
    for orphan in super::site_files_on_disk(dir)
        .into_iter()
        .filter(|f| !seen_files.contains(f))
    {
        problems.push(Problem {
            at: orphan,
            what: "a site file the manifest does not list (a writer that died before its manifest update?)".into(),
            warning: true,
        });
    }
    for st in &m.stages {
        let path = cap.file_path(&st.file)?;
        let at = format!("hidden states {}", st.file);
        if !path.is_file() {
            problems.push(Problem {
                at,
                what: "missing (the manifest lists it)".into(),
                warning: false,
            });
            continue;
        }
        let f = crate::io::load(&path)?;
        files += 1;
        if !f.tensors.is_empty() && f.get("embed.input_ids").is_none() {
            problems.push(Problem {
                at,
                what: "holds no embed.input_ids".into(),
                warning: true,
            });
        }
        if let Some(t) = &st.token_ids {
            hashes
                .entry(st.call)
                .or_default()
                .insert(t.sha256_16.clone());
        }
    }
    for (call, hs) in hashes {
        if hs.len() > 1 {
            problems.push(Problem {
                at: format!("call {call}"),
                what: format!(
                    "entries of this call hashed different token ids ({}): mixed prompts",
                    hs.into_iter().collect::<Vec<_>>().join(", ")
                ),
                warning: true,
            });
        }
    }
    Ok(CheckReport {
        dir: dir.display().to_string(),
        sites: m.sites.len(),
        calls,
        files,
        problems,
    })
}
