//! The reports of the compare suite: `ref-vs-target` and `layer-bisect` ([`fwd`]), `schema` ([`schema`]),
//! `slot-invariance` ([`slots`]), and their JSON ([`json`]).

use serde_json::Value;

use crate::experiment::compare::layer_bisect::Bisect;
use crate::experiment::compare::ref_vs_target::RefVsTarget;
use crate::experiment::compare::schema::SchemaReport;
use crate::experiment::compare::slots::SlotReport;
use crate::report::{Doc, Render};

pub mod fwd;
pub mod json;
pub mod schema;
pub mod slots;

impl Render for RefVsTarget {
    fn document(&self, figures: bool) -> Doc {
        fwd::ref_vs_target_doc(self, figures)
    }
    fn json(&self) -> Value {
        json::ref_vs_target(self)
    }
}

impl Render for Bisect {
    fn document(&self, figures: bool) -> Doc {
        fwd::layer_bisect_doc(self, figures)
    }
    fn json(&self) -> Value {
        json::layer_bisect(self)
    }
}

impl Render for SchemaReport {
    fn document(&self, _figures: bool) -> Doc {
        schema::schema_doc(self)
    }
    fn json(&self) -> Value {
        json::schema(self)
    }
}

impl Render for SlotReport {
    fn document(&self, figures: bool) -> Doc {
        slots::slots_doc(self, figures)
    }
    fn json(&self) -> Value {
        json::slots(self)
    }
}
