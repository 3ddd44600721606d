//! The registry: every engine the runner knows, one line each — the name a scenario writes, the
//! module under `src/engine/` that holds all its knowledge, and the `EngineSpec` value in it.
//!
//! Adding an engine is that module (with its `pub mod` line in `engine/mod.rs`) plus one line here:
//! `scenario::schema::EngineKind` (with its serde and command-line names) and `engine::spec` are both
//! made from this list, so no second list can fall out of step. A leaf: it names no other module of
//! the crate.

/// Calls the macro `$make` with the registry: `Variant "name" module::Spec,` per engine.
macro_rules! registry {
    ($make:ident) => {
        $make! {
            Vllm "vllm" vllm::Vllm,
            Sglang "sglang" sglang::Sglang,
            Llamacpp "llamacpp" llamacpp::Llamacpp,
            External "external" external::External,
            Fake "fake" fake::Fake,
        }
    };
}
pub(crate) use registry;
