//! Capture directories (python/FORMAT.md, version 1): what `isolate_capture` writes from a running model —
//! `manifest.json` plus one safetensors file per (site, call, rank) whose tensor names are role names — read
//! here: the manifest is parsed and checked (format, version), `--site NAME [--call N] [--rank R]` is resolved
//! to its file, and the recorded scale meaning (stored xs layout, FP8 format, group, weight block) is given
//! back so that a data command uses it instead of flags. [`write`] writes one (the SGLang import).
//!
//! Unknown keys are ignored (forward compatible); a larger `version` is refused. Every error names the
//! manifest or the site file, and the site.

pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::formats::Fp8Format;

/// `format` of every manifest.
pub const FORMAT_NAME: &str = "isolate-capture";
/// The version this reader understands (a larger one is refused).
pub const FORMAT_VERSION: u64 = 1;
/// The manifest's file name inside a capture directory.
pub const MANIFEST: &str = "manifest.json";

/// The roles each site kind must hold (FORMAT.md "Kinds and required roles").
pub fn required_roles(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "gemm" => Some(&["xq", "xs", "w", "ws", "target_out"]),
        "quant" => Some(&["x", "xq", "xs"]),
        "linear" => Some(&["x", "w", "ws", "target_out"]),
        _ => None,
    }
}

/// `manifest.json`, as read (the fields a reader uses; the rest stays in [`Capture::raw`]).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Manifest {
    pub format: String,
    pub version: u64,
    #[serde(default)]
    pub sites: BTreeMap<String, Site>,
    #[serde(default)]
    pub stages: Vec<StageEntry>,
    #[serde(default)]
    pub runs: Vec<serde_json::Value>,
}

/// One site: a kernel call point (a wrapped function or an explicit `site()` call).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Site {
    /// `gemm`, `quant` or `linear`.
    pub kind: String,
    #[serde(default)]
    pub op: Option<String>,
    #[serde(default)]
    pub module: Option<String>,
    #[serde(default)]
    pub layer: Option<i64>,
    #[serde(default)]
    pub calls: Vec<CallEntry>,
}

/// The ranks of the process that recorded a call.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Rank {
    #[serde(default)]
    pub global: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ep: Option<u64>,
}

/// sha256 (first 16 hex digits) of the token ids as little-endian int64, and their count.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct TokenIds {
    pub sha256_16: String,
    pub count: u64,
}

/// One recorded (site, call, rank).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct CallEntry {
    pub call: u64,
    #[serde(default)]
    pub rank: Rank,
    /// Relative to the capture directory.
    pub file: String,
    #[serde(default)]
    pub op: Option<String>,
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub m: Option<u64>,
    #[serde(default)]
    pub token_ids: Option<TokenIds>,
    #[serde(default)]
    pub roles: BTreeMap<String, RoleEntry>,
}

/// A role's tensor in a site file, with what it means.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RoleEntry {
    /// The tensor's name in the file (equal to the role in version 1).
    pub tensor: String,
    /// safetensors dtype name (`BF16`, `F8_E4M3`, …).
    pub dtype: String,
    pub shape: Vec<usize>,
    /// FP8 format of a code tensor (`e4m3fn | e4m3fnuz | e5m2 | e5m2fnuz | u8-bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8_max: Option<f64>,
    /// A non-plain weight layout (aiter's shuffle), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_from: Option<String>,
}

/// What a scale tensor means (FORMAT.md "Scale meaning").
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Scale {
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub granularity: Option<String>,
    /// Block shape [rows, K] (an entry may be null when the writer could not tell).
    #[serde(default)]
    pub block: Option<Vec<Option<usize>>>,
    #[serde(default)]
    pub group: Option<usize>,
    #[serde(default)]
    pub packing: Option<String>,
    /// `row` or `packed-ue8m0`: the `--xs-layout` of the stored tensor.
    #[serde(default)]
    pub stored_layout: Option<String>,
    #[serde(default)]
    pub source_layout: Option<String>,
    #[serde(default)]
    pub mn_major: Option<bool>,
    #[serde(default)]
    pub tma_aligned: Option<bool>,
    #[serde(default)]
    pub all_pow2: Option<bool>,
    #[serde(default)]
    pub pow2_rule: Option<String>,
    #[serde(default)]
    pub suggested_preset: Option<String>,
}

/// One forward call's hidden states.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StageEntry {
    pub call: u64,
    #[serde(default)]
    pub side: Option<String>,
    #[serde(default)]
    pub rank: Rank,
    pub file: String,
    #[serde(default)]
    pub stages: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub token_ids: Option<TokenIds>,
}

/// A capture directory whose manifest was read and checked.
#[derive(Clone, Debug)]
pub struct Capture {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// The manifest as JSON, unknown keys included.
    pub raw: serde_json::Value,
}

