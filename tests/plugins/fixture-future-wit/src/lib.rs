//! A test fixture: an allocator exporting `cyclades:plugin/allocator-api@0.9.0`, a version the
//! host does not support, so loading it must fail with a typed "unsupported version" error.

wit_bindgen::generate!({ world: "allocator", path: "wit" });

use cyclades::plugin::types::{Description, PluginError, PluginKind};
use exports::cyclades::plugin::allocator_api::{Allocation, Backend, Guest, VmRequest};

struct Future;

impl Guest for Future {
    fn describe() -> Description {
        Description {
            name: "fixture-future-wit".into(),
            kind: PluginKind::Allocator,
            version: "9.0.0".into(),
            capabilities: vec![],
        }
    }

    fn choose(_backends: Vec<Backend>, _request: VmRequest) -> Result<Allocation, PluginError> {
        Ok(Allocation {
            chosen: None,
            candidates: vec![],
            capacity_fallback: false,
        })
    }
}

export!(Future);
