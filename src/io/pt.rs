//! PyTorch `.pt` files (the `torch.save` zip format): `<prefix>/data.pkl` (the pickled object),
//! `<prefix>/data/<key>` (one entry per storage, raw bytes), `<prefix>/byteorder` (`little`/`big`; absent
//! in old files, which are then read as little-endian), `<prefix>/version`.
//!
//! The pickle goes through the restricted unpickler ([`crate::io::pickle`]): allowlisted globals only,
//! nothing executed. Each tensor is a strided view of a storage; it is checked to stay inside its storage
//! and made dense and row-major (zero-copy from the memory map when the view is already contiguous, the
//! entry is STORED, as torch writes it, and the file is little-endian). Big-endian files are byte-swapped.
//! STORED entries are read straight from the map, so their CRC is not checked (the view bounds are).
//!
//! Names: nested dicts / lists / tuples are flattened with `.` (`{"a": {"b": t}}` → `a.b`, lists by index);
//! a bare tensor is named after the file stem. Every non-tensor leaf (an int, a string, a shape tuple,
//! None, a container with no tensor inside) is skipped with one note. The attributes a state_dict's
//! OrderedDict carries (`_metadata`) are not entries and are ignored.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use zip::{CompressionMethod, ZipArchive};

use crate::error::{Error, Result};
use crate::io::limits::{Budget, MAX_PICKLE_ENTRIES};
use crate::io::pickle::{self, Value};
use crate::io::strided;
use crate::io::tensor::Tensor;
use crate::io::torch_pickle::TensorRef;

/// Deepest nesting of dicts/lists read (a deeper pickle, or a self-referencing one, is refused).
const MAX_DEPTH: usize = 64;

/// Reads every tensor of a torch.save zip file; returns the tensors and notes on skipped entries.
pub fn read(path: &Path) -> Result<(Vec<Tensor>, Vec<String>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: read-only map; a file truncated under us while mapped is the usual mmap caveat.
    let map = Arc::new(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?);
    read_map(path, map)
}

/// [`read`] of a file already mapped (`path` names it in messages and gives a bare tensor its name).
pub fn read_map(path: &Path, map: Arc<memmap2::Mmap>) -> Result<(Vec<Tensor>, Vec<String>)> {
    let fail = |msg: String| Error::format(path, msg);
    let mut zip = ZipArchive::new(Cursor::new(&map[..])).map_err(|e| {
        fail(format!(
            "not a readable zip archive, so not a complete torch.save file (truncated?): {e}"
        ))
    })?;
    let prefix = find_prefix(&zip).map_err(fail)?;
    let mut budget = Budget::new();
    let byteorder = match entry(&mut zip, &map, &format!("{prefix}byteorder"), &mut budget) {
        Ok(b) => Some(b.bytes(&map).to_vec()),
        Err(EntryError::Missing) => None,
        Err(e) => return Err(fail(e.describe(&format!("{prefix}byteorder")))),
    };
    let big = match byteorder.as_deref() {
        None | Some(b"little") => false,
        Some(b"big") => true,
        Some(other) => {
            return Err(fail(format!(
                "{prefix}byteorder says {:?}; expected 'little' or 'big'",
                String::from_utf8_lossy(other)
            )))
        }
    };
    let pkl_name = format!("{prefix}data.pkl");
    let pkl =
        entry(&mut zip, &map, &pkl_name, &mut budget).map_err(|e| fail(e.describe(&pkl_name)))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tensor".into());
    let (leaves, mut notes) =
        tensor_refs(pkl.bytes(&map), &stem).map_err(|e| fail(format!("{pkl_name}: {e}")))?;

    let mut storages: HashMap<String, Entry> = HashMap::new();
    let mut names: HashMap<String, ()> = HashMap::new();
    let mut tensors = Vec::with_capacity(leaves.len());
    for (name, t) in leaves {
        if names.insert(name.clone(), ()).is_some() {
            return Err(fail(format!(
                "two entries are both named '{name}' once flattened with '.'"
            )));
        }
        let Some(dtype) = t.dtype else {
            notes.push(format!(
                "{name}: a {} tensor, a dtype isolate does not read (skipped)",
                t.dtype_name
            ));
            continue;
        };
        if let Some(m) = &t.metadata {
            notes.push(format!("{name}: tensor metadata {m} ignored"));
        }
        let key = &t.storage.key;
        if !storages.contains_key(key) {
            let ename = format!("{prefix}data/{key}");
            let e =
                entry(&mut zip, &map, &ename, &mut budget).map_err(|e| fail(e.describe(&ename)))?;
            let have = e.len() as u64;
            if t.storage.declared_bytes() != Some(have) {
                return Err(fail(format!(
                    "{ename} holds {have} bytes but {pkl_name} declares {} elements of {} for it",
                    t.storage.numel, t.storage.type_name
                )));
            }
            storages.insert(key.clone(), e);
        }
        let t = materialise(&name, dtype, &t, &storages[key], &map, big, &mut budget)
            .map_err(|e| fail(format!("tensor '{name}' (storage {prefix}data/{key}): {e}")))?;
        tensors.push(t);
    }
    Ok((tensors, notes))
}

