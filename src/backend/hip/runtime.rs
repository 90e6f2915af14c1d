//! The HIP runtime (`libamdhip64.so`), loaded with `libloading` at run time: absent library → HIP absent
//! (`Error::NoGpu`, exit 2), a runtime without a GPU → `hipErrorNoDevice` as a one-line error.
//!
//! The code object for the device is picked by trying each embedded target in turn: the runtime rejects a
//! code object for another ISA (`hipErrorNoBinaryForGpu`), so no device-properties struct (whose layout changes
//! between ROCm releases) is read.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use crate::backend::hip::registry::{CodeObject, CODE_OBJECTS};
use crate::error::{Error, Result};

/// `hipErrorNoDevice`.
pub const HIP_ERROR_NO_DEVICE: c_int = 100;
/// `hipMemcpyHostToDevice`, `hipMemcpyDeviceToHost`.
const H2D: c_int = 1;
const D2H: c_int = 2;

/// Library names tried in order after `$ISOLATE_HIP_LIB`.
pub const LIBRARIES: [&str; 4] = [
    "libamdhip64.so",
    "libamdhip64.so.7",
    "libamdhip64.so.6",
    "/opt/rocm/lib/libamdhip64.so",
];

type HipInit = unsafe extern "C" fn(c_uint) -> c_int;
type HipGetDeviceCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type HipSetDevice = unsafe extern "C" fn(c_int) -> c_int;
type HipGetErrorString = unsafe extern "C" fn(c_int) -> *const c_char;
type HipMalloc = unsafe extern "C" fn(*mut *mut c_void, usize) -> c_int;
type HipFree = unsafe extern "C" fn(*mut c_void) -> c_int;
type HipMemcpy = unsafe extern "C" fn(*mut c_void, *const c_void, usize, c_int) -> c_int;
type HipModuleLoadData = unsafe extern "C" fn(*mut *mut c_void, *const c_void) -> c_int;
type HipModuleGetFunction =
    unsafe extern "C" fn(*mut *mut c_void, *mut c_void, *const c_char) -> c_int;
#[allow(clippy::type_complexity)]
type HipModuleLaunchKernel = unsafe extern "C" fn(
    *mut c_void,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    *mut c_void,
    *mut *mut c_void,
    *mut *mut c_void,
) -> c_int;
type HipDeviceSynchronize = unsafe extern "C" fn() -> c_int;

/// The loaded runtime's entry points.
pub struct Hip {
    pub library: String,
    _lib: libloading::Library,
    get_error_string: HipGetErrorString,
    set_device: HipSetDevice,
    malloc: HipMalloc,
    free: HipFree,
    memcpy: HipMemcpy,
    module_load_data: HipModuleLoadData,
    module_get_function: HipModuleGetFunction,
    launch: HipModuleLaunchKernel,
    synchronize: HipDeviceSynchronize,
    /// Devices `hipGetDeviceCount` reported.
    pub devices: i32,
}

// SAFETY: the HIP runtime is thread-safe; the function pointers are plain code addresses.
unsafe impl Send for Hip {}
unsafe impl Sync for Hip {}

/// A device buffer.
pub struct DeviceBuffer<'a> {
    hip: &'a Hip,
    pub ptr: *mut c_void,
    pub len: usize,
}

impl Drop for DeviceBuffer<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by hipMalloc, freed once.
        unsafe { (self.hip.free)(self.ptr) };
    }
}

/// A loaded module and the target whose code object loaded.
#[derive(Clone, Copy)]
pub struct HipModule {
    pub handle: *mut c_void,
    pub target: &'static str,
}

// SAFETY: a module handle is an opaque runtime id, usable from any thread of the process.
unsafe impl Send for HipModule {}
unsafe impl Sync for HipModule {}

/// The `gcnArchName` in a `hipDeviceProp_t` the runtime filled (`gfx942:sramecc+:xnack-`): the first
/// NUL-terminated ASCII string that starts with `gfx` and a digit. Read this way, not at a field offset, because
/// the struct's layout changes between ROCm releases (R0000, R0600); its marketing name never starts with `gfx`.
pub fn arch_from_props(props: &[u8]) -> Option<String> {
    (0..props.len().saturating_sub(4)).find_map(|i| {
        if !props[i..].starts_with(b"gfx")
            || !props[i + 3].is_ascii_digit()
            || (i > 0 && props[i - 1] != 0)
        {
            return None;
        }
        let end = i + props[i..].iter().position(|&c| c == 0)?;
        let s = &props[i..end];
        (s.len() < 256 && s.iter().all(|c| c.is_ascii_graphic()))
            .then(|| String::from_utf8_lossy(s).into_owned())
    })
}

