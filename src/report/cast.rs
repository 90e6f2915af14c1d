//! What `isolate cast` says when it has written its file (on stderr: the file is the result).

use crate::experiment::cast::CastResult;

/// The loader notes, then one line saying what was written.
pub fn summary(r: &CastResult) -> String {
    let mut o = String::new();
    for n in &r.notes {
        o.push_str(&format!("note: {n}\n"));
    }
    o.push_str(&format!(
        "wrote {}: {} tensors converted to {}, {} copied unchanged\n",
        r.out.display(),
        r.converted,
        r.to,
        r.copied
    ));
    o
}
