//! A restricted pickle reader: a stack machine over the opcodes `torch.save` (protocol 2) and Python's
//! `pickle` (protocols 2–5) emit for dicts, lists, tuples, numbers, strings and tensors.
//!
//! Nothing is ever executed. `GLOBAL`/`STACK_GLOBAL` resolve a name only through the allowlist of
//! [`crate::io::torch_pickle::resolve_global`]; `REDUCE`/`NEWOBJ` only "call" those allowlisted names, each
//! of which this crate implements itself as plain data construction (a tensor *view description*, an
//! ordered dict, a tuple). Opcode semantics follow CPython's `Lib/pickle.py` (`_Unpickler.load_*`) and
//! `Lib/pickletools.py` (the opcode table); no code was taken from either.
//!
//! Errors are plain strings ("what, at which byte"); the `.pt` reader adds the file and entry names.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

pub use crate::io::pickle_value::{dismantle, Value};
use crate::io::pickle_value::{dismantle_unshared, Container};
use crate::io::torch_pickle;

/// Runs the restricted unpickler over `data` and returns the object the pickle describes.
pub fn unpickle(data: &[u8]) -> Result<Value, String> {
    Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        containers: Vec::new(),
        result: None,
    }
    .run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    /// Every mutable container (list, dict, set) made, weakly: a pickle can make one hold itself (Python
    /// allows `d['x'] = d`), a cycle of `Rc`s that would never be freed; see `Drop`.
    containers: Vec<Container>,
    /// The value returned (a clone), so that `Drop` knows which containers it still uses.
    result: Option<Value>,
}

/// Python's pickle opcodes that this reader understands (names as in `pickletools`).
mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const INT: u8 = b'I';
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const NONE: u8 = b'N';
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const BINFLOAT: u8 = b'G';
    pub const BINUNICODE: u8 = b'X';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const BINBYTES8: u8 = 0x8e;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const EMPTY_TUPLE: u8 = b')';
    pub const TUPLE: u8 = b't';
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const EMPTY_LIST: u8 = b']';
    pub const LIST: u8 = b'l';
    pub const APPEND: u8 = b'a';
    pub const APPENDS: u8 = b'e';
    pub const EMPTY_DICT: u8 = b'}';
    pub const DICT: u8 = b'd';
    pub const SETITEM: u8 = b's';
    pub const SETITEMS: u8 = b'u';
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const MEMOIZE: u8 = 0x94;
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const LONG_BINGET: u8 = b'j';
    pub const GLOBAL: u8 = b'c';
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const REDUCE: u8 = b'R';
    pub const NEWOBJ: u8 = 0x81;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const BUILD: u8 = b'b';
    pub const BINPERSID: u8 = b'Q';
    pub const PROTO: u8 = 0x80;
    pub const FRAME: u8 = 0x95;
}

