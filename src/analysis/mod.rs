//! Pure analysis of stored runs (the per-request statistics and SLO verdicts themselves are in
//! `results/`): capacity per group (sweet spot, knee, jitter), KV scaling, sequential vs concurrent,
//! boundary searches and the frontier, predicted vs measured, what a campaign will take, and the
//! report model that the templates render.

pub mod campaign;
pub mod capacity;
pub mod compare;
pub mod imported;
pub mod kv;
pub mod levers;
pub mod notes;
pub mod reconcile;
pub mod report;
pub mod search;
pub mod sequential;
pub mod startup;
pub mod surface;
pub mod trace;
pub mod view;
