//! The layout of the `#[repr(C)]` parameter structs the kernels take by value, checked against the `.cu` files.
//!
//! [`kernel_params_layout!`] states every field's offset and the struct's size and asserts them at compile time
//! (so a Rust edit that moves a field does not build), and generates a unit test that reads the struct's
//! declaration in its `.cu` file, computes the C layout (natural alignment, x86-64/PTX sizes) and compares
//! field by field (so a kernel edit that the Rust side does not follow fails `cargo test`).

/// The bytes of a by-value kernel parameter struct (cuLaunchKernel's, hipModuleLaunchKernel's and the SIMT
/// executor's convention).
///
/// # Safety
/// `T` must be `#[repr(C)]` plain data without padding bytes (every struct passed here has its layout checked by
/// [`kernel_params_layout!`] and spells out any tail padding as a field).
pub unsafe fn struct_bytes<T>(p: &T) -> &[u8] {
    // SAFETY: the caller's promise: every byte of `T` is initialized.
    unsafe { std::slice::from_raw_parts(p as *const T as *const u8, std::mem::size_of::<T>()) }
}

/// One field of a C struct: name, offset, size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CField {
    pub name: String,
    pub offset: usize,
    pub size: usize,
}

/// The size of a C scalar or pointer type as the kernels spell it, or None for a type this parser does not
/// know (the test then fails and names it).
fn c_size(ty: &str) -> Option<usize> {
    if ty.contains('*') {
        return Some(8);
    }
    let t: Vec<&str> = ty
        .split_whitespace()
        .filter(|w| !matches!(*w, "const" | "unsigned" | "signed" | "volatile"))
        .collect();
    Some(match t.join(" ").as_str() {
        "long long" | "u64" | "i64" | "double" | "size_t" => 8,
        "int" | "float" | "u32" | "i32" | "" => 4,
        "short" | "u16" | "i16" => 2,
        "char" | "u8" | "i8" | "bool" => 1,
        _ => return None,
    })
}

/// `src` without `//` comments.
fn strip_line_comments(src: &str) -> String {
    src.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The C layout of `struct NAME { … };` in `src`: its fields in order and its size, or an error naming what
/// could not be read.
pub fn c_layout(src: &str, name: &str) -> Result<(Vec<CField>, usize), String> {
    let src = strip_line_comments(src);
    let head = format!("struct {name} {{");
    let start = src
        .find(&head)
        .ok_or_else(|| format!("no `{head}` in the kernel source"))?
        + head.len();
    let body = &src[start..start + src[start..].find("};").ok_or("unterminated struct")?];
    let (mut fields, mut offset, mut align) = (Vec::new(), 0usize, 1usize);
    for decl in body.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        // `type a, b, c` or `type* a`: the type is everything before the first name.
        let first = decl.split(',').next().unwrap_or("");
        let split = first
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .ok_or_else(|| format!("cannot read `{decl}`"))?;
        let ty = first[..=split].trim();
        let size = c_size(ty).ok_or_else(|| format!("unknown C type `{ty}` in `{decl}`"))?;
        let names = std::iter::once(first[split + 1..].trim())
            .chain(decl.split(',').skip(1).map(str::trim));
        for n in names {
            offset = offset.div_ceil(size) * size;
            fields.push(CField {
                name: n.trim_start_matches('*').to_string(),
                offset,
                size,
            });
            offset += size;
            align = align.max(size);
        }
    }
    Ok((fields, offset.div_ceil(align) * align))
}

/// Asserts the layout of a kernel parameter struct at compile time, and generates a test that the `.cu`
/// declaration has the same fields at the same offsets:
/// `kernel_params_layout!(QuantParams, "../../../kernels/quant.cu", 120, { x: 0, q: 8, … });`
#[macro_export]
macro_rules! kernel_params_layout {
    ($ty:ident, $cu:literal, $size:literal, { $($field:ident : $off:literal),+ $(,)? }) => {
        const _: () = {
            assert!(std::mem::size_of::<$ty>() == $size);
            $(assert!(std::mem::offset_of!($ty, $field) == $off);)+
        };

        #[cfg(test)]
        mod kernel_params_layout_test {
            #[test]
            fn rust_struct_matches_the_cu_declaration() {
                let (c, size) = $crate::backend::cuda::param_layout::c_layout(
                    include_str!($cu),
                    stringify!($ty),
                )
                .unwrap();
                let rust: Vec<(&str, usize)> = vec![$((stringify!($field), $off)),+];
                let cu: Vec<(&str, usize)> = c.iter().map(|f| (f.name.as_str(), f.offset)).collect();
                assert_eq!(rust, cu, "{} in {}", stringify!($ty), $cu);
                assert_eq!(size, $size, "size of {} in {}", stringify!($ty), $cu);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_c_layouts() {
        let src = "struct P {\n  const float* a; // x\n  int m, n;\n  long long r;\n  float f;\n};";
        let (f, size) = c_layout(src, "P").unwrap();
        let got: Vec<(&str, usize)> = f.iter().map(|f| (f.name.as_str(), f.offset)).collect();
        assert_eq!(got, [("a", 0), ("m", 8), ("n", 12), ("r", 16), ("f", 24)]);
        assert_eq!(size, 32);
        assert!(c_layout("struct Q { weird_t x; };", "Q")
            .unwrap_err()
            .contains("weird_t"));
        assert!(c_layout(src, "Missing").is_err());
    }
}
