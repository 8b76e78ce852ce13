//! The SSH layer lands with the [cluster] issue.
