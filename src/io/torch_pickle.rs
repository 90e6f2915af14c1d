//! The torch side of the restricted unpickler: the allowlist of globals a `torch.save` pickle may name, and
//! what "calling" each of them means here (always plain data construction, never execution).
//!
//! Facts from pytorch/pytorch (read, not copied): `torch/_tensor.py::Tensor._reduce_ex_internal` pickles a
//! dense tensor as `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
//! backward_hooks[, metadata])` with `storage` a TypedStorage whose persistent id names a legacy
//! `torch.<X>Storage` class and counts **elements**; dtypes in `torch/storage.py::_new_dtypes()` (float8_*,
//! uint16/32/64, …) instead use `_rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad,
//! backward_hooks, dtype[, metadata])` with an `UntypedStorage` that counts **bytes**; the offset is in
//! elements of the tensor's dtype either way. `torch/serialization.py::_save` writes the persistent id
//! `('storage', storage_type, key, location, numel)` and the bytes to `data/<key>`. Tensors with Python
//! state go through `torch._tensor._rebuild_from_type_v2(func, new_type, args, state)`; `nn.Parameter`
//! through `torch._utils._rebuild_parameter(data, requires_grad, backward_hooks)` (or `…_with_state`, one
//! more argument). `torch.dtype` pickles as the global `torch.<name>`; `torch.device` as a REDUCE of
//! `torch.device` with `(type,)` or `(type, index)`; `OrderedDict` as a REDUCE of `collections.OrderedDict`
//! with `()` followed by SETITEMS (and a BUILD of its attributes, e.g. a state_dict's `_metadata`).

use std::rc::Rc;

use crate::formats::DType;
use crate::io::pickle::Value;

/// An allowlisted global.
#[derive(Clone, Debug, PartialEq)]
pub enum Global {
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    OrderedDict,
    Size,
    Set,
    Device,
    /// `_codecs.encode(text, 'latin1')`: how protocol 2 pickles Python 3 `bytes`.
    CodecsEncode,
    /// A storage class: its torch name and the element type it holds (None: a type we do not read).
    Storage {
        name: &'static str,
        dtype: Option<DType>,
    },
    /// A `torch.<dtype>` value: its torch name and our dtype (None: a type we do not read).
    DType {
        name: &'static str,
        dtype: Option<DType>,
    },
    /// `torch.Tensor` or `torch.nn.parameter.Parameter` as a class value (argument of `_rebuild_from_type_v2`).
    TensorClass(&'static str),
}

impl std::fmt::Display for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Global::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2",
            Global::RebuildTensorV3 => "torch._utils._rebuild_tensor_v3",
            Global::RebuildParameter => "torch._utils._rebuild_parameter",
            Global::RebuildParameterWithState => "torch._utils._rebuild_parameter_with_state",
            Global::RebuildFromTypeV2 => "torch._tensor._rebuild_from_type_v2",
            Global::OrderedDict => "collections.OrderedDict",
            Global::Size => "torch.Size",
            Global::Set => "builtins.set",
            Global::Device => "torch.device",
            Global::CodecsEncode => "_codecs.encode",
            Global::Storage { name, .. } | Global::DType { name, .. } => {
                return write!(f, "torch.{name}")
            }
            Global::TensorClass(name) => name,
        };
        f.write_str(s)
    }
}

/// Storage classes: (name, dtype). The legacy typed ones are what torch 2.x writes for the classic dtypes;
/// the Float8 ones are accepted in case another writer uses them (torch itself writes `UntypedStorage`).
const STORAGES: &[(&str, Option<DType>)] = &[
    ("DoubleStorage", Some(DType::F64)),
    ("FloatStorage", Some(DType::F32)),
    ("HalfStorage", Some(DType::F16)),
    ("BFloat16Storage", Some(DType::BF16)),
    ("LongStorage", Some(DType::I64)),
    ("IntStorage", Some(DType::I32)),
    ("ShortStorage", Some(DType::I16)),
    ("CharStorage", Some(DType::I8)),
    ("ByteStorage", Some(DType::U8)),
    ("BoolStorage", Some(DType::Bool)),
    ("UntypedStorage", Some(DType::U8)),
    ("Float8_e4m3fnStorage", Some(DType::F8E4M3FN)),
    ("Float8_e4m3fnuzStorage", Some(DType::F8E4M3FNUZ)),
    ("Float8_e5m2Storage", Some(DType::F8E5M2)),
    ("Float8_e8m0fnuStorage", Some(DType::F8E8M0)),
    ("UInt16Storage", Some(DType::U16)),
    ("UInt32Storage", Some(DType::U32)),
    ("UInt64Storage", Some(DType::U64)),
    ("Float8_e5m2fnuzStorage", None),
    ("ComplexDoubleStorage", None),
    ("ComplexFloatStorage", None),
    ("QInt8Storage", None),
    ("QUInt8Storage", None),
    ("QInt32Storage", None),
    ("QUInt4x2Storage", None),
    ("QUInt2x4Storage", None),
];

