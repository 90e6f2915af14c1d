//! The glob patterns of a gate rule's `match` (docs/contract.md §8.2): `*` any run of characters (dots
//! included), `?` one character, `[abc]` / `[a-z]` / `[!a-z]` one character of (not of) a set, `{a,b}`
//! alternatives (nestable), `\` escapes the next character. A pattern matches a whole name.
//!
//! Braces are expanded into at most [`MAX_ALTERNATIVES`] flat patterns, and each flat pattern is matched with
//! the two-pointer wildcard algorithm (one backtrack point per `*`), so a match costs at most
//! O(alternatives × pattern × name) whatever the input: no exponential backtracking.

/// The most flat patterns a pattern's braces may expand to.
pub const MAX_ALTERNATIVES: usize = 256;

/// A pattern that cannot be compiled: what is wrong, for the rule's error line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GlobError(pub String);

/// One element of a flat (brace-free) pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`
    Any,
    /// `*`
    Star,
    /// `[…]`: inclusive ranges; `negated` for `[!…]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// The parse tree before brace expansion: a sequence of tokens and alternatives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Tok(Tok),
    Alt(Vec<Vec<Node>>),
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    text: String,
    alternatives: Vec<Vec<Tok>>,
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    depth: usize,
}

/// Nesting of braces beyond this is refused (it only serves to exhaust the stack).
const MAX_DEPTH: usize = 32;

impl Parser<'_> {
    /// A sequence up to the end, or (inside braces) up to the `,` or `}` that ends the alternative.
    fn seq(&mut self) -> Result<Vec<Node>, GlobError> {
        let mut out = Vec::new();
        while let Some(&(at, c)) = self.chars.peek() {
            match c {
                ',' | '}' if self.depth > 0 => break,
                '}' => {
                    return Err(GlobError(format!(
                        "a '}}' without its '{{' at character {}",
                        at + 1
                    )))
                }
                _ => {}
            }
            self.chars.next();
            out.push(match c {
                '*' => {
                    // `**` means the same as `*`; one is kept.
                    if out.last() == Some(&Node::Tok(Tok::Star)) {
                        continue;
                    }
                    Node::Tok(Tok::Star)
                }
                '?' => Node::Tok(Tok::Any),
                '\\' => match self.chars.next() {
                    Some((_, e)) => Node::Tok(Tok::Lit(e)),
                    None => return Err(GlobError("ends with a lone '\\'".into())),
                },
                '[' => Node::Tok(self.class(at)?),
                '{' => {
                    if self.depth >= MAX_DEPTH {
                        return Err(GlobError(format!(
                            "braces nested more than {MAX_DEPTH} deep"
                        )));
                    }
                    self.depth += 1;
                    let mut alts = vec![self.seq()?];
                    loop {
                        match self.chars.next() {
                            Some((_, ',')) => alts.push(self.seq()?),
                            Some((_, '}')) => break,
                            _ => {
                                return Err(GlobError(format!(
                                    "the '{{' at character {} is not closed",
                                    at + 1
                                )))
                            }
                        }
                    }
                    self.depth -= 1;
                    Node::Alt(alts)
                }
                c => Node::Tok(Tok::Lit(c)),
            });
        }
        Ok(out)
    }

    /// `[…]` after its `[` (at byte `at`): `!` negates, `a-z` is a range, `]` first is a literal, `\` escapes.
    fn class(&mut self, at: usize) -> Result<Tok, GlobError> {
        let unclosed = || GlobError(format!("the '[' at character {} is not closed", at + 1));
        let mut negated = false;
        if let Some(&(_, '!')) = self.chars.peek() {
            self.chars.next();
            negated = true;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let (_, c) = self.chars.next().ok_or_else(unclosed)?;
            let lo = match c {
                ']' if !first => break,
                '\\' => self.chars.next().ok_or_else(unclosed)?.1,
                c => c,
            };
            first = false;
            let hi = match self.chars.peek() {
                Some(&(_, '-')) => {
                    self.chars.next();
                    match self.chars.peek() {
                        // `[a-]`: the '-' is a literal.
                        Some(&(_, ']')) => {
                            ranges.push(('-', '-'));
                            lo
                        }
                        Some(_) => {
                            let (_, h) = self.chars.next().ok_or_else(unclosed)?;
                            let h = if h == '\\' {
                                self.chars.next().ok_or_else(unclosed)?.1
                            } else {
                                h
                            };
                            if h < lo {
                                return Err(GlobError(format!(
                                    "the range '{lo}-{h}' in the '[' at character {} runs backwards",
                                    at + 1
                                )));
                            }
                            h
                        }
                        None => return Err(unclosed()),
                    }
                }
                _ => lo,
            };
            ranges.push((lo, hi));
        }
        Ok(Tok::Class { negated, ranges })
    }
}

