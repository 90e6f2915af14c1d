//! Unit tests of the restricted unpickler: CPython-produced pickles of plain data (protocols 2, 4, 5; hex
//! below is `pickle.dumps(obj, protocol=p).hex()` from Python 3.11), and hand-assembled torch pickles.

use super::*;
use crate::io::pickle_builder::P;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn get(d: &Value, key: &str) -> Value {
    let Value::Dict(d) = d else {
        panic!("not a dict: {d:?}")
    };
    d.borrow()
        .iter()
        .find(|(k, _)| matches!(k, Value::Str(s) if s.as_ref() == key))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no key {key}"))
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

// obj = {"a": 1, "b": [1, 2, -3, 300, 70000, -70000, 2**40, -2**63],
//        "c": ("x", None, True, False, 1.5, -0.0), "d": {"e": "héllo", "f": b"\x00\xff"},
//        "g": {}, "h": [], "i": ()}
const PLAIN_P2: &str = "80027d71002858010000006171014b0158010000006271025d7103284b014b024afdffffff4d2c014a701101004a90eefeff8a060000000000018a0800000000000000806558010000006371042858010000007871054e8889473ff800000000000047800000000000000074710658010000006471077d7108285801000000657109580600000068c3a96c6c6f710a580100000066710b635f636f646563730a656e636f64650a710c580300000000c3bf710d58060000006c6174696e31710e86710f5271107558010000006771117d711258010000006871135d7114580100000069711529752e";
const PLAIN_P4: &str = "8004958a000000000000007d94288c0161944b018c0162945d94284b014b024afdffffff4d2c014a701101004a90eefeff8a060000000000018a080000000000000080658c016394288c0178944e8889473ff800000000000047800000000000000074948c0164947d94288c0165948c0668c3a96c6c6f948c016694430200ff94758c0167947d948c0168945d948c01699429752e";
const PLAIN_P5: &str = "8005958a000000000000007d94288c0161944b018c0162945d94284b014b024afdffffff4d2c014a701101004a90eefeff8a060000000000018a080000000000000080658c016394288c0178944e8889473ff800000000000047800000000000000074948c0164947d94288c0165948c0668c3a96c6c6f948c016694430200ff94758c0167947d948c0168945d948c01699429752e";

#[test]
fn plain_data_from_cpython_in_every_protocol() {
    for h in [PLAIN_P2, PLAIN_P4, PLAIN_P5] {
        let v = unpickle(&hex(h)).unwrap();
        assert_eq!(int(&get(&v, "a")), 1);
        let b: Vec<i64> = get(&v, "b").as_seq().unwrap().iter().map(int).collect();
        assert_eq!(b, vec![1, 2, -3, 300, 70000, -70000, 1 << 40, i64::MIN]);
        let Value::Tuple(c) = get(&v, "c") else {
            panic!()
        };
        assert!(matches!(&c[0], Value::Str(s) if s.as_ref() == "x"));
        assert!(matches!(c[1], Value::None));
        assert!(matches!(c[2], Value::Bool(true)));
        assert!(matches!(c[3], Value::Bool(false)));
        assert!(matches!(c[4], Value::Float(f) if f == 1.5));
        assert!(matches!(c[5], Value::Float(f) if f == 0.0 && f.is_sign_negative()));
        let d = get(&v, "d");
        assert!(matches!(get(&d, "e"), Value::Str(s) if s.as_ref() == "héllo"));
        // Protocol 2 pickles bytes as _codecs.encode('\x00ÿ', 'latin1'); 4 and 5 as SHORT_BINBYTES.
        assert!(matches!(get(&d, "f"), Value::Bytes(b) if *b == vec![0u8, 0xff]));
        assert!(matches!(get(&v, "g"), Value::Dict(x) if x.borrow().is_empty()));
        assert!(matches!(get(&v, "h"), Value::List(x) if x.borrow().is_empty()));
        assert!(matches!(get(&v, "i"), Value::Tuple(x) if x.is_empty()));
    }
}

#[test]
fn memoized_objects_are_shared_and_filled_after_memoization() {
    // {"x": shared, "y": shared} with shared = [1]: the list is memoized empty, then APPENDed to.
    let v = unpickle(&hex(
        "80027d71002858010000007871015d71024b016158010000007971036802752e",
    ))
    .unwrap();
    let (Value::List(x), Value::List(y)) = (get(&v, "x"), get(&v, "y")) else {
        panic!()
    };
    assert!(Rc::ptr_eq(&x, &y));
    assert_eq!(x.borrow().len(), 1);
}

#[test]
fn ordered_dicts_protocol_2_and_4() {
    let p2 = "800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012858020000006b3171024b0158020000006b3271035801000000767104752e";
    let p4 = "80049534000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c026b31944b018c026b32948c017694752e";
    for h in [p2, p4] {
        let v = unpickle(&hex(h)).unwrap();
        assert_eq!(int(&get(&v, "k1")), 1);
        assert!(matches!(get(&v, "k2"), Value::Str(s) if s.as_ref() == "v"));
        let Value::Dict(d) = &v else { panic!() };
        let keys: Vec<String> = d.borrow().iter().map(|(k, _)| k.repr(10)).collect();
        assert_eq!(keys, vec!["\"k1\"", "\"k2\""]);
    }
}

#[test]
fn integers_beyond_64_bits_are_refused() {
    // [2**64, 1e300, inf]
    let e = unpickle(&hex(
        "80025d7100288a09000000000000000001477e37e43c8800759c477ff0000000000000652e",
    ))
    .unwrap_err();
    assert!(e.contains("64 bits"), "{e}");
    assert_eq!(long_le(&[0xff], 0).unwrap(), -1);
    assert_eq!(long_le(&[0x80, 0x00], 0).unwrap(), 128);
    assert_eq!(long_le(&[], 0).unwrap(), 0);
    assert_eq!(
        long_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff], 0).unwrap(),
        i64::MIN
    );
    assert!(long_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0x00], 0).is_err());
    assert!(long_le(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], 0).is_ok());
}

