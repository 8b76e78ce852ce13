pub mod plugin;
pub mod terraform;
