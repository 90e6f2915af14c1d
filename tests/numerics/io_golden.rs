//! Golden tensor files: every `fixtures/io/NAME.{pt,npy}` must read as exactly the tensors of
//! `NAME.expected.safetensors` (same names in the same order, dtypes, shapes, bytes), with one note per
//! name in its `skipped` metadata. The fixtures and sidecars come from `fixtures/gen/make_io_fixtures.py`:
//! the .npy ones from numpy (committed), the .pt ones from torch.save on the GPU machine.

use std::path::Path;

use isolate::io::{self, safetensors_io};

use crate::common::fixture;

/// The `skipped` list of a sidecar's metadata.
fn skipped(sidecar: &Path) -> Vec<String> {
    let b = std::fs::read(sidecar).unwrap();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let h: serde_json::Value = serde_json::from_slice(&b[8..8 + n]).unwrap();
    let s = h["__metadata__"]["skipped"].as_str().unwrap_or("[]");
    serde_json::from_str(s).unwrap()
}

fn check(file: &str) {
    let path = fixture("io").join(file);
    let stem = file.rsplit_once('.').unwrap().0;
    let sidecar = fixture("io").join(format!("{stem}.expected.safetensors"));
    let got = io::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let want = safetensors_io::read(&sidecar).unwrap();
    let names = |ts: &[io::Tensor]| ts.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&got.tensors),
        names(&want),
        "{file}: tensor names and order"
    );
    for (g, w) in got.tensors.iter().zip(&want) {
        assert_eq!(
            (g.dtype, &g.shape),
            (w.dtype, &w.shape),
            "{file}: {}",
            g.name
        );
        assert!(g.bytes() == w.bytes(), "{file}: {} bytes differ", g.name);
    }
    let skipped = skipped(&sidecar);
    assert_eq!(
        got.notes.len(),
        skipped.len(),
        "{file}: notes {:?} vs skipped {skipped:?}",
        got.notes
    );
    for (note, name) in got.notes.iter().zip(&skipped) {
        assert!(
            note.starts_with(&format!("{name}: ")),
            "{file}: note {note:?} is not about {name}"
        );
    }
}

#[test]
fn npy_fixtures_from_numpy() {
    let mut n = 0;
    for e in std::fs::read_dir(fixture("io")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".npy") && name != "void_bf16.npy" {
            check(&name);
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} .npy fixtures found");
}

macro_rules! pt_golden {
    ($($test:ident => $file:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            check($file);
        }
    )*};
}

pt_golden! {
    pt_every_dtype_and_its_transpose => "dtypes.pt",
    pt_views_offsets_strides_shared_storage => "views.pt",
    pt_nested_containers_and_non_tensors => "nested.pt",
    pt_nested_pickle_protocol_4 => "nested_p4.pt",
    pt_bare_tensor => "bare.pt",
    pt_linear_state_dict => "linear_state_dict.pt",
    pt_linear_parameters => "linear_params.pt",
    pt_atom_forward_dump => "layer00_Block_rank0.pt",
    pt_atom_forward_dump_without_input => "layer01_Attention_rank0_call002.pt",
    pt_atom_ref_patch_dump => "ref_layer00_Block__hidden_out_rank0.pt",
    pt_atom_weight_dump => "weight_rank0_layer0.pt",
    pt_saved_from_cuda => "cuda.pt",
}

/// The ATOM forward dump reads as its documented fields (docs/method.md §5.1), not just as "what torch wrote".
#[test]
fn atom_dump_fields() {
    let f = io::load(&fixture("io/layer00_Block_rank0.pt")).unwrap();
    let names: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "hidden",
            "input",
            "input_fields.x_prev",
            "output_fields.hidden_states",
            "output_fields.residual"
        ]
    );
    assert_eq!(f.get("hidden").unwrap().shape, vec![4, 8]);
    assert_eq!(f.notes, ["shape: tuple (4, 8) (not a tensor; skipped)"]);
    let w = io::load(&fixture("io/weight_rank0_layer0.pt")).unwrap();
    assert_eq!(w.tensors[0].name, "model.layers.0.self_attn.wq_a.weight");
    assert_eq!(w.tensors[0].dtype, isolate::formats::DType::F8E4M3FN);
    assert_eq!(w.notes.len(), 3, "{:?}", w.notes);
}
