pub mod e2e;
pub mod plugin;
pub mod terraform;
pub mod testbed;
pub mod versions;