#[test]
fn repeated_dict_keys_replace_in_place() {
    let p = P::new()
        .op(b"}(")
        .s("a")
        .int(1)
        .s("b")
        .int(2)
        .s("a")
        .int(3)
        .op(b"u")
        .stop();
    let v = unpickle(&p).unwrap();
    let Value::Dict(d) = &v else { panic!() };
    assert_eq!(d.borrow().len(), 2);
    assert_eq!(int(&get(&v, "a")), 3);
}

#[test]
fn machine_errors() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0x80, 2, b'h', 5, b'.'], "read before it was written"),
        (vec![0x80, 2, b'.'], "underflow"),
        (vec![0x80, 2, b'a', b'.'], "underflow"),
        (vec![0x80, 2, b't', b'.'], "MARK"),
        (
            vec![0x80, 2, b'K', 1, b'K', 2, b'a', b'.'],
            "APPEND to a int",
        ),
        (
            vec![0x80, 2, b'K', 1, b'K', 2, b'K', 3, b's', b'.'],
            "SETITEM on a int",
        ),
        (vec![0x80, 2, b'}', b'(', b'K', 1, b'u', b'.'], "odd"),
        (vec![0x80, 2, b'o', b'.'], "unsupported pickle opcode 0x6f"),
        (
            vec![0x80, 2, 0x82, 1, b'.'],
            "unsupported pickle opcode 0x82",
        ),
        (vec![0x80, 9, b'N', b'.'], "protocol 9"),
        (
            vec![0x80, 2, b'X', 0xff, 0xff, 0xff, 0x7f, b'a'],
            "ends early",
        ),
        (vec![0x80, 2, b'X', 2, 0, 0, 0, 0xc3, 0x28, b'.'], "UTF-8"),
        (vec![0x80, 2, b'N'], "ends early"),
        (vec![0x80, 2, b'c', b'o', b's'], "text line"),
    ];
    for (p, want) in cases {
        let e = unpickle(&p).unwrap_err();
        assert!(e.contains(want), "wanted {want:?} in {e:?}");
    }
}

