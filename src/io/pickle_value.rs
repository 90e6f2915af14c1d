//! The values the restricted unpickler builds: Python's plain data (None, bool, int, float, str, bytes,
//! tuple, list, dict, set) and the torch objects it knows as data (storage references, tensor views, dtypes,
//! devices); a short Python-like rendering for messages; and a non-recursive drop for hostile nesting.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::{Rc, Weak};

use crate::io::torch_pickle::{Global, StorageRef, TensorRef};

/// A value on the pickle stack. Containers are shared (`Rc`), as Python objects are: a memoized dict that
/// is filled after it was memoized is seen filled through every reference.
#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    /// An integer; LONG1/LONG4 values beyond i64 are an error.
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<Vec<u8>>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    /// A dict or OrderedDict: entries in insertion order (a repeated key replaces the value in place).
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Set(Rc<RefCell<Vec<Value>>>),
    /// An allowlisted global (a torch rebuild function, a storage type, a dtype, …), not yet applied.
    Global(Rc<Global>),
    /// A storage reference from a persistent id.
    Storage(Rc<StorageRef>),
    /// A tensor: a view (offset, size, stride) of a storage, not yet read.
    Tensor(Rc<TensorRef>),
    /// A `torch.device`, as text (`cuda:0`).
    Device(Rc<str>),
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }
    pub(crate) fn tuple(v: Vec<Value>) -> Value {
        Value::Tuple(Rc::new(v))
    }
    pub(crate) fn dict(v: Vec<(Value, Value)>) -> Value {
        Value::Dict(Rc::new(RefCell::new(v)))
    }
    /// The elements of a tuple or list (a copy of the `Rc`s).
    pub fn as_seq(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(t) => Some(t.as_ref().clone()),
            Value::List(l) => Some(l.borrow().clone()),
            _ => None,
        }
    }
    /// A short Python-like rendering, cut at `max` characters (used in notes and messages).
    pub fn repr(&self, max: usize) -> String {
        let mut s = String::new();
        repr_into(self, &mut s, max, 0);
        if s.len() > max {
            let mut cut = max;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    }
    /// What kind of Python value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
            Value::Device(_) => "torch.device",
        }
    }
}

fn repr_into(v: &Value, s: &mut String, max: usize, depth: usize) {
    if s.len() > max || depth > 8 {
        s.push('…');
        return;
    }
    let seq = |s: &mut String, items: &[Value], open: &str, close: &str| {
        s.push_str(open);
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if s.len() > max {
                s.push('…');
                break;
            }
            repr_into(x, s, max, depth + 1);
        }
        if open == "(" && items.len() == 1 {
            s.push(',');
        }
        s.push_str(close);
    };
    match v {
        Value::None => s.push_str("None"),
        Value::Bool(b) => s.push_str(if *b { "True" } else { "False" }),
        Value::Int(i) => s.push_str(&i.to_string()),
        Value::Float(f) => s.push_str(&format!("{f:?}")),
        Value::Str(t) => s.push_str(&format!("{:?}", t.as_ref())),
        Value::Bytes(b) => s.push_str(&format!("<{} bytes>", b.len())),
        Value::Tuple(t) => seq(s, t, "(", ")"),
        Value::List(l) => seq(s, &l.borrow(), "[", "]"),
        Value::Set(l) => seq(s, &l.borrow(), "{", "}"),
        Value::Dict(d) => {
            s.push('{');
            for (i, (k, x)) in d.borrow().iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                if s.len() > max {
                    s.push('…');
                    break;
                }
                repr_into(k, s, max, depth + 1);
                s.push_str(": ");
                repr_into(x, s, max, depth + 1);
            }
            s.push('}');
        }
        Value::Global(g) => s.push_str(&g.to_string()),
        Value::Storage(st) => s.push_str(&format!("<storage {}>", st.key)),
        Value::Tensor(t) => s.push_str(&format!("<tensor {:?}>", t.size)),
        Value::Device(d) => s.push_str(&format!("device({:?})", d.as_ref())),
    }
}

