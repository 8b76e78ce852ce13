pub mod e2e;
pub mod examples;
pub mod kube;
pub mod plugin;
pub mod standin;
pub mod terraform;
pub mod testbed;
pub mod versions;