/// `torch.<name>` dtype objects: (name, dtype).
const DTYPES: &[(&str, Option<DType>)] = &[
    ("float64", Some(DType::F64)),
    ("double", Some(DType::F64)),
    ("float32", Some(DType::F32)),
    ("float", Some(DType::F32)),
    ("float16", Some(DType::F16)),
    ("half", Some(DType::F16)),
    ("bfloat16", Some(DType::BF16)),
    ("int64", Some(DType::I64)),
    ("long", Some(DType::I64)),
    ("int32", Some(DType::I32)),
    ("int", Some(DType::I32)),
    ("int16", Some(DType::I16)),
    ("short", Some(DType::I16)),
    ("int8", Some(DType::I8)),
    ("uint8", Some(DType::U8)),
    ("uint16", Some(DType::U16)),
    ("uint32", Some(DType::U32)),
    ("uint64", Some(DType::U64)),
    ("bool", Some(DType::Bool)),
    ("float8_e4m3fn", Some(DType::F8E4M3FN)),
    ("float8_e4m3fnuz", Some(DType::F8E4M3FNUZ)),
    ("float8_e5m2", Some(DType::F8E5M2)),
    ("float8_e8m0fnu", Some(DType::F8E8M0)),
    ("float8_e5m2fnuz", None),
    ("float4_e2m1fn_x2", None),
    ("complex32", None),
    ("chalf", None),
    ("complex64", None),
    ("cfloat", None),
    ("complex128", None),
    ("cdouble", None),
    ("bits8", None),
    ("bits16", None),
    ("bits1x8", None),
    ("bits2x4", None),
    ("bits4x2", None),
    ("qint8", None),
    ("quint8", None),
    ("qint32", None),
    ("quint4x2", None),
    ("quint2x4", None),
];

/// Resolves `module.name` against the allowlist; anything else is an error naming the global.
pub fn resolve_global(module: &str, name: &str) -> Result<Global, String> {
    let g = match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_tensor_v3") => Some(Global::RebuildTensorV3),
        ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
        ("torch._utils", "_rebuild_parameter_with_state") => {
            Some(Global::RebuildParameterWithState)
        }
        ("torch._tensor" | "torch._utils", "_rebuild_from_type_v2") => {
            Some(Global::RebuildFromTypeV2)
        }
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch", "Size") => Some(Global::Size),
        ("builtins" | "__builtin__", "set" | "frozenset") => Some(Global::Set),
        ("torch", "device") => Some(Global::Device),
        ("_codecs", "encode") => Some(Global::CodecsEncode),
        ("torch", "Tensor") | ("torch._tensor", "Tensor") => {
            Some(Global::TensorClass("torch.Tensor"))
        }
        ("torch.nn.parameter", "Parameter") => {
            Some(Global::TensorClass("torch.nn.parameter.Parameter"))
        }
        ("torch" | "torch.storage", _) if name.ends_with("Storage") => STORAGES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(name, dtype)| Global::Storage { name, dtype }),
        ("torch", _) => DTYPES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(name, dtype)| Global::DType { name, dtype }),
        _ => None,
    };
    g.ok_or_else(|| {
        format!(
            "refers to global '{module}.{name}', which is not on the allowlist of torch.save globals \
             (nothing in a .pt file is ever executed, so it cannot be read)"
        )
    })
}

/// A storage named by a persistent id `('storage', type, key, location, numel)`.
#[derive(Debug)]
pub struct StorageRef {
    /// The zip entry is `<prefix>/data/<key>`.
    pub key: String,
    /// Storage class, e.g. `FloatStorage`.
    pub type_name: &'static str,
    /// Element type of the storage (u8 for `UntypedStorage`); None for types we do not read.
    pub dtype: Option<DType>,
    /// Elements (typed storages) or bytes (`UntypedStorage`), as declared.
    pub numel: u64,
    /// Device it was saved from (`cpu`, `cuda:0`); informational.
    pub location: String,
}