/// How many flat patterns `seq` expands to (saturating).
fn count(seq: &[Node]) -> usize {
    seq.iter().fold(1usize, |n, node| match node {
        Node::Tok(_) => n,
        Node::Alt(alts) => {
            n.saturating_mul(alts.iter().fold(0usize, |s, a| s.saturating_add(count(a))))
        }
    })
}

/// Every flat pattern of `seq` (called only when [`count`] is within the limit).
fn expand(seq: &[Node]) -> Vec<Vec<Tok>> {
    let mut out: Vec<Vec<Tok>> = vec![Vec::new()];
    for node in seq {
        match node {
            Node::Tok(t) => out.iter_mut().for_each(|p| p.push(t.clone())),
            Node::Alt(alts) => {
                let tails: Vec<Vec<Tok>> = alts.iter().flat_map(|a| expand(a)).collect();
                out = out
                    .iter()
                    .flat_map(|head| {
                        tails.iter().map(move |tail| {
                            let mut p = head.clone();
                            for t in tail {
                                // `*` followed by `*` across a brace is one `*`.
                                if !(*t == Tok::Star && p.last() == Some(&Tok::Star)) {
                                    p.push(t.clone());
                                }
                            }
                            p
                        })
                    })
                    .collect();
            }
        }
    }
    out
}

impl Glob {
    /// Compiles `text`; an empty pattern, an unclosed `[` or `{`, a stray `}`, a backwards range, a trailing
    /// `\`, or braces expanding to more than [`MAX_ALTERNATIVES`] patterns is an error saying which.
    pub fn new(text: &str) -> Result<Glob, GlobError> {
        if text.is_empty() {
            return Err(GlobError(
                "an empty pattern matches no name (`*` matches every one)".into(),
            ));
        }
        let mut p = Parser {
            chars: text.char_indices().peekable(),
            depth: 0,
        };
        let seq = p.seq()?;
        let n = count(&seq);
        if n > MAX_ALTERNATIVES {
            return Err(GlobError(format!(
                "its braces expand to more than {MAX_ALTERNATIVES} alternatives"
            )));
        }
        Ok(Glob {
            text: text.to_string(),
            alternatives: expand(&seq),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.alternatives.iter().any(|p| flat_match(p, &name))
    }
}

fn tok_matches(t: &Tok, c: char) -> bool {
    match t {
        Tok::Lit(l) => *l == c,
        Tok::Any => true,
        Tok::Star => unreachable!("a star is handled by the matcher"),
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
    }
}

/// The classic wildcard match: on a mismatch, go back to the last `*` and let it take one more character.
fn flat_match(p: &[Tok], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == Tok::Star {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && tok_matches(&p[pi], s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).unwrap().matches(s)
    }

    #[test]
    fn stars_questions_and_classes() {
        assert!(m("layer*.ffn.*", "layer12.ffn.down"));
        assert!(m("*", ""));
        assert!(m("*", "embed.final_h"));
        assert!(!m("layer*.ffn.*", "layer12.attn.qkv"));
        assert!(m("layer?.attn_out", "layer3.attn_out"));
        assert!(!m("layer?.attn_out", "layer13.attn_out"));
        assert!(m("layer[0-2].*", "layer1.x"));
        assert!(!m("layer[0-2].*", "layer3.x"));
        assert!(m("layer[!0-2].*", "layer3.x"));
        assert!(m("a[]]b", "a]b"));
        assert!(m("a[x-]b", "a-b"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*b*c*", "xxaxxbxxc"));
        assert!(!m("*a*b*c*", "xxaxxcxxb"));
        assert!(m("layer*.{attn,ffn}_out", "layer0.attn_out"));
        assert!(m("layer*.{attn,ffn}_out", "layer0.ffn_out"));
        assert!(!m("layer*.{attn,ffn}_out", "layer0.hidden_out"));
        assert!(m("{a,b{c,d}}x", "bdx"));
        assert!(m("x{,y}", "x"));
        assert!(m("A", "A") && !m("A", "C1"));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (p, why) in [
            ("layer[0-9", "not closed"),
            ("{a,b", "not closed"),
            ("a}", "without its"),
            ("[z-a]", "backwards"),
            ("a\\", "lone"),
            ("", "empty"),
            (
                "{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}",
                "more than 256",
            ),
        ] {
            let e = Glob::new(p).unwrap_err();
            assert!(e.0.contains(why), "{p:?}: {e}");
        }
        let deep = "{".repeat(40) + &"}".repeat(40);
        assert!(Glob::new(&deep).unwrap_err().0.contains("nested"));
    }

    #[test]
    fn many_stars_stay_linear() {
        let p = Glob::new(&"*a".repeat(200)).unwrap();
        let s = "a".repeat(199) + "b";
        let t = std::time::Instant::now();
        assert!(!p.matches(&s));
        assert!(t.elapsed().as_secs_f64() < 1.0);
    }
}
