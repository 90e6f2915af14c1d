//! Unit tests of the torch side of the unpickler (allowlist, rebuild functions, persistent ids) on
//! hand-assembled pickles laid out as torch's protocol-2 pickler lays them out.

use crate::formats::DType;
use crate::io::pickle::{unpickle, Value};
use crate::io::pickle_builder::P;

#[test]
fn a_torch_v2_tensor_is_a_view_description() {
    let p = P::new()
        .tensor_v2("FloatStorage", "0", 12, 2, &[2, 3], &[1, 4])
        .stop();
    let Value::Tensor(t) = unpickle(&p).unwrap() else {
        panic!()
    };
    assert_eq!(t.storage.key, "0");
    assert_eq!(t.storage.numel, 12);
    assert_eq!(t.storage.location, "cpu");
    assert_eq!(t.storage.declared_bytes(), Some(48));
    assert_eq!(t.dtype, Some(DType::F32));
    assert_eq!(
        (t.offset, t.size.clone(), t.stride.clone()),
        (2, vec![2, 3], vec![1, 4])
    );
    assert!(t.metadata.is_none());
}

#[test]
fn every_legacy_storage_type_maps_to_its_dtype() {
    for (ty, d) in [
        ("DoubleStorage", DType::F64),
        ("FloatStorage", DType::F32),
        ("HalfStorage", DType::F16),
        ("BFloat16Storage", DType::BF16),
        ("LongStorage", DType::I64),
        ("IntStorage", DType::I32),
        ("ShortStorage", DType::I16),
        ("CharStorage", DType::I8),
        ("ByteStorage", DType::U8),
        ("BoolStorage", DType::Bool),
        ("Float8_e4m3fnStorage", DType::F8E4M3FN),
        ("Float8_e4m3fnuzStorage", DType::F8E4M3FNUZ),
        ("Float8_e5m2Storage", DType::F8E5M2),
        ("Float8_e8m0fnuStorage", DType::F8E8M0),
    ] {
        let p = P::new().tensor_v2(ty, "0", 4, 0, &[4], &[1]).stop();
        let Value::Tensor(t) = unpickle(&p).unwrap() else {
            panic!()
        };
        assert_eq!(t.dtype, Some(d), "{ty}");
        assert_eq!(t.storage.declared_bytes(), Some(4 * d.size() as u64));
    }
    let p = P::new()
        .tensor_v2("ComplexFloatStorage", "0", 4, 0, &[4], &[1])
        .stop();
    let Value::Tensor(t) = unpickle(&p).unwrap() else {
        panic!()
    };
    assert_eq!(
        (t.dtype, t.dtype_name.as_str()),
        (None, "ComplexFloatStorage")
    );
}

#[test]
fn a_torch_v3_tensor_takes_its_dtype_from_the_argument() {
    for (name, d) in [
        ("float8_e4m3fn", DType::F8E4M3FN),
        ("float8_e4m3fnuz", DType::F8E4M3FNUZ),
        ("float8_e5m2", DType::F8E5M2),
        ("float8_e8m0fnu", DType::F8E8M0),
        ("uint16", DType::U16),
        ("uint32", DType::U32),
        ("uint64", DType::U64),
    ] {
        let p = P::new().tensor_v3(name, "3", 64, 1, &[3], &[2]).stop();
        let Value::Tensor(t) = unpickle(&p).unwrap() else {
            panic!()
        };
        assert_eq!(t.dtype, Some(d));
        assert_eq!(
            t.storage.dtype,
            Some(DType::U8),
            "UntypedStorage counts bytes"
        );
        assert_eq!(t.storage.declared_bytes(), Some(64));
        assert_eq!(
            (t.offset, t.size.clone(), t.stride.clone()),
            (1, vec![3], vec![2])
        );
    }
    let p = P::new()
        .tensor_v3("complex32", "3", 64, 0, &[3], &[1])
        .stop();
    let Value::Tensor(t) = unpickle(&p).unwrap() else {
        panic!()
    };
    assert_eq!((t.dtype, t.dtype_name.as_str()), (None, "complex32"));
}

#[test]
fn parameters_subclass_wrappers_and_metadata() {
    // nn.Parameter: _rebuild_parameter(tensor, True, OrderedDict())
    let p = P::new()
        .global("torch._utils", "_rebuild_parameter")
        .mark()
        .tensor_v2("HalfStorage", "7", 6, 0, &[2, 3], &[3, 1])
        .op(&[0x88])
        .global("collections", "OrderedDict")
        .op(b")RtR")
        .stop();
    let Value::Tensor(t) = unpickle(&p).unwrap() else {
        panic!()
    };
    assert_eq!((t.storage.key.as_str(), t.dtype), ("7", Some(DType::F16)));
    // _rebuild_from_type_v2(_rebuild_tensor_v2, torch.Tensor, (args…), {})
    let p = P::new()
        .global("torch._tensor", "_rebuild_from_type_v2")
        .mark()
        .global("torch._utils", "_rebuild_tensor_v2")
        .global("torch", "Tensor")
        .mark()
        .storage("FloatStorage", "1", 2)
        .int(0)
        .ints(&[2])
        .ints(&[1])
        .op(&[0x89])
        .global("collections", "OrderedDict")
        .op(b")R")
        // metadata {"neg": True}: kept as a note
        .op(b"}")
        .s("neg")
        .op(&[0x88])
        .op(b"s")
        .op(b"t")
        .op(b"}")
        .op(b"tR")
        .stop();
    let Value::Tensor(t) = unpickle(&p).unwrap() else {
        panic!()
    };
    assert_eq!(t.storage.key, "1");
    assert_eq!(t.metadata.as_deref(), Some("{\"neg\": True}"));
}

