//! Every stored name table agrees with serde: `as_str` (strum) gives the name serde writes and reads,
//! for every variant, so a table in a report or CSV never drifts from the JSON on disk.

use serde::{de::DeserializeOwned, Serialize};
use strum::IntoEnumIterator;

fn agree<T: IntoEnumIterator + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Copy>(as_str: fn(T) -> &'static str) {
    let mut n = 0;
    for v in T::iter() {
        let json = serde_json::to_value(v).unwrap();
        assert_eq!(json.as_str(), Some(as_str(v)), "{v:?}");
        assert_eq!(serde_json::from_value::<T>(json).unwrap(), v);
        n += 1;
    }
    assert!(n > 1);
}

#[test]
fn as_str_is_the_serde_name_of_every_variant() {
    agree(runner::telemetry::memory::MemorySource::as_str);
    agree(runner::engine::failure::FailureReason::as_str);
    agree(runner::estimate::WeightsFrom::as_str);
    agree(runner::scenario::schema::WorkloadKind::as_str);
    agree(runner::results::record::ErrorClass::as_str);
    agree(runner::results::records::CellStatus::as_str);
    agree(runner::analysis::report::Outcome::as_str);
    agree(runner::analysis::report::Verdict::as_str);
    agree(runner::scenario::schema::EngineKind::as_str);
}
