//! Writes a capture directory (python/FORMAT.md, version 1) from tensors already in memory: one safetensors
//! file per (site, call, rank) with role-named tensors and the `__metadata__` the Python writer puts there, the
//! hidden-state files, and `manifest.json` with each role's dtype, shape, FP8 format and scale meaning (read
//! from shapes and dtypes, as `isolate_capture/_format.py` infers it). Used by `isolate capture import`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Result};
use crate::formats::DType;
use crate::io::capture::{
    CallEntry, Manifest, Rank, RoleEntry, Scale, Site, StageEntry, FORMAT_NAME, FORMAT_VERSION,
    MANIFEST,
};
use crate::io::Tensor;

/// Builds a capture directory; [`Writer::finish`] writes the manifest.
pub struct Writer {
    dir: PathBuf,
    manifest: Manifest,
    /// Each call entry's `extra`, by file.
    extras: HashMap<String, serde_json::Value>,
}

/// `call<NNN>`: the call index, zero-padded to 3 digits.
fn call_dir(call: u64) -> String {
    format!("call{call:03}")
}

/// The relative path of one (site, call, rank) file.
pub fn site_file(site: &str, call: u64, rank: u64) -> String {
    format!("sites/{site}/{}.rank{rank}.safetensors", call_dir(call))
}

/// The relative path of one forward call's hidden states (the name `isolate compare` looks for).
pub fn stages_file(call: u64, side: &str, rank: u64) -> String {
    format!("fwd/{}/{side}_rank{rank}_fwd.safetensors", call_dir(call))
}

/// Whether `name` is a valid site name (it names a folder).
pub fn valid_site_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn fp8_name(d: DType) -> Option<&'static str> {
    match d {
        DType::U8 | DType::I8 => Some("u8-bytes"),
        d => d.fp8_format().map(|f| f.name()),
    }
}

fn fp8_max(name: &str) -> Option<f64> {
    match name {
        "e4m3fn" => Some(448.0),
        "e4m3fnuz" => Some(240.0),
        "e5m2" => Some(57344.0),
        _ => None,
    }
}

/// Whether every f32 scale is a positive power of two (None for non-f32 scales).
fn all_pow2(t: &Tensor) -> Option<bool> {
    (t.dtype == DType::F32 && t.numel() > 0).then(|| {
        t.bytes().chunks_exact(4).all(|b| {
            let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            v & 0x7F_FFFF == 0 && v >> 31 == 0 && (v >> 23) != 0 && (v >> 23) != 0xFF
        })
    })
}

/// What a scale tensor stored row-major means, from its shape and dtype and the operand's [rows, K].
pub fn scale_meaning(role: &str, s: &Tensor, rows: usize, k: usize) -> Scale {
    let packed = matches!(s.dtype, DType::I32 | DType::U32);
    let encoding = if packed {
        "ue8m0-packed-int32".to_string()
    } else if matches!(s.dtype, DType::F8E8M0 | DType::U8) {
        "e8m0".to_string()
    } else {
        s.dtype.name().to_string()
    };
    let cols = s.shape.last().copied().unwrap_or(1);
    let lead: usize = s.shape.iter().rev().skip(1).product();
    let (gran, block) = if s.numel() == 1 {
        ("per-tensor".to_string(), vec![Some(rows), Some(k)])
    } else if lead == rows && cols == 1 && !packed {
        ("per-row".to_string(), vec![Some(1), Some(k)])
    } else if lead == rows {
        let ng = if packed { None } else { Some(cols) };
        let g = match ng {
            Some(ng) if ng > 0 && k % ng == 0 => Some(k / ng),
            _ => [128usize, 64, 32, 256, 16].into_iter().find(|&g| {
                if packed {
                    k.div_ceil(g).div_ceil(4) == cols
                } else {
                    k.div_ceil(g) == cols
                }
            }),
        };
        (
            g.map(|g| format!("1x{g}")).unwrap_or_else(|| "1xG".into()),
            vec![Some(1), g],
        )
    } else if role == "ws" && s.shape.len() == 2 && lead > 0 && cols > 0 {
        let (bn, bk) = (rows.div_ceil(lead), k.div_ceil(cols));
        (format!("{bn}x{bk}"), vec![Some(bn), Some(bk)])
    } else {
        ("unknown".to_string(), vec![None, None])
    };
    Scale {
        encoding: Some(encoding),
        group: if role == "xs" { block[1] } else { None },
        granularity: Some(gran),
        block: Some(block),
        packing: Some(if packed {
            "4 ue8m0 codes per int32 word, byte j = group 4w+j (little-endian)".into()
        } else {
            "none".into()
        }),
        stored_layout: Some(if packed { "packed-ue8m0" } else { "row" }.into()),
        source_layout: Some(if packed { "packed-ue8m0-row" } else { "row" }.into()),
        mn_major: Some(false),
        tma_aligned: Some(false),
        all_pow2: all_pow2(s),
        pow2_rule: None,
        suggested_preset: None,
    }
}

/// The manifest entry of one role's tensor (scale meaning for xs / ws given the operand's shape).
pub fn role_entry(role: &str, t: &Tensor, operand: Option<&Tensor>) -> RoleEntry {
    let fp8 = if matches!(role, "xq" | "w") {
        fp8_name(t.dtype)
    } else {
        None
    };
    let scale = match (role, operand) {
        ("xs" | "ws", Some(op)) => {
            let k = op.shape.last().copied().unwrap_or(1);
            let rows = op.numel() / k.max(1);
            Some(scale_meaning(role, t, rows, k))
        }
        _ => None,
    };
    RoleEntry {
        tensor: t.name.clone(),
        dtype: t.dtype.safetensors_name().to_string(),
        shape: t.shape.clone(),
        fp8: fp8.map(str::to_string),
        fp8_max: fp8.and_then(fp8_max),
        layout: None,
        scale,
        linked_from: None,
    }
}

