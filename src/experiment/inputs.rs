//! The inputs of the data commands (`gemm`, `gemm fingerprint`, `quant`, `fingerprint`), in one place: tensor
//! files, or one (site, call, rank) of a capture directory (`--input DIR --site NAME [--call N] [--rank R]`,
//! python/FORMAT.md). For a capture the recorded meaning — the stored xs layout, the FP8 format of raw-byte
//! codes, the group, the weight block — replaces the flags' defaults; a flag given explicitly still wins. A
//! role's tensor name comes from the manifest unless `--name` maps it.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::formats::Fp8Format;
use crate::io::capture::{Capture, Recorded, ResolvedSite};
use crate::io::Roles;
use crate::quant::layout::XsLayout;

pub use crate::io::capture::SiteSelector;

/// Where a command's tensors come from.
#[derive(Clone, Debug, Default)]
pub struct InputSpec {
    /// `--input`: files (.safetensors, .pt, .npy) and at most one capture directory.
    pub paths: Vec<PathBuf>,
    /// `--site/--call/--rank`: the site of the capture directory.
    pub site: Option<SiteSelector>,
}

/// How dumped codes and scales are read, as the flags said it (None: not given).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpFlags {
    /// `--fp8`: the FP8 format of raw u8 code tensors.
    pub fp8: Option<Fp8Format>,
    /// `--xs-layout`.
    pub xs_layout: Option<XsLayout>,
}

/// A capture site the inputs came from, with its recorded meaning.
#[derive(Clone, Debug)]
pub struct CaptureInput {
    pub site: ResolvedSite,
    pub recorded: Recorded,
}

/// The loaded inputs.
pub struct Inputs {
    pub roles: Roles,
    pub capture: Option<CaptureInput>,
}

fn layout_of(name: &str) -> Option<XsLayout> {
    XsLayout::ALL.into_iter().find(|l| l.name() == name)
}

impl Inputs {
    /// The xs layout: the flag, else the recorded one, else `row`.
    pub fn xs_layout(&self, flags: DumpFlags) -> XsLayout {
        flags
            .xs_layout
            .or_else(|| self.recorded()?.xs_layout.as_deref().and_then(layout_of))
            .unwrap_or(XsLayout::Row)
    }

    /// The FP8 format of a raw-byte activation `xq`: the flag, else the recorded one.
    pub fn act_fp8(&self, flags: DumpFlags) -> Option<Fp8Format> {
        flags.fp8.or_else(|| self.recorded()?.act_fp8)
    }

    /// The FP8 format of a raw-byte weight `w`: the flag, else the recorded one.
    pub fn w_fp8(&self, flags: DumpFlags) -> Option<Fp8Format> {
        flags.fp8.or_else(|| self.recorded()?.w_fp8)
    }

    /// The recorded group size G of `xs`.
    pub fn group(&self) -> Option<usize> {
        self.recorded()?.group
    }

    fn recorded(&self) -> Option<&Recorded> {
        self.capture.as_ref().map(|c| &c.recorded)
    }

    /// A site without `xq`/`xs` (kind `linear`) cannot give a dumped activation: usage error naming it.
    pub fn refuse_dumped(&self, flag: &str) -> Result<()> {
        match &self.capture {
            Some(c) if c.site.kind == "linear" => Err(Error::Usage(format!(
                "{flag} dumped: {} is a `linear` site (a fused quant + GEMM entry point): it records x, w, ws and \
                 target_out but no xq/xs; name a quant spec instead",
                c.site.label()
            ))),
            _ => Ok(()),
        }
    }

    /// What a command should say about its capture input: the site read, the meaning used, and the
    /// preset the capture suggests (a hint, never applied).
    pub fn notes(&self, flags: DumpFlags) -> Vec<String> {
        let Some(c) = &self.capture else {
            return Vec::new();
        };
        let r = &c.recorded;
        let mut used = vec![format!("xs-layout {}", self.xs_layout(flags).name())];
        if let Some(f) = self.act_fp8(flags) {
            used.push(format!("fp8 {}", f.name()));
        }
        if let Some(g) = r.group {
            used.push(format!("group {g}"));
        }
        if let Some([a, b]) = r.weight_block {
            used.push(format!("weight block {a}x{b}"));
        }
        let mut notes = vec![format!(
            "input: {} ({}{}), {}",
            c.site.label(),
            c.site.kind,
            c.site
                .op
                .as_deref()
                .map(|o| format!(", {o}"))
                .unwrap_or_default(),
            used.join(", ")
        )];
        if let Some(p) = &r.suggested_preset {
            notes.push(format!(
                "the capture says the recorded quantizer is documented to implement `{p}` (try --target-quant {p}; not applied)"
            ));
        }
        notes
    }
}

/// Loads the inputs: every file, and for a capture directory the file of the selected site (the manifest's
/// role → tensor names joined to `names`, which win). `known` are the command's roles.
pub fn load(spec: &InputSpec, names: &[String], known: &[&str]) -> Result<Inputs> {
    let dirs: Vec<&PathBuf> = spec.paths.iter().filter(|p| p.is_dir()).collect();
    if dirs.len() > 1 {
        return Err(Error::Usage(format!(
            "--input: at most one capture directory per run ({} given)",
            dirs.len()
        )));
    }
    let capture = match dirs.first() {
        None => {
            if let Some(s) = &spec.site {
                return Err(Error::Usage(format!(
                    "--site {}: needs --input DIR, a capture directory (the inputs are files)",
                    s.site
                )));
            }
            None
        }
        Some(dir) => {
            let cap = Capture::open(dir)?;
            let sel = match &spec.site {
                Some(s) => s.clone(),
                None => match cap.manifest.sites.keys().collect::<Vec<_>>()[..] {
                    [only] => SiteSelector {
                        site: only.clone(),
                        call: None,
                        rank: None,
                    },
                    ref many => {
                        return Err(Error::Usage(format!(
                        "{} is a capture directory with {} sites: name one with --site (sites: {})",
                        dir.display(),
                        many.len(),
                        many.iter()
                            .take(20)
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                    }
                },
            };
            let site = cap.resolve(&sel)?;
            let recorded = site.recorded()?;
            Some(CaptureInput { site, recorded })
        }
    };
    let mut files = Vec::with_capacity(spec.paths.len());
    for p in &spec.paths {
        if p.is_dir() {
            files.push(
                capture
                    .as_ref()
                    .expect("one capture directory")
                    .site
                    .load()?,
            );
        } else {
            files.push(crate::io::load(p)?);
        }
    }
    let mut mappings: Vec<String> = names.to_vec();
    if let Some(c) = &capture {
        for (role, tensor) in c.site.name_mappings() {
            let given = names
                .iter()
                .any(|m| m.split_once('=').is_some_and(|(r, _)| r.trim() == role));
            if known.contains(&role.as_str()) && !given {
                mappings.push(format!("{role}={tensor}"));
            }
        }
    }
    Ok(Inputs {
        roles: Roles::new(files, &mappings, known)?,
        capture,
    })
}