#[test]
fn devices_sizes_sets_and_dtypes_are_inert_values() {
    let p = P::new()
        .mark()
        .global("torch", "device")
        .s("cuda")
        .int(3)
        .op(&[0x86])
        .op(b"R")
        .global("torch", "Size")
        .ints(&[4, 5])
        .op(&[0x85])
        .op(b"R")
        .global("builtins", "set")
        .op(b"]")
        .int(1)
        .op(b"a")
        .op(&[0x85])
        .op(b"R")
        .global("torch", "bfloat16")
        .op(b"l")
        .stop();
    let items = unpickle(&p).unwrap().as_seq().unwrap();
    assert!(matches!(&items[0], Value::Device(d) if d.as_ref() == "cuda:3"));
    assert_eq!(items[1].repr(20), "(4, 5)");
    assert!(matches!(&items[2], Value::Set(s) if s.borrow().len() == 1));
    assert_eq!(items[3].repr(40), "torch.bfloat16");
}

#[test]
fn globals_outside_the_allowlist_are_refused_by_name() {
    for p in [
        P::new()
            .global("os", "system")
            .s("echo pwned")
            .op(&[0x85])
            .op(b"R")
            .stop(),
        P::new().s("os").s("system").op(&[0x93]).stop(),
        P::new().global("builtins", "eval").stop(),
        P::new().global("torch", "load").stop(),
        P::new()
            .global("torch._utils", "_rebuild_device_tensor_from_numpy")
            .stop(),
        P::new()
            .global("numpy.core.multiarray", "_reconstruct")
            .stop(),
    ] {
        let e = unpickle(&p).unwrap_err();
        assert!(e.contains("not on the allowlist"), "{e}");
    }
    let e = unpickle(&P::new().global("os", "system").stop()).unwrap_err();
    assert!(e.contains("'os.system'"), "{e}");
}

#[test]
fn malformed_torch_structures_are_errors() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // persistent id with the wrong tag / arity / types
        (
            P::new()
                .mark()
                .s("blob")
                .global("torch", "FloatStorage")
                .s("0")
                .s("cpu")
                .int(1)
                .op(b"tQ")
                .stop(),
            "persistent id",
        ),
        (
            P::new()
                .mark()
                .s("storage")
                .global("torch", "FloatStorage")
                .s("0")
                .op(b"tQ")
                .stop(),
            "persistent id",
        ),
        (
            P::new()
                .mark()
                .s("storage")
                .global("torch", "float32")
                .s("0")
                .s("cpu")
                .int(1)
                .op(b"tQ")
                .stop(),
            "not a storage type",
        ),
        (
            P::new()
                .mark()
                .s("storage")
                .global("torch", "FloatStorage")
                .s("../x")
                .s("cpu")
                .int(1)
                .op(b"tQ")
                .stop(),
            "plain name",
        ),
        (
            P::new()
                .mark()
                .s("storage")
                .global("torch", "FloatStorage")
                .s("0")
                .s("cpu")
                .int(-1)
                .op(b"tQ")
                .stop(),
            "negative",
        ),
        // rebuild with the wrong arity, a negative size, mismatched ranks, a non-storage
        (
            P::new()
                .global("torch._utils", "_rebuild_tensor_v2")
                .mark()
                .storage("FloatStorage", "0", 4)
                .int(0)
                .op(b"tR")
                .stop(),
            "arguments",
        ),
        (
            P::new()
                .tensor_v2("FloatStorage", "0", 4, 0, &[-2], &[1])
                .stop(),
            "negative",
        ),
        (
            P::new()
                .tensor_v2("FloatStorage", "0", 4, -1, &[2], &[1])
                .stop(),
            "negative",
        ),
        (
            P::new()
                .tensor_v2("FloatStorage", "0", 4, 0, &[2, 2], &[1])
                .stop(),
            "ranks",
        ),
        (
            P::new()
                .global("torch._utils", "_rebuild_tensor_v2")
                .mark()
                .int(0)
                .int(0)
                .ints(&[1])
                .ints(&[1])
                .op(&[0x89])
                .op(b"N")
                .op(b"tR")
                .stop(),
            "not a storage",
        ),
        (
            P::new()
                .tensor_v3("FloatStorage", "0", 4, 0, &[1], &[1])
                .stop(),
            "not a torch dtype",
        ),
        // calling what is only a value
        (
            P::new().global("torch", "FloatStorage").op(b")R").stop(),
            "not called",
        ),
        (
            P::new()
                .global("torch._utils", "_rebuild_parameter")
                .mark()
                .int(1)
                .op(b"tR")
                .stop(),
            "not a tensor",
        ),
        // REDUCE on a non-global, with non-tuple args
        (P::new().int(1).op(b")R").stop(), "not a global"),
        (
            P::new()
                .global("collections", "OrderedDict")
                .int(1)
                .op(b"R")
                .stop(),
            "not a tuple",
        ),
        // BUILD on a list
        (P::new().op(b"]").op(b"}").op(b"b").stop(), "BUILD"),
    ];
    for (p, want) in cases {
        let e = unpickle(&p).unwrap_err();
        assert!(e.contains(want), "wanted {want:?} in {e:?}");
    }
}
