//! ATOM's per-layer dump files (dump.py, docs/method.md §5.1): `layer{LL}_{Cls}_rank{R}[_call{NNN}].pt`,
//! walked and grouped by (layer, stage) with each call's token count, and `pick_prefill_call`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::{self, Tensor};

/// Parsed name of a per-layer dump file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpName {
    pub layer: u64,
    /// The module class; "Block" when the name has none.
    pub stage: String,
    pub rank: u32,
    /// `_call{NNN}` suffix (None in one-shot mode = ATOM's −1).
    pub call: Option<u64>,
}

/// Matches ATOM's `^layer(\d+)(?:_([A-Za-z0-9_]+?))?_rank(\d+)(?:_call(\d+))?\.pt$` (also with `.safetensors`);
/// the class is the shortest one that lets the rest match, as the lazy group does.
pub fn parse_dump_name(file: &str) -> Option<DumpName> {
    let stem = file
        .strip_suffix(".pt")
        .or_else(|| file.strip_suffix(".safetensors"))?;
    let rest = stem.strip_prefix("layer")?;
    let d = rest.bytes().take_while(u8::is_ascii_digit).count();
    if d == 0 || d > 18 {
        return None;
    }
    let layer = rest[..d].parse().ok()?;
    let rest = &rest[d..];
    let tail = |s: &str| -> Option<(u32, Option<u64>)> {
        let s = s.strip_prefix("_rank")?;
        let r = s.bytes().take_while(u8::is_ascii_digit).count();
        if r == 0 || r > 9 {
            return None;
        }
        let rank = s[..r].parse().ok()?;
        let s = &s[r..];
        if s.is_empty() {
            return Some((rank, None));
        }
        let c = s.strip_prefix("_call")?;
        (!c.is_empty() && c.len() <= 18 && c.bytes().all(|b| b.is_ascii_digit()))
            .then(|| (rank, c.parse().ok()))
            .and_then(|(r, c)| c.map(|c| (r, Some(c))))
    };
    let named = |stage: String, (rank, call): (u32, Option<u64>)| DumpName {
        layer,
        stage,
        rank,
        call,
    };
    let body = rest.strip_prefix('_')?;
    for len in 1..body.len() {
        let (cls, after) = body.split_at(len);
        if !cls.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            break;
        }
        if let Some(t) = tail(after) {
            return Some(named(cls.to_string(), t));
        }
    }
    tail(rest).map(|t| named("Block".into(), t))
}

/// One dump call of a (layer, stage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub call: Option<u64>,
    pub path: PathBuf,
    /// Tokens in `hidden` (its first dimension), −1 without a `hidden` tensor.
    pub n_tok: i64,
}

/// ATOM `is_pow2`: n > 0 and n & (n − 1) == 0.
pub fn is_pow2(n: i64) -> bool {
    n > 0 && n & (n - 1) == 0
}

/// ATOM `pick_prefill_call`: among calls with `n_tok % n_slots == 0` and `n_tok > n_slots` (excludes
/// 1-token-per-slot decode), prefer those whose n_tok is not a power of two (warm-up uses power-of-two
/// dummies), and take the lowest call index. None when no call qualifies.
pub fn pick_prefill_call(calls: &[Call], n_slots: usize) -> Option<&Call> {
    let n = n_slots as i64;
    let cands: Vec<&Call> = calls
        .iter()
        .filter(|c| c.n_tok.rem_euclid(n) == 0 && c.n_tok > n)
        .collect();
    let non_pow2: Vec<&Call> = cands
        .iter()
        .copied()
        .filter(|c| !is_pow2(c.n_tok))
        .collect();
    let pool = if non_pow2.is_empty() { cands } else { non_pow2 };
    pool.into_iter()
        .min_by_key(|c| c.call.map(|c| c as i128).unwrap_or(-1))
}

/// The `hidden` tensor of a dump, squeezed of a leading 1 when its rank is ≥ 3.
pub fn hidden(path: &Path) -> Result<Option<Tensor>> {
    let f = io::load(path)?;
    Ok(f.get("hidden").map(|t| {
        if t.shape.len() >= 3 && t.shape[0] == 1 {
            t.reshaped(t.shape[1..].to_vec()).unwrap()
        } else {
            t.clone()
        }
    }))
}