impl Drop for Machine<'_> {
    /// Frees what the returned value does not use, cycles included (a fuzz finding: a dict holding itself
    /// leaked): every container not reachable from the result is emptied, then everything is dropped
    /// without recursion. Cycles reachable from the result are broken by [`dismantle`] on it.
    fn drop(&mut self) {
        let keep = self
            .result
            .take()
            .map(|r| crate::io::pickle_value::reachable(&r))
            .unwrap_or_default();
        let mut all: Vec<Value> = self.stack.drain(..).collect();
        all.extend(self.memo.drain().map(|(_, v)| v));
        for c in self.containers.drain(..) {
            c.empty_unless(&keep, &mut all);
        }
        all.into_iter().for_each(dismantle_unshared);
    }
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "the pickle ends early (byte {} asks for {n} more bytes; it has {})",
                    self.pos,
                    self.data.len()
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn le<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn len_of(&mut self, n: u64) -> Result<usize, String> {
        let rest = (self.data.len() - self.pos) as u64;
        if n > rest {
            return Err(format!(
                "the pickle ends early (byte {} declares {n} bytes; {rest} are left)",
                self.pos
            ));
        }
        Ok(n as usize)
    }
    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("the pickle ends inside a text line (byte {})", self.pos))?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| format!("non-UTF-8 text line at byte {}", self.pos))?;
        self.pos += n + 1;
        Ok(s)
    }
    fn text(&mut self, n: usize) -> Result<Value, String> {
        let at = self.pos;
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| format!("invalid UTF-8 string at byte {at}"))?;
        Ok(Value::str(s))
    }
    fn bytes(&mut self, n: usize) -> Result<Value, String> {
        Ok(Value::Bytes(Rc::new(self.take(n)?.to_vec())))
    }
    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| format!("stack underflow at byte {}", self.pos))
    }
    fn top(&self) -> Result<&Value, String> {
        self.stack
            .last()
            .ok_or_else(|| format!("stack underflow at byte {}", self.pos))
    }
    /// Pops everything above the last MARK (and the mark).
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| format!("no MARK to pop at byte {}", self.pos))?;
        if m > self.stack.len() {
            return Err(format!("MARK above the stack at byte {}", self.pos));
        }
        Ok(self.stack.split_off(m))
    }
    fn memo_get(&self, i: u64) -> Result<Value, String> {
        self.memo.get(&i).cloned().ok_or_else(|| {
            format!(
                "memo entry {i} read before it was written (byte {})",
                self.pos
            )
        })
    }
    fn memo_put(&mut self, i: u64) -> Result<(), String> {
        let v = self.top()?.clone();
        self.memo.insert(i, v);
        Ok(())
    }

    fn run(mut self) -> Result<Value, String> {
        loop {
            if let Some(c) = self.stack.last().and_then(Container::of) {
                if self.containers.last() != Some(&c) {
                    self.containers.push(c);
                }
            }
            let at = self.pos;
            let code = self.u8()?;
            match code {
                op::PROTO => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(format!("pickle protocol {p} is newer than 5"));
                    }
                }
                op::FRAME => {
                    self.le::<8>()?;
                }
                op::STOP => {
                    let v = self.pop()?;
                    self.result = Some(v.clone());
                    return Ok(v);
                }
                op::MARK => self.marks.push(self.stack.len()),
                op::POP => {
                    self.pop()?;
                }
                op::POP_MARK => {
                    self.pop_mark()?;
                }
                op::DUP => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                op::NONE => self.stack.push(Value::None),
                op::NEWTRUE => self.stack.push(Value::Bool(true)),
                op::NEWFALSE => self.stack.push(Value::Bool(false)),
                op::BININT => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.stack.push(Value::Int(v as i64));
                }
                op::BININT1 => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64));
                }
                op::BININT2 => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.stack.push(Value::Int(v as i64));
                }
                op::INT => {
                    let l = self.line()?;
                    let v = match l {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => Value::Int(
                            l.trim()
                                .parse()
                                .map_err(|_| format!("bad INT literal {l:?} at byte {at}"))?,
                        ),
                    };
                    self.stack.push(v);
                }
                op::LONG1 => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    self.stack.push(Value::Int(long_le(b, at)?));
                }
                op::LONG4 => {
                    let n = i32::from_le_bytes(self.le()?);
                    if n < 0 {
                        return Err(format!("negative LONG4 length at byte {at}"));
                    }
                    let n = self.len_of(n as u64)?;
                    let b = self.take(n)?;
                    self.stack.push(Value::Int(long_le(b, at)?));
                }
                op::BINFLOAT => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.stack.push(Value::Float(v));
                }
                op::SHORT_BINUNICODE => {
                    let n = self.u8()? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                op::BINUNICODE => {
                    let n = u32::from_le_bytes(self.le()?) as u64;
                    let n = self.len_of(n)?;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                op::BINUNICODE8 => {
                    let n = u64::from_le_bytes(self.le()?);
                    let n = self.len_of(n)?;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                op::SHORT_BINBYTES => {
                    let n = self.u8()? as usize;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                op::BINBYTES => {
                    let n = u32::from_le_bytes(self.le()?) as u64;
                    let n = self.len_of(n)?;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                op::BINBYTES8 | op::BYTEARRAY8 => {
                    let n = u64::from_le_bytes(self.le()?);
                    let n = self.len_of(n)?;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                op::EMPTY_TUPLE => self.stack.push(Value::tuple(Vec::new())),
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = (code - op::TUPLE1 + 1) as usize;
                    if self.stack.len() < n {
                        return Err(format!("stack underflow at byte {at}"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::tuple(items));
                }
                op::TUPLE => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::tuple(items));
                }
                op::EMPTY_LIST => self
                    .stack
                    .push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                op::LIST => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                op::EMPTY_DICT => self.stack.push(Value::dict(Vec::new())),
                op::DICT => {
                    let items = self.pop_mark()?;
                    let d = Value::dict(Vec::new());
                    dict_set_pairs(&d, items, at)?;
                    self.stack.push(d);
                }
                op::EMPTY_SET => self
                    .stack
                    .push(Value::Set(Rc::new(RefCell::new(Vec::new())))),
                op::FROZENSET => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Set(Rc::new(RefCell::new(items))));
                }
                op::APPEND => {
                    let v = self.pop()?;
                    append(self.top()?, vec![v], at)?;
                }
                op::APPENDS | op::ADDITEMS => {
                    let items = self.pop_mark()?;
                    append(self.top()?, items, at)?;
                }
                op::SETITEM => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    dict_set_pairs(self.top()?, vec![k, v], at)?;
                }
                op::SETITEMS => {
                    let items = self.pop_mark()?;
                    dict_set_pairs(self.top()?, items, at)?;
                }
                op::BINPUT => {
                    let i = self.u8()? as u64;
                    self.memo_put(i)?;
                }
                op::LONG_BINPUT => {
                    let i = u32::from_le_bytes(self.le()?) as u64;
                    self.memo_put(i)?;
                }
                op::PUT => {
                    let l = self.line()?;
                    let i = l
                        .parse()
                        .map_err(|_| format!("bad PUT index {l:?} at byte {at}"))?;
                    self.memo_put(i)?;
                }
                op::MEMOIZE => {
                    let i = self.memo.len() as u64;
                    self.memo_put(i)?;
                }
                op::BINGET => {
                    let i = self.u8()? as u64;
                    let v = self.memo_get(i)?;
                    self.stack.push(v);
                }
                op::LONG_BINGET => {
                    let i = u32::from_le_bytes(self.le()?) as u64;
                    let v = self.memo_get(i)?;
                    self.stack.push(v);
                }
                op::GET => {
                    let l = self.line()?;
                    let i = l
                        .parse()
                        .map_err(|_| format!("bad GET index {l:?} at byte {at}"))?;
                    let v = self.memo_get(i)?;
                    self.stack.push(v);
                }
                op::GLOBAL => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = torch_pickle::resolve_global(module, name)?;
                    self.stack.push(Value::Global(Rc::new(g)));
                }
                op::STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(format!("STACK_GLOBAL needs two strings (byte {at})"));
                    };
                    let g = torch_pickle::resolve_global(&module, &name)?;
                    self.stack.push(Value::Global(Rc::new(g)));
                }
                op::REDUCE | op::NEWOBJ => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = apply(&callable, args, at)?;
                    self.stack.push(v);
                }
                op::NEWOBJ_EX => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    if !matches!(&kwargs, Value::Dict(d) if d.borrow().is_empty()) {
                        return Err(format!("NEWOBJ_EX with keyword arguments at byte {at}"));
                    }
                    let v = apply(&callable, args, at)?;
                    self.stack.push(v);
                }
                op::BUILD => {
                    let state = self.pop()?;
                    torch_pickle::build(self.top()?, state)
                        .map_err(|e| format!("{e} (byte {at})"))?;
                }
                op::BINPERSID => {
                    let pid = self.pop()?;
                    let v = torch_pickle::persistent_load(&pid)
                        .map_err(|e| format!("{e} (byte {at})"))?;
                    self.stack.push(v);
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} ({:?}) at byte {at}",
                        other as char
                    ))
                }
            }
        }
    }
}

