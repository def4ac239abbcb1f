//! Front ends: they take a request from a person, call the core, and render the result.

pub mod cli;
pub mod web;
