pub mod plugin;
pub mod terraform;
pub mod testbed;