/// Kernel parameters as cuLaunchKernel / hipModuleLaunchKernel take them: one blob per parameter, each in
/// 16-byte-aligned storage (a struct parameter is the `#[repr(C)]` bytes the CUDA launch uses too).
pub fn param_storage(blobs: &[Vec<u8>]) -> Vec<Vec<u128>> {
    blobs
        .iter()
        .map(|b| {
            let mut v = vec![0u128; b.len().div_ceil(16).max(1)];
            // SAFETY: v holds at least b.len() bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(b.as_ptr(), v.as_mut_ptr() as *mut u8, b.len())
            };
            v
        })
        .collect()
}

/// Entry point `name` of the runtime.
fn get<T: Copy>(lib: &libloading::Library, library: &str, name: &str) -> Result<T> {
    let c = CString::new(name).unwrap();
    // SAFETY: the HIP runtime's C entry points, with the signatures of hip_runtime_api.h (the caller's T).
    unsafe { lib.get::<T>(c.as_bytes_with_nul()) }
        .map(|s| *s)
        .map_err(|e| Error::NoGpu(format!("{library}: no {name}: {e}")))
}

impl Hip {
    /// Loads the runtime and counts devices: Err(NoGpu) with no library, with `hipErrorNoDevice`, or with zero
    /// devices.
    pub fn load() -> Result<Hip> {
        let mut names: Vec<String> = std::env::var("ISOLATE_HIP_LIB").ok().into_iter().collect();
        names.extend(LIBRARIES.iter().map(|s| s.to_string()));
        let mut found = None;
        for n in &names {
            // SAFETY: loading the HIP runtime runs its initialisers, which only register its state.
            if let Ok(l) = unsafe { libloading::Library::new(n) } {
                found = Some((n.clone(), l));
                break;
            }
        }
        let Some((library, lib)) = found else {
            return Err(Error::NoGpu(format!(
                "no HIP runtime: none of {} could be loaded (install ROCm, or set ISOLATE_HIP_LIB)",
                names.join(", ")
            )));
        };
        macro_rules! sym {
            ($name:literal) => {
                get(&lib, &library, $name)?
            };
        }
        let init: HipInit = sym!("hipInit");
        let count: HipGetDeviceCount = sym!("hipGetDeviceCount");
        let hip = Hip {
            get_error_string: sym!("hipGetErrorString"),
            set_device: sym!("hipSetDevice"),
            malloc: sym!("hipMalloc"),
            free: sym!("hipFree"),
            memcpy: sym!("hipMemcpy"),
            module_load_data: sym!("hipModuleLoadData"),
            module_get_function: sym!("hipModuleGetFunction"),
            launch: sym!("hipModuleLaunchKernel"),
            synchronize: sym!("hipDeviceSynchronize"),
            devices: 0,
            library: library.clone(),
            _lib: lib,
        };
        // SAFETY: plain runtime calls with valid out-pointers.
        let rc = unsafe { init(0) };
        let mut n = 0;
        let rc = if rc == 0 {
            unsafe { count(&mut n) }
        } else {
            rc
        };
        if rc == HIP_ERROR_NO_DEVICE || (rc == 0 && n == 0) {
            return Err(Error::NoGpu(format!(
                "HIP runtime {library} is there but sees no AMD GPU (hipErrorNoDevice)"
            )));
        }
        hip.check(rc, "hipInit")?;
        Ok(Hip { devices: n, ..hip })
    }

