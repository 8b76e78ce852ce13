//! The phases host work is made of, one file each. An operation (in
//! `ops/cluster/` and `ops/node/`) lists the phases it runs, in order.
//!
//! | phase | what it does on a host |
//! |---|---|
//! | [`connect`] | reach it over SSH (trust on first use or a pinned key) |
//! | [`lock`] | one Terraform run at a time per host |
//! | [`probe`] | learn what it runs, in one round trip |
//! | [`preflight`] | refuse a host of another cluster or of another tool |
//! | [`stage`] | put the wanted k0s binary in place |
//! | [`configure`] | write a controller's `k0s.yaml` |
//! | [`marker`] | write or read `/etc/k0s/mke.json` |
//! | [`service`] | install the k0s unit, start, stop, wait for the API |
//! | [`join`] | join through a running controller with a one-time token |
//! | [`etcd`] | take a controller's member out of etcd |
//! | [`drain`] | cordon, drain and uncordon a node |
//! | [`registration`] | a worker's Node object: Ready, labels, taints |
//! | [`outputs`] | the admin kubeconfig and CA |
//! | [`backup`] | `k0s backup` streamed into a local, verified archive |
//! | [`wipe`] | stop, reset and remove k0s from an [`ownership::Owned`] host |

pub mod backup;
pub mod configure;
pub mod connect;
pub mod drain;
pub mod etcd;
pub mod join;
pub mod lock;
pub mod marker;
pub mod outputs;
pub mod ownership;
pub mod preflight;
pub mod probe;
pub mod registration;
pub mod restore;
pub mod service;
pub mod stage;
pub mod wipe;