impl Capture {
    /// Reads and checks `DIR/manifest.json`: it must exist, be JSON, say `format = "isolate-capture"` and a
    /// `version` this reader knows (exit 2 otherwise, one line naming the file).
    pub fn open(dir: &Path) -> Result<Capture> {
        let path = dir.join(MANIFEST);
        if !dir.is_dir() {
            return Err(Error::format(
                dir,
                "not a directory (a capture directory holds manifest.json)",
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::format(
                    &path,
                    "missing: this folder is not a capture directory (isolate_capture writes manifest.json)",
                )
            } else {
                Error::io(&path, e)
            }
        })?;
        Capture::from_manifest_text(dir, &text)
    }

    /// Parses and checks the text of `DIR/manifest.json` (what [`Capture::open`] does once it has read the
    /// file; the `capture_manifest` fuzz target feeds it arbitrary bytes). Errors name `DIR/manifest.json`.
    pub fn from_manifest_text(dir: &Path, text: &str) -> Result<Capture> {
        let path = dir.join(MANIFEST);
        let raw: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::format(&path, format!("not valid JSON: {e}")))?;
        match raw.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT_NAME) => {}
            other => {
                return Err(Error::format(
                    &path,
                    format!("not an isolate capture manifest (format {other:?}, expected \"{FORMAT_NAME}\")"),
                ))
            }
        }
        match raw.get("version").and_then(|v| v.as_u64()) {
            Some(v) if (1..=FORMAT_VERSION).contains(&v) => {}
            Some(v) => {
                return Err(Error::format(
                    &path,
                    format!(
                        "capture format version {v} is newer than this isolate reads ({FORMAT_VERSION}): \
                         update isolate"
                    ),
                ))
            }
            None => return Err(Error::format(&path, "no integer `version`")),
        }
        let manifest: Manifest = serde_json::from_value(raw.clone())
            .map_err(|e| Error::format(&path, format!("malformed manifest: {e}")))?;
        Ok(Capture {
            dir: dir.to_path_buf(),
            manifest,
            raw,
        })
    }

    /// The path of a file the manifest names (relative to the directory; `..` and absolute paths refused).
    pub fn file_path(&self, rel: &str) -> Result<PathBuf> {
        let p = Path::new(rel);
        if p.is_absolute()
            || p.components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(Error::format(
                self.dir.join(MANIFEST),
                format!("file '{rel}' is outside the capture directory"),
            ));
        }
        Ok(self.dir.join(p))
    }

    /// The (site, call, rank) `sel` names: exit 2 listing the sites or the calls that exist otherwise.
    pub fn resolve(&self, sel: &SiteSelector) -> Result<ResolvedSite> {
        let dir = self.dir.display();
        let site = self.manifest.sites.get(&sel.site).ok_or_else(|| {
            let names: Vec<&str> = self
                .manifest
                .sites
                .keys()
                .map(String::as_str)
                .take(20)
                .collect();
            Error::Usage(format!(
                "{dir}: no site {} (sites: {})",
                sel.site,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })?;
        let rank = sel.rank.unwrap_or(0);
        let entry = site
            .calls
            .iter()
            .filter(|c| c.rank.global == rank && sel.call.is_none_or(|n| c.call == n))
            .min_by_key(|c| c.call)
            .ok_or_else(|| {
                let have: Vec<String> = site
                    .calls
                    .iter()
                    .map(|c| format!("call {} rank {}", c.call, c.rank.global))
                    .collect();
                Error::Usage(format!(
                    "{dir}: site {} has no {}rank {rank} (it has: {})",
                    sel.site,
                    sel.call
                        .map(|n| format!("call {n} for "))
                        .unwrap_or_default(),
                    if have.is_empty() {
                        "no calls".to_string()
                    } else {
                        have.join(", ")
                    }
                ))
            })?;
        let path = self.file_path(&entry.file)?;
        Ok(ResolvedSite {
            dir: self.dir.clone(),
            site: sel.site.clone(),
            kind: site.kind.clone(),
            op: entry.op.clone().or_else(|| site.op.clone()),
            entry: entry.clone(),
            path,
        })
    }
}

/// `--site NAME [--call N] [--rank R]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSelector {
    pub site: String,
    /// Default: the lowest call recorded.
    pub call: Option<u64>,
    /// Global rank; default 0.
    pub rank: Option<u64>,
}

/// One (site, call, rank) of a capture directory, resolved to its file.
#[derive(Clone, Debug)]
pub struct ResolvedSite {
    pub dir: PathBuf,
    pub site: String,
    pub kind: String,
    pub op: Option<String>,
    pub entry: CallEntry,
    /// The site file.
    pub path: PathBuf,
}

