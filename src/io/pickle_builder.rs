//! Test support: hand-assembles pickle byte strings the way CPython's protocol-2 pickler lays out what
//! `torch.save` pickles (GLOBAL, BINUNICODE, MARK … TUPLE, BINPERSID, REDUCE), and torch-style zip files.

use std::io::Write;

/// A pickle under construction.
#[derive(Default)]
pub struct P(pub Vec<u8>);

impl P {
    pub fn new() -> P {
        P(vec![0x80, 2])
    }
    pub fn op(mut self, b: &[u8]) -> P {
        self.0.extend_from_slice(b);
        self
    }
    pub fn global(self, module: &str, name: &str) -> P {
        self.op(b"c")
            .op(module.as_bytes())
            .op(b"\n")
            .op(name.as_bytes())
            .op(b"\n")
    }
    pub fn s(self, t: &str) -> P {
        let n = (t.len() as u32).to_le_bytes();
        self.op(b"X").op(&n).op(t.as_bytes())
    }
    pub fn int(self, v: i64) -> P {
        if (0..256).contains(&v) {
            self.op(&[b'K', v as u8])
        } else if (0..65536).contains(&v) {
            self.op(b"M").op(&(v as u16).to_le_bytes())
        } else if i32::try_from(v).is_ok() {
            self.op(b"J").op(&(v as i32).to_le_bytes())
        } else {
            self.op(&[0x8a, 8]).op(&v.to_le_bytes())
        }
    }
    pub fn ints(self, v: &[i64]) -> P {
        let mut p = self.op(b"(");
        for &x in v {
            p = p.int(x);
        }
        p.op(b"t")
    }
    pub fn mark(self) -> P {
        self.op(b"(")
    }
    pub fn stop(self) -> Vec<u8> {
        self.op(b".").0
    }
    /// A persistent id `('storage', torch.<ty>, key, location, numel)` followed by BINPERSID.
    pub fn storage(self, ty: &str, key: &str, numel: i64) -> P {
        self.mark()
            .s("storage")
            .global("torch", ty)
            .s(key)
            .s("cpu")
            .int(numel)
            .op(b"tQ")
    }
    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())` as torch pickles it.
    pub fn tensor_v2(
        self,
        ty: &str,
        key: &str,
        numel: i64,
        offset: i64,
        size: &[i64],
        stride: &[i64],
    ) -> P {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .mark()
            .storage(ty, key, numel)
            .int(offset)
            .ints(size)
            .ints(stride)
            .op(&[0x89])
            .global("collections", "OrderedDict")
            .op(b")R")
            .op(b"tR")
    }
    /// `_rebuild_tensor_v3(UntypedStorage, offset, size, stride, False, OrderedDict(), torch.<dtype>)`.
    pub fn tensor_v3(
        self,
        dtype: &str,
        key: &str,
        nbytes: i64,
        offset: i64,
        size: &[i64],
        stride: &[i64],
    ) -> P {
        self.global("torch._utils", "_rebuild_tensor_v3")
            .mark()
            .storage("UntypedStorage", key, nbytes)
            .int(offset)
            .ints(size)
            .ints(stride)
            .op(&[0x89])
            .global("collections", "OrderedDict")
            .op(b")R")
            .global("torch", dtype)
            .op(b"tR")
    }
}

/// Writes a torch.save-style zip (`archive/…`, STORED unless `deflate`) to `path`.
pub fn write_pt(
    path: &std::path::Path,
    pkl: &[u8],
    storages: &[(&str, Vec<u8>)],
    byteorder: Option<&str>,
    deflate: bool,
) {
    use zip::write::SimpleFileOptions;
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = SimpleFileOptions::default().compression_method(method);
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    z.start_file("archive/data.pkl", opts).unwrap();
    z.write_all(pkl).unwrap();
    if let Some(b) = byteorder {
        z.start_file("archive/byteorder", opts).unwrap();
        z.write_all(b.as_bytes()).unwrap();
    }
    for (k, bytes) in storages {
        z.start_file(format!("archive/data/{k}"), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.start_file("archive/version", opts).unwrap();
    z.write_all(b"3\n").unwrap();
    z.finish().unwrap();
}

/// Little-endian bytes of f32 values.
pub fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
