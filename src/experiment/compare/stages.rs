//! The natural order of dumped stages: `embed.*` first, then layer by layer (the layer number parsed from
//! `layer{L}.…`, `layers.{L}.…` or `layer{LL}_…`), then `embed.final_*`, then anything else.
//!
//! Within a layer (and within the embed and final sections) stages keep one of two orders:
//! - **file**: the order of the names in the dump (a `.pt` dict keeps the order in which the forward pass
//!   wrote it, so this is the order the stages ran in; names only in a second dump follow the first's);
//! - **canonical**: a fixed order for the stage names of docs/method.md §4 (`hidden_in, attn_norm_in, attn_norm_out,
//!   attn.*, attn_out, ffn_norm_in, ffn_norm_out, ffn_in, ffn.*/moe.*/mlp.*, ffn_act, ffn_out, <others>,
//!   hidden_out`; embed: `input_ids, embed_out, <others>`; final: `final_h, <others>, final_logits`),
//!   ties broken by natural name order. Used where a file format does not keep insertion order
//!   (safetensors writers sort names).

use std::cmp::Ordering;
use std::collections::HashMap;

/// The part of a forward pass a stage belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// `embed.*` except `embed.final_*`.
    Embed,
    /// `layer{L}.…`
    Layer(u64),
    /// `embed.final_*`
    Final,
    /// Anything else (sorted last).
    Other,
}

impl Section {
    fn kind(&self) -> u8 {
        match self {
            Section::Embed => 0,
            Section::Layer(_) => 1,
            Section::Final => 2,
            Section::Other => 3,
        }
    }
    /// The layer number, if any.
    pub fn layer(&self) -> Option<u64> {
        match self {
            Section::Layer(l) => Some(*l),
            _ => None,
        }
    }
}

/// Splits a stage name into its section and the rest (`layer3.ffn_out` → (Layer(3), "ffn_out")).
pub fn parse(name: &str) -> (Section, &str) {
    if let Some(rest) = name.strip_prefix("embed.") {
        return if rest.starts_with("final_") {
            (Section::Final, rest)
        } else {
            (Section::Embed, rest)
        };
    }
    if let Some(rest) = name.strip_prefix("layer") {
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        let rest = rest
            .strip_prefix('.')
            .or_else(|| rest.strip_prefix('_'))
            .unwrap_or(rest);
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && digits <= 18 {
            let tail = &rest[digits..];
            let suffix = if tail.is_empty() {
                Some("")
            } else {
                tail.strip_prefix('.').or_else(|| tail.strip_prefix('_'))
            };
            if let Some(suffix) = suffix {
                return (Section::Layer(rest[..digits].parse().unwrap()), suffix);
            }
        }
    }
    (Section::Other, name)
}

/// Canonical rank of a suffix within its section (lower first).
pub fn canonical_rank(section: &Section, suffix: &str) -> u32 {
    let under = |p: &str| suffix.starts_with(p);
    match section {
        Section::Embed => match suffix {
            "input_ids" => 0,
            "embed_out" => 1,
            _ => 2,
        },
        Section::Final => match suffix {
            "final_h" => 0,
            "final_logits" => 2,
            _ => 1,
        },
        Section::Other => 0,
        Section::Layer(_) => match suffix {
            "hidden_in" => 0,
            "attn_norm_in" => 1,
            "attn_norm_out" => 2,
            _ if under("attn.") || under("attention.") => 3,
            "attn_out" => 4,
            "ffn_norm_in" => 5,
            "ffn_norm_out" => 6,
            "ffn_in" => 7,
            _ if under("ffn.") || under("moe.") || under("mlp.") => 8,
            "ffn_act" => 9,
            "ffn_out" => 10,
            "hidden_out" => 12,
            _ => 11,
        },
    }
}

/// Compares strings with runs of digits compared as numbers (`layers.2` < `layers.10`).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let dx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let dy = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (nx, ny) = (trim_zeros(&x[..dx]), trim_zeros(&y[..dy]));
                let o = nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[dx..];
                y = &y[dy..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|&&c| c == b'0').count();
    &d[z.min(d.len().saturating_sub(1))..]
}

/// How stages are ordered within a section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// First occurrence in the dump.
    File,
    /// The fixed order of the stage names (docs/method.md §4).
    Canonical,
}

/// A stage ordering built from the names of one or more dumps (in their file order).
#[derive(Clone, Debug)]
pub struct StageOrder {
    order: Order,
    first_seen: HashMap<String, usize>,
}