/// A pickle's tensors (views of storages, nothing read) with their flattened names, and one note per
/// non-tensor leaf: the restricted unpickler and the walk over what it built. A bare tensor is named `stem`.
pub fn tensor_refs(pkl: &[u8], stem: &str) -> std::result::Result<Leaves, String> {
    let root = pickle::unpickle(pkl)?;
    let mut leaves = Vec::new();
    let mut notes = Vec::new();
    let root_name = if matches!(root, Value::Tensor(_)) {
        stem
    } else {
        ""
    };
    let mut walk = Walk::default();
    let walked = walk.flatten(&root, root_name, &mut leaves, &mut notes);
    pickle::dismantle(root);
    if walk.unnoted > 0 {
        notes.push(format!(
            "… and {} more entries that are not tensors (skipped)",
            walk.unnoted
        ));
    }
    walked.map(|()| (leaves, notes))
}

/// What [`tensor_refs`] returns: the named tensor views, and the notes.
pub type Leaves = (Vec<(String, Rc<TensorRef>)>, Vec<String>);

/// The archive's top folder (`archive/` for torch ≥ 1.6 saving to a path), from its one `data.pkl`.
fn find_prefix<R: Read + std::io::Seek>(
    zip: &ZipArchive<R>,
) -> std::result::Result<String, String> {
    let mut found: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .filter(|n| {
            n.as_ref() == "data.pkl" || (n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        })
        .map(|n| n[..n.len() - "data.pkl".len()].to_string())
        .collect();
    found.sort();
    match found.as_slice() {
        [] => Err("a zip archive without a data.pkl entry: not a torch.save file".into()),
        [p] => {
            if zip
                .file_names()
                .any(|n| n.ok().as_deref() == Some(&format!("{p}constants.pkl")))
            {
                return Err("a TorchScript archive (torch.jit.save), not a torch.save file".into());
            }
            Ok(p.clone())
        }
        _ => Err(format!(
            "{} data.pkl entries; a torch.save file has one",
            found.len()
        )),
    }
}

/// The bytes of one zip entry: a range of the map (STORED) or a decompressed copy.
enum Entry {
    Mapped { start: usize, len: usize },
    Owned(Vec<u8>),
}

impl Entry {
    fn bytes<'a>(&'a self, map: &'a [u8]) -> &'a [u8] {
        match self {
            Entry::Mapped { start, len } => &map[*start..*start + *len],
            Entry::Owned(v) => v,
        }
    }
    fn len(&self) -> usize {
        match self {
            Entry::Mapped { len, .. } => *len,
            Entry::Owned(v) => v.len(),
        }
    }
}

enum EntryError {
    Missing,
    Other(String),
}

impl EntryError {
    fn describe(&self, name: &str) -> String {
        match self {
            EntryError::Missing => format!("the zip has no entry {name}"),
            EntryError::Other(m) => format!("entry {name}: {m}"),
        }
    }
}

fn entry(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    map: &[u8],
    name: &str,
    budget: &mut Budget,
) -> std::result::Result<Entry, EntryError> {
    let mut f = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Err(EntryError::Missing),
        Err(e) => return Err(EntryError::Other(e.to_string())),
    };
    let size = f.size();
    if f.compression() == CompressionMethod::Stored && !f.encrypted() {
        let start = f
            .data_start()
            .ok_or_else(|| EntryError::Other("no data offset".into()))?;
        let end = start.checked_add(size).filter(|&e| e <= map.len() as u64).ok_or_else(|| {
            EntryError::Other(format!(
                "{size} bytes from offset {start} run past the end of the file ({} bytes): truncated?",
                map.len()
            ))
        })?;
        if f.compressed_size() != size {
            return Err(EntryError::Other(
                "STORED entry with two different sizes".into(),
            ));
        }
        return Ok(Entry::Mapped {
            start: start as usize,
            len: (end - start) as usize,
        });
    }
    // A zip bomb: the declared size is what we would hold; refuse it before inflating anything.
    budget
        .claim(Some(size), || {
            format!(
                "inflating this {:?} entry ({} bytes compressed)",
                f.compression(),
                f.compressed_size()
            )
        })
        .map_err(EntryError::Other)?;
    let mut v = Vec::with_capacity(size.min(1 << 26) as usize);
    (&mut f)
        .take(size)
        .read_to_end(&mut v)
        .map_err(|e| EntryError::Other(format!("cannot decompress: {e}")))?;
    if v.len() as u64 != size {
        return Err(EntryError::Other(format!(
            "{} of {size} bytes could be read",
            v.len()
        )));
    }
    Ok(Entry::Owned(v))
}