/// One (site, call, rank) to write.
pub struct SiteCall<'a> {
    pub site: &'a str,
    pub kind: &'a str,
    pub op: &'a str,
    pub layer: Option<i64>,
    pub call: u64,
    pub rank: Rank,
    pub phase: Option<String>,
    /// Role-named tensors.
    pub tensors: Vec<Tensor>,
    /// Written into the call entry as `extra`.
    pub extra: serde_json::Value,
}

impl Writer {
    /// Starts a capture directory at `dir`, which must not exist yet or be empty.
    pub fn create(dir: &Path) -> Result<Writer> {
        if dir.exists()
            && std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .next()
                .is_some()
        {
            return Err(Error::Usage(format!(
                "{}: exists and is not empty; import into a new directory",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            manifest: Manifest {
                format: FORMAT_NAME.into(),
                version: FORMAT_VERSION,
                sites: BTreeMap::new(),
                stages: Vec::new(),
                runs: Vec::new(),
            },
            extras: HashMap::new(),
        })
    }

    fn write_file(
        &self,
        rel: &str,
        tensors: &[Tensor],
        meta: HashMap<String, String>,
    ) -> Result<()> {
        let path = self.dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        crate::io::safetensors_io::write(&path, tensors, Some(meta))
    }

    /// Writes one site file and adds its entry (a second record of the same key is refused).
    pub fn add_site_call(&mut self, c: SiteCall) -> Result<()> {
        if !valid_site_name(c.site) {
            return Err(Error::Usage(format!(
                "site name '{}' must be letters, digits, '_', '.', '-' (it names a folder)",
                c.site
            )));
        }
        let file = site_file(c.site, c.call, c.rank.global);
        let get = |r: &str| c.tensors.iter().find(|t| t.name == r);
        let mut roles = BTreeMap::new();
        for t in &c.tensors {
            let operand = match t.name.as_str() {
                "xs" => get("xq").or_else(|| get("x")),
                "ws" => get("w"),
                _ => None,
            };
            roles.insert(t.name.clone(), role_entry(&t.name, t, operand));
        }
        let m = get("xq").or_else(|| get("x")).map(|t| {
            let k = t.shape.last().copied().unwrap_or(1).max(1);
            (t.numel() / k) as u64
        });
        let entry = CallEntry {
            call: c.call,
            rank: c.rank.clone(),
            file: file.clone(),
            op: Some(c.op.to_string()),
            phase: c.phase.clone(),
            m,
            token_ids: None,
            roles,
        };
        let entry_json = serde_json::to_value(&entry).expect("a call entry serializes");
        let meta = HashMap::from([
            ("isolate_capture".to_string(), "1".to_string()),
            ("side".to_string(), "atom".to_string()),
            ("site".to_string(), c.site.to_string()),
            ("call".to_string(), c.call.to_string()),
            ("entry".to_string(), entry_json.to_string()),
        ]);
        let site = self
            .manifest
            .sites
            .entry(c.site.to_string())
            .or_insert_with(|| Site {
                kind: c.kind.to_string(),
                op: Some(c.op.to_string()),
                module: None,
                layer: c.layer,
                calls: Vec::new(),
            });
        if site
            .calls
            .iter()
            .any(|e| e.call == c.call && e.rank.global == c.rank.global)
        {
            return Err(Error::Usage(format!(
                "site {} call {} rank {} is recorded twice",
                c.site, c.call, c.rank.global
            )));
        }
        site.calls.push(entry);
        site.calls.sort_by_key(|e| (e.call, e.rank.global));
        self.extras.insert(file.clone(), c.extra);
        self.write_file(&file, &c.tensors, meta)
    }

    /// Writes one forward call's hidden states (stage name → tensor).
    pub fn add_stages(
        &mut self,
        call: u64,
        side: &str,
        rank: Rank,
        tensors: Vec<Tensor>,
    ) -> Result<()> {
        let file = stages_file(call, side, rank.global);
        let stages = tensors
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    json!({"dtype": t.dtype.safetensors_name(), "shape": t.shape}),
                )
            })
            .collect();
        self.write_file(
            &file,
            &tensors,
            HashMap::from([("isolate_capture".to_string(), "1".to_string())]),
        )?;
        self.manifest.stages.push(StageEntry {
            call,
            side: Some(side.to_string()),
            rank,
            file,
            stages,
            token_ids: None,
        });
        Ok(())
    }

    /// Writes `manifest.json` with `run` as its one run entry; returns the manifest.
    pub fn finish(mut self, run: serde_json::Value) -> Result<Manifest> {
        self.manifest.runs.push(run);
        let mut v = serde_json::to_value(&self.manifest).expect("a manifest serializes");
        for site in v["sites"]
            .as_object_mut()
            .into_iter()
            .flat_map(|s| s.values_mut())
        {
            for call in site["calls"].as_array_mut().into_iter().flatten() {
                let file = call["file"].as_str().unwrap_or_default().to_string();
                if let Some(x) = self.extras.get(&file) {
                    call["extra"] = x.clone();
                }
            }
        }
        let path = self.dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(&v).expect("JSON");
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
        Ok(self.manifest)
    }
}