/// Every prefix of a valid torch pickle, and many single-byte corruptions of it, give an error or a value,
/// never a panic.
#[test]
fn truncations_and_corruptions_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut p = P::new().op(b"}").mark();
    for (i, key) in ["w", "b"].iter().enumerate() {
        p = p
            .s(key)
            .tensor_v2("FloatStorage", &i.to_string(), 6, 0, &[2, 3], &[3, 1]);
    }
    let good = p.op(b"u").stop();
    assert!(unpickle(&good).is_ok());
    for n in 0..good.len() {
        assert!(unpickle(&good[..n]).is_err(), "prefix {n} must not parse");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..20_000 {
        let mut bad = good.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..bad.len());
            bad[i] = rng.random();
        }
        let _ = unpickle(&bad);
    }
}

#[test]
fn repr_is_short_and_python_like() {
    let p = P::new().mark().int(1).op(b"N").s("a").op(b"t").stop();
    assert_eq!(unpickle(&p).unwrap().repr(80), "(1, None, \"a\")");
    let p = P::new().int(7).op(&[0x85]).stop();
    assert_eq!(unpickle(&p).unwrap().repr(80), "(7,)");
    let long = P::new().ints(&(0..100).collect::<Vec<_>>()).stop();
    let r = unpickle(&long).unwrap().repr(30);
    assert!(r.chars().count() <= 32 && r.ends_with('…'), "{r}");
}

/// A million-deep nesting (lists, tuples, dicts) is read and dropped without overflowing the stack.
#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let n = 1_000_000;
    let mut lists = vec![0x80, 2];
    lists.extend(std::iter::repeat_n(b']', n));
    lists.extend(std::iter::repeat_n(b'a', n - 1));
    lists.push(b'.');
    dismantle(unpickle(&lists).unwrap());
    let mut tuples = vec![0x80, 2, b'N'];
    tuples.extend(std::iter::repeat_n(0x85, n));
    tuples.push(b'.');
    dismantle(unpickle(&tuples).unwrap());
    // Two deep tuple keys compared for equality.
    let mut keys = vec![0x80, 2, b'}', b'(', b'N'];
    keys.extend(std::iter::repeat_n(0x85, n));
    keys.extend([b'K', 0, b'N']);
    keys.extend(std::iter::repeat_n(0x85, n));
    keys.extend([b'K', 1, b'u', b'.']);
    dismantle(unpickle(&keys).unwrap());
    // The error path drops the machine's stack.
    let mut err = vec![0x80, 2, b'N'];
    err.extend(std::iter::repeat_n(0x85, n));
    err.extend([b'h', 9]);
    assert!(unpickle(&err).is_err());
    let mut dicts = vec![0x80, 2];
    for _ in 0..n {
        dicts.extend([b'}', b'K', 0]);
    }
    dicts.extend([b'}']);
    dicts.extend(std::iter::repeat_n(b's', n));
    dicts.push(b'.');
    dismantle(unpickle(&dicts).unwrap());
}

/// A dict that holds itself (a fuzz finding: the `Rc` cycle leaked): `dismantle` frees it, and what the
/// pickle made and did not return is freed when the machine is dropped.
#[test]
fn self_referencing_containers_are_freed() {
    // d = {}; d['a'] = d; return d
    let pkl = [&[0x80, 2][..], b"}q\x00X\x01\x00\x00\x00ah\x00s."].concat();
    let root = unpickle(&pkl).unwrap();
    let Value::Dict(d) = &root else {
        panic!("{root:?}")
    };
    let weak = Rc::downgrade(d);
    assert!(Rc::ptr_eq(d, &weak.upgrade().unwrap()));
    dismantle(root);
    assert!(weak.upgrade().is_none(), "the self-referencing dict leaked");
    // l = []; l.append(l); d = {'l': l}; return None (both unreachable from the result)
    let pkl = [
        &[0x80, 2][..],
        b"]q\x00h\x00a}q\x01X\x01\x00\x00\x00lh\x00s0N.",
    ]
    .concat();
    assert!(matches!(unpickle(&pkl).unwrap(), Value::None));
}