/// The recorded meaning of a site's tensors, as the data commands take it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    /// `roles.xs.scale.stored_layout` (`row` | `packed-ue8m0`).
    pub xs_layout: Option<String>,
    /// `roles.xq.fp8` (None for `u8-bytes` or absent).
    pub act_fp8: Option<Fp8Format>,
    /// `roles.w.fp8`.
    pub w_fp8: Option<Fp8Format>,
    /// `roles.xs.scale.group`.
    pub group: Option<usize>,
    /// `roles.ws.scale.block` as [rows, K].
    pub weight_block: Option<[usize; 2]>,
    /// `roles.xs.scale.suggested_preset`: a hint, never applied.
    pub suggested_preset: Option<String>,
}

/// The FP8 format a manifest names (`u8-bytes` and absent: None).
pub fn fp8_format(
    name: Option<&str>,
    what: &str,
    site: &str,
    path: &Path,
) -> Result<Option<Fp8Format>> {
    match name {
        None | Some("u8-bytes") => Ok(None),
        Some(n) => Fp8Format::parse(n).map(Some).ok_or_else(|| {
            Error::format(
                path,
                format!("site {site}: {what} is recorded as fp8 '{n}', which isolate does not read yet (e4m3fn, e4m3fnuz, e5m2)"),
            )
        }),
    }
}

impl ResolvedSite {
    /// `DIR site NAME call N rank R`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{} site {} call {} rank {}",
            self.dir.display(),
            self.site,
            self.entry.call,
            self.entry.rank.global
        )
    }

    /// The role → tensor mappings the manifest gives where the tensor is not named after its role.
    pub fn name_mappings(&self) -> Vec<(String, String)> {
        self.entry
            .roles
            .iter()
            .filter(|(r, e)| e.tensor != **r)
            .map(|(r, e)| (r.clone(), e.tensor.clone()))
            .collect()
    }

    /// The recorded meaning, checked: an FP8 format or a weight block isolate cannot read yet, or a shuffled
    /// weight, is exit 2 naming the site.
    pub fn recorded(&self) -> Result<Recorded> {
        let roles = &self.entry.roles;
        let manifest = self.dir.join(MANIFEST);
        let xs = roles.get("xs").and_then(|r| r.scale.as_ref());
        let ws = roles.get("ws").and_then(|r| r.scale.as_ref());
        if let Some(l) = roles.get("w").and_then(|r| r.layout.as_deref()) {
            return Err(Error::format(
                &manifest,
                format!(
                    "site {}: the weight is stored in a non-plain layout ({l}); isolate reads plain [N, K] \
                     weights only (undo it, e.g. with `isolate compare schema --unshuffle aiter16x16`'s rule)",
                    self.site
                ),
            ));
        }
        let weight_block = match ws.and_then(|s| s.block.as_ref()) {
            None => None,
            Some(b) => match b[..] {
                [Some(r), Some(c)] if (r == 128 || r == 1) && c == 128 => Some([r, c]),
                _ => {
                    let g = ws.and_then(|s| s.granularity.clone()).unwrap_or_default();
                    return Err(Error::format(
                        &manifest,
                        format!(
                            "site {}: the weight scales are recorded as {g} blocks {b:?}; isolate's GEMMs take \
                             128×128 (or 1×128) weight blocks only so far",
                            self.site
                        ),
                    ));
                }
            },
        };
        if let Some(l) = xs.and_then(|s| s.stored_layout.as_deref()) {
            if l != "row" && l != "packed-ue8m0" {
                return Err(Error::format(
                    &manifest,
                    format!(
                        "site {}: xs stored_layout '{l}' is not one of row, packed-ue8m0",
                        self.site
                    ),
                ));
            }
        }
        Ok(Recorded {
            xs_layout: xs.and_then(|s| s.stored_layout.clone()),
            act_fp8: fp8_format(
                roles.get("xq").and_then(|r| r.fp8.as_deref()),
                "xq",
                &self.site,
                &manifest,
            )?,
            w_fp8: fp8_format(
                roles.get("w").and_then(|r| r.fp8.as_deref()),
                "w",
                &self.site,
                &manifest,
            )?,
            group: xs.and_then(|s| s.group),
            weight_block,
            suggested_preset: xs.and_then(|s| s.suggested_preset.clone()),
        })
    }

    /// Loads the site file; a missing or corrupt one is exit 2 naming the file and the site.
    pub fn load(&self) -> Result<crate::io::TensorFile> {
        crate::io::load(&self.path).map_err(|e| {
            let what = match &e {
                Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    "missing (the manifest lists it)".to_string()
                }
                Error::Io { source, .. } => source.to_string(),
                Error::Format { msg, .. } => msg.clone(),
                other => other.to_string(),
            };
            Error::format(
                &self.path,
                format!(
                    "{what} (site {} call {} rank {} of {})",
                    self.site,
                    self.entry.call,
                    self.entry.rank.global,
                    self.dir.display()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests;
