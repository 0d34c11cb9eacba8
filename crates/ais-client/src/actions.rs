//! Request bodies of `PUT /v1/cluster`: `apc.ActMsg` and `apc.ActValRmNode` (AIS v1.4.9).

use serde::{Deserialize, Serialize};

/// Action names (`api/apc/actmsg.go`).
pub mod names {
    pub const SET_CONFIG: &str = "set-config";
    pub const SHUTDOWN_CLUSTER: &str = "shutdown";
    pub const DECOMMISSION_CLUSTER: &str = "decommission";
    pub const START_MAINTENANCE: &str = "start-maintenance";
    pub const STOP_MAINTENANCE: &str = "stop-maintenance";
    pub const DECOMMISSION_NODE: &str = "decommission-node";
}

/// `apc.ActMsg`: `{"action", "name", "value"}`. Every key is always sent (`value` may be `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActMsg<T> {
    pub action: String,
    pub name: String,
    pub value: T,
}

impl<T> ActMsg<T> {
    pub fn new(action: &str, value: T) -> Self {
        Self {
            action: action.to_owned(),
            name: String::new(),
            value,
        }
    }
}

/// `apc.ActValRmNode`: the value of start-maintenance, stop-maintenance, decommission-node
/// and (optionally) cluster decommission. AIS has no `omitempty` here, so every key is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActValRmNode {
    /// The node's daemon ID (`sid` on the wire).
    #[serde(rename = "sid")]
    pub daemon_id: String,
    pub skip_rebalance: bool,
    pub rm_user_data: bool,
    pub keep_initial_config: bool,
    pub no_shutdown: bool,
}

impl ActValRmNode {
    pub fn for_node(daemon_id: impl Into<String>) -> Self {
        Self {
            daemon_id: daemon_id.into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn rm_node_wire_format_has_every_key() {
        let msg = ActMsg::new(
            names::START_MAINTENANCE,
            ActValRmNode {
                skip_rebalance: true,
                ..ActValRmNode::for_node("t1")
            },
        );
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({"action":"start-maintenance","name":"","value":{
                "sid":"t1","skip_rebalance":true,"rm_user_data":false,
                "keep_initial_config":false,"no_shutdown":false}})
        );
    }

    #[test]
    fn null_value_is_sent() {
        let msg = ActMsg::new(names::SHUTDOWN_CLUSTER, None::<ActValRmNode>);
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"action":"shutdown","name":"","value":null}"#
        );
    }
}
