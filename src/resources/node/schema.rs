//! The schema of `mke_node`.

use tfplugin::{Attribute, Block, Schema};

use crate::resources::cluster::timeouts_attribute;
use crate::resources::controllers;

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "One machine joined to an MKE 4 cluster as a worker. Create one per machine with \
             `for_each`; deleting it drains the node, removes it from Kubernetes and wipes k0s \
             from the machine.",
            vec![
                Attribute::string("cluster_id")
                    .required()
                    .requires_replace()
                    .description("The cluster to join: `mke_cluster.<name>.id`. Changing it replaces the node."),
                controllers::attribute(
                    "How to reach the cluster's controllers over SSH, to mint a join token, label, \
                     taint, drain and delete the node. Pass `mke_cluster.<name>.controllers` so the \
                     host keys the cluster pinned come along. A change is only recorded.",
                ),
                Attribute::string("k0s_version")
                    .default(mke_k0s::DEFAULT_K0S_VERSION)
                    .description(
                        "k0s release to run. Pass `mke_cluster.<name>.k0s_version` so workers follow \
                         the cluster; a change drains the node and upgrades it in place, one minor \
                         version up at a time and never to an older minor release.",
                    ),
                Attribute::string("k0s_binary_path")
                    .optional()
                    .description("Local k0s binary to upload, as on `mke_cluster`."),
                Attribute::string("k0s_download_url")
                    .default(mke_k0s::DEFAULT_DOWNLOAD_URL)
                    .description(
                        "URL template to download k0s from, as on `mke_cluster`: `https://` or \
                         `file://`, credentials in it never on a command line nor in logs.",
                    ),
                Attribute::bool("k0s_download_allow_http")
                    .default(false)
                    .description("Allow a plain `http://` `k0s_download_url`, as on `mke_cluster`. Default `false`."),
                Attribute::string("k0s_sha256").optional().description(
                    "sha256 the k0s binary must have, checked on the host after a download and \
                     against a `k0s_binary_path` file before its upload, as on `mke_cluster`. \
                     Pass `mke_cluster.<name>.k0s_sha256` when the node follows the cluster's \
                     version and the hosts share an architecture.",
                ),
                Attribute::string("address")
                    .required()
                    .requires_replace()
                    .description("Address the provider reaches the machine at over SSH. It may not be one of `controllers`' addresses. Changing it replaces the node."),
                Attribute::string("private_address")
                    .optional()
                    .requires_replace()
                    .description("IPv4 address the kubelet registers with (`--node-ip`); not a DNS name. Changing it replaces the node."),
                Attribute::number("port")
                    .optional()
                    .description("SSH port. Null uses the provider's `ssh.port`."),
                Attribute::string("user")
                    .optional()
                    .description("SSH user. Null uses the provider's `ssh.user`; a user other than root uses `sudo -n`."),
                Attribute::string("host_key")
                    .optional_computed()
                    .recompute_on_change_of(&["address", "port"])
                    .description(
                        "The machine's SSH host key (`<type> <base64>`). Checked strictly when set; \
                         when null, the key seen on first contact is recorded and pinned.",
                    ),
                Attribute::string_map("labels")
                    .optional()
                    .description("Kubernetes labels of the node. Changed in place; only these keys are managed."),
                Attribute::string_list("taints").optional().description(
                    "Taints of the node, as `key=value:Effect` or `key:Effect` (Effect is \
                     `NoSchedule`, `PreferNoSchedule` or `NoExecute`), at most one per key and \
                     effect. Changed in place.",
                ),
                Attribute::string("drain_timeout")
                    .default(super::model::DEFAULT_DRAIN_TIMEOUT_TEXT)
                    .description("How long a drain may take before the operation fails; longer than zero. Default `5m`."),
                timeouts_attribute("20m", "30m", "20m"),
                Attribute::string("id")
                    .computed()
                    .stable()
                    .description("`<cluster_id>/<node_name>`."),
                Attribute::string("marker_id")
                    .computed()
                    .stable()
                    .description(
                        "A random ID of this resource, written into the machine's \
                         `/etc/k0s/mke.json`: the provider drains, resets or wipes the machine only \
                         while its marker carries it.",
                    ),
                Attribute::string("adopted_ca_sha256")
                    .computed()
                    .stable()
                    .description(
                        "For a node adopted by import from another tool (k0sctl, mkectl): the \
                         SHA-256 of its cluster's CA certificate (DER). Until a change writes \
                         `/etc/k0s/mke.json` on the machine, the provider treats it as this \
                         resource's only when the CA there has this fingerprint. Null for a node \
                         this provider joined.",
                    ),
                Attribute::string_list("unmanaged_install_flags")
                    .computed()
                    .stable()
                    .description(
                        "For an adopted node: the flags its k0s unit was installed with that no \
                         attribute expresses (such as `--kubelet-extra-args` beyond `--node-ip`). \
                         A change of version, labels or taints reinstalls the unit without them; \
                         the plan warns when it would.",
                    ),
                Attribute::string("node_name")
                    .computed()
                    .stable()
                    .description("The Kubernetes node name (the machine's hostname)."),
                Attribute::string("status").computed().description(
                    "What the last refresh saw: `running`, `stopped`, `absent`, `unreachable`, or \
                     `unregistered` (k0s runs but the Node object is missing). Plans propose \
                     `running`, so drift shows as a change.",
                ),
            ],
        ),
    )
}