/// Drops a value tree without recursion, emptying every list, dict and set in it, shared or not, so that a
/// container that holds itself (Python allows `d['x'] = d`) is freed too. A hostile pickle can nest
/// containers a million deep (two bytes per level), which the compiler's recursive drop would overflow the
/// stack on. Call it on the root once done with it and with everything inside it (tensor and storage
/// references may be kept).
pub fn dismantle(v: Value) {
    let mut work = vec![v];
    while let Some(v) = work.pop() {
        match v {
            Value::Tuple(t) => {
                if let Ok(items) = Rc::try_unwrap(t) {
                    work.extend(items);
                }
            }
            Value::List(l) | Value::Set(l) => work.extend(l.take()),
            Value::Dict(d) => {
                for (k, x) in d.take() {
                    work.push(k);
                    work.push(x);
                }
            }
            _ => {}
        }
    }
}

/// [`dismantle`] of what nothing else uses: a container another value still holds is left as it is.
pub(crate) fn dismantle_unshared(v: Value) {
    let mut work = vec![v];
    while let Some(v) = work.pop() {
        match v {
            Value::Tuple(t) => {
                if let Ok(items) = Rc::try_unwrap(t) {
                    work.extend(items);
                }
            }
            Value::List(l) | Value::Set(l) if Rc::strong_count(&l) == 1 => work.extend(l.take()),
            Value::Dict(d) if Rc::strong_count(&d) == 1 => {
                for (k, x) in d.take() {
                    work.push(k);
                    work.push(x);
                }
            }
            _ => {}
        }
    }
}

/// A mutable container (list, set or dict), held weakly.
#[derive(Clone, Debug)]
pub(crate) enum Container {
    Seq(Weak<RefCell<Vec<Value>>>),
    Dict(Weak<RefCell<Vec<(Value, Value)>>>),
}

impl PartialEq for Container {
    fn eq(&self, o: &Self) -> bool {
        match (self, o) {
            (Container::Seq(a), Container::Seq(b)) => a.ptr_eq(b),
            (Container::Dict(a), Container::Dict(b)) => a.ptr_eq(b),
            _ => false,
        }
    }
}

impl Container {
    pub(crate) fn of(v: &Value) -> Option<Container> {
        match v {
            Value::List(l) | Value::Set(l) => Some(Container::Seq(Rc::downgrade(l))),
            Value::Dict(d) => Some(Container::Dict(Rc::downgrade(d))),
            _ => None,
        }
    }

    /// Moves the contents into `out` (to be dropped) unless the container is in `keep` or already freed.
    pub(crate) fn empty_unless(&self, keep: &HashSet<usize>, out: &mut Vec<Value>) {
        match self {
            Container::Seq(w) => {
                if let Some(l) = w.upgrade() {
                    if !keep.contains(&(Rc::as_ptr(&l) as *const u8 as usize)) {
                        out.extend(l.take());
                    }
                }
            }
            Container::Dict(w) => {
                if let Some(d) = w.upgrade() {
                    if !keep.contains(&(Rc::as_ptr(&d) as *const u8 as usize)) {
                        for (k, x) in d.take() {
                            out.push(k);
                            out.push(x);
                        }
                    }
                }
            }
        }
    }
}

/// The addresses of every list, set, dict and tuple reachable from `v` (without recursion).
pub(crate) fn reachable(v: &Value) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut work = vec![v.clone()];
    while let Some(v) = work.pop() {
        match &v {
            Value::Tuple(t) if seen.insert(Rc::as_ptr(t) as *const u8 as usize) => {
                work.extend(t.iter().cloned());
            }
            Value::List(l) | Value::Set(l) if seen.insert(Rc::as_ptr(l) as *const u8 as usize) => {
                work.extend(l.borrow().iter().cloned());
            }
            Value::Dict(d) if seen.insert(Rc::as_ptr(d) as *const u8 as usize) => {
                for (k, x) in d.borrow().iter() {
                    work.push(k.clone());
                    work.push(x.clone());
                }
            }
            _ => {}
        }
    }
    seen
}