/// A little-endian two's-complement integer of LONG1/LONG4.
fn long_le(b: &[u8], at: usize) -> Result<i64, String> {
    if b.is_empty() {
        return Ok(0);
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    let fill = if neg { 0xff } else { 0 };
    if b.len() > 8 && b[8..].iter().any(|&x| x != fill) {
        return Err(format!("integer wider than 64 bits at byte {at}"));
    }
    let mut w = [fill; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    let v = i64::from_le_bytes(w);
    if (v < 0) != neg {
        return Err(format!("integer wider than 64 bits at byte {at}"));
    }
    Ok(v)
}

fn append(target: &Value, items: Vec<Value>, at: usize) -> Result<(), String> {
    match target {
        Value::List(l) | Value::Set(l) => {
            l.borrow_mut().extend(items);
            Ok(())
        }
        other => Err(format!("APPEND to a {} at byte {at}", other.kind())),
    }
}

/// Python equality for the key types a dict of tensors uses (str, int, bool, None, tuples of those).
fn same_key(a: &Value, b: &Value) -> bool {
    same_key_at(a, b, 0)
}

fn same_key_at(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Bool(y)) | (Value::Bool(y), Value::Int(x)) => *x == *y as i64,
        (Value::None, Value::None) => true,
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| same_key_at(p, q, depth + 1))
        }
        _ => false,
    }
}

fn dict_set_pairs(target: &Value, items: Vec<Value>, at: usize) -> Result<(), String> {
    let Value::Dict(d) = target else {
        return Err(format!("SETITEM on a {} at byte {at}", target.kind()));
    };
    if items.len() % 2 != 0 {
        return Err(format!("SETITEMS with an odd number of items at byte {at}"));
    }
    let mut d = d.borrow_mut();
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let Some(slot) = d.iter_mut().find(|(old, _)| same_key(old, &k)) {
            slot.1 = v;
        } else {
            d.push((k, v));
        }
    }
    Ok(())
}

fn apply(callable: &Value, args: Value, at: usize) -> Result<Value, String> {
    let Value::Global(g) = callable else {
        return Err(format!(
            "REDUCE on a {} (not a global) at byte {at}",
            callable.kind()
        ));
    };
    let Value::Tuple(args) = args else {
        return Err(format!(
            "REDUCE arguments are a {}, not a tuple (byte {at})",
            args.kind()
        ));
    };
    torch_pickle::call(g, &args).map_err(|e| format!("{e} (byte {at})"))
}

#[cfg(test)]
#[path = "pickle_tests.rs"]
mod tests;