/// Makes one tensor dense and row-major: zero-copy when it can, else gathered (and byte-swapped).
fn materialise(
    name: &str,
    dtype: crate::formats::DType,
    t: &TensorRef,
    storage: &Entry,
    map: &Arc<memmap2::Mmap>,
    big_endian: bool,
    budget: &mut Budget,
) -> std::result::Result<Tensor, String> {
    let es = dtype.size();
    let bytes = storage.bytes(map);
    let numel = strided::check_view(bytes.len() / es, t.offset, &t.size, &t.stride)?;
    let contiguous = strided::is_contiguous(&t.size, &t.stride);
    if let (Entry::Mapped { start, .. }, true, false) = (storage, contiguous, big_endian) {
        let from = if numel == 0 {
            *start
        } else {
            start + t.offset * es
        };
        return Tensor::mapped(
            name.to_string(),
            dtype,
            t.size.clone(),
            map.clone(),
            from,
            numel * es,
        )
        .map_err(|e| e.to_string());
    }
    // A stride-0 (broadcast) view is tiny on disk and can be any size once dense.
    budget.claim((numel as u64).checked_mul(es as u64), || {
        format!(
            "the view size {:?} stride {:?} made dense",
            t.size, t.stride
        )
    })?;
    let mut out = strided::gather(bytes, es, t.offset, &t.size, &t.stride);
    if big_endian {
        strided::swap_bytes(&mut out, es);
    }
    Tensor::new(name.to_string(), dtype, t.size.clone(), out).map_err(|e| e.to_string())
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn key_text(k: &Value) -> String {
    match k {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        other => other.repr(60),
    }
}

/// Notes about skipped non-tensor entries kept per file; the rest are counted in one last note.
const MAX_NOTES: usize = 64;

/// Walks the unpickled object, counting what it visits: containers shared through the memo are visited once
/// per reference, so a few hundred bytes of pickle can describe 2⁶⁰ entries; the walk stops at
/// [`MAX_PICKLE_ENTRIES`]. Whether a container holds a tensor is decided once per container (a fuzzed pickle
/// of 2 KB made the walk ask it again at every level: 2.2 million visits, and 354,884 notes).
#[derive(Default)]
pub(crate) struct Walk {
    pub(crate) visited: usize,
    /// `contains_tensor` of each container seen, by its address (shared containers are asked once).
    holds_tensor: std::collections::HashMap<usize, bool>,
    /// Non-tensor entries skipped beyond the first [`MAX_NOTES`].
    pub(crate) unnoted: usize,
}

/// The items of a tuple or list, borrowed (no copy of the container), to `f` in order.
fn each_item(
    v: &Value,
    mut f: impl FnMut(usize, &Value) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    match v {
        Value::Tuple(t) => t.iter().enumerate().try_for_each(|(i, x)| f(i, x)),
        Value::List(l) => l.borrow().iter().enumerate().try_for_each(|(i, x)| f(i, x)),
        _ => Ok(()),
    }
}

/// The address that identifies a shared container (None for everything else).
fn container_id(v: &Value) -> Option<usize> {
    match v {
        Value::Dict(d) => Some(Rc::as_ptr(d) as *const u8 as usize),
        Value::List(l) => Some(Rc::as_ptr(l) as *const u8 as usize),
        Value::Tuple(t) => Some(Rc::as_ptr(t) as *const u8 as usize),
        _ => None,
    }
}

impl Walk {
    fn visit(&mut self) -> std::result::Result<(), String> {
        self.visited += 1;
        if self.visited > MAX_PICKLE_ENTRIES {
            return Err(format!(
                "the object has more than {MAX_PICKLE_ENTRIES} entries once its shared containers are \
                 expanded; refused before walking further"
            ));
        }
        Ok(())
    }

    fn contains_tensor(&mut self, v: &Value, depth: usize) -> std::result::Result<bool, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "containers nested more than {MAX_DEPTH} deep (or referring to themselves)"
            ));
        }
        let id = container_id(v);
        if let Some(&known) = id.and_then(|i| self.holds_tensor.get(&i)) {
            return Ok(known);
        }
        self.visit()?;
        let found = match v {
            Value::Tensor(_) => true,
            Value::Dict(d) => {
                let mut found = false;
                for (_, x) in d.borrow().iter() {
                    if self.contains_tensor(x, depth + 1)? {
                        found = true;
                        break;
                    }
                }
                found
            }
            Value::Tuple(_) | Value::List(_) => {
                let mut found = false;
                each_item(v, |_, x| {
                    if !found && self.contains_tensor(x, depth + 1)? {
                        found = true;
                    }
                    Ok(())
                })?;
                found
            }
            _ => false,
        };
        if let Some(i) = id {
            self.holds_tensor.insert(i, found);
        }
        Ok(found)
    }

    /// Tensors out with their flattened names (`root` for the object itself, then the keys and indices down
    /// to the tensor, joined by dots), one note per non-tensor leaf (the first [`MAX_NOTES`]; the rest counted
    /// in [`Walk::unnoted`]).
    pub(crate) fn flatten(
        &mut self,
        v: &Value,
        root: &str,
        out: &mut Vec<(String, Rc<TensorRef>)>,
        notes: &mut Vec<String>,
    ) -> std::result::Result<(), String> {
        self.flatten_at(v, root, &mut Vec::new(), out, notes)
    }

    /// [`Walk::flatten`] of `v` at `path` below `root`. A name is made only for what is kept (a tensor, a
    /// note): a path that a shared container repeats costs a visit, not a string.
    fn flatten_at(
        &mut self,
        v: &Value,
        root: &str,
        path: &mut Vec<Segment>,
        out: &mut Vec<(String, Rc<TensorRef>)>,
        notes: &mut Vec<String>,
    ) -> std::result::Result<(), String> {
        self.visit()?;
        let depth = path.len();
        match v {
            Value::Tensor(t) => out.push((name_of(root, path), t.clone())),
            Value::Dict(d) if self.contains_tensor(v, depth)? => {
                for (k, x) in d.borrow().iter() {
                    path.push(Segment::Key(k.clone()));
                    let r = self.flatten_at(x, root, path, out, notes);
                    path.pop();
                    r?;
                }
            }
            Value::Tuple(_) | Value::List(_) if self.contains_tensor(v, depth)? => {
                each_item(v, |i, x| {
                    path.push(Segment::Index(i));
                    let r = self.flatten_at(x, root, path, out, notes);
                    path.pop();
                    r
                })?;
            }
            _ if notes.len() >= MAX_NOTES => self.unnoted += 1,
            other => {
                let name = name_of(root, path);
                let shown = if name.is_empty() {
                    "(the whole file)"
                } else {
                    &name
                };
                let repr = other.repr(80);
                let what = if repr == other.kind() {
                    repr
                } else {
                    format!("{} {repr}", other.kind())
                };
                notes.push(format!("{shown}: {what} (not a tensor; skipped)"));
            }
        }
        Ok(())
    }
}

/// One step of a path into the unpickled object: a dict key or a sequence index.
pub(crate) enum Segment {
    Key(Value),
    Index(usize),
}

/// The dotted name of `path` below `root`.
fn name_of(root: &str, path: &[Segment]) -> String {
    path.iter().fold(root.to_string(), |name, seg| {
        let key = match seg {
            Segment::Key(k) => key_text(k),
            Segment::Index(i) => i.to_string(),
        };
        join(&name, &key)
    })
}

#[cfg(test)]
#[path = "pt_tests.rs"]
mod tests;
