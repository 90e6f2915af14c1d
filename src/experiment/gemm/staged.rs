//! An operand or output of `isolate gemm` where the backend keeps it: on the host, on the device (with a
//! backend that has [`ResidentOps`]), or both once one side was copied to the other. Copies happen only when
//! something asks: the device copy of a dumped operand for a device GEMM, the host copy of an output for
//! `--save` or the HTML figures. With the CPU backend everything is on the host and nothing is ever copied.

use std::sync::OnceLock;

use crate::backend::{Resident, ResidentOps};
use crate::error::{Error, Result};
use crate::gemm::Operand;
use crate::io::Tensor;
use crate::metrics::{compare, Comparison};

/// A value on the host, on the device, or both.
pub struct Staged<T> {
    host: OnceLock<T>,
    device: OnceLock<Resident>,
}

impl<T> Staged<T> {
    /// A value on the host.
    pub fn on_host(t: T) -> Staged<T> {
        let host = OnceLock::new();
        let _ = host.set(t);
        Staged {
            host,
            device: OnceLock::new(),
        }
    }

    /// A value on the device.
    pub fn on_device(r: Resident) -> Staged<T> {
        let device = OnceLock::new();
        let _ = device.set(r);
        Staged {
            host: OnceLock::new(),
            device,
        }
    }

    /// The device copy, if there is one yet.
    pub fn device(&self) -> Option<&Resident> {
        self.device.get()
    }

    /// The host copy, made by `fetch` from the device copy the first time it is asked for.
    fn host_or(&self, fetch: impl FnOnce(&Resident) -> Result<T>) -> Result<&T> {
        if let Some(t) = self.host.get() {
            return Ok(t);
        }
        let r = self
            .device
            .get()
            .ok_or_else(|| Error::Gpu("a value is neither on the host nor on the device".into()))?;
        let t = fetch(r)?;
        Ok(self.host.get_or_init(|| t))
    }

    /// The device copy, made by `upload` from the host copy the first time (None: it cannot be uploaded).
    fn device_or(
        &self,
        upload: impl FnOnce(&T) -> Result<Option<Resident>>,
    ) -> Result<Option<&Resident>> {
        if let Some(r) = self.device.get() {
            return Ok(Some(r));
        }
        let Some(t) = self.host.get() else {
            return Ok(None);
        };
        Ok(match upload(t)? {
            Some(r) => Some(self.device.get_or_init(|| r)),
            None => None,
        })
    }
}

impl Staged<Operand> {
    /// Rows and columns.
    pub fn shape(&self) -> (usize, usize) {
        match (self.host.get(), self.device.get()) {
            (Some(o), _) => (o.rows(), o.cols()),
            (None, Some(r)) => (r.rows, r.cols),
            (None, None) => (0, 0),
        }
    }
    /// Rows.
    pub fn rows(&self) -> usize {
        self.shape().0
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.shape().1
    }

    /// The host operand (copied from the device the first time).
    pub fn host(&self, rd: Option<&dyn ResidentOps>) -> Result<&Operand> {
        self.host_or(|r| Ok(Operand::Quantized(device_ops(rd)?.download_operand(r)?)))
    }

    /// The device operand (a quantized host operand uploaded the first time; None for plain values).
    pub fn on(&self, rd: &dyn ResidentOps) -> Result<Option<&Resident>> {
        self.device_or(|o| match o {
            Operand::Quantized(q) => rd.upload_operand(q).map(Some),
            Operand::Plain { .. } => Ok(None),
        })
    }
}

impl Staged<Tensor> {
    /// The host tensor `name` (copied from the device the first time).
    pub fn host(&self, rd: Option<&dyn ResidentOps>, name: &str) -> Result<&Tensor> {
        self.host_or(|r| device_ops(rd)?.download_values(r, name))
    }

    /// The device values (the host tensor uploaded the first time; None for a dtype the device does not
    /// compare).
    pub fn on(&self, rd: &dyn ResidentOps) -> Result<Option<&Resident>> {
        self.device_or(|t| rd.upload_values(t))
    }
}

fn device_ops(rd: Option<&dyn ResidentOps>) -> Result<&dyn ResidentOps> {
    rd.ok_or_else(|| Error::Gpu("a device value without its device backend".into()))
}

/// [`crate::metrics::compare`] of `a` with `b`: on the device when either is there (the other uploaded),
/// else on the host. The same bits either way.
pub fn compare_staged(
    rd: Option<&dyn ResidentOps>,
    a: (&Staged<Tensor>, &str),
    b: (&Staged<Tensor>, &str),
) -> Result<Comparison> {
    if let Some(rd) = rd {
        if a.0.device().is_some() || b.0.device().is_some() {
            if let (Some(x), Some(y)) = (a.0.on(rd)?, b.0.on(rd)?) {
                return rd.compare(x, y);
            }
        }
    }
    compare(a.0.host(rd, a.1)?, b.0.host(rd, b.1)?)
}
