//! The schema of `mke_cluster`: every attribute with its default, its
//! replacement rule and the text the docs show.

use tfplugin::tfvalue::Value;
use tfplugin::{Attribute, Block, Nesting, Schema};

use crate::resources::controllers;

pub fn schema() -> Schema {
    let net = mke_k0s::NetworkSpec::default();
    let calico = &net.calico;
    Schema::new(
        0,
        Block::new(
            "An MKE 4 control plane: k0s controllers (one, or several for high availability) \
             with Calico networking, installed over SSH on machines you already have.",
            vec![
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .description("Name of the cluster. Changing it replaces the cluster."),
                Attribute::string("k0s_version")
                    .default(mke_k0s::DEFAULT_K0S_VERSION)
                    .description(&format!(
                        "k0s release to run, as `vX.Y.Z+k0s.N`. Default `{}` (MKE 4). Changing it \
                         upgrades the controllers one at a time, in place: one minor version up at \
                         a time, never to an older minor release (a replacement may use any \
                         version).",
                        mke_k0s::DEFAULT_K0S_VERSION
                    )),
                Attribute::string("k0s_binary_path").optional().description(
                    "Path of a k0s binary on the machine running Terraform. It is uploaded to every \
                     host (for air-gapped hosts) and checked by sha256; an upload is skipped when \
                     the host already has that binary. When null, hosts download k0s from \
                     `k0s_download_url`.",
                ),
                Attribute::string("k0s_download_url")
                    .default(mke_k0s::DEFAULT_DOWNLOAD_URL)
                    .description(
                        "URL template the hosts download k0s from when `k0s_binary_path` is null. \
                         `{version}` becomes `k0s_version` and `{arch}` the host's architecture in \
                         k0s's naming (`amd64`, `arm64`, `arm`); no other placeholder is allowed. \
                         It must be `https://`, or `file:///path` for a file already on the \
                         hosts; plain `http://` only with `k0s_download_allow_http`. The hosts \
                         download with curl (or GNU wget). User info (`user:password@`) and a \
                         query (`?token=…`) are treated as credentials: the URL reaches the hosts \
                         on stdin, never on a command line, and every log and message shows them \
                         as `***`. Terraform shows and stores the attribute as given: pass such a \
                         URL from a `sensitive` variable.",
                    ),
                Attribute::bool("k0s_download_allow_http")
                    .default(false)
                    .description(
                        "Allow a plain `http://` `k0s_download_url` (an internal mirror without \
                         TLS). Anyone on the network path can then read the URL's credentials \
                         and swap the binary: set `k0s_sha256` too. Default `false`.",
                    ),
                Attribute::string("k0s_sha256").optional().description(
                    "sha256 of the k0s binary, as `sha256sum` prints it (the k0s releases \
                     publish one per binary). When set, a download is checked on each host \
                     before it replaces the installed binary (a mismatch fails and leaves that \
                     binary in place), and a `k0s_binary_path` file must have it before \
                     anything is uploaded. It is checked whenever k0s is staged (create, \
                     upgrade); changing it alone touches no host. One value for every host of \
                     the resource, so they must share an architecture.",
                ),
                controllers::attribute(
                    "The controllers, by a stable name of your choice. At least one; an odd number \
                     keeps etcd quorum safe. The first key in sorted order leads the install.",
                ),
                Attribute::nested(
                    "api",
                    Nesting::Single,
                    vec![
                        Attribute::string("external_address").optional().description(
                            "Address of a load balancer in front of the controllers. Used in the \
                             kubeconfig and added to the API certificate.",
                        ),
                        Attribute::string_list("sans")
                            .optional()
                            .description("Extra names and addresses for the API certificate."),
                    ],
                )
                .optional()
                .description("How clients reach the Kubernetes API."),
                Attribute::nested(
                    "network",
                    Nesting::Single,
                    vec![
                        Attribute::string("pod_cidr")
                            .default(net.pod_cidr.as_str())
                            .requires_replace()
                            .description("IPv4 range for pods. Default `10.244.0.0/16`. Changing it rebuilds the cluster."),
                        Attribute::string("service_cidr")
                            .default(net.service_cidr.as_str())
                            .requires_replace()
                            .description("IPv4 range for services. Default `10.96.0.0/12`. Changing it rebuilds the cluster."),
                        Attribute::string("cluster_domain")
                            .default(net.cluster_domain.as_str())
                            .requires_replace()
                            .description("DNS domain of the cluster. Default `cluster.local`. Changing it rebuilds the cluster."),
                        Attribute::string("kube_proxy_mode")
                            .default(net.kube_proxy_mode.to_string().as_str())
                            .description("kube-proxy mode: `iptables` (default) or `ipvs`."),
                        Attribute::nested(
                            "calico",
                            Nesting::Single,
                            vec![
                                Attribute::string("mode")
                                    .default(calico.mode.to_string().as_str())
                                    .requires_replace()
                                    .description("Calico backend: `vxlan` (default), `ipip` or `bird`. Changing it rebuilds the cluster."),
                                Attribute::number("vxlan_port")
                                    .default(Value::from(calico.vxlan_port as i64))
                                    .requires_replace()
                                    .description("UDP port of the VXLAN backend. Default `4789`. Changing it rebuilds the cluster."),
                                Attribute::number("vxlan_vni")
                                    .default(Value::from(calico.vxlan_vni as i64))
                                    .requires_replace()
                                    .description("VXLAN network identifier. Default `4096`. Changing it rebuilds the cluster."),
                                Attribute::number("mtu")
                                    .default(Value::from(calico.mtu as i64))
                                    .description("MTU of the pod network; `0` (default) detects it. Always written to the config: without it k0s would use 1450."),
                                Attribute::bool("wireguard")
                                    .default(calico.wireguard)
                                    .description("Encrypt pod traffic with WireGuard. Default `false`."),
                            ],
                        )
                        .default_from_children()
                        .description("Calico settings."),
                    ],
                )
                .default_from_children()
                .description("Cluster networking. Every default is the MKE 4 default."),
                Attribute::string("k0s_config_overrides").optional().description(
                    "YAML deep-merged over the generated k0s ClusterConfig, last: maps merge \
                     recursively, lists replace, `null` deletes a key. It may not change \
                     `spec.api.port`, `spec.network.provider` or the per-host addresses, nor set \
                     `spec.network.podCIDR`, `serviceCIDR`, `clusterDomain` or \
                     `calico.mode`/`vxlanPort`/`vxlanVNI` to anything but what the `network` \
                     attributes render. Use `yamlencode({...})`.",
                ),
                Attribute::nested(
                    "backup",
                    Nesting::Single,
                    vec![
                        Attribute::bool("before_change").default(true).description(
                            "Take a backup before any update that stops a controller (upgrade, \
                             reconfigure, reinstall, removal). If it fails, the update stops \
                             before it changes any host. Default `true`.",
                        ),
                        Attribute::string("directory").default("./backups").description(
                            "Where archives go, on the machine running Terraform, relative to \
                             Terraform's working directory. Default `./backups`.",
                        ),
                        Attribute::number("keep").default(Value::from(10)).description(
                            "How many of this cluster's archives stay in `directory`; older ones \
                             (and their `.sha256` files) are deleted after a new one is written. \
                             Other files are never touched. Default `10`.",
                        ),
                    ],
                )
                .optional()
                .description(
                    "Backups of the control plane (etcd data, PKI, k0s config) taken before risky \
                     changes, written as `mke_backup_<cluster id>_<UTC time>.tar.gz` with a \
                     `.sha256` file beside it. Works with every Terraform and OpenTofu version; on \
                     Terraform 1.14 and later the `mke_backup` action takes one on demand.",
                ),
                Attribute::nested(
                    "last_backup",
                    Nesting::Single,
                    vec![
                        Attribute::string("path")
                            .computed()
                            .description("The archive, as written."),
                        Attribute::string("time")
                            .computed()
                            .description("When it was taken (RFC 3339, UTC)."),
                        Attribute::string("sha256")
                            .computed()
                            .description("sha256 of the archive."),
                    ],
                )
                .computed()
                .stable()
                .description(
                    "The backup the last update took (see `backup`); unknown in a plan that will \
                     take one, null before the first.",
                ),
                Attribute::string("restore_from")
                    .optional()
                    .description(
                        "Create the cluster from a backup: the path of an archive that `k0s \
                         backup`, the `mke_backup` action or `backup` wrote, on the machine \
                         running Terraform. The first controller starts from its etcd data and \
                         PKI (the same cluster id, objects and CA); the others join it fresh. \
                         The archive's network settings must equal the plan's, and the API \
                         address should be the one the old cluster used, or its workers cannot \
                         reconnect. Used at create only: setting or changing it on an existing \
                         cluster replaces the cluster, removing it changes nothing.",
                    ),
                timeouts_attribute("30m", "60m", "20m"),
                Attribute::string("id")
                    .computed()
                    .stable()
                    .description("The cluster's unique ID: the UID of its `kube-system` namespace."),
                Attribute::string("marker_id")
                    .computed()
                    .stable()
                    .description(
                        "A random ID of this resource, written into `/etc/k0s/mke.json` on each of \
                         its controllers: the provider resets, wipes or reinstalls only machines \
                         whose marker carries it.",
                    ),
                Attribute::string("adopted_ca_sha256")
                    .computed()
                    .stable()
                    .description(
                        "For a cluster adopted by import from another tool (k0sctl, mkectl): the \
                         SHA-256 of its CA certificate (DER). Until a change writes \
                         `/etc/k0s/mke.json` on a controller, the provider treats a controller as \
                         this resource's only when the CA there has this fingerprint. Null for a \
                         cluster this provider created.",
                    ),
                Attribute::string_map("unmanaged_install_flags")
                    .computed()
                    .stable()
                    .description(
                        "For an adopted cluster: by controller key, the flags its k0s unit was \
                         installed with that no attribute expresses (such as \
                         `--kubelet-extra-args`). The provider keeps them while it only restarts \
                         k0s; an upgrade or a change of `workloads` reinstalls the unit without \
                         them, and the plan warns when it would.",
                    ),
                Attribute::string("api_endpoint").computed().description(
                    "`https://<api.external_address or the first controller address>:6443`.",
                ),
                Attribute::string("kubeconfig")
                    .computed()
                    .sensitive()
                    .recompute_on_change_of(&["controllers", "api"])
                    .description(
                        "Admin kubeconfig, with the server set to `api_endpoint`. Sensitive, and \
                         kept in state: on Terraform 1.10 and later prefer the `mke_kubeconfig` \
                         ephemeral resource, which never touches state.",
                    ),
                Attribute::string("ca_certificate")
                    .computed()
                    .stable()
                    .description("The cluster CA certificate (PEM)."),
                Attribute::string_list("controller_addresses")
                    .computed()
                    .description("Controller addresses, the leader first."),
                Attribute::string("k0s_config").computed().description(
                    "The cluster-wide k0s ClusterConfig written to `/etc/k0s/k0s.yaml`. On a host \
                     whose `private_address` is set, that address is added as `spec.api.address` \
                     and `spec.storage.etcd.peerAddress`.",
                ),
                Attribute::string_map("host_status").computed().description(
                    "What the last refresh saw on each controller: `running`, `stopped`, `absent` \
                     or `unreachable`. Plans always propose `running`, so drift shows as a change.",
                ),
            ],
        ),
    )
}

pub fn timeouts_attribute(create: &str, update: &str, delete: &str) -> Attribute {
    Attribute::nested(
        "timeouts",
        Nesting::Single,
        vec![
            Attribute::string("create")
                .optional()
                .description(&format!("How long create may take. Default `{create}`.")),
            Attribute::string("update")
                .optional()
                .description(&format!("How long update may take. Default `{update}`.")),
            Attribute::string("delete")
                .optional()
                .description(&format!("How long delete may take. Default `{delete}`.")),
        ],
    )
    .optional()
    .description(
        "Time limits of create, update and delete, as durations like `30m`. Each must be longer \
         than zero.",
    )
}