/// ATOM `walk_dumps(dir, rank)`: every per-layer dump file of `rank`, grouped by (layer, stage), with the
/// n_tok of each call. Files of other ranks are counted for the error message.
pub fn walk_dumps(dir: &Path, rank: u32) -> Result<BTreeMap<(u64, String), Vec<Call>>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out: BTreeMap<(u64, String), Vec<Call>> = BTreeMap::new();
    let mut other_ranks = std::collections::BTreeSet::new();
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in &names {
        let Some(d) = parse_dump_name(name) else {
            continue;
        };
        if d.rank != rank {
            other_ranks.insert(d.rank);
            continue;
        }
        let path = dir.join(name);
        let n_tok = hidden(&path)?.map(|h| h.shape.first().map(|&n| n as i64).unwrap_or(1));
        out.entry((d.layer, d.stage)).or_default().push(Call {
            call: d.call,
            path,
            n_tok: n_tok.unwrap_or(-1),
        });
    }
    if out.is_empty() {
        let mut msg = format!(
            "{}: no per-layer dump files for rank {rank}: looked for layer{{LL}}_{{Cls}}_rank{rank}[_call{{NNN}}].pt \
             (ATOM_FWD_DUMP_DIR with ATOM_FWD_DUMP_ONE_SHOT=0)",
            dir.display()
        );
        if !other_ranks.is_empty() {
            let r: Vec<String> = other_ranks.iter().map(|r| r.to_string()).collect();
            msg.push_str(&format!(
                "; found files for rank {} (use --rank)",
                r.join(", ")
            ));
        } else {
            msg.push_str(&format!(
                "; the directory holds {} other entries",
                names.len()
            ));
        }
        return Err(Error::Usage(msg));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_names_like_atoms_regex() {
        let p = |s| parse_dump_name(s);
        assert_eq!(
            p("layer03_Block_rank0_call012.pt"),
            Some(DumpName {
                layer: 3,
                stage: "Block".into(),
                rank: 0,
                call: Some(12)
            })
        );
        assert_eq!(
            p("layer00_rank1.pt"),
            Some(DumpName {
                layer: 0,
                stage: "Block".into(),
                rank: 1,
                call: None
            })
        );
        assert_eq!(
            p("layer100_DeepseekV4Attention_rank7.pt"),
            Some(DumpName {
                layer: 100,
                stage: "DeepseekV4Attention".into(),
                rank: 7,
                call: None
            })
        );
        // Lazy class: the shortest class that lets the rest match.
        assert_eq!(p("layer1_My_rank_rank2_call3.pt").unwrap().stage, "My_rank");
        assert_eq!(p("layer1_Moe_rank2.safetensors").unwrap().stage, "Moe");
        for bad in [
            "ref_layer00_Block__hidden_out_rank0.pt",
            "layer_Block_rank0.pt",
            "layer01_Block_rank0_call.pt",
            "layer01_Bl-ock_rank0.pt",
            "layer01_Block_rank0.npy",
            "layer01_Block.pt",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    fn call(i: u64, n_tok: i64) -> Call {
        Call {
            call: Some(i),
            path: PathBuf::from(format!("c{i}")),
            n_tok,
        }
    }

    #[test]
    fn pick_prefill_call_rules() {
        // Warm-up (power of two), prefill (72), decode (4 = n_slots): the prefill wins.
        let calls = [call(0, 8192), call(1, 72), call(2, 4), call(3, 76)];
        assert_eq!(pick_prefill_call(&calls, 4).unwrap().call, Some(1));
        // Lowest index among non-powers of two, whatever the list order.
        let calls = [call(5, 76), call(2, 72), call(0, 64)];
        assert_eq!(pick_prefill_call(&calls, 4).unwrap().call, Some(2));
        // Only powers of two qualify: fall back to all candidates, lowest index.
        let calls = [call(3, 16), call(1, 64), call(0, 4)];
        assert_eq!(pick_prefill_call(&calls, 4).unwrap().call, Some(1));
        // Not divisible / not greater / no hidden: none.
        let calls = [call(0, 4), call(1, 6), call(2, -1), call(3, 0)];
        assert_eq!(pick_prefill_call(&calls, 4), None);
        assert!(is_pow2(1) && is_pow2(64) && !is_pow2(0) && !is_pow2(72) && !is_pow2(-4));
    }
}