    /// The runtime's name for error `rc`.
    pub fn error_string(&self, rc: c_int) -> String {
        // SAFETY: hipGetErrorString returns a static C string.
        let p = unsafe { (self.get_error_string)(rc) };
        if p.is_null() {
            format!("HIP error {rc}")
        } else {
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    }

    fn check(&self, rc: c_int, what: &str) -> Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::Gpu(format!(
                "{what}: {} ({rc})",
                self.error_string(rc)
            )))
        }
    }

    pub fn set_device(&self, d: i32) -> Result<()> {
        // SAFETY: a plain runtime call.
        self.check(unsafe { (self.set_device)(d) }, "hipSetDevice")
    }

    /// A device buffer holding `bytes` (at least one byte).
    pub fn upload(&self, bytes: &[u8]) -> Result<DeviceBuffer<'_>> {
        let mut p = std::ptr::null_mut();
        let len = bytes.len().max(1);
        // SAFETY: out-pointer valid; the copy reads bytes.len() host bytes into a len-byte allocation.
        self.check(unsafe { (self.malloc)(&mut p, len) }, "hipMalloc")?;
        let b = DeviceBuffer {
            hip: self,
            ptr: p,
            len,
        };
        self.check(
            unsafe { (self.memcpy)(p, bytes.as_ptr() as *const c_void, bytes.len(), H2D) },
            "hipMemcpy",
        )?;
        Ok(b)
    }

    /// The contents of a device buffer.
    pub fn download(&self, b: &DeviceBuffer) -> Result<Vec<u8>> {
        let mut v = vec![0u8; b.len];
        // SAFETY: copies b.len bytes into a b.len-byte host vector.
        self.check(
            unsafe { (self.memcpy)(v.as_mut_ptr() as *mut c_void, b.ptr, b.len, D2H) },
            "hipMemcpy",
        )?;
        Ok(v)
    }

    /// The device's `gcnArchName` (hipGetDevicePropertiesR0600, else hipGetDeviceProperties, into a buffer
    /// larger than any release's struct; [`arch_from_props`] finds the name).
    pub fn arch_name(&self, device: i32) -> Result<String> {
        type Props = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
        let mut buf = vec![0u8; 16384];
        let mut tried = Vec::new();
        for name in ["hipGetDevicePropertiesR0600", "hipGetDeviceProperties"] {
            let Ok(f) = get::<Props>(&self._lib, &self.library, name) else {
                continue;
            };
            // SAFETY: the buffer is larger than hipDeviceProp_t of every ROCm release.
            let rc = unsafe { f(buf.as_mut_ptr() as *mut c_void, device) };
            if rc == 0 {
                if let Some(a) = arch_from_props(&buf) {
                    return Ok(a);
                }
                tried.push(format!("{name}: no gcnArchName found"));
            } else {
                tried.push(format!("{name}: {}", self.error_string(rc)));
            }
        }
        Err(Error::Gpu(format!(
            "cannot read the GPU's architecture ({})",
            tried.join("; ")
        )))
    }

    /// Loads one embedded code object.
    pub fn load_code_object(&self, co: &'static CodeObject) -> Result<HipModule> {
        let mut h = std::ptr::null_mut();
        // SAFETY: the bytes are a complete code object; the runtime copies what it needs.
        let rc = unsafe { (self.module_load_data)(&mut h, co.bytes.as_ptr() as *const c_void) };
        self.check(
            rc,
            &format!("loading the {} code object of {}", co.target, co.module),
        )?;
        Ok(HipModule {
            handle: h,
            target: co.target,
        })
    }

    /// Loads code object `bytes` (hiprtc's output); `target` names it in errors.
    pub fn load_bytes(&self, bytes: &[u8], target: &'static str) -> Result<HipModule> {
        let mut h = std::ptr::null_mut();
        // SAFETY: a complete code object; the runtime copies what it needs.
        let rc = unsafe { (self.module_load_data)(&mut h, bytes.as_ptr() as *const c_void) };
        self.check(rc, "loading the compiled kernel")?;
        Ok(HipModule { handle: h, target })
    }

    /// Launches `kernel` with parameters given as blobs (see [`param_storage`]) and waits.
    pub fn launch_blobs(
        &self,
        m: &HipModule,
        kernel: &str,
        grid: [u32; 3],
        block: [u32; 3],
        blobs: &[Vec<u8>],
    ) -> Result<()> {
        let mut store = param_storage(blobs);
        let mut ptrs: Vec<*mut c_void> = store
            .iter_mut()
            .map(|v| v.as_mut_ptr() as *mut c_void)
            .collect();
        self.launch(m, kernel, grid, block, &mut ptrs)
    }

    /// Loads built-in module `name`: the first embedded target whose code object this device accepts.
    pub fn load_module(&self, name: &str) -> Result<HipModule> {
        let mut tried = Vec::new();
        for co in CODE_OBJECTS.iter().filter(|c| c.module == name) {
            let mut h = std::ptr::null_mut();
            // SAFETY: the bytes are a complete code object; the runtime copies what it needs.
            let rc = unsafe { (self.module_load_data)(&mut h, co.bytes.as_ptr() as *const c_void) };
            if rc == 0 {
                return Ok(HipModule {
                    handle: h,
                    target: co.target,
                });
            }
            tried.push(format!("{}: {}", co.target, self.error_string(rc)));
        }
        Err(Error::NoGpu(if tried.is_empty() {
            format!(
                "no HIP code object for module {name} in this build (built without a HIP compiler)"
            )
        } else {
            format!(
                "no code object of module {name} loads on this GPU ({})",
                tried.join("; ")
            )
        }))
    }

    /// Launches `kernel` of `m` with `args` (cuLaunchKernel's convention: one pointer per parameter) and waits.
    pub fn launch(
        &self,
        m: &HipModule,
        kernel: &str,
        grid: [u32; 3],
        block: [u32; 3],
        args: &mut [*mut c_void],
    ) -> Result<()> {
        let c =
            CString::new(kernel).map_err(|_| Error::Usage(format!("kernel name {kernel:?}")))?;
        let mut f = std::ptr::null_mut();
        // SAFETY: valid module handle and out-pointer; the caller's args match the kernel's parameters.
        self.check(
            unsafe { (self.module_get_function)(&mut f, m.handle, c.as_ptr()) },
            kernel,
        )?;
        self.check(
            unsafe {
                (self.launch)(
                    f,
                    grid[0],
                    grid[1],
                    grid[2],
                    block[0],
                    block[1],
                    block[2],
                    0,
                    std::ptr::null_mut(),
                    args.as_mut_ptr(),
                    std::ptr::null_mut(),
                )
            },
            kernel,
        )?;
        self.check(unsafe { (self.synchronize)() }, kernel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_name_is_found_in_any_props_layout() {
        let mut b = vec![0u8; 2048];
        b[..19].copy_from_slice(b"AMD Instinct MI300X");
        let arch = b"gfx942:sramecc+:xnack-";
        b[396..396 + arch.len()].copy_from_slice(arch);
        assert_eq!(
            arch_from_props(&b).as_deref(),
            Some("gfx942:sramecc+:xnack-")
        );
        // Another offset (another release's layout), and a name that mentions gfx mid-string first.
        let mut c = vec![0u8; 4096];
        c[8..20].copy_from_slice(b"xgfx9 marker");
        c[1200..1206].copy_from_slice(b"gfx950");
        assert_eq!(arch_from_props(&c).as_deref(), Some("gfx950"));
        assert_eq!(arch_from_props(&[0u8; 512]), None);
        assert_eq!(arch_from_props(b"gfxabc\0"), None);
    }

    #[test]
    fn parameter_blobs_are_16_byte_aligned_copies() {
        let blobs = vec![
            7u64.to_ne_bytes().to_vec(),
            vec![1u8; 96],
            3i32.to_ne_bytes().to_vec(),
        ];
        let s = param_storage(&blobs);
        for (v, b) in s.iter().zip(&blobs) {
            assert_eq!(v.as_ptr() as usize % 16, 0);
            // SAFETY: v holds at least b.len() bytes.
            let got = unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, b.len()) };
            assert_eq!(got, &b[..]);
        }
    }

    /// On a machine without ROCm the runtime is reported absent in one line, without a panic; with a runtime
    /// but no GPU, hipErrorNoDevice says so.
    #[test]
    fn absent_runtime_or_device_is_a_clean_error() {
        match Hip::load() {
            Ok(h) => assert!(h.devices > 0, "{} loaded with no device", h.library),
            Err(e) => {
                let s = e.to_string();
                assert!(matches!(e, Error::NoGpu(_)), "{s}");
                assert!(
                    s.contains("no HIP runtime") || s.contains("hipErrorNoDevice"),
                    "{s}"
                );
                assert!(!s.contains('\n'));
            }
        }
    }
}
