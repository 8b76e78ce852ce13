pub mod e2e;
pub mod examples;
pub mod plugin;
pub mod terraform;
pub mod testbed;
