//! The private state of `mke_cluster` and `mke_node`: the resource's
//! instance id, which its markers carry (see `ops::phase::ownership`).
//! Terraform keeps it with the state but never shows it.

use serde::{Deserialize, Serialize};

use crate::ops::phase::marker::new_instance;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Private {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Private {
    /// Empty or unreadable private data (a resource saved before instance
    /// ids) reads as no instance.
    pub fn decode(bytes: &[u8]) -> Private {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        if self.instance.is_none() {
            return Vec::new();
        }
        serde_json::to_vec(self).expect("private JSON")
    }

    /// A new resource's.
    pub fn fresh() -> Private {
        Private {
            instance: Some(new_instance()),
        }
    }

    /// This one's, given an instance id if it had none: its next change
    /// writes the id into its markers.
    pub fn ensured(mut self) -> Private {
        if self.instance.is_none() {
            self.instance = Some(new_instance());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_data_round_trips_and_old_resources_have_none() {
        let p = Private::fresh();
        assert_eq!(Private::decode(&p.encode()), p);
        assert_eq!(Private::decode(b""), Private::default());
        assert!(Private::default().ensured().instance.is_some());
    }
}