impl StageOrder {
    /// Records the first position of every name of `names`, taken in file order.
    pub fn new<'a>(order: Order, names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut first_seen = HashMap::new();
        for name in names {
            let n = first_seen.len();
            first_seen.entry(name.to_string()).or_insert(n);
        }
        StageOrder { order, first_seen }
    }

    /// Compares two stage names in natural order.
    pub fn cmp(&self, a: &str, b: &str) -> Ordering {
        let (sa, xa) = parse(a);
        let (sb, xb) = parse(b);
        let head = sa
            .kind()
            .cmp(&sb.kind())
            .then_with(|| sa.layer().cmp(&sb.layer()));
        if head != Ordering::Equal {
            return head;
        }
        let within = match self.order {
            Order::Canonical => canonical_rank(&sa, xa).cmp(&canonical_rank(&sb, xb)),
            Order::File => {
                let pos = |n: &str| self.first_seen.get(n).copied().unwrap_or(usize::MAX);
                pos(a).cmp(&pos(b))
            }
        };
        within
            .then_with(|| natural_cmp(xa, xb))
            .then_with(|| a.cmp(b))
    }

    /// Sorts names in natural order.
    pub fn sort(&self, names: &mut [String]) {
        names.sort_by(|a, b| self.cmp(a, b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layer_spellings() {
        assert_eq!(parse("layer3.ffn_out"), (Section::Layer(3), "ffn_out"));
        assert_eq!(parse("layers.12.attn.qr"), (Section::Layer(12), "attn.qr"));
        assert_eq!(
            parse("layer07_hidden_out"),
            (Section::Layer(7), "hidden_out")
        );
        assert_eq!(parse("layer5"), (Section::Layer(5), ""));
        assert_eq!(parse("embed.input_ids"), (Section::Embed, "input_ids"));
        assert_eq!(parse("embed.final_h"), (Section::Final, "final_h"));
        assert_eq!(parse("layerwise.x"), (Section::Other, "layerwise.x"));
        assert_eq!(parse("layer3x.y"), (Section::Other, "layer3x.y"));
        assert_eq!(parse("lm_head"), (Section::Other, "lm_head"));
    }

    #[test]
    fn natural_order_of_names() {
        assert_eq!(natural_cmp("layers.2.w", "layers.10.w"), Ordering::Less);
        assert_eq!(natural_cmp("a10", "a010"), Ordering::Greater); // equal numbers: plain order decides
        assert_eq!(natural_cmp("b", "a1"), Ordering::Greater);
        assert_eq!(natural_cmp("x0", "x"), Ordering::Greater);
    }

    #[test]
    fn canonical_order() {
        let mut names: Vec<String> = [
            "embed.final_logits",
            "layer10.hidden_in",
            "layer2.hidden_out",
            "layer2.ffn_out",
            "layer2.attn.qr",
            "layer2.attn_out",
            "layer2.attn_norm_out",
            "layer2.hidden_in",
            "layer2.ffn_norm_out",
            "layer2.zzz",
            "embed.final_h",
            "embed.embed_out",
            "embed.input_ids",
            "lm_head",
            "layer0.hidden_out",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = StageOrder::new(Order::Canonical, names.iter().map(String::as_str));
        o.sort(&mut names);
        assert_eq!(
            names,
            [
                "embed.input_ids",
                "embed.embed_out",
                "layer0.hidden_out",
                "layer2.hidden_in",
                "layer2.attn_norm_out",
                "layer2.attn.qr",
                "layer2.attn_out",
                "layer2.ffn_norm_out",
                "layer2.ffn_out",
                "layer2.zzz",
                "layer2.hidden_out",
                "layer10.hidden_in",
                "embed.final_h",
                "embed.final_logits",
                "lm_head",
            ]
        );
    }

    #[test]
    fn file_order_follows_first_occurrence() {
        // A post-norm model (BERT): attn_out runs before attn_norm_out.
        let file = [
            "embed.input_ids",
            "embed.embed_out",
            "layer0.hidden_in",
            "layer0.attn_out",
            "layer0.attn_norm_out",
            "layer0.ffn_out",
            "layer0.hidden_out",
            "layer1.hidden_in",
            "layer1.attn_out",
            "layer1.extra",
            "layer1.attn_norm_out",
            "layer1.ffn_out",
            "layer1.hidden_out",
            "embed.final_h",
        ];
        let o = StageOrder::new(Order::File, file);
        let mut names: Vec<String> = file.iter().rev().map(|s| s.to_string()).collect();
        o.sort(&mut names);
        assert_eq!(names, file);
        // Layer numbers still come first: a file written out of layer order is put back in order.
        let shuffled = [
            "layer1.b",
            "layer0.b",
            "layer1.a",
            "layer0.a",
            "embed.final_h",
            "embed.x",
        ];
        let o = StageOrder::new(Order::File, shuffled);
        let mut names: Vec<String> = shuffled.iter().map(|s| s.to_string()).collect();
        o.sort(&mut names);
        assert_eq!(
            names,
            [
                "embed.x",
                "layer0.b",
                "layer0.a",
                "layer1.b",
                "layer1.a",
                "embed.final_h"
            ]
        );
    }
}
