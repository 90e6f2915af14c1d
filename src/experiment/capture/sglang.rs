//! `isolate capture import sglang SRC DIR`: SGLang's dumper output as a capture directory, so that users keep
//! the dumper they have.
//!
//! The dumper's format, from its source (sgl-project/sglang, `python/sglang/srt/debug_utils/dumper.py`,
//! `_Dumper._dump_single` and `_format_tags`): every `dumper.dump(name, value, **kwargs)` writes
//! `<DUMPER_DIR>/<exp_name>/<tags>.pt` where `<tags>` is `k=v` pairs joined by `___` — `step` (the forward
//! step, advanced by `dumper.step()`), `rank` (the global rank), `dump_index`, `name`, `recompute_status`, then
//! the call's kwargs and the context (`layer_id` from `dumper.set_ctx` / the non-intrusive hooks), and, with
//! `include_parallel_rank_in_filename`, `pp_rank`, `tp_rank`, …. The file is `torch.save({"value": tensor,
//! "meta": {…the same tags, world_rank, world_size, sglang_parallel_info…}})` (older versions saved the bare
//! tensor). `exp_name` defaults to `dump_<UTC time>_<ms><rand>`.
//!
//! The mapping onto roles (our convention, since the dumper has none): a dump whose `name` ends in `.ROLE` or
//! `__ROLE`, ROLE one of x, xq, xs, w, ws, target_out, bias, ref_out, belongs to site `layer<L>.<prefix>` (L from
//! `layer_id`; the prefix as it is when there is none) as that role, call = `step`, rank = `rank`. So
//! `dumper.dump("ffn.down.xq", xq, layer_id=3)` lands in site `layer3.ffn.down`. Every other tensor becomes a
//! hidden state `layer<L>.<name>` (or `<name>`) of forward call `step`, in the file `isolate compare` reads;
//! `input_ids` becomes `embed.input_ids`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::capture::write::{SiteCall, Writer};
use crate::io::capture::Rank;
use crate::io::Tensor;

/// The roles a dump name may end in.
const ROLES: [&str; 8] = ["x", "xq", "xs", "w", "ws", "target_out", "bias", "ref_out"];

/// What the import wrote.
pub struct ImportReport {
    pub src: String,
    pub dir: String,
    /// (site, kind, calls).
    pub sites: Vec<(String, String, usize)>,
    /// Hidden-state files written.
    pub stage_files: usize,
    /// Dump files read.
    pub files_read: usize,
    /// One line per file or tensor not imported, and why.
    pub skipped: Vec<String>,
}

/// The `k=v` tags of a dumper file name (without `.pt`).
pub fn parse_tags(stem: &str) -> Option<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for part in stem.split("___") {
        let (k, v) = part.split_once('=')?;
        m.insert(k.to_string(), v.to_string());
    }
    (m.contains_key("name")).then_some(m)
}

/// The dump files under `src`: `src/*.pt` and `src/<exp_name>/*.pt`, sorted.
fn dump_files(src: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(src).map_err(|e| Error::io(src, e))?;
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            for e2 in std::fs::read_dir(&p)
                .map_err(|e| Error::io(&p, e))?
                .flatten()
            {
                if e2.path().extension().is_some_and(|x| x == "pt") {
                    out.push(e2.path());
                }
            }
        } else if p.extension().is_some_and(|x| x == "pt") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The role a dump name ends in, and the rest: `ffn.down.xq` → (`ffn.down`, `xq`).
fn split_role(name: &str) -> Option<(&str, &'static str)> {
    ROLES.iter().find_map(|&r| {
        let p = name
            .strip_suffix(r)
            .and_then(|p| p.strip_suffix('.').or_else(|| p.strip_suffix("__")))?;
        (!p.is_empty()).then_some((p, r))
    })
}