impl StorageRef {
    /// Declared size in bytes, if the element type is one we know.
    pub fn declared_bytes(&self) -> Option<u64> {
        self.dtype
            .and_then(|d| self.numel.checked_mul(d.size() as u64))
    }
}

/// A tensor as the pickle describes it: a strided view of a storage (nothing read yet).
#[derive(Debug)]
pub struct TensorRef {
    pub storage: Rc<StorageRef>,
    /// The tensor's element type; None for a type we do not read (`dtype_name` says which).
    pub dtype: Option<DType>,
    pub dtype_name: String,
    /// Offset of element 0, in elements of the tensor's dtype.
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
    /// `metadata` argument when present and not empty (a rendering of it), e.g. conj/neg bits.
    pub metadata: Option<String>,
}

/// What BINPERSID yields for a persistent id: a storage reference.
pub fn persistent_load(pid: &Value) -> Result<Value, String> {
    let bad = || {
        format!(
            "persistent id {} is not ('storage', StorageType, key, location, numel)",
            pid.repr(120)
        )
    };
    let items = pid.as_seq().ok_or_else(bad)?;
    let [tag, ty, key, location, numel] = items.as_slice() else {
        return Err(bad());
    };
    if !matches!(tag, Value::Str(s) if s.as_ref() == "storage") {
        return Err(bad());
    }
    let Value::Global(g) = ty else {
        return Err(bad());
    };
    let Global::Storage { name, dtype } = g.as_ref() else {
        return Err(format!(
            "persistent id names {g}, which is not a storage type"
        ));
    };
    let key = match key {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        _ => return Err(bad()),
    };
    if key.is_empty() || key.contains(['/', '\\']) || key.contains("..") {
        return Err(format!("storage key {key:?} is not a plain name"));
    }
    let location = match location {
        Value::Str(s) => s.to_string(),
        Value::Device(d) => d.to_string(),
        _ => return Err(bad()),
    };
    let Value::Int(numel) = numel else {
        return Err(bad());
    };
    let numel =
        u64::try_from(*numel).map_err(|_| format!("storage {key} has negative size {numel}"))?;
    Ok(Value::Storage(Rc::new(StorageRef {
        key,
        type_name: name,
        dtype: *dtype,
        numel,
        location,
    })))
}

fn index(v: &Value, what: &str) -> Result<usize, String> {
    match v {
        Value::Int(i) if *i >= 0 => {
            usize::try_from(*i).map_err(|_| format!("{what} {i} is too large"))
        }
        Value::Int(i) => Err(format!("{what} is negative ({i})")),
        other => Err(format!("{what} is a {}, not an int", other.kind())),
    }
}

fn indices(v: &Value, what: &str) -> Result<Vec<usize>, String> {
    let items = v
        .as_seq()
        .ok_or_else(|| format!("{what} is a {}, not a tuple of ints", v.kind()))?;
    items.iter().map(|x| index(x, what)).collect()
}

fn metadata(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::None) => None,
        Some(Value::Dict(d)) if d.borrow().is_empty() => None,
        Some(other) => Some(other.repr(200)),
    }
}

/// `_rebuild_tensor_v2` (`dtype` None: the storage's) and `_rebuild_tensor_v3` (`dtype` given).
fn rebuild_tensor(args: &[Value], v3: bool) -> Result<Value, String> {
    let fixed = if v3 { 7 } else { 6 };
    let fname = if v3 {
        "_rebuild_tensor_v3"
    } else {
        "_rebuild_tensor_v2"
    };
    if args.len() != fixed && args.len() != fixed + 1 {
        return Err(format!(
            "{fname} takes {fixed} or {} arguments, got {}",
            fixed + 1,
            args.len()
        ));
    }
    let Value::Storage(storage) = &args[0] else {
        return Err(format!(
            "{fname}: first argument is a {}, not a storage",
            args[0].kind()
        ));
    };
    let offset = index(&args[1], "storage offset")?;
    let size = indices(&args[2], "size")?;
    let stride = indices(&args[3], "stride")?;
    if size.len() != stride.len() {
        return Err(format!(
            "{fname}: size {size:?} and stride {stride:?} have different ranks"
        ));
    }
    let (dtype, dtype_name) = if v3 {
        match &args[6] {
            Value::Global(g) => match g.as_ref() {
                Global::DType { name, dtype } => (*dtype, name.to_string()),
                other => {
                    return Err(format!(
                        "{fname}: dtype argument is {other}, not a torch dtype"
                    ))
                }
            },
            other => return Err(format!("{fname}: dtype argument is a {}", other.kind())),
        }
    } else {
        let name = storage
            .dtype
            .map(|d| d.name().to_string())
            .unwrap_or_else(|| storage.type_name.to_string());
        (storage.dtype, name)
    };
    Ok(Value::Tensor(Rc::new(TensorRef {
        storage: storage.clone(),
        dtype,
        dtype_name,
        offset,
        size,
        stride,
        metadata: metadata(args.get(fixed)),
    })))
}

