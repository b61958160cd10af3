//! PLACEHOLDER replaced by the watch manager branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Created(String),
    Deleted(String),
    DataChanged(String),
    ChildrenChanged(String),
}