fn site_kind(roles: &BTreeMap<&'static str, Tensor>) -> &'static str {
    let has = |r: &str| roles.contains_key(r);
    if has("w") && has("target_out") && !has("xq") && has("x") {
        "linear"
    } else if !has("w") && !has("target_out") && has("xq") {
        "quant"
    } else {
        "gemm"
    }
}

/// Converts the SGLang dumper output under `src` into a new capture directory `dir`.
pub fn import_sglang(src: &Path, dir: &Path) -> Result<ImportReport> {
    let files = dump_files(src)?;
    if files.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no SGLang dumper files (*.pt named step=…___rank=…___name=….pt, in it or in its dump_* folders)",
            src.display()
        )));
    }
    let mut skipped = Vec::new();
    // (site, step, rank) → role → tensor; (step, rank) → stage → tensor. Earlier dump_index wins.
    type Key = (String, u64, u64);
    let mut sites: BTreeMap<Key, (Option<i64>, BTreeMap<&'static str, Tensor>)> = BTreeMap::new();
    let mut stages: BTreeMap<(u64, u64), Vec<Tensor>> = BTreeMap::new();
    let mut order: Vec<(u64, PathBuf, BTreeMap<String, String>)> = Vec::new();
    for p in files {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match parse_tags(&stem) {
            Some(t) => {
                let idx = t
                    .get("dump_index")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(u64::MAX);
                order.push((idx, p, t));
            }
            None => skipped.push(format!(
                "{}: not a dumper file name (k=v___k=v….pt)",
                p.display()
            )),
        }
    }
    order.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let files_read = order.len();
    for (_, p, tags) in &order {
        let num = |k: &str| -> Result<Option<u64>> {
            tags.get(k)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        Error::format(p, format!("tag {k}={v} is not a non-negative integer"))
                    })
                })
                .transpose()
        };
        let step = num("step")?.unwrap_or(0);
        let rank = num("rank")?.unwrap_or(0);
        let layer = tags.get("layer_id").and_then(|v| v.parse::<i64>().ok());
        let name = &tags["name"];
        let f = crate::io::load(p)?;
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let t = match (f.get("value"), &f.tensors[..]) {
            (Some(t), _) => t.clone(),
            (None, [t]) if t.name == stem => t.clone(),
            _ => {
                skipped.push(format!(
                    "{}: no tensor `value` (a non-tensor dump?)",
                    p.display()
                ));
                continue;
            }
        };
        let with_layer = |base: &str| match layer {
            Some(l) if !base.starts_with("layer") => format!("layer{l}.{base}"),
            _ => base.to_string(),
        };
        match split_role(name) {
            Some((prefix, role)) => {
                let site = with_layer(prefix).replace("__", ".");
                let entry = sites
                    .entry((site.clone(), step, rank))
                    .or_insert((layer, BTreeMap::new()));
                if entry.1.contains_key(role) {
                    skipped.push(format!(
                        "{}: site {site} step {step} already has {role} (kept the first dump)",
                        p.display()
                    ));
                } else {
                    entry.1.insert(role, t.renamed(role));
                }
            }
            None => {
                let stage = if name == "input_ids" {
                    "embed.input_ids".to_string()
                } else {
                    with_layer(name)
                };
                let v = stages.entry((step, rank)).or_default();
                if v.iter().any(|x| x.name == stage) {
                    skipped.push(format!(
                        "{}: stage {stage} of step {step} already dumped (kept the first)",
                        p.display()
                    ));
                } else {
                    v.push(t.renamed(stage));
                }
            }
        }
    }
    let mut w = Writer::create(dir)?;
    let mut listing: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for ((site, step, rank), (layer, roles)) in sites {
        let kind = site_kind(&roles);
        listing
            .entry(site.clone())
            .or_insert((kind.to_string(), 0))
            .1 += 1;
        w.add_site_call(SiteCall {
            site: &site,
            kind,
            op: "import:sglang",
            layer,
            call: step,
            rank: Rank {
                global: rank,
                ..Rank::default()
            },
            phase: None,
            tensors: roles.into_values().collect(),
            extra: serde_json::json!({"source": "sglang dumper", "step": step}),
        })?;
    }
    let stage_files = stages.len();
    for ((step, rank), ts) in stages {
        w.add_stages(
            step,
            "atom",
            Rank {
                global: rank,
                ..Rank::default()
            },
            ts,
        )?;
    }
    w.finish(serde_json::json!({
        "source": "import:sglang", "side": "atom", "src": src.display().to_string(),
        "rank": {"global": 0}, "argv": std::env::args().collect::<Vec<_>>(),
    }))?;
    Ok(ImportReport {
        src: src.display().to_string(),
        dir: dir.display().to_string(),
        sites: listing.into_iter().map(|(s, (k, n))| (s, k, n)).collect(),
        stage_files,
        files_read,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags() {
        let t = parse_tags("step=1___rank=0___dump_index=7___name=ffn.down.xq___recompute_status=disabled___layer_id=3").unwrap();
        assert_eq!(
            (
                t["step"].as_str(),
                t["name"].as_str(),
                t["layer_id"].as_str()
            ),
            ("1", "ffn.down.xq", "3")
        );
        assert!(parse_tags("hidden").is_none());
        assert_eq!(split_role("ffn.down.xq"), Some(("ffn.down", "xq")));
        assert_eq!(split_role("attn__target_out"), Some(("attn", "target_out")));
        assert_eq!(split_role("hidden_states"), None);
        assert_eq!(split_role("xs"), None);
    }
}