/// What REDUCE / NEWOBJ of an allowlisted global yields.
pub fn call(g: &Global, args: &[Value]) -> Result<Value, String> {
    match g {
        Global::RebuildTensorV2 => rebuild_tensor(args, false),
        Global::RebuildTensorV3 => rebuild_tensor(args, true),
        Global::RebuildParameter | Global::RebuildParameterWithState => match args.first() {
            Some(t @ Value::Tensor(_)) => Ok(t.clone()),
            _ => Err(format!("{g}: first argument is not a tensor")),
        },
        Global::RebuildFromTypeV2 => {
            let [func, _new_type, inner, _state] = args else {
                return Err(format!("{g} takes 4 arguments, got {}", args.len()));
            };
            let (Value::Global(f), Value::Tuple(inner)) = (func, inner) else {
                return Err(format!("{g}: expected (function, type, args, state)"));
            };
            if **f == Global::RebuildFromTypeV2 {
                return Err(format!("{g} nested in itself"));
            }
            call(f, inner)
        }
        Global::OrderedDict => match args {
            [] => Ok(Value::dict(Vec::new())),
            [items] => {
                let mut pairs = Vec::new();
                for item in items
                    .as_seq()
                    .ok_or("OrderedDict(x): x is not a list of pairs")?
                {
                    match item.as_seq().as_deref() {
                        Some([k, v]) => pairs.push((k.clone(), v.clone())),
                        _ => return Err("OrderedDict(x): x is not a list of pairs".into()),
                    }
                }
                Ok(Value::dict(pairs))
            }
            _ => Err("OrderedDict takes at most one argument".into()),
        },
        Global::Size => match args {
            [] => Ok(Value::tuple(Vec::new())),
            [dims] => Ok(Value::tuple(
                dims.as_seq().ok_or("torch.Size(x): x is not a sequence")?,
            )),
            _ => Err("torch.Size takes one argument".into()),
        },
        Global::Set => match args {
            [] => Ok(Value::Set(Default::default())),
            [items] => Ok(Value::Set(Rc::new(std::cell::RefCell::new(
                items.as_seq().ok_or("set(x): x is not a list")?,
            )))),
            _ => Err("set takes at most one argument".into()),
        },
        Global::Device => match args {
            [Value::Str(t)] => Ok(Value::Device(t.clone())),
            [Value::Str(t), Value::Int(i)] => Ok(Value::Device(Rc::from(format!("{t}:{i}")))),
            [Value::Str(t), Value::None] => Ok(Value::Device(t.clone())),
            _ => Err("torch.device takes (type) or (type, index)".into()),
        },
        Global::CodecsEncode => match args {
            [Value::Str(s), Value::Str(enc)] if matches!(enc.as_ref(), "latin1" | "latin-1") => {
                let bytes = s
                    .chars()
                    .map(|c| {
                        u8::try_from(c as u32).map_err(|_| "_codecs.encode: text is not latin-1")
                    })
                    .collect::<Result<Vec<u8>, _>>()?;
                Ok(Value::Bytes(Rc::new(bytes)))
            }
            _ => Err("_codecs.encode is only read as encode(text, 'latin1')".into()),
        },
        Global::Storage { .. } | Global::DType { .. } | Global::TensorClass(_) => {
            Err(format!("{g} is read as a value here, not called"))
        }
    }
}

/// BUILD (`__setstate__`): attributes of dicts (a state_dict's `_metadata`) and of tensors are ignored;
/// nothing else the allowlist can produce takes a state.
pub fn build(target: &Value, _state: Value) -> Result<(), String> {
    match target {
        Value::Dict(_) | Value::Tensor(_) => Ok(()),
        other => Err(format!("BUILD (set state) on a {}", other.kind())),
    }
}

#[cfg(test)]
#[path = "torch_pickle_tests.rs"]
mod tests;
