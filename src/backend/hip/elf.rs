//! Just enough of ELF to check an AMDGPU code object: the machine, the target in the header flags, the code
//! object version and the symbol names.

/// `EM_AMDGPU`.
pub const EM_AMDGPU: u16 = 224;
/// `ELFOSABI_AMDGPU_HSA`.
pub const ELFOSABI_AMDGPU_HSA: u8 = 64;

/// The `EF_AMDGPU_MACH_*` value of a target.
pub fn mach(target: &str) -> Option<u32> {
    match target {
        "gfx90a" => Some(0x03f),
        "gfx940" => Some(0x040),
        "gfx941" => Some(0x04b),
        "gfx942" => Some(0x04c),
        "gfx950" => Some(0x04f),
        _ => None,
    }
}

/// What the header and symbol table say.
#[derive(Debug)]
pub struct CodeObjectInfo {
    pub machine: u16,
    pub os_abi: u8,
    /// `EI_ABIVERSION`: 3 for code object v5.
    pub abi_version: u8,
    /// `e_flags & EF_AMDGPU_MACH` (0xff).
    pub mach: u32,
    pub symbols: Vec<String>,
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<usize> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?) as usize)
}

/// Parses a little-endian ELF64 file (None when it is not one or is truncated).
pub fn parse(b: &[u8]) -> Option<CodeObjectInfo> {
    if b.get(0..4)? != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return None;
    }
    let (shoff, shentsize, shnum) = (
        u64_at(b, 40)?,
        u16_at(b, 58)? as usize,
        u16_at(b, 60)? as usize,
    );
    let sh = |i: usize| shoff + i * shentsize;
    let mut symbols = Vec::new();
    for i in 0..shnum {
        let ty = u32_at(b, sh(i) + 4)?;
        if ty != 2 && ty != 11 {
            continue; // SHT_SYMTAB, SHT_DYNSYM
        }
        let (off, size, link, entsize) = (
            u64_at(b, sh(i) + 24)?,
            u64_at(b, sh(i) + 32)?,
            u32_at(b, sh(i) + 40)? as usize,
            u64_at(b, sh(i) + 56)?.max(24),
        );
        let stroff = u64_at(b, sh(link) + 24)?;
        for s in (off..off + size).step_by(entsize) {
            let name = u32_at(b, s)? as usize;
            let rest = b.get(stroff + name..)?;
            let end = rest.iter().position(|&c| c == 0)?;
            if end > 0 {
                symbols.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            }
        }
    }
    symbols.sort();
    symbols.dedup();
    Some(CodeObjectInfo {
        machine: u16_at(b, 18)?,
        os_abi: b[7],
        abi_version: b[8],
        mach: u32_at(b, 48)? & 0xff,
        symbols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::hip::registry::{BUILT_WITH, CODE_OBJECTS, LAUNCHED};

    /// Every embedded code object is an AMDGPU v5 ELF for its target holding every kernel the Rust side
    /// launches (the function and its `.kd` descriptor). Without a HIP compiler at build time there are none:
    /// the test says so, and fails under ISOLATE_REQUIRE_HIP=1.
    #[test]
    fn embedded_code_objects_are_amdgpu_elfs_with_every_kernel() {
        if CODE_OBJECTS.is_empty() {
            assert!(
                std::env::var("ISOLATE_REQUIRE_HIP").map_or(true, |v| v != "1"),
                "ISOLATE_REQUIRE_HIP=1 but no code object is embedded ({BUILT_WITH})"
            );
            return;
        }
        for (module, kernels) in LAUNCHED {
            for target in ["gfx942", "gfx950"] {
                let co = CODE_OBJECTS
                    .iter()
                    .find(|c| c.module == *module && c.target == target)
                    .unwrap_or_else(|| panic!("no {module} code object for {target}"));
                let info =
                    parse(co.bytes).unwrap_or_else(|| panic!("{module}/{target}: not an ELF64"));
                assert_eq!(info.machine, EM_AMDGPU, "{module}/{target}");
                assert_eq!(info.os_abi, ELFOSABI_AMDGPU_HSA, "{module}/{target}");
                assert_eq!(info.abi_version, 3, "{module}/{target}: code object v5");
                assert_eq!(
                    Some(info.mach),
                    mach(target),
                    "{module}/{target}: e_flags arch"
                );
                for k in *kernels {
                    assert!(
                        info.symbols.iter().any(|s| s == k),
                        "{module}/{target}: no symbol {k}"
                    );
                    let kd = format!("{k}.kd");
                    assert!(
                        info.symbols.contains(&kd),
                        "{module}/{target}: no kernel descriptor {kd}"
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_non_elf() {
        assert!(parse(b"not an elf").is_none());
        assert!(parse(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 64]).is_none());
    }
}
