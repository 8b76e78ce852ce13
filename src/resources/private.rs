//! The resource's marker id (`marker_id` in state): the random id its
//! markers carry (see `ops::phase::ownership`). It lives in the state rather
//! than in private data because Terraform hands the delete half of a
//! replacement the private data of the new object, not of the old one.

use tfplugin::tfvalue::Unknowable;

use crate::ops::phase::marker::new_instance;

/// The stored marker id, if the resource has one.
pub fn stored(marker_id: &Unknowable<Option<String>>) -> Option<String> {
    marker_id.known().cloned().flatten()
}

/// The stored marker id, or a new one for a resource saved before marker
/// ids existed: its next change writes the id into its markers.
pub fn ensured(marker_id: &Unknowable<Option<String>>) -> String {
    stored(marker_id).unwrap_or_else(new_instance)
}

/// Plans `marker_id`: kept once known; a resource saved without one (before
/// marker ids existed) gets one at its next apply, so the plan says so.
pub fn plan(planned: &mut tfplugin::tfvalue::Value) {
    use tfplugin::tfvalue::Value;
    if let Value::Object(fields) = planned {
        if matches!(fields.get("marker_id"), Some(Value::Null) | None) {
            fields.insert("marker_id".into(), Value::Unknown);
        }
    }
}

/// An applied state must hold every value: a `marker_id` the plan left
/// unknown becomes the prior one, or a new one.
pub fn settle(state: &mut tfplugin::tfvalue::Value, prior: &tfplugin::tfvalue::Value) {
    use tfplugin::tfvalue::Value;
    let kept = prior.get_attr("marker_id").as_str().map(str::to_string);
    if let Value::Object(fields) = state {
        if matches!(fields.get("marker_id"), Some(Value::Unknown)) {
            let id = kept.unwrap_or_else(new_instance);
            fields.insert("marker_id".into(), Value::String(id));
        }
    }
}

/// A new resource's.
pub fn fresh() -> String {
    new_instance()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_without_marker_id_gets_one_and_keeps_a_stored_one() {
        assert_eq!(ensured(&Unknowable::Known(Some("i-1".into()))), "i-1");
        assert_eq!(ensured(&Unknowable::Known(None)).len(), 32);
        assert_eq!(stored(&Unknowable::Unknown), None);
        assert_ne!(fresh(), fresh());
    }
}
