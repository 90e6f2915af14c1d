//! Tensor roles (docs/contract.md §1): commands find tensors by role; the default tensor name is the
//! role's name and `--name ROLE=TENSOR` maps a role to a dumped stage name.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::io::{Tensor, TensorFile};

/// The loaded inputs of a command and its role → tensor-name mapping.
pub struct Roles {
    files: Vec<TensorFile>,
    map: BTreeMap<String, String>,
}

impl Roles {
    /// `mappings` are the raw `ROLE=TENSOR` strings of `--name`; every role must be one of `known`.
    pub fn new(files: Vec<TensorFile>, mappings: &[String], known: &[&str]) -> Result<Roles> {
        let mut map = BTreeMap::new();
        for m in mappings {
            let (role, tensor) = m.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "--name '{m}': expected ROLE=TENSOR, e.g. x=layer0.attn.qr"
                ))
            })?;
            let role = role.trim();
            if !known.contains(&role) {
                return Err(Error::Usage(format!(
                    "--name '{m}': unknown role '{role}'; this command's roles are {}",
                    known.join(", ")
                )));
            }
            map.insert(role.to_string(), tensor.trim().to_string());
        }
        Ok(Roles { files, map })
    }

    /// The tensor name a role resolves to.
    pub fn tensor_name<'a>(&'a self, role: &'a str) -> &'a str {
        self.map.get(role).map(String::as_str).unwrap_or(role)
    }

    /// The tensor for `role`, if any input has it (the first file that has it wins).
    pub fn get_opt(&self, role: &str) -> Option<&Tensor> {
        let name = self.tensor_name(role);
        self.files.iter().find_map(|f| f.get(name))
    }

    /// The tensor for `role`, or an error naming the role, the tensor looked for, the files searched and
    /// the `--name` flag that maps it.
    pub fn get(&self, role: &str) -> Result<&Tensor> {
        self.get_opt(role).ok_or_else(|| {
            let name = self.tensor_name(role);
            let files: Vec<String> = self
                .files
                .iter()
                .map(|f| f.path.display().to_string())
                .collect();
            let have: Vec<&str> = self
                .files
                .iter()
                .flat_map(|f| f.tensors.iter().map(|t| t.name.as_str()))
                .take(12)
                .collect();
            Error::MissingTensor(format!(
                "role '{role}': no tensor named '{name}' in {} (it has: {}{}); map it with --name {role}=TENSOR",
                files.join(", "),
                have.join(", "),
                if have.len() == 12 { ", …" } else { "" }
            ))
        })
    }

    /// The loaded files.
    pub fn files(&self) -> &[TensorFile] {
        &self.files
    }
}
